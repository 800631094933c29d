"""Unit tests for trioftp.protocol.commands (the command table)."""

from __future__ import annotations

import pytest

from trioftp.protocol.commands import (
    COMMANDS,
    NOT_IMPLEMENTED,
    CommandSpec,
    DuringTransfer,
    PathArgument,
    argument_error,
    help_columns,
    proto_cmds,
    spec_for,
    split_command,
)

PERM_LETTERS = set("elradfmwMT")


# --- split_command ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("site chmod 755 a b", ("SITE CHMOD", "755 a b")),
        ("SITE HELP", ("SITE HELP", "")),
        ("site help chmod", ("SITE HELP", "chmod")),
        ("SITE", ("SITE", "")),
        ("site", ("SITE", "")),
        ("noop", ("NOOP", "")),
        ("RETR a b.txt", ("RETR", "a b.txt")),
        ("STOR  leading and trailing ", ("STOR", " leading and trailing ")),
        ("CWD ", ("CWD", "")),
        ("", ("", "")),
        ("Mkd Dir", ("MKD", "Dir")),
        ("user Bob", ("USER", "Bob")),
        ("site  chmod 755 x", ("SITE ", "chmod 755 x")),
        # Telnet IP/Synch bytes left in front of a command sent mid-transfer.
        ("\xf4\xf2ABOR", ("ABOR", "")),
        ("\udcf4abor", ("ABOR", "")),
        ("\xf4noop", ("NOOP", "")),
        ("XSTAT", ("XSTAT", "")),
        ("\udcf4RETR x", ("\udcf4RETR", "x")),  # only those four commands
    ],
)
def test_split_command(line: str, expected: tuple[str, str]) -> None:
    assert split_command(line) == expected


def test_split_command_argument_case_preserved() -> None:
    assert split_command("site chmod 755 MixedCase") == ("SITE CHMOD", "755 MixedCase")


# --- argument_error -----------------------------------------------------------------------


def test_argument_required() -> None:
    assert argument_error(True, "") == "Syntax error: command needs an argument."
    assert argument_error(True, "x") is None
    assert argument_error(True, " ") is None


def test_argument_forbidden() -> None:
    assert argument_error(False, "x") == "Syntax error: command does not accept arguments."
    assert argument_error(False, " ") == "Syntax error: command does not accept arguments."
    assert argument_error(False, "") is None


def test_argument_optional() -> None:
    assert argument_error(None, "") is None
    assert argument_error(None, "x") is None


# --- the table ----------------------------------------------------------------------------

EXPECTED_COMMANDS = {
    "ABOR", "ALLO", "APPE", "CDUP", "CWD", "DELE", "EPRT", "EPSV", "FEAT", "HELP", "HOST",
    "LIST", "MDTM", "MFMT", "MKD", "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS",
    "PASV", "PORT", "PWD", "QUIT", "REIN", "REST", "RETR", "RMD", "RNFR", "RNTO", "SITE",
    "SITE CHMOD", "SITE HELP", "SIZE", "STAT", "STOR", "STOU", "STRU", "SYST", "TYPE", "USER",
    "XCUP", "XCWD", "XMKD", "XPWD", "XRMD",
    "HASH", "XCRC", "XMD5", "XSHA", "XSHA1", "XSHA256", "XSHA512",
}  # fmt: skip


def test_command_names() -> None:
    assert set(COMMANDS) == EXPECTED_COMMANDS
    for name, spec in COMMANDS.items():
        assert spec.name == name
        assert name == name.upper()


def test_every_help_starts_with_syntax() -> None:
    for name, spec in COMMANDS.items():
        assert spec.help.startswith(f"Syntax: {name}"), name
        assert spec.help.endswith("."), name


def test_help_examples() -> None:
    assert COMMANDS["RETR"].help == "Syntax: RETR <SP> file-name (retrieve a file)."
    assert COMMANDS["SITE CHMOD"].help == "Syntax: SITE CHMOD <SP> mode path (change file mode)."


def test_perms_only_from_known_letters() -> None:
    for name, spec in COMMANDS.items():
        assert spec.perm is None or (len(spec.perm) == 1 and spec.perm in PERM_LETTERS), name


EXPECTED_PERMS = {
    "APPE": "a", "CDUP": "e", "CWD": "e", "XCUP": "e", "XCWD": "e", "DELE": "d",
    "RMD": "d", "XRMD": "d", "LIST": "l", "NLST": "l", "MLSD": "l", "MLST": "l",
    "MDTM": "l", "SIZE": "l", "STAT": "l", "MFMT": "T", "MKD": "m", "XMKD": "m",
    "RETR": "r", "RNFR": "f", "RNTO": "f", "SITE CHMOD": "M", "STOR": "w", "STOU": "w",
    "HASH": "r", "XCRC": "r", "XMD5": "r", "XSHA": "r", "XSHA1": "r", "XSHA256": "r",
    "XSHA512": "r",
}  # fmt: skip


def test_perm_per_command() -> None:
    assert {name: spec.perm for name, spec in COMMANDS.items() if spec.perm} == EXPECTED_PERMS


def test_commands_usable_before_login() -> None:
    assert {name for name, spec in COMMANDS.items() if not spec.auth} == {
        "FEAT", "HELP", "HOST", "NOOP", "PASS", "QUIT", "SITE", "SITE HELP", "STAT", "SYST",
        "USER",
    }  # fmt: skip


def test_argument_rules() -> None:
    optional = {name for name, spec in COMMANDS.items() if spec.arg is None}
    forbidden = {name for name, spec in COMMANDS.items() if spec.arg is False}
    assert optional == {
        "CWD", "EPSV", "HELP", "LIST", "MLSD", "MLST", "NLST", "PASS", "SITE HELP", "STAT",
        "STOU", "XCWD",
    }  # fmt: skip
    assert forbidden == {
        "ABOR", "CDUP", "FEAT", "NOOP", "PASV", "PWD", "QUIT", "REIN", "SYST", "XCUP", "XPWD",
    }  # fmt: skip
    for spec in COMMANDS.values():
        assert spec.arg in (True, False, None)


def test_feat_lines() -> None:
    feats = {name: spec.feat for name, spec in COMMANDS.items() if spec.feat}
    assert feats == {
        "CWD": "TVFS",
        "EPRT": "EPRT",
        "EPSV": "EPSV",
        "HOST": "HOST",
        "MDTM": "MDTM",
        "MFMT": "MFMT",
        "MLST": "MLST",
        "OPTS": "UTF8",
        "REST": "REST STREAM",
        "SIZE": "SIZE",
        "HASH": "HASH",
        "XCRC": "XCRC",
        "XMD5": "XMD5",
        "XSHA": "XSHA",
        "XSHA1": "XSHA1",
        "XSHA256": "XSHA256",
        "XSHA512": "XSHA512",
    }


def test_not_implemented_disjoint_from_commands() -> None:
    assert not NOT_IMPLEMENTED & set(COMMANDS)
    assert {"ACCT", "SMNT", "LPRT", "LPSV", "AUTH", "PBSZ", "PROT"} <= NOT_IMPLEMENTED
    assert all(name == name.upper() and " " not in name for name in NOT_IMPLEMENTED)


def test_command_spec_is_frozen() -> None:
    spec = COMMANDS["NOOP"]
    with pytest.raises(AttributeError):
        spec.perm = "w"  # type: ignore[misc]


# --- proto_cmds ---------------------------------------------------------------------------


def test_proto_cmds_format() -> None:
    table = proto_cmds(COMMANDS.values())
    assert set(table) == EXPECTED_COMMANDS
    assert table["STOR"] == {
        "perm": "w",
        "auth": True,
        "arg": True,
        "help": "Syntax: STOR <SP> file-name (store a file).",
    }
    assert table["FEAT"] == {
        "perm": None,
        "auth": False,
        "arg": False,
        "help": "Syntax: FEAT (list all new features supported).",
    }
    assert table["CWD"]["arg"] is None


def test_as_proto_cmd_of_custom_spec() -> None:
    spec = CommandSpec("SITE X", "Syntax: SITE X.", perm="M", auth=True, arg=None, feat="X")
    assert spec.as_proto_cmd() == {
        "perm": "M",
        "auth": True,
        "arg": None,
        "help": "Syntax: SITE X.",
    }
    assert proto_cmds([spec]) == {"SITE X": spec.as_proto_cmd()}


# --- help_columns -------------------------------------------------------------------------


def test_help_columns_exact() -> None:
    names = ["USER", "ABOR", "CWD", "MLSD", "PASS", "NOOP", "PWD", "QUIT", "RETR", "STOR"]
    assert help_columns(names) == [
        " ABOR   CWD    MLSD   NOOP   PASS   PWD    QUIT   RETR",
        " STOR   USER",
    ]


def test_help_columns_per_line() -> None:
    assert help_columns(["B", "A", "C"], per_line=2) == [" A      B", " C"]
    assert help_columns([]) == []


def test_help_columns_never_look_like_a_reply_end() -> None:
    for line in help_columns(n for n in COMMANDS if not n.startswith("SITE ")):
        assert line.startswith(" ")
        assert line == line.rstrip()


# --- spec_for: pyftpdlib-format entries -------------------------------------------------


def test_spec_for_an_unchanged_builtin_entry_is_the_builtin() -> None:
    for name, spec in COMMANDS.items():
        assert spec_for(name, spec.as_proto_cmd()) is spec


def test_spec_for_a_changed_builtin_keeps_its_other_rules() -> None:
    entry = {**COMMANDS["RETR"].as_proto_cmd(), "perm": "w"}
    spec = spec_for("RETR", entry)
    assert (spec.perm, spec.path, spec.checks_own_path) == ("w", PathArgument.OR_CWD, True)


def test_spec_for_a_permission_given_to_a_builtin_without_one() -> None:
    entry = {**COMMANDS["SYST"].as_proto_cmd(), "perm": "r"}
    spec = spec_for("SYST", entry)
    # As pyftpdlib: with a permission letter, the argument (or cwd) is a checked path.
    assert (spec.perm, spec.path, spec.checks_own_path) == ("r", PathArgument.OR_CWD, False)


def test_spec_for_an_added_command() -> None:
    with_perm = spec_for("SITE MD5", {"perm": "r", "auth": True, "arg": True, "help": "x"})
    assert (with_perm.path, with_perm.checks_own_path) == (PathArgument.OR_CWD, False)
    without = spec_for("SITE PING", {"perm": None, "auth": False, "arg": None, "help": "y"})
    assert (without.path, without.auth, without.help) == (PathArgument.NONE, False, "y")


def test_during_transfer_rules() -> None:
    rules = {
        name: spec.during_transfer
        for name, spec in COMMANDS.items()
        if spec.during_transfer is not DuringTransfer.HELD
    }
    assert rules == {
        "ABOR": DuringTransfer.ABORTS,
        "STAT": DuringTransfer.ANSWERED,
        "NOOP": DuringTransfer.KEEP_ALIVE,
        "QUIT": DuringTransfer.ENDS_SESSION,
    }


def test_restart_marker_survives_only_these_commands() -> None:
    keep = {name for name, spec in COMMANDS.items() if spec.keeps_restart}
    assert keep == {"REST", "PASV", "EPSV", "PORT", "EPRT", "TYPE"}

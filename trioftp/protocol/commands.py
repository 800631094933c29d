"""The command table: one entry per FTP command, driving dispatch, FEAT and HELP.

Each :class:`CommandSpec` says whether the command needs a login, which
permission letter it needs (see :mod:`trioftp.authorizers`), whether it takes
an argument, its HELP text and the FEAT line it brings. The handler exposes
the table in pyftpdlib's format as ``FTPHandler.proto_cmds`` so programs can
add commands exactly as they do with pyftpdlib.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

__all__ = [
    "COMMANDS",
    "NOT_IMPLEMENTED",
    "CommandSpec",
    "argument_error",
    "help_columns",
    "proto_cmds",
    "split_command",
]


@attrs.frozen
class CommandSpec:
    """What the server needs to know about one command before running it.

    *arg* is ``True`` (an argument is required), ``False`` (none allowed) or
    ``None`` (optional), as in pyftpdlib's ``proto_cmds``.
    """

    name: str
    help: str
    perm: str | None = None
    auth: bool = True
    arg: bool | None = False
    feat: str | None = None

    def as_proto_cmd(self) -> dict[str, object]:
        """Return the entry in pyftpdlib's ``proto_cmds`` dictionary format."""
        return {"perm": self.perm, "auth": self.auth, "arg": self.arg, "help": self.help}


def _spec(
    name: str,
    syntax: str,
    *,
    perm: str | None = None,
    auth: bool = True,
    arg: bool | None = False,
    feat: str | None = None,
) -> CommandSpec:
    return CommandSpec(name, f"Syntax: {syntax}.", perm, auth, arg, feat)


_TABLE = [
    _spec("ABOR", "ABOR (abort transfer)"),
    _spec("ALLO", "ALLO <SP> bytes (no-op; allocate storage)", arg=True),
    _spec("APPE", "APPE <SP> file-name (append data to file)", perm="a", arg=True),
    _spec("CDUP", "CDUP (go to parent directory)", perm="e"),
    _spec("CWD", "CWD [<SP> dir-name] (change working directory)", perm="e",
          arg=None, feat="TVFS"),
    _spec("DELE", "DELE <SP> file-name (delete file)", perm="d", arg=True),
    _spec("EPRT", "EPRT <SP> |proto|ip|port| (extended active mode)", arg=True,
          feat="EPRT"),
    _spec("EPSV", 'EPSV [<SP> proto/"ALL"] (extended passive mode)', arg=None,
          feat="EPSV"),
    _spec("FEAT", "FEAT (list all new features supported)", auth=False),
    _spec("HELP", "HELP [<SP> cmd] (show help)", auth=False, arg=None),
    _spec("HOST", "HOST <SP> host-name (select virtual host)", auth=False,
          arg=True, feat="HOST"),
    _spec("LIST", "LIST [<SP> path] (list files)", perm="l", arg=None),
    _spec("MDTM", "MDTM <SP> path (file last modification time)", perm="l",
          arg=True, feat="MDTM"),
    _spec("MFMT", "MFMT <SP> timeval <SP> path (set file modification time)",
          perm="T", arg=True, feat="MFMT"),
    _spec("MKD", "MKD <SP> path (create directory)", perm="m", arg=True),
    _spec("MLSD", "MLSD [<SP> path] (list directory)", perm="l", arg=None),
    _spec("MLST", "MLST [<SP> path] (show information about path)", perm="l",
          arg=None, feat="MLST"),
    _spec("MODE", "MODE <SP> mode (set data transfer mode)", arg=True),
    _spec("NLST", "NLST [<SP> path] (list path in a compact form)", perm="l",
          arg=None),
    _spec("NOOP", "NOOP (just do nothing)", auth=False),
    _spec("OPTS", "OPTS <SP> cmd [<SP> option] (set option for command)",
          arg=True, feat="UTF8"),
    _spec("PASS", "PASS [<SP> password] (set user password)", auth=False, arg=None),
    _spec("PASV", "PASV (open passive data connection)"),
    _spec("PORT", "PORT <SP> h,h,h,h,p,p (open active data connection)", arg=True),
    _spec("PWD", "PWD (get current working directory)"),
    _spec("QUIT", "QUIT (quit current session)", auth=False),
    _spec("REIN", "REIN (flush account)"),
    _spec("REST", "REST <SP> offset (set file offset)", arg=True,
          feat="REST STREAM"),
    _spec("RETR", "RETR <SP> file-name (retrieve a file)", perm="r", arg=True),
    _spec("RMD", "RMD <SP> dir-name (remove directory)", perm="d", arg=True),
    _spec("RNFR", "RNFR <SP> file-name (rename (source name))", perm="f", arg=True),
    _spec("RNTO", "RNTO <SP> file-name (rename (destination name))", perm="f",
          arg=True),
    _spec("SITE", "SITE <SP> site-command (execute SITE command)", auth=False,
          arg=True),
    _spec("SITE CHMOD", "SITE CHMOD <SP> mode path (change file mode)",
          perm="M", arg=True),
    _spec("SITE HELP", "SITE HELP [<SP> cmd] (show SITE command help)",
          auth=False, arg=None),
    _spec("SIZE", "SIZE <SP> file-name (get file size)", perm="l", arg=True,
          feat="SIZE"),
    _spec("STAT", "STAT [<SP> path name] (server stats [list files])", perm="l",
          auth=False, arg=None),
    _spec("STOR", "STOR <SP> file-name (store a file)", perm="w", arg=True),
    _spec("STOU", "STOU [<SP> name] (store a file with a unique name)", perm="w",
          arg=None),
    _spec("STRU", "STRU <SP> type (set file structure)", arg=True),
    _spec("SYST", "SYST (get operating system type)", auth=False),
    _spec("TYPE", "TYPE <SP> [A | I] (set transfer type)", arg=True),
    _spec("USER", "USER <SP> user-name (set username)", auth=False, arg=True),
    _spec("XCUP", "XCUP (obsolete; go to parent directory)", perm="e"),
    _spec("XCWD", "XCWD [<SP> dir-name] (obsolete; change directory)", perm="e",
          arg=None),
    _spec("XMKD", "XMKD <SP> dir-name (obsolete; create directory)", perm="m",
          arg=True),
    _spec("XPWD", "XPWD (obsolete; get current dir)"),
    _spec("XRMD", "XRMD <SP> dir-name (obsolete; remove directory)", perm="d",
          arg=True),
]  # fmt: skip

#: Every command the plain FTP handler implements, by name.
COMMANDS: Mapping[str, CommandSpec] = {spec.name: spec for spec in _TABLE}

#: Commands that are part of FTP but that this server does not offer: ``502``.
NOT_IMPLEMENTED = frozenset(
    {
        "ACCT", "ADAT", "AUTH", "CCC", "CONF", "ENC", "LANG", "LPRT", "LPSV",
        "MIC", "PBSZ", "PROT", "SMNT", "SPSV", "XRCP", "XRSQ", "XSEM", "XSEN",
        "MAIL", "MLFL", "MRCP", "MRSQ", "MSAM", "MSND", "MSOM",
    }
)  # fmt: skip


def proto_cmds(specs: Iterable[CommandSpec]) -> dict[str, dict[str, object]]:
    """Return the table in pyftpdlib's ``proto_cmds`` dictionary format."""
    return {spec.name: spec.as_proto_cmd() for spec in specs}


#: Commands a client may send while a transfer runs, maybe behind the Telnet
#: IP/Synch bytes of an urgent ABOR (RFC 959 4.1.3) that reach the line.
_MID_TRANSFER = ("ABOR", "STAT", "QUIT", "NOOP")


def split_command(line: str) -> tuple[str, str]:
    """Split a command line into its upper-cased name and its raw argument.

    The argument keeps its spaces (file names may start or end with one).
    ``SITE`` commands are named by their first two words. Stray non-letters
    in front of ABOR, STAT, QUIT or NOOP (Telnet leftovers) are dropped.

    >>> split_command("site chmod 755 a b")
    ('SITE CHMOD', '755 a b')
    >>> split_command("\xf4\xf2abor")
    ('ABOR', '')
    """
    name, _, arg = line.partition(" ")
    name = name.upper()
    if name[-4:] in _MID_TRANSFER and not any("A" <= c <= "Z" for c in name[:-4]):
        name = name[-4:]
    if name == "SITE" and arg:
        sub, _, arg = arg.partition(" ")
        name = f"SITE {sub.upper()}"
    return name, arg


def argument_error(rule: object, arg: str) -> str | None:
    """Return the ``501`` text if *arg* breaks the argument rule, else None."""
    if rule is True and not arg:
        return "Syntax error: command needs an argument."
    if rule is False and arg:
        return "Syntax error: command does not accept arguments."
    return None


def help_columns(names: Iterable[str], per_line: int = 8) -> list[str]:
    """Lay command names out in columns for the ``214`` HELP reply."""
    ordered = sorted(names)
    return [
        " " + "".join(f"{name:<6} " for name in ordered[i : i + per_line]).rstrip()
        for i in range(0, len(ordered), per_line)
    ]

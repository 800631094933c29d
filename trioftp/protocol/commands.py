"""The command table: one entry per FTP command, and every rule dispatch needs.

Each :class:`CommandSpec` says whether the command needs a login, which
permission letter it needs (see :mod:`trioftp.authorizers`), whether it takes
an argument and how that argument becomes a path, what happens when it comes
while a transfer runs, whether the restart marker (REST) survives it, its
HELP text and the FEAT line it brings. Dispatch reads only this table.

The handler exposes the table in pyftpdlib's format as
``FTPHandler.proto_cmds`` so programs add commands exactly as with
pyftpdlib; :func:`spec_for` turns an entry of that format back into a spec.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping

import attrs

__all__ = [
    "COMMANDS",
    "HTTP_METHODS",
    "NOT_IMPLEMENTED",
    "TLS_COMMANDS",
    "CommandSpec",
    "DuringTransfer",
    "PathArgument",
    "argument_error",
    "help_columns",
    "method_name",
    "proto_cmds",
    "spec_for",
    "split_command",
    "strip_ls_options",
]


class PathArgument(enum.Enum):
    """How a command's argument becomes the filesystem path it works on."""

    #: No path: the argument is passed as it is.
    NONE = "none"
    #: The argument, or the current directory when there is none (LIST, MLSD...).
    OR_CWD = "or-cwd"
    #: The argument, or ``/`` when there is none (CWD).
    OR_ROOT = "or-root"
    #: Always the parent directory (CDUP).
    PARENT = "parent"
    #: A path only when an argument is given; none otherwise (STAT).
    IF_GIVEN = "if-given"
    #: ``WORD path``: the first word is passed as :attr:`CommandSpec.word`
    #: (``SITE CHMOD mode path``, ``MFMT time path``).
    AFTER_WORD = "after-word"
    #: ``ls``-style options (``-la``) first, dropped; then as :attr:`OR_CWD` (LIST).
    AFTER_LS_OPTIONS = "after-ls-options"


class DuringTransfer(enum.Enum):
    """What a command does when it arrives while a transfer runs."""

    #: Held, and run in order after the transfer's final reply.
    HELD = "held"
    #: Answered at once (STAT: the transfer's progress).
    ANSWERED = "answered"
    #: Aborts the transfer (ABOR).
    ABORTS = "aborts"
    #: Answered at once when it is a keep-alive, else held (NOOP).
    KEEP_ALIVE = "keep-alive"
    #: Held; the client may then close the connection and the transfer still
    #: finishes (QUIT, RFC 959).
    ENDS_SESSION = "ends-session"


def method_name(command: str) -> str:
    """The handler method that runs *command*: ``ftp_<NAME>``, spaces as ``_``."""
    return "ftp_" + command.replace(" ", "_")


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
    #: How the argument becomes a path (only for commands with a permission).
    path: PathArgument = PathArgument.NONE
    #: For :attr:`PathArgument.AFTER_WORD`: the keyword the first word is passed as.
    word: str | None = None
    #: Needs a login when it has an argument, even though it needs none without (STAT).
    auth_with_argument: bool = False
    #: The restart marker (REST) survives this command; any other uses it up.
    keeps_restart: bool = False
    during_transfer: DuringTransfer = DuringTransfer.HELD
    #: The built-in method checks jail and permission itself, in the runner
    #: call that does its work (dispatch checks first only for an override).
    checks_own_path: bool = False
    #: Refused before ``AUTH TLS`` when the server requires TLS on the control
    #: connection (USER, PASS).
    needs_tls: bool = False
    #: The handler method that runs it: ``ftp_<NAME>`` (``SITE CHMOD``: ``ftp_SITE_CHMOD``).
    method: str = attrs.field(
        init=False, default=attrs.Factory(lambda spec: method_name(spec.name), takes_self=True)
    )

    def as_proto_cmd(self) -> dict[str, object]:
        """Return the entry in pyftpdlib's ``proto_cmds`` dictionary format."""
        return {"perm": self.perm, "auth": self.auth, "arg": self.arg, "help": self.help}


_P = PathArgument
_HOLD, _ANSWER, _ABORT = DuringTransfer.HELD, DuringTransfer.ANSWERED, DuringTransfer.ABORTS


def _spec(name: str, syntax: str, **rules: object) -> CommandSpec:
    # Built-in commands with a permission check their own path unless told otherwise.
    if rules.get("perm") and "path" in rules:
        rules.setdefault("checks_own_path", True)
    return CommandSpec(name, f"Syntax: {syntax}.", **rules)  # type: ignore[arg-type]


_TABLE = [
    _spec("ABOR", "ABOR (abort transfer)", during_transfer=_ABORT),
    _spec("ALLO", "ALLO <SP> bytes (no-op; allocate storage)", arg=True),
    # APPE, CDUP and the X variants call another command's method, which a
    # subclass may override: the dispatcher checks their paths first.
    _spec("APPE", "APPE <SP> file-name (append data to file)", perm="a", arg=True,
          path=_P.OR_CWD, checks_own_path=False),
    _spec("CDUP", "CDUP (go to parent directory)", perm="e", path=_P.PARENT,
          checks_own_path=False),
    _spec("CWD", "CWD [<SP> dir-name] (change working directory)", perm="e",
          arg=None, feat="TVFS", path=_P.OR_ROOT),
    _spec("DELE", "DELE <SP> file-name (delete file)", perm="d", arg=True, path=_P.OR_CWD),
    _spec("EPRT", "EPRT <SP> |proto|ip|port| (extended active mode)", arg=True,
          feat="EPRT", keeps_restart=True),
    _spec("EPSV", 'EPSV [<SP> proto/"ALL"] (extended passive mode)', arg=None,
          feat="EPSV", keeps_restart=True),
    _spec("FEAT", "FEAT (list all new features supported)", auth=False),
    _spec("HASH", "HASH <SP> file-name (hash of a file, algorithm set by OPTS HASH)",
          perm="r", arg=True, feat="HASH"),
    _spec("HELP", "HELP [<SP> cmd] (show help)", auth=False, arg=None),
    _spec("HOST", "HOST <SP> host-name (select virtual host)", auth=False,
          arg=True, feat="HOST"),
    _spec("LIST", "LIST [<SP> path] (list files)", perm="l", arg=None,
          path=_P.AFTER_LS_OPTIONS),
    _spec("MDTM", "MDTM <SP> path (file last modification time)", perm="l",
          arg=True, feat="MDTM", path=_P.OR_CWD),
    _spec("MFMT", "MFMT <SP> timeval <SP> path (set file modification time)",
          perm="T", arg=True, feat="MFMT", path=_P.AFTER_WORD, word="timeval"),
    _spec("MKD", "MKD <SP> path (create directory)", perm="m", arg=True, path=_P.OR_CWD),
    _spec("MLSD", "MLSD [<SP> path] (list directory)", perm="l", arg=None, path=_P.OR_CWD),
    _spec("MLST", "MLST [<SP> path] (show information about path)", perm="l",
          arg=None, feat="MLST", path=_P.OR_CWD),
    _spec("MODE", "MODE <SP> mode (set data transfer mode)", arg=True),
    _spec("NLST", "NLST [<SP> path] (list path in a compact form)", perm="l",
          arg=None, path=_P.OR_CWD),
    _spec("NOOP", "NOOP (just do nothing)", auth=False,
          during_transfer=DuringTransfer.KEEP_ALIVE),
    _spec("OPTS", "OPTS <SP> cmd [<SP> option] (set option for command)",
          arg=True, feat="UTF8"),
    _spec("PASS", "PASS [<SP> password] (set user password)", auth=False, arg=None,
          needs_tls=True),
    _spec("PASV", "PASV (open passive data connection)", keeps_restart=True),
    _spec("PORT", "PORT <SP> h,h,h,h,p,p (open active data connection)", arg=True,
          keeps_restart=True),
    _spec("PWD", "PWD (get current working directory)"),
    _spec("QUIT", "QUIT (quit current session)", auth=False,
          during_transfer=DuringTransfer.ENDS_SESSION),
    _spec("REIN", "REIN (flush account)"),
    _spec("REST", "REST <SP> offset (set file offset)", arg=True,
          feat="REST STREAM", keeps_restart=True),
    _spec("RETR", "RETR <SP> file-name (retrieve a file)", perm="r", arg=True, path=_P.OR_CWD),
    _spec("RMD", "RMD <SP> dir-name (remove directory)", perm="d", arg=True, path=_P.OR_CWD),
    _spec("RNFR", "RNFR <SP> file-name (rename (source name))", perm="f", arg=True,
          path=_P.OR_CWD),
    _spec("RNTO", "RNTO <SP> file-name (rename (destination name))", perm="f",
          arg=True, path=_P.OR_CWD),
    _spec("SITE", "SITE <SP> site-command (execute SITE command)", auth=False,
          arg=True),
    _spec("SITE CHMOD", "SITE CHMOD <SP> mode path (change file mode)",
          perm="M", arg=True, path=_P.AFTER_WORD, word="mode"),
    _spec("SITE HELP", "SITE HELP [<SP> cmd] (show SITE command help)",
          auth=False, arg=None),
    _spec("SIZE", "SIZE <SP> file-name (get file size)", perm="l", arg=True,
          feat="SIZE", path=_P.OR_CWD),
    _spec("STAT", "STAT [<SP> path name] (server stats [list files])", perm="l",
          auth=False, arg=None, path=_P.IF_GIVEN, auth_with_argument=True,
          during_transfer=_ANSWER),
    _spec("STOR", "STOR <SP> file-name (store a file)", perm="w", arg=True, path=_P.OR_CWD),
    # STOU picks its own name (and checks its directory itself).
    _spec("STOU", "STOU [<SP> name] (store a file with a unique name)", perm="w",
          arg=None),
    _spec("STRU", "STRU <SP> type (set file structure)", arg=True),
    _spec("SYST", "SYST (get operating system type)", auth=False),
    _spec("TYPE", "TYPE <SP> [A | I] (set transfer type)", arg=True, keeps_restart=True),
    _spec("USER", "USER <SP> user-name (set username)", auth=False, arg=True,
          needs_tls=True),
    # The X hash commands parse their own "path [start end]" argument.
    _spec("XCRC", "XCRC <SP> file-name [<SP> start <SP> end] (CRC-32 of a file)",
          perm="r", arg=True, feat="XCRC"),
    _spec("XMD5", "XMD5 <SP> file-name [<SP> start <SP> end] (MD5 of a file)",
          perm="r", arg=True, feat="XMD5"),
    _spec("XSHA", "XSHA <SP> file-name [<SP> start <SP> end] (SHA-1 of a file)",
          perm="r", arg=True, feat="XSHA"),
    _spec("XSHA1", "XSHA1 <SP> file-name [<SP> start <SP> end] (SHA-1 of a file)",
          perm="r", arg=True, feat="XSHA1"),
    _spec("XSHA256", "XSHA256 <SP> file-name [<SP> start <SP> end] (SHA-256 of a file)",
          perm="r", arg=True, feat="XSHA256"),
    _spec("XSHA512", "XSHA512 <SP> file-name [<SP> start <SP> end] (SHA-512 of a file)",
          perm="r", arg=True, feat="XSHA512"),
    _spec("XCUP", "XCUP (obsolete; go to parent directory)", perm="e", path=_P.PARENT,
          checks_own_path=False),
    _spec("XCWD", "XCWD [<SP> dir-name] (obsolete; change directory)", perm="e",
          arg=None, path=_P.OR_ROOT, checks_own_path=False),
    _spec("XMKD", "XMKD <SP> dir-name (obsolete; create directory)", perm="m",
          arg=True, path=_P.OR_CWD, checks_own_path=False),
    _spec("XPWD", "XPWD (obsolete; get current dir)"),
    _spec("XRMD", "XRMD <SP> dir-name (obsolete; remove directory)", perm="d",
          arg=True, path=_P.OR_CWD, checks_own_path=False),
]  # fmt: skip

#: Every command the plain FTP handler implements, by name.
COMMANDS: Mapping[str, CommandSpec] = {spec.name: spec for spec in _TABLE}

#: The FTPS commands (RFC 4217), with their FEAT lines.
TLS_COMMANDS: Mapping[str, CommandSpec] = {
    spec.name: spec
    for spec in [
        CommandSpec("AUTH", "Syntax: AUTH <SP> TLS|SSL (set up secure control channel).",
                    auth=False, arg=True, feat="AUTH TLS"),
        CommandSpec("PBSZ", "Syntax: PBSZ <SP> 0 (negotiate TLS buffer).",
                    auth=False, arg=True, feat="PBSZ"),
        CommandSpec("PROT", "Syntax: PROT <SP> [C|P] (set up un/secure data channel).",
                    auth=False, arg=True, feat="PROT"),
        CommandSpec("CCC", "Syntax: CCC (clear the control channel after login).",
                    feat="CCC"),
    ]
}  # fmt: skip

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


def spec_for(name: str, entry: Mapping[str, object]) -> CommandSpec:
    """The spec of a ``proto_cmds`` entry (pyftpdlib's format) for command *name*.

    A built-in entry left as it is gives the built-in spec; an entry whose
    permission, login or argument rule was changed keeps the built-in's other
    rules; a command a program added gets the rules pyftpdlib gives it (with a
    permission letter, its argument is a path, the current directory if none),
    and so does a built-in command given a permission it did not have.
    """
    return _spec_for(
        name, entry.get("perm"), entry.get("auth", True), entry.get("arg"), entry.get("help")
    )


@functools.lru_cache(maxsize=512)
def _spec_for(name: str, perm: object, auth: object, arg: object, help: object) -> CommandSpec:
    perm = str(perm) if perm else None
    builtin = COMMANDS.get(name) or TLS_COMMANDS.get(name)
    text = help if isinstance(help, str) else ""
    if builtin is not None:
        if (builtin.perm, builtin.auth, builtin.arg, builtin.help) == (perm, auth, arg, text):
            return builtin
        changed = attrs.evolve(builtin, perm=perm, auth=bool(auth), arg=arg, help=text)  # type: ignore[arg-type]
        if perm and builtin.perm is None:  # a permission for a command that had none
            changed = attrs.evolve(changed, path=PathArgument.OR_CWD, checks_own_path=False)
        return changed
    path = PathArgument.OR_CWD if perm else PathArgument.NONE
    return CommandSpec(name, text, perm, bool(auth), arg, path=path)  # type: ignore[arg-type]


#: Commands a client may send while a transfer runs, maybe behind the Telnet
#: IP/Synch bytes of an urgent ABOR (RFC 959 4.1.3) that reach the line.
_MID_TRANSFER = tuple(
    name for name, spec in COMMANDS.items() if spec.during_transfer is not DuringTransfer.HELD
)


def split_command(line: str) -> tuple[str, str]:
    """Split a command line into its upper-cased name and its raw argument.

    The argument keeps its spaces (file names may start or end with one).
    ``SITE`` commands are named by their first two words. Stray non-letters
    in front of ABOR, STAT, QUIT or NOOP (Telnet leftovers) are dropped.

    >>> split_command("site chmod 755 a b")
    ('SITE CHMOD', '755 a b')
    >>> split_command("\\xf4\\xf2abor")
    ('ABOR', '')
    """
    name, _, arg = line.partition(" ")
    name = name.upper()
    # (A name of four letters or fewer has nothing in front to drop.)
    if len(name) > 4 and name[-4:] in _MID_TRANSFER and not any("A" <= c <= "Z" for c in name[:-4]):
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


def strip_ls_options(arg: str) -> str:
    """Drop ``ls``-style options (``-a``, ``-l``, ``-la``...) some clients send to LIST."""
    words = arg.split(" ")
    while words and len(words[0]) > 1 and words[0][0] == "-" and words[0][1:].isalpha():
        words.pop(0)
    return " ".join(words)


def help_columns(names: Iterable[str], per_line: int = 8) -> list[str]:
    """Lay command names out in columns for the ``214`` HELP reply."""
    ordered = sorted(names)
    return [
        " " + "".join(f"{name:<6} " for name in ordered[i : i + per_line]).rstrip()
        for i in range(0, len(ordered), per_line)
    ]


#: First words of HTTP requests: a client sending them talks HTTP to the FTP port.
HTTP_METHODS = frozenset(
    {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "TRACE", "PATCH"}
)

"""Session settings and information: TYPE, MODE, STRU, ALLO, NOOP, SYST, OPTS, FEAT, HELP."""

from __future__ import annotations

import codecs

from ...protocol.commands import help_columns, spec_for
from ...protocol.listing import ALL_FACTS
from ...protocol.replies import multiline_reply, sanitize
from ..context import CommandContext
from ..digests import hash_feature, hash_option, selected_algorithm

__all__ = ["InfoCommands", "features"]

#: The facts in the order FEAT lists them, pyftpdlib's; MLSx lines show them
#: in :data:`ALL_FACTS` order (RFC 3659 sets no order for either).
_PYFTPDLIB_FIRST = ("type", "perm", "size", "modify")
_FEAT_FACT_ORDER = (*_PYFTPDLIB_FIRST, *(f for f in ALL_FACTS if f not in _PYFTPDLIB_FIRST))

_TYPES = {"A": "a", "AN": "a", "I": "i", "L8": "i"}


class InfoCommands:
    """Commands that set or report session state; none touches the filesystem."""

    def ftp_TYPE(self: CommandContext, line: str) -> None:
        """Set the transfer type: ``A``/``A N`` (ASCII) or ``I``/``L 8`` (binary)."""
        kind = _TYPES.get(line.upper().replace(" ", ""))
        if kind is None:
            self.respond(f"504 Unsupported type {sanitize(line)!r}.")
            return
        self.session_state.transfer_type = kind
        self.respond("200 Type set to: ASCII." if kind == "a" else "200 Type set to: Binary.")

    def ftp_MODE(self: CommandContext, line: str) -> None:
        """Only stream mode (``S``) is offered."""
        mode = line.upper()
        if mode == "S":
            self.respond("200 Transfer mode set to: S")
        elif mode in ("B", "C"):
            self.respond("504 Unimplemented MODE type.")
        else:
            self.respond("501 Unrecognized MODE type.")

    def ftp_STRU(self: CommandContext, line: str) -> None:
        """Only file structure (``F``) is offered."""
        stru = line.upper()
        if stru == "F":
            self.respond("200 File transfer structure set to: F.")
        elif stru in ("P", "R"):
            self.respond("504 Unimplemented STRU type.")
        else:
            self.respond("501 Unrecognized STRU type.")

    def ftp_ALLO(self: CommandContext, line: str) -> None:
        """Nothing to allocate: ``202``."""
        self.respond("202 No storage allocation necessary.")

    def ftp_NOOP(self: CommandContext, line: str) -> None:
        """Do nothing, successfully."""
        self.respond("200 I successfully did nothing.")

    def ftp_SYST(self: CommandContext, line: str) -> None:
        """Report the system type the listings follow."""
        self.respond("215 UNIX Type: L8")

    def ftp_OPTS(self: CommandContext, line: str) -> None:
        """``OPTS UTF8 ON``, ``OPTS MLST fact;fact;...`` (RFC 2389, 3659), ``OPTS HASH [name]``."""
        command, _, value = line.strip().partition(" ")
        command = command.upper()
        if command == "UTF8" and not _speaks_utf8(self.encoding):
            self.respond(f"504 This server speaks {sanitize(self.encoding)}, not UTF8.")
        elif command == "UTF8" and value.strip().upper() in ("ON", ""):
            self.respond("200 Always in UTF8 mode.")
        elif command == "UTF8":
            self.respond("504 UTF8 cannot be turned off.")
        elif command == "MLST" and "MLST" in self.proto_cmds:
            # RFC 3659 7.9: a fact list is "fact;fact;..."; unknown facts are ignored.
            if " " in value.strip():
                self.respond("501 Invalid number of arguments.")
                return
            if value.strip() and ";" not in value:
                self.respond("501 Invalid argument: OPTS MLST takes fact;fact;... (RFC 3659).")
                return
            wanted = {fact.lower() for fact in value.strip().split(";") if fact}
            facts = self.session_state.facts = [fact for fact in ALL_FACTS if fact in wanted]
            shown = "".join(f"{fact};" for fact in facts)
            self.respond(f"200 MLST OPTS {shown}")
        elif command == "HASH" and "HASH" in self.proto_cmds:
            state = self.session_state
            current = selected_algorithm(state.hash_algorithm, self.hash_algorithm)
            reply, state.hash_algorithm = hash_option(value, current)
            self.respond(reply)
        else:
            self.respond(f"501 Unsupported command {sanitize(command)!r} for OPTS.")

    def ftp_FEAT(self: CommandContext, line: str) -> None:
        """List the extensions (RFC 2389), each on its own line after a space."""
        self.respond(
            multiline_reply(
                "211", "Features supported:", (f" {f}" for f in features(self)), "End FEAT."
            )
        )

    def ftp_HELP(self: CommandContext, line: str) -> None:
        """Without argument list the commands; with one, show its syntax."""
        if line:
            spec = self.proto_cmds.get(line.strip().upper())
            if spec is None:
                self.respond("501 Unrecognized command.")
            else:
                self.respond(f"214 {spec['help']}")
            return
        names = [name for name in self.proto_cmds if not name.startswith("SITE ")]
        self.respond(
            multiline_reply(
                "214",
                "The following commands are recognized:",
                help_columns(names),
                "Help command successful.",
            )
        )

    def ftp_SITE_HELP(self: CommandContext, line: str) -> None:
        """List the SITE commands, or show one's syntax."""
        if line:
            spec = self.proto_cmds.get(f"SITE {line.strip().upper()}")
            if spec is None:
                self.respond("501 Unrecognized SITE command.")
            else:
                self.respond(f"214 {spec['help']}")
            return
        names = [name[5:] for name in self.proto_cmds if name.startswith("SITE ")]
        self.respond(
            multiline_reply(
                "214",
                "The following SITE commands are recognized:",
                help_columns(names),
                "Help SITE command successful.",
            )
        )


def features(session: CommandContext) -> list[str]:
    """The FEAT lines: one per implemented extension, sorted.

    A ``proto_cmds`` entry may carry its own ``feat`` line; a built-in one
    (FTPS included) brings the command table's.
    """
    lines = set()
    for name, entry in session.proto_cmds.items():
        feat = entry.get("feat", spec_for(name, entry).feat)
        if feat:
            lines.add(str(feat))
    if not _speaks_utf8(session.encoding):
        lines.discard("UTF8")  # RFC 2640: only when paths really travel in UTF-8
    if "AUTH TLS" in lines:
        lines.add("AUTH SSL")
    if "MLST" in lines:
        lines.discard("MLST")
        selected = session.session_state.facts
        facts = "".join(f"{fact}{'*' if fact in selected else ''};" for fact in _FEAT_FACT_ORDER)
        lines.add(f"MLST {facts}")
    if "HASH" in lines:
        lines.discard("HASH")
        state = session.session_state
        lines.add(hash_feature(selected_algorithm(state.hash_algorithm, session.hash_algorithm)))
    return sorted(lines)


def _speaks_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False

"""The FTPS commands: AUTH, PBSZ, PROT and CCC (RFC 4217, RFC 2228).

They ask the session's :class:`~trioftp.session.tls.TLSProtection` to do
the TLS work and keep the protection level in the session state.
"""

from __future__ import annotations

from ..context import CommandContext
from ..tls import TLSProtection

__all__ = ["TLSCommands"]

_AUTH_MECHANISMS = ("TLS", "TLS-C", "SSL", "TLS-P")


def _tls(session: CommandContext) -> TLSProtection:
    tls = session.tls_protection
    assert tls is not None, "FTPS commands need a handler with a TLS protection policy"
    return tls


class TLSCommands:
    """AUTH, PBSZ, PROT and CCC."""

    async def ftp_AUTH(self: CommandContext, line: str) -> None:
        """Switch the control connection to TLS (``234``, then the handshake)."""
        tls = _tls(self)
        mechanism = line.strip().upper()
        if tls.control_protected:
            self.respond("503 Already using TLS.")
        elif mechanism not in _AUTH_MECHANISMS:
            self.respond("504 Unrecognized AUTH type (use TLS or SSL).")
        elif not tls.configured():
            self.respond("502 TLS is not configured on this server.")
        elif (context := await tls.load_context()) is None:
            # Refused before 234, so the client never starts a handshake nobody answers.
            self.respond("431 TLS is not available on this server.")
        else:
            await self.reply_now(f"234 AUTH {mechanism} successful.")
            await tls.secure_control(context)

    def ftp_PBSZ(self: CommandContext, line: str) -> None:
        """Protection buffer size: always 0 under TLS (``200 PBSZ=0``)."""
        if not _tls(self).control_protected:
            self.respond("503 PBSZ not allowed on insecure control connection.")
        elif not line.strip().isdigit():
            self.respond("501 PBSZ needs a number.")
        else:
            self.session_state.pbsz = True
            self.respond("200 PBSZ=0")

    def ftp_PROT(self: CommandContext, line: str) -> None:
        """Data protection: ``C`` (clear) or ``P`` (private)."""
        tls, state = _tls(self), self.session_state
        level = line.strip().upper()
        if not tls.control_protected:
            self.respond("503 PROT not allowed on insecure control connection.")
        elif not state.pbsz:
            self.respond("503 You must issue the PBSZ command prior to PROT.")
        elif level == "P":
            state.protect_data = True
            self.respond("200 Protection set to Private.")
        elif level == "C" and tls.implicit:
            self.respond("534 Data connections are always protected on this server.")
        elif level == "C":
            state.protect_data = False
            self.respond("200 Protection set to Clear.")
        elif level in ("S", "E"):
            self.respond(f"536 PROT {level} unsupported (use C or P).")
        else:
            self.respond("504 Unrecognized PROT type (use C or P).")

    async def ftp_CCC(self: CommandContext, line: str) -> None:
        """Return the control connection to clear text (RFC 4217 section 6)."""
        tls = _tls(self)
        if not tls.control_protected:
            self.respond("533 The control connection is not protected.")
            return
        await self.reply_now("200 Clear Command Channel OK.")
        if not await tls.clear_control():
            self.close()

"""FTPS (RFC 4217): AUTH, PBSZ, PROT and CCC, implicit FTPS, protected data connections.

:class:`TLSCommands` closes the holes pyftpdlib's ``TLS_FTPHandler`` leaves:

* plaintext a client pipelined after ``AUTH TLS`` is thrown away, never run
  (CVE-2011-1575);
* implicit FTPS (TLS from the first byte) next to explicit ``AUTH TLS``;
* ``CCC`` returns the control connection to clear text after login;
* a protected data connection can be bound to the control session's TLS
  session (:class:`~trioftp.tls.contexts.DataSessionBinding`);
* an upload whose TLS connection breaks is a failure, never ``226``, while
  one that ends with a bare TCP FIN is a normal end of file;
* HTTP requests sent to the FTP port are dropped before login (ALPACA), and
  SNI can be checked strictly.
"""

from __future__ import annotations

import inspect
import ssl
from collections.abc import Collection, Mapping

import trio

from ..log import logger
from ..protocol.commands import CommandSpec
from ..protocol.replies import sanitize
from ..tls.contexts import DataSessionBinding, TLSSettings, build_context
from ..tls.streams import TLSStream, is_tls, session_id, session_reused, unwrap, wrap_server
from .dataconn import NoDataConnection
from .info import InfoCommands
from .login import LoginCommands
from .transfer import TransferRunner

__all__ = ["HTTP_METHODS", "TLS_COMMANDS", "TLSCommands"]

#: The FTPS commands, with their FEAT lines.
TLS_COMMANDS = [
    CommandSpec("AUTH", "Syntax: AUTH <SP> TLS|SSL (set up secure control channel).",
                auth=False, arg=True, feat="AUTH TLS"),
    CommandSpec("PBSZ", "Syntax: PBSZ <SP> 0 (negotiate TLS buffer).",
                auth=False, arg=True, feat="PBSZ"),
    CommandSpec("PROT", "Syntax: PROT <SP> [C|P] (set up un/secure data channel).",
                auth=False, arg=True, feat="PROT"),
    CommandSpec("CCC", "Syntax: CCC (clear the control channel after login).",
                feat="CCC"),
]  # fmt: skip

#: First words of HTTP requests: a client sending them talks HTTP to the FTP port.
HTTP_METHODS = frozenset(
    {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "TRACE", "PATCH"}
)

_AUTH_MECHANISMS = ("TLS", "TLS-C", "SSL", "TLS-P")

# Per-class caches of shared contexts, keyed by the settings that built them.
_SHARED_CONTEXTS: dict[TLSSettings, ssl.SSLContext] = {}
_WARNED: set[type] = set()


class TLSCommands(LoginCommands, InfoCommands, TransferRunner):
    """The FTPS half of ``TLS_FTPHandler``; configured with class attributes."""

    #: Certificate chain file (PEM); with the key in it unless *keyfile* is set.
    certfile: str | None = None
    #: Private key file (PEM).
    keyfile: str | None = None
    #: TLS method: pyOpenSSL's (``SSL.TLS_METHOD``...) or the stdlib's constants.
    ssl_protocol: object = None
    #: OpenSSL option bits added to the safe defaults (same values in both libraries).
    ssl_options: int | None = None
    #: A ready context (stdlib ``ssl.SSLContext`` or pyOpenSSL ``SSL.Context``),
    #: or a function returning a new one for each session; overrides the above.
    ssl_context: object = None
    #: Refuse USER/PASS before AUTH (``530``).
    tls_control_required: bool = False
    #: Refuse transfers without PROT P (``522``).
    tls_data_required: bool = False
    #: trioftp: implicit FTPS - TLS from the first byte, data always protected.
    tls_implicit: bool = False
    #: trioftp: seconds allowed for a TLS handshake (or CCC's shutdown).
    tls_handshake_timeout: float = 30
    #: trioftp: must data connections resume the control session's TLS session?
    tls_data_session_binding: DataSessionBinding | str = DataSessionBinding.PREFERRED
    #: trioftp: host names SNI may name; None accepts any (strict SNI when set).
    tls_sni_hosts: Collection[str] | None = None

    _tls_control = False
    _pbsz = False
    _prot_private = False
    _session_context: object = None
    _control_session_id: bytes | None = None

    # --- configuration

    def tls_settings(self) -> TLSSettings | None:
        """The file-based TLS settings, or None when none are configured."""
        if self.certfile is None:
            return None
        return TLSSettings(
            self.certfile, self.keyfile, self.ssl_protocol, self.ssl_options, self.tls_sni_hosts
        )

    def binding(self) -> DataSessionBinding:
        """The data-session binding policy, as an enum member."""
        return DataSessionBinding(self.tls_data_session_binding)

    def _context_for_session(self) -> object:
        """The context for this session's control and data connections (blocking).

        Each session gets a context of its own - and so its own session cache
        and ticket keys - unless binding is off or a single ready context was
        given.
        """
        given = self.ssl_context
        if inspect.ismethod(given) and given.__self__ is self:
            given = given.__func__  # a plain function set on the class came back bound
        if callable(given):  # a factory: a fresh context for every session
            return given()
        if given is not None:
            if self.binding() is DataSessionBinding.REQUIRED:
                _warn_shared_binding(self)
            return given
        settings = self.tls_settings()
        if settings is None:
            raise ssl.SSLError("no certificate configured (certfile or ssl_context)")
        if self.binding() is not DataSessionBinding.OFF:
            return build_context(settings, bind_sessions=True)
        shared = _SHARED_CONTEXTS.get(settings)
        if shared is None:
            shared = _SHARED_CONTEXTS[settings] = build_context(settings)
        return shared

    def tls_configured(self) -> bool:
        """True if a certificate or a context is configured."""
        return self.ssl_context is not None or self.certfile is not None

    # --- session start

    async def prepare_control_connection(self) -> bool:
        """Implicit FTPS: the handshake comes first; a failed one ends the session."""
        if not self.tls_implicit:
            return await super().prepare_control_connection()
        if not await self._secure_control_connection():
            return False
        self._pbsz = self._prot_private = True
        return True

    async def _load_context(self) -> object:
        """This session's context, or None (logged) if the settings can't make one."""
        try:
            return await self.run_blocking(self._context_for_session)
        except (OSError, ValueError, TypeError) as exc:  # a missing file, InsecureProtocol...
            self.logerror(f"TLS is not available: {exc}")
            return None

    async def _secure_control_connection(self, context: object = None) -> bool:
        if context is None:
            context = await self._load_context()
            if context is None:
                return False
        tls = wrap_server(self._control.stream, context)
        try:
            await self._handshake(tls)
        except trio.BrokenResourceError as exc:
            self.log(f"TLS handshake on the control connection failed: {exc}")
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(tls)
            self.close_when_done()
            return False
        self._control.stream = tls
        self._session_context = context
        self._control_session_id = session_id(tls)
        self._tls_control = True
        return True

    async def _handshake(self, tls: TLSStream) -> None:
        """The TLS handshake, within ``tls_handshake_timeout``; BrokenResourceError if not."""
        try:
            with trio.fail_after(self.tls_handshake_timeout):
                await tls.do_handshake()
        except trio.TooSlowError:
            raise trio.BrokenResourceError("TLS handshake timed out") from None

    # --- commands

    async def ftp_AUTH(self, line: str) -> None:
        """Switch the control connection to TLS (``234``, then the handshake)."""
        mechanism = line.strip().upper()
        if self._tls_control:
            self.respond("503 Already using TLS.")
        elif mechanism not in _AUTH_MECHANISMS:
            self.respond("504 Unrecognized AUTH type (use TLS or SSL).")
        elif not self.tls_configured():
            self.respond("502 TLS is not configured on this server.")
        elif (context := await self._load_context()) is None:
            # Refused before 234, so the client never starts a handshake nobody answers.
            self.respond("431 TLS is not available on this server.")
        else:
            await self.reply_now(f"234 AUTH {mechanism} successful.")
            # Plaintext pipelined after AUTH is never run (CVE-2011-1575),
            # whether still unparsed or read while a transfer was running.
            self._control.framer.discard_buffered()
            if self._held:
                self._held.clear()
            await self._secure_control_connection(context)

    def ftp_PBSZ(self, line: str) -> None:
        """Protection buffer size: always 0 under TLS (``200 PBSZ=0``)."""
        if not self._tls_control:
            self.respond("503 PBSZ not allowed on insecure control connection.")
        elif not line.strip().isdigit():
            self.respond("501 PBSZ needs a number.")
        else:
            self._pbsz = True
            self.respond("200 PBSZ=0")

    def ftp_PROT(self, line: str) -> None:
        """Data protection: ``C`` (clear) or ``P`` (private)."""
        level = line.strip().upper()
        if not self._tls_control:
            self.respond("503 PROT not allowed on insecure control connection.")
        elif not self._pbsz:
            self.respond("503 You must issue the PBSZ command prior to PROT.")
        elif level == "P":
            self._prot_private = True
            self.respond("200 Protection set to Private.")
        elif level == "C" and self.tls_implicit:
            self.respond("534 Data connections are always protected on this server.")
        elif level == "C":
            self._prot_private = False
            self.respond("200 Protection set to Clear.")
        elif level in ("S", "E"):
            self.respond(f"536 PROT {level} unsupported (use C or P).")
        else:
            self.respond("504 Unrecognized PROT type (use C or P).")

    async def ftp_CCC(self, line: str) -> None:
        """Return the control connection to clear text (RFC 4217 section 6)."""
        stream = self._control.stream
        if not self._tls_control or not is_tls(stream):
            self.respond("533 The control connection is not protected.")
            return
        await self.reply_now("200 Clear Command Channel OK.")
        try:
            with trio.fail_after(self.tls_handshake_timeout):
                transport, trailing = await unwrap(stream)
        except (trio.BrokenResourceError, trio.TooSlowError) as exc:
            self.log(f"CCC failed: {exc}")
            self.close()
            return
        self._control.stream = transport
        self._control.framer.feed(trailing)
        self._tls_control = False

    # --- hooks into the plain session

    async def run_command(self, name: str, arg: str, spec: Mapping[str, object]) -> None:
        if name in ("USER", "PASS") and self.tls_control_required and not self._tls_control:
            self.respond("530 SSL/TLS required on the control channel (use AUTH TLS).")
            return
        await super().run_command(name, arg, spec)

    def unknown_command(self, name: str, arg: str) -> None:
        """An HTTP request before login means a confused or malicious client: drop it."""
        if name in HTTP_METHODS and not self.authenticated:
            self.log(f"Dropped a {sanitize(name)} request: HTTP on the FTP port (ALPACA).")
            self.close()
            return
        super().unknown_command(name, arg)

    def refuse_transfer(self) -> bool:
        if self.tls_data_required and not self._prot_private:
            self.respond("522 SSL/TLS required on the data channel (use PROT P).")
            return True
        return super().refuse_transfer()

    async def secure_data_connection(self, stream: trio.SocketStream) -> trio.abc.Stream:
        """Under PROT P: TLS on the data connection, bound to this session if required."""
        if not self._prot_private:
            return stream
        tls = wrap_server(stream, self._session_context)
        try:
            await self._handshake(tls)
            binding = self.binding()
            if binding is not DataSessionBinding.OFF and not self._resumes_control_session(tls):
                if binding is DataSessionBinding.REQUIRED:
                    raise NoDataConnection(
                        "data connection did not resume the control connection's TLS session",
                        "522 Data connection must reuse the control connection's TLS session.",
                    )
                self.log("Data connection did not resume the control session's TLS session.")
        except trio.BrokenResourceError as exc:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(tls)
            raise NoDataConnection(
                f"data connection TLS handshake failed: {exc}",
                "425 TLS negotiation on the data connection failed.",
            ) from exc
        except BaseException:  # refused, ABOR, the session ending: never leak the socket
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(tls)
            raise
        return tls

    def _resumes_control_session(self, tls: TLSStream) -> bool:
        """True if *tls* resumed this control connection's own TLS session.

        Resumption alone proves the session came from this session's context.
        With TLS 1.2 a stranger could get such a session from the data port
        itself (the session is made during the handshake), so there the
        session must also be the control connection's, by its id.
        """
        if not session_reused(tls):
            return False
        data_id = session_id(tls)
        return data_id is None or data_id == self._control_session_id

    def flush_account(self) -> None:
        """REIN and a new USER also reset PBSZ and PROT (not the control TLS)."""
        super().flush_account()
        self._pbsz = self._prot_private = self.tls_implicit

    def features(self) -> list[str]:
        """FEAT adds the FTPS lines (``AUTH TLS``, ``AUTH SSL``, ``PBSZ``, ``PROT``, ``CCC``).

        ``proto_cmds`` entries carry no FEAT line (pyftpdlib's format), so the
        lines come from :data:`TLS_COMMANDS`, for the commands still in the table.
        """
        lines = set(super().features())
        lines.update(s.feat for s in TLS_COMMANDS if s.feat and s.name in self.proto_cmds)
        return sorted({*lines, "AUTH SSL"} if "AUTH TLS" in lines else lines)

    def status_lines(self) -> list[str]:
        lines = super().status_lines()
        stream = self._control.stream
        control = f"TLS ({stream.version()})" if is_tls(stream) else "clear"
        data = "Private" if self._prot_private else "Clear"
        return [*lines, f" Control connection: {control}; data protection: {data}"]


def _warn_shared_binding(handler: TLSCommands) -> None:
    """A single given context can't bind data connections to one session: say so (once)."""
    kind = type(handler)
    if kind in _WARNED:
        return
    _WARNED.add(kind)
    logger.warning(
        "%s: tls_data_session_binding=required with one shared ssl_context only "
        "checks that data connections resume *a* session of this server; give "
        "certfile/keyfile or a context factory to bind them to their own session",
        type(handler).__name__,
    )

"""Setting up data connections: PASV, EPSV, PORT, EPRT (RFC 959, RFC 2428).

A passive command opens a listening socket and starts a task in the session's
nursery that accepts exactly one connection from the client's address (a
connection from any other host is dropped silently, unless
``permit_foreign_addresses``), then closes the listener. An active command
only records the address: the connection is made when a transfer needs it.
Either way the transfer calls :meth:`DataConnectionCommands.open_data_connection`.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import attrs
import trio

from ..protocol.addresses import (
    AddressError,
    EpsvAll,
    UnsupportedProtocol,
    format_epsv,
    format_pasv,
    normalize_ip,
    parse_eprt,
    parse_epsv,
    parse_port,
)
from .base import SessionBase, logger

__all__ = ["ActiveEndpoint", "DataConnectionCommands", "NoDataConnection", "PassiveEndpoint"]


#: Random picks from ``passive_ports`` before the whole range is tried in turn.
_RANDOM_PORT_PROBES = 32


class NoDataConnection(Exception):
    """No usable data connection could be made; :attr:`reply` is the final reply."""

    def __init__(self, why: str, reply: str = "425 Can't open data connection.") -> None:
        super().__init__(why)
        self.reply = reply


@attrs.define(eq=False)
class PassiveEndpoint:
    """A listening socket waiting for the client's data connection."""

    listener: trio.socket.SocketType
    port: int
    accepted: trio.SocketStream | None = None
    done: trio.Event = attrs.Factory(trio.Event)
    cancel_scope: trio.CancelScope = attrs.Factory(trio.CancelScope)

    def close(self) -> None:
        """Stop accepting and close whatever is open."""
        self.cancel_scope.cancel()
        self.listener.close()
        if self.accepted is not None:
            self.accepted.socket.close()
            self.accepted = None


@attrs.frozen
class ActiveEndpoint:
    """The client's address for an active (PORT/EPRT) data connection."""

    ip: str
    port: int


class DataConnectionCommands(SessionBase):
    """PASV, EPSV, PORT and EPRT, and the data endpoint they leave behind."""

    _data_endpoint: PassiveEndpoint | ActiveEndpoint | None = None

    # --- commands

    async def ftp_PASV(self, line: str) -> None:
        """Open a passive endpoint announced as ``227 ... (h1,h2,h3,h4,p1,p2).``"""
        if self._epsvall:
            self.respond("501 PASV not allowed after EPSV ALL.")
            return
        local = normalize_ip(self.local_ip)
        if ":" in local:
            self.respond("425 PASV needs IPv4; use EPSV.")
            return
        endpoint = await self._open_passive()
        if endpoint is not None:
            shown = self.masquerade_address_map.get(local, self.masquerade_address or local)
            self.respond(format_pasv(shown, endpoint.port))

    async def ftp_EPSV(self, line: str) -> None:
        """Open a passive endpoint announced as ``229 ... (|||port|)``; ``EPSV ALL``."""
        try:
            request = parse_epsv(line)
        except AddressError:
            self.respond("501 Invalid EPSV argument; use 1, 2 or ALL.")
            return
        if request is EpsvAll.ALL:
            self._epsvall = True
            self.respond("200 EPSV ALL command successful.")
            return
        if isinstance(request, UnsupportedProtocol):
            self.respond("522 Network protocol not supported, use (1,2)")
            return
        own = 2 if ":" in normalize_ip(self.local_ip) else 1
        if request is not None and request != own:
            self.respond(f"522 Network protocol not supported, use ({own})")
            return
        endpoint = await self._open_passive()
        if endpoint is not None:
            self.respond(format_epsv(endpoint.port))

    async def ftp_PORT(self, line: str) -> None:
        """Record an IPv4 address for an active data connection."""
        if self._epsvall:
            self.respond("501 PORT not allowed after EPSV ALL.")
            return
        try:
            ip, port = parse_port(line)
        except AddressError:
            self.respond("501 Invalid PORT format.")
            return
        if ":" in normalize_ip(self.local_ip):
            self.respond("522 Network protocol not supported, use (2)")
            return
        await self._set_active(ip, port)

    async def ftp_EPRT(self, line: str) -> None:
        """Record an IPv4 or IPv6 address for an active data connection."""
        if self._epsvall:
            self.respond("501 EPRT not allowed after EPSV ALL.")
            return
        own = 2 if ":" in normalize_ip(self.local_ip) else 1
        try:
            parsed = parse_eprt(line, protocols=(str(own),))
        except AddressError:
            self.respond("501 Invalid EPRT format.")
            return
        if isinstance(parsed, UnsupportedProtocol):
            self.respond(f"522 Network protocol not supported, use ({own})")
            return
        _, ip, port = parsed
        await self._set_active(ip, port)

    # --- endpoints

    async def _set_active(self, ip: str, port: int) -> None:
        if not self.permit_foreign_addresses and normalize_ip(ip) != normalize_ip(self.remote_ip):
            self.respond_w_warning(f"501 Rejected data connection to foreign address {ip}:{port}.")
            return
        if not self.permit_privileged_ports and port < 1024:
            self.respond_w_warning(f"501 PORT against the privileged port {port} refused.")
            return
        await self._close_data_channels()
        self._data_endpoint = ActiveEndpoint(ip, port)
        self.respond("200 Active data connection established.")

    async def _open_passive(self) -> PassiveEndpoint | None:
        """Open a listener on the control connection's local address."""
        await self._close_data_channels()
        family = socket.AF_INET6 if ":" in self.local_ip else socket.AF_INET
        for port in self._passive_port_candidates():
            sock = trio.socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                await sock.bind((self.local_ip, port))
                sock.listen(1)
            except OSError:
                sock.close()
                if port == 0:
                    break
                continue
            endpoint = PassiveEndpoint(sock, sock.getsockname()[1])
            self._data_endpoint = endpoint
            assert self._nursery is not None
            self._nursery.start_soon(self._accept_passive, endpoint)
            return endpoint
        self.respond_w_warning("425 Can't open passive connection.")
        return None

    def _passive_port_candidates(self) -> Iterator[int]:
        """Ports to try: ``passive_ports`` in random order, then one the kernel picks.

        A few random picks find a free port at once even when most are held;
        only then is the whole range tried. If it is all busy, the kernel
        picks a port (as pyftpdlib does) and a warning says so.
        """
        ports = self.passive_ports
        if ports:
            for _ in range(min(len(ports), _RANDOM_PORT_PROBES)):
                yield random.choice(ports)
            rest = list(ports)
            random.shuffle(rest)
            yield from rest
            self.log(
                "No free port in passive_ports; using one the kernel chose.", logfun=logger.warning
            )
        yield 0

    async def _accept_passive(self, endpoint: PassiveEndpoint) -> None:
        """Accept the client's connection; drop other hosts; then stop listening."""
        client = normalize_ip(self.remote_ip)
        try:
            with endpoint.cancel_scope, trio.move_on_after(self.data_connect_timeout):
                while True:
                    sock, address = await endpoint.listener.accept()
                    if self.permit_foreign_addresses or normalize_ip(address[0]) == client:
                        endpoint.accepted = trio.SocketStream(sock)
                        break
                    self.log(
                        f"Rejected passive data connection from foreign address {address[0]}.",
                        logfun=logger.warning,
                    )
                    sock.close()
        except OSError as exc:
            self.log(f"Passive listener failed: {exc}", logfun=logger.warning)
        finally:
            endpoint.listener.close()
            endpoint.done.set()

    async def open_data_connection(self) -> trio.abc.Stream:
        """Return the connected data stream for a transfer (``NoDataConnection`` if none).

        The endpoint is used up: every transfer needs a new PASV/PORT.
        """
        endpoint, self._data_endpoint = self._data_endpoint, None
        if endpoint is None:
            raise NoDataConnection("No data connection was set up.")
        if isinstance(endpoint, PassiveEndpoint):
            try:
                await endpoint.done.wait()
                if endpoint.accepted is None:
                    raise NoDataConnection("The client did not connect in time.")
                stream, endpoint.accepted = endpoint.accepted, None
            finally:
                endpoint.close()
            return await self.secure_data_connection(stream)
        return await self.secure_data_connection(await self._connect_active(endpoint))

    async def secure_data_connection(self, stream: trio.SocketStream) -> trio.abc.Stream:
        """Return the stream a transfer uses over a new data connection.

        Plain FTP uses it as it is; FTPS puts TLS on it here (after the
        ``150``, since clients such as ftplib start the handshake only then).
        """
        return stream

    async def _connect_active(self, endpoint: ActiveEndpoint) -> trio.SocketStream:
        family = socket.AF_INET6 if ":" in endpoint.ip else socket.AF_INET
        sock = trio.socket.socket(family, socket.SOCK_STREAM)
        try:
            local = self.local_ip if family == socket.AF_INET6 else normalize_ip(self.local_ip)
            await sock.bind((local, 0))
            with trio.fail_after(self.data_connect_timeout):
                await sock.connect((endpoint.ip, endpoint.port))
        except (OSError, trio.TooSlowError) as exc:
            sock.close()
            raise NoDataConnection(f"Can't connect to {endpoint.ip}:{endpoint.port}.") from exc
        except BaseException:
            sock.close()
            raise
        return trio.SocketStream(sock)

    def transfer_running(self) -> bool:
        """True while a transfer command is being served (see the transfer runner)."""
        return False

    def has_data_endpoint(self) -> bool:
        """True if PASV/EPSV/PORT/EPRT prepared a data connection."""
        return self._data_endpoint is not None

    def data_connection_ready(self) -> bool:
        """True if the client already connected to the passive endpoint."""
        endpoint = self._data_endpoint
        return isinstance(endpoint, PassiveEndpoint) and endpoint.accepted is not None

    async def _close_data_channels(self) -> None:
        endpoint, self._data_endpoint = self._data_endpoint, None
        if isinstance(endpoint, PassiveEndpoint):
            endpoint.close()
        await super()._close_data_channels()

    def data_channel_status(self) -> str:
        endpoint = self._data_endpoint
        if self.data_channel is not None:
            return (
                "Data connection open; transfer in progress: "
                f"{self.data_channel.get_transmitted_bytes()} bytes transmitted."
            )
        if isinstance(endpoint, PassiveEndpoint):
            state = "connected" if endpoint.accepted is not None else "waiting for connection"
            return f"Passive data channel on port {endpoint.port}, {state}."
        if isinstance(endpoint, ActiveEndpoint):
            return f"Active data channel to {endpoint.ip}:{endpoint.port}."
        if self.transfer_running():
            return "Transfer starting: waiting for the data connection."
        return "Data connection closed."

"""The data connection's endpoint: PASV/EPSV listeners and PORT/EPRT addresses.

A passive endpoint is a listening socket and a task in the session's nursery
that accepts exactly one connection from the client's address (a connection
from any other host is dropped, unless foreign addresses are permitted), then
closes the listener. Behind a load balancer that relays the passive ports
too, the client's address is the one its PROXY header names (see
:mod:`.proxied`). An active endpoint is connected at PORT/EPRT
(``active_connect_at_port``, the default) or only records the address and
connects when a transfer needs it (RFC 959 allows both), through the
session's :class:`DataConnector`. Either way :meth:`DataChannel.open` returns the
connected stream, passed through the ``protect`` hook that FTPS fills.
"""

from __future__ import annotations

import contextlib
import math
import random
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Protocol

import attrs
import trio

from ..auditevent import host_port
from ..protocol.addresses import normalize_ip
from ..protocol.proxyheader import ProxyHeaderError
from .proxied import ProxyGate

__all__ = [
    "ActiveDTP",
    "ActiveEndpoint",
    "DataChannel",
    "DataConnector",
    "NoDataConnection",
    "PassiveDTP",
    "PassiveEndpoint",
    "TCPConnector",
    "unprotected",
]

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
    #: The connection, when it was made at PORT/EPRT (``active_connect_at_port``).
    stream: trio.abc.Stream | None = None


class DataConnector(Protocol):
    """Makes active (PORT/EPRT) data connections; tests give one of memory streams."""

    async def connect(self, local_ip: str, ip: str, port: int) -> trio.abc.Stream:
        """Connect from *local_ip* to *ip*:*port* (the caller bounds the time).

        Raises :class:`NoDataConnection` when it can't.
        """
        ...


class TCPConnector:
    """Active data connections over TCP, from the control connection's local address.

    From an address the system picks when that address is of the other
    family than the client's (a node reached over IPv6 through a load
    balancer, relaying an IPv4 client).
    """

    async def connect(self, local_ip: str, ip: str, port: int) -> trio.abc.Stream:
        """Connect to the client's address."""
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        sock = trio.socket.socket(family, socket.SOCK_STREAM)
        try:
            local = local_ip if family == socket.AF_INET6 else normalize_ip(local_ip)
            if (":" in local) == (family == socket.AF_INET6):
                await sock.bind((local, 0))
            await sock.connect((ip, port))
        except OSError as exc:
            sock.close()
            raise NoDataConnection(f"Can't connect to {host_port(ip, port)}.") from exc
        except BaseException:
            sock.close()
            raise
        return trio.SocketStream(sock)


class PassiveDTP:
    """pyftpdlib's passive data listener, here the holder of its one setting.

    ``FTPHandler.passive_dtp.timeout``: seconds the listener opened by
    PASV/EPSV waits for the client to connect (0: no limit; None, the
    default: ``data_connect_timeout``). When it runs out the listener is
    closed quietly and the next transfer command gets ``425``.
    """

    timeout: float | None = None


class ActiveDTP:
    """pyftpdlib's active data connector, here the holder of its one setting.

    ``FTPHandler.active_dtp.timeout``: seconds a connection to the address
    of PORT/EPRT may take (0: no limit; None, the default:
    ``data_connect_timeout``); past it the transfer command gets ``425``.
    """

    timeout: float | None = None


def _connect_timeout(timeout: float | None, default: float) -> float:
    """*timeout* as a deadline for ``trio.move_on_after``: None is *default*, 0 none."""
    if timeout is None:
        timeout = default
    return timeout if timeout > 0 else math.inf


class DataSettings(Protocol):
    """The session settings a data channel follows, read when they are needed."""

    local_ip: str
    remote_ip: str
    permit_foreign_addresses: bool
    passive_ports: Sequence[int] | None
    data_connect_timeout: float
    data_connector: DataConnector
    passive_dtp: type[PassiveDTP]
    active_dtp: type[ActiveDTP]

    @property
    def proxy_gate(self) -> ProxyGate | None:
        """Which data connections begin with a PROXY header (None: none do)."""
        ...


class DataChannel:
    """The session's data endpoint and the connections made through it.

    *protect* turns a new data connection into the stream a transfer uses
    (plain FTP: as it is; FTPS under PROT P: a TLS stream). *warn* logs a
    warning with the session's prefix. *connected*, if given, is told of a
    passive connection as soon as it is accepted (FTPS starts its handshake).
    """

    __slots__ = ("_connected", "_endpoint", "_nursery", "_protect", "_settings", "_warn")

    def __init__(
        self,
        settings: DataSettings,
        nursery: trio.Nursery,
        protect: Callable[[trio.abc.Stream], Awaitable[trio.abc.Stream]],
        warn: Callable[[str], None],
        connected: Callable[[trio.abc.Stream], None] | None = None,
    ) -> None:
        self._settings = settings
        self._connected = connected
        self._nursery = nursery
        self._protect = protect
        self._warn = warn
        self._endpoint: PassiveEndpoint | ActiveEndpoint | None = None

    @property
    def endpoint(self) -> PassiveEndpoint | ActiveEndpoint | None:
        """The endpoint PASV/EPSV/PORT/EPRT prepared, if any."""
        return self._endpoint

    def ready(self) -> bool:
        """True if the client already connected to the passive endpoint."""
        endpoint = self._endpoint
        return isinstance(endpoint, PassiveEndpoint) and endpoint.accepted is not None

    def foreign(self, ip: str) -> bool:
        """True if *ip* is not the client's and foreign addresses are not permitted."""
        settings = self._settings
        if settings.permit_foreign_addresses:
            return False
        return normalize_ip(ip) != normalize_ip(settings.remote_ip)

    # --- endpoints

    def set_active(self, ip: str, port: int) -> None:
        """Connect to *ip*:*port* when a transfer needs it (the caller checked the address)."""
        self.close()
        self._endpoint = ActiveEndpoint(ip, port)

    async def connect_active(self, ip: str, port: int) -> bool:
        """Connect to *ip*:*port* now, for the next transfer; False if that failed.

        The caller checked the address. The endpoint before, if any, is closed.
        """
        self.close()
        settings = self._settings
        timeout = _connect_timeout(settings.active_dtp.timeout, settings.data_connect_timeout)
        stream: trio.abc.Stream | None = None
        with trio.move_on_after(timeout):
            try:
                stream = await settings.data_connector.connect(settings.local_ip, ip, port)
            except NoDataConnection:
                return False
        if stream is None:
            return False
        self._endpoint = ActiveEndpoint(ip, port, stream)
        return True

    async def open_passive(self) -> PassiveEndpoint | None:
        """Listen on the control connection's local address; None if no port is free.

        The endpoint before, if any, is closed first: a session holds at most
        one passive listener (and no more than one port of ``passive_ports``).
        """
        self.close()
        local_ip = self._settings.local_ip
        family = socket.AF_INET6 if ":" in local_ip else socket.AF_INET
        raw = self._listening_socket(family, local_ip)
        if raw is None:
            return None
        sock = trio.socket.from_stdlib_socket(raw)
        endpoint = PassiveEndpoint(sock, raw.getsockname()[1])
        self._endpoint = endpoint
        self._nursery.start_soon(self._accept, endpoint)
        return endpoint

    def _listening_socket(self, family: int, local_ip: str) -> socket.socket | None:
        """A socket listening on a port of :meth:`_passive_port_candidates`, or None.

        A numeric address binds at once: no need for Trio's (yielding) bind.
        One socket serves every try while binds fail (a failed bind leaves it
        unbound), so a try costs one system call when the range is nearly
        all in use.
        """
        raw: socket.socket | None = None
        try:
            for port in self._passive_port_candidates():
                if raw is None:
                    raw = socket.socket(family, socket.SOCK_STREAM)
                    raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    raw.bind((local_ip, port))
                    raw.listen(1)
                except OSError:
                    if port == 0:
                        break
                    if raw.getsockname()[1]:  # bound, but another socket listens there
                        raw.close()
                        raw = None
                    continue
                return raw
        except BaseException:
            if raw is not None:
                raw.close()
            raise
        if raw is not None:
            raw.close()
        return None

    def _passive_port_candidates(self) -> Iterator[int]:
        """Ports to try: ``passive_ports`` in random order, then one the kernel picks.

        A few random picks find a free port at once even when most are held;
        only then is the whole range tried. If it is all busy, the kernel
        picks a port (as pyftpdlib does) and a warning says so.
        """
        ports = self._settings.passive_ports
        if ports:
            for _ in range(min(len(ports), _RANDOM_PORT_PROBES)):
                yield random.choice(ports)
            rest = list(ports)
            random.shuffle(rest)
            yield from rest
            self._warn("No free port in passive_ports; using one the kernel chose.")
        yield 0

    async def _accept(self, endpoint: PassiveEndpoint) -> None:
        """Accept the client's connection; drop other hosts; then stop listening."""
        try:
            settings = self._settings
            timeout = _connect_timeout(settings.passive_dtp.timeout, settings.data_connect_timeout)
            with endpoint.cancel_scope, trio.move_on_after(timeout):
                while True:
                    sock, address = await endpoint.listener.accept()
                    try:
                        ip = await self._client_ip(sock, str(address[0]))
                    except BaseException:  # cancelled (ABOR, timeout) while reading a header
                        sock.close()
                        raise
                    if ip is not None and not self.foreign(ip):
                        endpoint.accepted = trio.SocketStream(sock)
                        if self._connected is not None:
                            self._connected(endpoint.accepted)
                        break
                    if ip is not None:
                        self._warn(f"Rejected passive data connection from foreign address {ip}.")
                    sock.close()
        except OSError as exc:
            if not endpoint.cancel_scope.cancel_called:  # not just closed under a waking accept
                self._warn(f"Passive listener failed: {exc}")
        finally:
            endpoint.listener.close()
            endpoint.done.set()

    async def _client_ip(self, sock: trio.socket.SocketType, peer: str) -> str | None:
        """Whose data connection *sock* is; None (logged) if its PROXY header is bad.

        That is its *peer*, or the client that the PROXY header of a trusted
        load balancer names.
        """
        gate = self._settings.proxy_gate
        if gate is None or not gate.expects_header(ip := normalize_ip(peer)):
            return peer
        try:
            header = await gate.read_header(sock)
        except (ProxyHeaderError, OSError) as exc:
            self._warn(f"Dropped passive data connection from {ip}: {exc}.")
            return None
        return header.source[0] if header.source is not None else ip

    # --- connections

    async def open(self) -> trio.abc.Stream:
        """Return the connected, protected data stream for a transfer.

        Raises :class:`NoDataConnection` if there is none. The endpoint is
        used up: every transfer needs a new PASV/PORT.
        """
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is None:
            raise NoDataConnection("No data connection was set up.")
        stream: trio.abc.Stream | None = None
        if isinstance(endpoint, PassiveEndpoint):
            try:
                if not endpoint.done.is_set():  # mostly connected already: no pass
                    await endpoint.done.wait()
                stream, endpoint.accepted = endpoint.accepted, None
            finally:
                endpoint.close()
            if stream is None:
                raise NoDataConnection("The client did not connect in time.")
        elif endpoint.stream is not None:  # connected at PORT/EPRT
            stream = endpoint.stream
        else:
            settings = self._settings
            timeout = _connect_timeout(settings.active_dtp.timeout, settings.data_connect_timeout)
            with trio.move_on_after(timeout):
                stream = await settings.data_connector.connect(
                    settings.local_ip, endpoint.ip, endpoint.port
                )
            if stream is None:
                raise NoDataConnection(f"Can't connect to {endpoint.ip}:{endpoint.port}.")
        return await self._protect(stream)

    def close(self) -> None:
        """Close the endpoint, if any (a new PASV/PORT, ABOR, REIN, the session's end)."""
        endpoint, self._endpoint = self._endpoint, None
        if isinstance(endpoint, PassiveEndpoint):
            endpoint.close()
        elif isinstance(endpoint, ActiveEndpoint) and endpoint.stream is not None:
            self._discard(endpoint.stream)

    def _discard(self, stream: trio.abc.Stream) -> None:
        """Close a connection made at PORT/EPRT that no transfer used."""
        if isinstance(stream, trio.SocketStream):
            stream.socket.close()
        else:  # another kind (tests' memory streams) closes asynchronously; once the
            # session's nursery is closed, at its very end, the stream is dropped as it is.
            with contextlib.suppress(RuntimeError):
                self._nursery.start_soon(trio.aclose_forcefully, stream)

    def status(self) -> str | None:
        """Describe the endpoint for STAT (None: there is none)."""
        endpoint = self._endpoint
        if isinstance(endpoint, PassiveEndpoint):
            state = "connected" if endpoint.accepted is not None else "waiting for connection"
            return f"Passive data channel on port {endpoint.port}, {state}."
        if isinstance(endpoint, ActiveEndpoint):
            return f"Active data channel to {endpoint.ip}:{endpoint.port}."
        return None


async def unprotected(stream: trio.abc.Stream) -> trio.abc.Stream:
    """Plain FTP's ``protect`` hook: the data connection as it is."""
    return stream

"""The listener: the listening socket, the accept loop, admission, one task per session.

* :func:`listening_socket` creates, binds and listens (an address in use
  raises here, before anything runs); :func:`set_control_options` sets the
  socket options every control connection needs;
* :class:`Listener` accepts connections, learns the client's address (from
  the PROXY header of a trusted load balancer, see
  :mod:`trioftp.session.proxied`), admits
  or refuses each one (``max_cons``, ``max_cons_per_ip``: refused with
  ``421``) and runs a session for each admitted one in a task that contains
  every error, so that no session can take the server down.

Sessions come from a :class:`SessionFactory` (an ``FTPHandler`` class is
one); the servers never import the handlers themselves.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import trio

from .._eventloop import IOLoop
from ..log import logger
from ..protocol.addresses import normalize_ip
from ..protocol.proxyheader import ProxyHeader, ProxyHeaderError, ProxySource, TrustedProxies
from ..session.proxied import NoProxyHeader, ProxyGate, ProxyHeaderTimeout
from .bans import BANNED_REPLY, Bans

__all__ = [
    "Listener",
    "LiveSessions",
    "ServerSession",
    "SessionFactory",
    "Stoppable",
    "listening_socket",
    "new_session",
    "set_control_options",
]

# accept() errors that mean "out of file descriptors": wait a little, go on.
_OUT_OF_FDS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

#: Linux copies these socket options from a listening socket to the
#: connections it accepts, which saves a system call per session.
_OPTIONS_INHERITED = sys.platform == "linux"
# The name of every session task: given, trio formats no new string per task.
_SESSION_TASK = "trioftp.servers.listener.Listener.run_session"


class Stoppable(Protocol):
    """A running session as the server stops it."""

    def shut_down(self) -> None:
        """End the session soon (``426`` for a transfer, ``421``, disconnect).

        Called in the server's event loop; must not block.
        """
        ...


class ServerSession(Stoppable, Protocol):
    """One control connection's session, as the listener runs it."""

    async def handle_session(self) -> None:
        """Serve the connection until it ends; close it before returning."""
        ...


class SessionFactory(Protocol):
    """Makes the session of each accepted connection (``FTPHandler`` is one).

    Called as ``factory(stream, server, ioloop)``; for a connection relayed
    by a trusted load balancer, whose PROXY header named the client, as
    ``factory(stream, server, ioloop, remote_address=(ip, port))``.
    ``tcp_no_delay`` says whether the control connection keeps
    ``TCP_NODELAY`` on.
    """

    tcp_no_delay: bool

    def __call__(
        self,
        stream: trio.SocketStream,
        server: object,
        ioloop: IOLoop,
        /,
        *,
        remote_address: tuple[str, int] | None = None,
    ) -> ServerSession: ...


class Served(Protocol):
    """What the listener reads of its server, at each new connection."""

    handler: SessionFactory
    ioloop: IOLoop
    max_cons: int
    max_cons_per_ip: int
    #: The ban state (:class:`~trioftp.servers.bans.Bans`), or None.
    bans: Bans | None
    proxy_protocol_from: Sequence[ProxySource]
    proxy_protocol_timeout: float

    async def serve_connection(
        self,
        stream: trio.SocketStream,
        live: LiveSessions,
        *,
        remote_address: tuple[str, int] | None = None,
    ) -> None:
        """Run the admitted connection's session to its end (in this task, a thread, a process).

        The session is in *live* while it runs, so the server can stop it.
        *remote_address* is the client a load balancer's PROXY header named.
        """
        ...


def new_session(
    handler: SessionFactory,
    stream: trio.SocketStream,
    server: object,
    ioloop: IOLoop,
    remote_address: tuple[str, int] | None,
) -> ServerSession:
    """A session of *handler* on *stream*; *remote_address*: the client a PROXY header named."""
    if remote_address is None:  # handlers of programs may not know the keyword
        return handler(stream, server, ioloop)
    return handler(stream, server, ioloop, remote_address=remote_address)


def listening_socket(address: tuple[str, int], backlog: int) -> socket.socket:
    """Create, bind and listen; an address in use raises ``OSError`` here.

    An empty host listens on every address (IPv6 and IPv4 where the system
    has dual-stack sockets).
    """
    host, port = address[0], address[1]
    if not host:
        host = "::" if socket.has_dualstack_ipv6() else "0.0.0.0"
    infos = socket.getaddrinfo(
        host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def set_control_options(sock: socket.socket | trio.SocketStream) -> None:
    """Read urgent data inline (ftplib sends ABOR as TCP urgent data); no Nagle delay."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
    with contextlib.suppress(OSError):  # not a TCP socket (a test's socketpair)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Listener:
    """Accepts *server*'s connections and runs one session task for each.

    It reads ``handler``, ``ioloop``, ``max_cons``, ``max_cons_per_ip`` and
    the ``proxy_protocol_*`` settings from *server* at each connection, so
    changes apply to the next one.
    """

    def __init__(self, server: Served) -> None:
        self.server = server
        #: The IP address of every open session (one entry per session): the
        #: client's, also for connections relayed by a load balancer.
        self.ip_map: list[str] = []
        #: The sessions running now, as the server stops them.
        self.live = LiveSessions()
        self._per_ip: Counter[str] = Counter()
        self._gate_key: tuple[tuple[ProxySource, ...], float] | None = None
        self._gate = ProxyGate(TrustedProxies(()), 0)
        self._idle = trio.Event()
        self._idle.set()

    async def accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        """Accept connections forever, starting each one's session in *nursery*."""
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _OUT_OF_FDS:
                    raise
                logger.warning("accept() failed (%s); retrying in 0.1 s", exc)
                await trio.sleep(0.1)
                continue
            nursery.start_soon(self.run_session, stream, name=_SESSION_TASK)

    async def run_session(self, stream: trio.SocketStream) -> None:
        """Admit or refuse the connection *stream*, then serve it; never raises an error."""
        try:
            ip, port = _client_address(stream.socket.getpeername())
        except OSError:  # gone before we could look
            await stream.aclose()
            return
        try:
            gate = self.proxy_gate()
        except ValueError as exc:  # proxy_protocol_from was changed to something invalid
            logger.error("%s; connection from %s closed", exc, ip)
            await stream.aclose()
            return
        relayed: tuple[str, int] | None = None
        if gate.expects_header(ip):
            header = await self._read_proxy_header(gate, stream, ip, port)
            if header is None:
                return
            if header.source is not None:
                ip = _canonical(header.source[0])
                relayed = (ip, header.source[1])
        refusal = self.refusal(ip)
        if refusal is not None:
            await _refuse(stream, refusal)
            return
        bans = self.server.bans
        self.ip_map.append(ip)
        self._per_ip[ip] += 1
        if self._idle.is_set():
            self._idle = trio.Event()
        try:
            server = self.server
            if not _OPTIONS_INHERITED:
                set_control_options(stream)
            if not server.handler.tcp_no_delay:
                stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            if bans is None:  # no context manager to keep while the session lasts
                await server.serve_connection(stream, self.live, remote_address=relayed)
            else:
                with bans.watching(ip):
                    await server.serve_connection(stream, self.live, remote_address=relayed)
        except Exception:
            logger.exception("session from %s failed to start", ip)
            await stream.aclose()
        finally:
            self.ip_map.remove(ip)
            self._per_ip[ip] -= 1
            if not self._per_ip[ip]:
                del self._per_ip[ip]
            if not self.ip_map:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no session is open."""
        await self._idle.wait()

    def shut_down_sessions(self) -> None:
        """Tell every open session, and any starting later, to end."""
        self.live.shut_down_all()

    def proxy_gate(self) -> ProxyGate:
        """The server's ``proxy_protocol_*`` settings, parsed (again only when they change).

        Raises :class:`ValueError` if ``proxy_protocol_from`` holds something
        that is not an address or a network.
        """
        server = self.server
        key = (tuple(server.proxy_protocol_from), server.proxy_protocol_timeout)
        if key != self._gate_key:
            self._gate = ProxyGate(TrustedProxies(key[0]), key[1])
            self._gate_key = key
        return self._gate

    @staticmethod
    async def _read_proxy_header(
        gate: ProxyGate, stream: trio.SocketStream, ip: str, port: int
    ) -> ProxyHeader | None:
        """The PROXY header a trusted load balancer sends; None once a bad one closed *stream*."""
        try:
            header = await gate.read_header(stream.socket)
        except NoProxyHeader as exc:  # a bare TCP health check, most likely
            logger.info("%s:%s %s", ip, port, exc)
        except ProxyHeaderTimeout as exc:
            logger.warning("%s:%s %s; connection closed", ip, port, exc)
        except (ProxyHeaderError, OSError) as exc:
            logger.warning("%s:%s bad PROXY header (%s); connection closed", ip, port, exc)
        else:
            if header.source is not None:
                client_ip, client_port = header.source
                logger.debug("%s:%s relays %s:%s", ip, port, client_ip, client_port)
            return header
        await stream.aclose()
        return None

    def refusal(self, ip: str) -> str | None:
        """The ``421`` reply refusing a new connection from *ip*, or None to admit it."""
        server = self.server
        if server.bans is not None and server.bans.refusal(ip) is not None:
            return BANNED_REPLY + "\r\n"
        if server.max_cons and len(self.ip_map) >= server.max_cons:
            return "421 Too many connections. Service temporarily unavailable.\r\n"
        if server.max_cons_per_ip and self._per_ip[ip] >= server.max_cons_per_ip:
            return "421 Too many connections from the same IP address.\r\n"
        return None


def _client_address(peer: tuple[str, int]) -> tuple[str, int]:
    """The canonical IP address and the port of socket address *peer*.

    (So that no local of the session's task keeps the socket's own tuple and
    string for as long as the session lasts.)
    """
    return _canonical(str(peer[0])), int(peer[1])


def _canonical(ip: str) -> str:
    """*ip* as the sessions' counts and logs show it (one interned string per address)."""
    if ":" in ip:  # IPv6, or IPv4 mapped into it (an IPv4 peer's text is canonical)
        ip = normalize_ip(ip)
    return sys.intern(ip)


async def _refuse(stream: trio.SocketStream, reply: str) -> None:
    with trio.move_on_after(5):
        with contextlib.suppress(trio.BrokenResourceError, OSError):
            await stream.send_all(reply.encode())
    await stream.aclose()


class LiveSessions:
    """The sessions running now; once the server stops, a new one is stopped at once."""

    def __init__(self) -> None:
        self._sessions: set[Stoppable] = set()
        self._stopping = False

    def add(self, session: Stoppable) -> None:
        """*session* runs from now on (call in the server's event loop)."""
        self._sessions.add(session)
        if self._stopping:
            session.shut_down()

    def discard(self, session: Stoppable) -> None:
        """*session* has ended."""
        self._sessions.discard(session)

    def shut_down_all(self) -> None:
        """Tell every session to end (``426`` for a transfer, ``421``, disconnect)."""
        self._stopping = True
        for session in list(self._sessions):
            session.shut_down()

    def __len__(self) -> int:
        return len(self._sessions)

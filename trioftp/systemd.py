"""systemd integration: readiness notification and socket activation.

Both protocols are small and stable, so they are spoken here with the
standard library alone (no ``libsystemd`` binding to build, nothing to
install, and the same code in a container without systemd):

* :func:`notify` sends a state such as ``READY=1`` or ``STOPPING=1`` to the
  service manager over the datagram socket named by ``$NOTIFY_SOCKET``
  (``sd_notify(3)``); it does nothing when that variable is not set, so a
  server outside systemd is unaffected. ``FTPServer.serve_forever`` sends
  ``READY=1`` once it accepts connections and ``STOPPING=1`` when it stops.
* :func:`listen_fds` returns the listening sockets systemd passed to this
  process (``sd_listen_fds(3)``: ``$LISTEN_FDS`` descriptors from 3 on,
  ``$LISTEN_PID`` naming this process, ``$LISTEN_FDNAMES`` their names);
  the ``trioftp`` command serves such a socket instead of binding its own.
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

import attrs

__all__ = ["READY", "STOPPING", "ActivationError", "InheritedSocket", "listen_fds", "notify"]

#: The state that tells systemd the service is up (``Type=notify`` units).
READY = "READY=1"
#: The state that tells systemd the service is shutting down.
STOPPING = "STOPPING=1"

#: The first descriptor systemd passes (``SD_LISTEN_FDS_START``).
LISTEN_FDS_START = 3
_ACTIVATION_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def notify(state: str, *, environ: MutableMapping[str, str] | None = None) -> bool:
    """Send *state* (``"READY=1"``, ``"STOPPING=1"``...) to ``$NOTIFY_SOCKET``.

    Returns True if a message was sent, False when no service manager is
    listening (the variable is unset). An address starting with ``@`` is in
    Linux's abstract namespace. A manager that cannot be reached raises
    :class:`OSError`: a ``Type=notify`` unit would otherwise wait for a
    readiness that never comes.
    """
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.sendto(state.encode(), target)
    return True


class ActivationError(Exception):
    """The sockets systemd passed can't be served (not a listening TCP socket...)."""


@attrs.frozen
class InheritedSocket:
    """A listening socket passed by systemd: its descriptor, its name and the socket."""

    fd: int
    name: str
    socket: socket.socket


def listen_fds(*, environ: MutableMapping[str, str] | None = None) -> list[InheritedSocket]:
    """The listening sockets systemd passed to this process (none: an empty list).

    The variables are honoured only when ``$LISTEN_PID`` is this process
    (they may have been inherited from a parent they were meant for), and are
    then removed from *environ* (``os.environ`` by default), so that a child
    process does not take them for its own. Each socket must be a listening
    TCP socket (:class:`ActivationError` if not); it is made non-inheritable.
    """
    env = os.environ if environ is None else environ
    if env.get("LISTEN_PID") != str(os.getpid()):
        return []
    try:
        count = int(env.get("LISTEN_FDS", "0"))
    except ValueError:
        raise ActivationError(f"LISTEN_FDS is not a number: {env['LISTEN_FDS']!r}") from None
    names = env.get("LISTEN_FDNAMES", "").split(":") if env.get("LISTEN_FDNAMES") else []
    for variable in _ACTIVATION_VARIABLES:
        env.pop(variable, None)
    inherited = []
    for index in range(count):
        fd = LISTEN_FDS_START + index
        name = names[index] if index < len(names) else "unknown"
        inherited.append(InheritedSocket(fd, name, _listening_tcp_socket(fd, name)))
    return inherited


def _listening_tcp_socket(fd: int, name: str) -> socket.socket:
    """The socket object for descriptor *fd*, checked to be a listening TCP socket."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ActivationError(f"descriptor {fd} ({name}) is not a socket: {exc.strerror}") from None
    kind = (sock.family, sock.type)
    listening = kind[1] == socket.SOCK_STREAM and sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_ACCEPTCONN
    )
    if kind[0] not in (socket.AF_INET, socket.AF_INET6) or not listening:
        sock.detach()  # not ours to close
        raise ActivationError(
            f"descriptor {fd} ({name}) is not a listening TCP socket "
            "(the unit's socket needs ListenStream= and Accept=no)"
        )
    sock.set_inheritable(False)
    return sock

"""Helpers that pyftpdlib's ``utils`` module offers to programs and tests.

Only what a program written for pyftpdlib may import from
``pyftpdlib.utils`` lives here; trioftp's own helpers are private.
"""

from __future__ import annotations

import socket

__all__ = ["has_dualstack_ipv6"]


def has_dualstack_ipv6() -> bool:
    """Return whether one IPv6 socket can accept both IPv4 and IPv6 clients.

    True when the system lets an ``AF_INET6`` stream socket clear
    ``IPV6_V6ONLY``; a server bound to ``("::", port)`` then also serves
    IPv4 clients (as ``FTPServer`` does for the host ``""``).
    """
    return socket.has_dualstack_ipv6()

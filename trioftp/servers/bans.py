"""Bans: hosts that fail logins or flood the server are refused for a while.

As ProFTPD's mod_ban and SFTPGo's defender do: a host (an IP address) that,
within :attr:`BanPolicy.window` seconds, fails :attr:`~BanPolicy.max_login_failures`
logins, opens :attr:`~BanPolicy.max_connections` connections or sends
:attr:`~BanPolicy.max_commands` commands is banned for
:attr:`~BanPolicy.ban_time` seconds: its new connections get
:data:`BANNED_REPLY` before any greeting and are closed. A command flood
also closes the host's open sessions; after failed logins they go on (the
session closes itself after ``max_login_attempts``). Addresses and networks
in :attr:`~BanPolicy.allow` are never banned.

Each count runs in a fixed window that starts at the host's first event
and lasts :attr:`~BanPolicy.window` seconds. Time is Trio's clock
(:class:`trio.testing.MockClock` in tests). The state lives in one
:class:`Bans` per server, an :class:`~trioftp.session.events.Observer` of
its sessions' events; it is keyed by the address the listener admits
connections by (the same as ``max_cons_per_ip``), so it follows the real
client address wherever the listener learns it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
from collections.abc import Iterator, Sequence

import attrs
import trio

from ..log import logger
from ..protocol.addresses import normalize_ip
from ..session.events import Observer

__all__ = ["BANNED_REPLY", "BanPolicy", "Bans"]

#: The reply a banned host gets instead of the greeting.
BANNED_REPLY = "421 Service not available: your address is temporarily banned."

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(value: Sequence[str]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in value)


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{attribute.name} must be a positive number of seconds, not {value!r}")


def _count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 (off) or more, not {value!r}")


@attrs.frozen
class BanPolicy:
    """When a host is banned, and for how long (``0`` turns a trigger off)."""

    #: Failed logins within the window that ban a host.
    max_login_failures: int = attrs.field(default=5, validator=_count)
    #: Connections within the window that ban a host.
    max_connections: int = attrs.field(default=0, validator=_count)
    #: Command lines within the window that ban a host.
    max_commands: int = attrs.field(default=0, validator=_count)
    #: Seconds over which events are counted.
    window: float = attrs.field(default=600.0, validator=_positive)
    #: Seconds a ban lasts.
    ban_time: float = attrs.field(default=3600.0, validator=_positive)
    #: Addresses and networks never banned (``"10.0.0.0/8"``, ``"::1"``).
    allow: tuple[_Network, ...] = attrs.field(default=(), converter=_networks)


@attrs.define
class _Counter:
    start: float
    count: int = 0


def _key(ip: str) -> str:
    return normalize_ip(ip) if ":" in ip else ip


class Bans(Observer):
    """The ban state of one server: counts per host, bans in force, watched sessions."""

    def __init__(self, policy: BanPolicy | None = None) -> None:
        self.policy = policy if policy is not None else BanPolicy()
        #: Banned hosts and when (Trio's clock) each ban ends.
        self.banned: dict[str, float] = {}
        self._counters: dict[tuple[str, str], _Counter] = {}
        self._sessions: dict[str, set[trio.CancelScope]] = {}
        self._next_cleanup = -math.inf

    # --- asked by the listener

    def refusal(self, ip: str) -> str | None:
        """Count a connection from *ip*; return :data:`BANNED_REPLY` if it is banned."""
        ip = _key(ip)
        if self._is_banned(ip):
            return BANNED_REPLY
        self._event(ip, "connections", self.policy.max_connections)
        return BANNED_REPLY if ip in self.banned else None

    @contextlib.contextmanager
    def watching(self, ip: str) -> Iterator[None]:
        """Run a session of *ip* in this block; a command flood ban cancels it."""
        ip = _key(ip)
        with trio.CancelScope() as scope:
            self._sessions.setdefault(ip, set()).add(scope)
            try:
                yield
            finally:
                scopes = self._sessions[ip]
                scopes.discard(scope)
                if not scopes:
                    del self._sessions[ip]

    # --- told by the sessions (Observer)

    def failed_login_from(self, remote_ip: str, username: str) -> None:
        """Count a failed login."""
        self._event(_key(remote_ip), "failed logins", self.policy.max_login_failures)

    def command_from(self, remote_ip: str) -> None:
        """Count a command; a flood ban closes the host's sessions."""
        limit = self.policy.max_commands
        if limit:
            ip = _key(remote_ip)
            if self._event(ip, "commands", limit):
                for scope in self._sessions.get(ip, ()):
                    scope.cancel()

    # --- for programs

    def is_banned(self, ip: str) -> bool:
        """Whether *ip* is banned now."""
        return self._is_banned(_key(ip))

    def ban(self, ip: str, reason: str = "banned by the program") -> None:
        """Ban *ip* for the policy's ban time (unless allowed)."""
        ip = _key(ip)
        if self._allowed(ip):
            return
        self.banned[ip] = trio.current_time() + self.policy.ban_time
        logger.warning("%s banned for %g seconds: %s", ip, self.policy.ban_time, reason)

    def unban(self, ip: str) -> None:
        """Lift *ip*'s ban and forget its counts."""
        ip = _key(ip)
        self.banned.pop(ip, None)
        for key in [key for key in self._counters if key[0] == ip]:
            del self._counters[key]

    # --- internals

    def _is_banned(self, ip: str) -> bool:
        until = self.banned.get(ip)
        if until is None:
            return False
        if trio.current_time() < until:
            return True
        del self.banned[ip]
        logger.info("%s ban ended", ip)
        return False

    def _allowed(self, ip: str) -> bool:
        allow = self.policy.allow
        if not allow:
            return False
        address = ipaddress.ip_address(ip)
        return any(address in network for network in allow)

    def _event(self, ip: str, kind: str, limit: int) -> bool:
        """Count one event; return True if it banned the host."""
        if not limit or ip in self.banned:
            return False
        now = trio.current_time()
        self._cleanup(now)
        window = self.policy.window
        counter = self._counters.get((ip, kind))
        if counter is None or now - counter.start >= window:
            counter = self._counters[ip, kind] = _Counter(now)
        counter.count += 1
        if counter.count < limit or self._allowed(ip):
            return False
        self.unban(ip)
        self.ban(ip, f"{kind}: {counter.count} in {window:g} seconds")
        return True

    def _cleanup(self, now: float) -> None:
        """Forget finished windows and bans (at most once a window)."""
        if now < self._next_cleanup:
            return
        self._next_cleanup = now + self.policy.window
        window = self.policy.window
        for key in [key for key, c in self._counters.items() if now - c.start >= window]:
            del self._counters[key]
        for ip in [ip for ip, until in self.banned.items() if until <= now]:
            del self.banned[ip]

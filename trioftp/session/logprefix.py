"""The values a session's ``log_prefix`` is formatted with."""

from __future__ import annotations

from ..protocol.replies import sanitize

__all__ = ["PrefixValues"]


class PrefixValues:
    """A session's attributes by name, for ``log_prefix % values``.

    ``username`` is the sanitized user name and ``remote_ip`` is in brackets
    when it is an IPv6 address (so the default prefix reads ``[::1]:46816``);
    any other name is the session's attribute. Not the session's
    ``__dict__``: reading that makes every session keep a real dictionary
    (sessions are many).
    """

    __slots__ = ("_session", "_username")

    def __init__(self, session: object, username: str) -> None:
        self._session = session
        self._username = username

    def __getitem__(self, name: str) -> object:
        if name == "username":
            return sanitize(self._username)
        if name == "remote_ip":  # an IPv6 address in brackets: [::1]:46816
            ip = str(getattr(self._session, "remote_ip", ""))
            return f"[{ip}]" if ":" in ip else ip
        try:
            return getattr(self._session, name)
        except Exception:  # no such attribute, or a property that can't answer yet
            raise KeyError(name) from None

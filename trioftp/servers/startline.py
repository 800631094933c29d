"""The line a server logs when it starts: where it listens and how it is set up."""

from __future__ import annotations

from collections.abc import Sequence

from ..auditevent import host_port

__all__ = ["start_line"]


def start_line(address: tuple[str, int], pid: int, handler: object, workers: int) -> str:
    """``>>> starting FTP server on ADDRESS, pid=PID <<< nat=... passive=... tls=... workers=N``.

    The first part is pyftpdlib's start line (an IPv6 address in brackets);
    then the NAT address announced in PASV replies (``masquerade_address``),
    the passive port range (``passive_ports``; ``any`` when the kernel
    chooses), the FTPS mode (``off``, ``explicit``, ``implicit``) and the
    number of worker processes, read from the *handler* class.
    """
    nat = getattr(handler, "masquerade_address", None) or "none"
    passive = _ports(getattr(handler, "passive_ports", None))
    if getattr(handler, "protection", None) is None:
        tls = "off"
    else:
        tls = "implicit" if getattr(handler, "tls_implicit", False) else "explicit"
    return (
        f">>> starting FTP server on {host_port(*address)}, pid={pid} <<< "
        f"nat={nat} passive={passive} tls={tls} workers={workers}"
    )


def _ports(ports: Sequence[int] | None) -> str:
    """``60000-60100`` for a contiguous range, else the ports (``any`` for none)."""
    if not ports:
        return "any"
    ordered = sorted(ports)
    if ordered[-1] - ordered[0] + 1 == len(ordered):
        return f"{ordered[0]}-{ordered[-1]}" if len(ordered) > 1 else str(ordered[0])
    return ",".join(str(port) for port in ordered)

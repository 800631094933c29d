"""Setting up data connections: PASV, EPSV, PORT, EPRT (RFC 959, RFC 2428).

The endpoint itself - the passive listener, the active address, the
connection a transfer opens - belongs to the session's
:class:`~trioftp.session.dataconn.DataChannel`; these commands check the
request and answer.
"""

from __future__ import annotations

from ...protocol.addresses import (
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
from ..context import CommandContext
from ..dataconn import PassiveEndpoint

__all__ = ["DataConnectionCommands"]


class DataConnectionCommands:
    """PASV, EPSV, PORT and EPRT."""

    async def ftp_PASV(self: CommandContext, line: str) -> None:
        """Open a passive endpoint announced as ``227 ... (h1,h2,h3,h4,p1,p2).``"""
        if self.session_state.epsv_all:
            self.respond("501 PASV not allowed after EPSV ALL.")
            return
        local = normalize_ip(self.local_ip)
        # The address announced decides (an IPv6 node may announce an IPv4 public address).
        shown = self.masquerade_address_map.get(local, self.masquerade_address or local)
        if ":" in shown:
            self.respond("522 PASV is for IPv4 only; use EPSV.")  # as PORT: RFC 2428
            return
        endpoint = await _open_passive(self)
        if endpoint is not None:
            self.respond(format_pasv(shown, endpoint.port))

    async def ftp_EPSV(self: CommandContext, line: str) -> None:
        """Open a passive endpoint announced as ``229 ... (|||port|)``; ``EPSV ALL``."""
        try:
            request = parse_epsv(line)
        except AddressError:
            self.respond("501 Invalid EPSV argument; use 1, 2 or ALL.")
            return
        if request is EpsvAll.ALL:
            self.session_state.epsv_all = True
            self.respond("200 EPSV ALL command successful.")
            return
        if isinstance(request, UnsupportedProtocol):
            self.respond("522 Network protocol not supported, use (1,2)")
            return
        own = _own_protocol(self)
        if request is not None and request != own:
            self.respond(f"522 Network protocol not supported, use ({own})")
            return
        endpoint = await _open_passive(self)
        if endpoint is not None:
            self.respond(format_epsv(endpoint.port))

    async def ftp_PORT(self: CommandContext, line: str) -> None:
        """Connect to (or record) an IPv4 address for an active data connection."""
        if self.session_state.epsv_all:
            self.respond("501 PORT not allowed after EPSV ALL.")
            return
        try:
            ip, port = parse_port(line)
        except AddressError:
            self.respond("501 Invalid PORT format.")
            return
        if _own_protocol(self) == 2:
            self.respond("522 Network protocol not supported, use (2)")
            return
        await _set_active(self, ip, port)

    async def ftp_EPRT(self: CommandContext, line: str) -> None:
        """Connect to (or record) an IPv4 or IPv6 address for an active data connection."""
        if self.session_state.epsv_all:
            self.respond("501 EPRT not allowed after EPSV ALL.")
            return
        own = _own_protocol(self)
        try:
            parsed = parse_eprt(line, protocols=(str(own),))
        except AddressError:
            self.respond("501 Invalid EPRT format.")
            return
        if isinstance(parsed, UnsupportedProtocol):
            self.respond(f"522 Network protocol not supported, use ({own})")
            return
        _, ip, port = parsed
        await _set_active(self, ip, port)


def _own_protocol(session: CommandContext) -> int:
    """RFC 2428's number of the control connection's protocol: 1 (IPv4) or 2 (IPv6).

    As the client sees it: its own address's family (behind a load balancer
    the node's side of the connection may use the other one).
    """
    return 2 if ":" in normalize_ip(session.remote_ip) else 1


async def _set_active(session: CommandContext, ip: str, port: int) -> None:
    if session.data_connections.foreign(ip):
        session.respond_w_warning(f"501 Rejected data connection to foreign address {ip}:{port}.")
        return
    if not session.permit_privileged_ports and port < 1024:
        session.respond_w_warning(f"501 PORT against the privileged port {port} refused.")
        return
    # Only the client's own address is connected at once: a permitted foreign
    # one waits for a transfer, so that PORT can't probe other hosts' ports.
    own_address = normalize_ip(ip) == normalize_ip(session.remote_ip)
    if not (session.active_connect_at_port and own_address):
        session.data_connections.set_active(ip, port)
        session.respond("200 Active data connection established.")
    elif await session.data_connections.connect_active(ip, port):
        session.respond("200 Active data connection established.")
    else:
        session.respond_w_warning("425 Can't connect to specified address.")


async def _open_passive(session: CommandContext) -> PassiveEndpoint | None:
    endpoint = await session.data_connections.open_passive()
    if endpoint is None:
        session.respond_w_warning("425 Can't open passive connection.")
    return endpoint

"""The session's parts on their own: state resets, the control channel, the data channel."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from trioftp.protocol.framing import LineTooLong
from trioftp.protocol.listing import DEFAULT_FACTS
from trioftp.protocol.replies import Reply
from trioftp.session.control import ControlChannel, ControlClosed
from trioftp.session.dataconn import (
    ActiveDTP,
    DataChannel,
    NoDataConnection,
    PassiveDTP,
    TCPConnector,
)
from trioftp.session.state import SessionState

# --- SessionState -------------------------------------------------------------------------


def used_state() -> SessionState:
    return SessionState(
        username="u", password="p", authenticated=True, attempted_logins=2,
        requested_host="h", transfer_type="i", restart_position=5, facts=["size"],
        rename_from="/a", epsv_all=True, pbsz=True, protect_data=True,
    )  # fmt: skip


def test_new_login_forgets_everything_of_the_login() -> None:
    state = used_state()
    state.new_login()
    assert attrs.asdict(state) == attrs.asdict(SessionState())
    assert state.facts is DEFAULT_FACTS


def test_new_login_under_implicit_ftps_keeps_data_protected() -> None:
    state = used_state()
    state.new_login(protected_by_default=True)
    assert (state.pbsz, state.protect_data) == (True, True)
    rest = attrs.asdict(attrs.evolve(state, pbsz=False, protect_data=False))
    assert rest == attrs.asdict(SessionState())


def test_new_security_context_resets_only_the_protection() -> None:
    state = used_state()
    state.new_security_context()
    expected = attrs.evolve(used_state(), pbsz=False, protect_data=False)
    assert attrs.asdict(state) == attrs.asdict(expected)


def test_take_restart_position_uses_it_up() -> None:
    state = used_state()
    assert (state.take_restart_position(), state.take_restart_position()) == (5, 0)


# --- ControlChannel -----------------------------------------------------------------------


def channel(stream: trio.abc.Stream, max_line: int = 100) -> ControlChannel:
    return ControlChannel(stream, encoding="utf-8", errors="surrogateescape", max_line=max_line)


async def test_lines_in_replies_out() -> None:
    client, server = trio.testing.memory_stream_pair()
    control = channel(server, max_line=10)
    await client.send_all(b"NOOP\r\nUSER " + b"x" * 20 + b"\r\nPWD\n")
    assert await control.read_line() == b"NOOP"
    assert isinstance(await control.read_line(), LineTooLong)
    assert await control.read_line() == b"PWD"
    assert control.lines_read == 3
    control.push(Reply.of(200, "ok"))
    control.push(Reply(211, ("Status:", " a", "End")))
    control.push_raw("250-raw\r\n250 done\r\n")
    assert control.last_code == 250
    await control.flush()
    assert await client.receive_some() == (
        b"200 ok\r\n211-Status:\r\n a\r\n211 End\r\n250-raw\r\n250 done\r\n"
    )
    await client.aclose()
    assert await control.read_line() is None


async def test_held_commands_run_in_order() -> None:
    _, server = trio.testing.memory_stream_pair()
    control = channel(server)
    for line in (b"CWD a", b"NOOP"):
        control.hold(line)
    assert control.held == 2
    assert [control.next_held(), control.next_held(), control.next_held()] == [
        b"CWD a",
        b"NOOP",
        None,
    ]


async def test_start_tls_drops_the_plaintext_that_came_before() -> None:
    client, server = trio.testing.memory_stream_pair()
    control = channel(server)
    await client.send_all(b"AUTH TLS\r\nUSER injected\r\n")
    assert await control.read_line() == b"AUTH TLS"
    control.hold(b"PASS held")
    other_client, other_server = trio.testing.memory_stream_pair()
    control.start_tls(other_server)  # stands for the TLS stream over the connection
    assert control.stream is other_server
    assert control.next_held() is None
    await other_client.send_all(b"USER real\r\n")
    assert await control.read_line() == b"USER real"


async def test_stop_tls_goes_on_with_the_clear_text_that_followed() -> None:
    _, server = trio.testing.memory_stream_pair()
    control = channel(server)
    clear_client, clear_server = trio.testing.memory_stream_pair()
    control.stop_tls(clear_server, b"PWD\r\n")
    assert await control.read_line() == b"PWD"
    assert control.stream is clear_server
    del clear_client


# --- ControlChannel over a real socket (read and written by descriptor) -------------------


async def socket_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    left, right = trio.socket.socketpair()
    return trio.SocketStream(left), trio.SocketStream(right)


async def test_socket_lines_in_one_read_come_out_one_by_one() -> None:
    client, server = await socket_pair()
    control = channel(server)
    await client.send_all(b"NOOP\r\nPWD\r\nQUIT\r\n")
    assert [await control.read_line() for _ in range(3)] == [b"NOOP", b"PWD", b"QUIT"]
    await client.aclose()
    assert await control.read_line() is None


async def test_cancelling_a_socket_read_loses_no_bytes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    client, server = await socket_pair()
    control = channel(server)
    with trio.move_on_after(1) as waited:  # nothing sent yet: the read waits
        await control.read_line()
    assert waited.cancelled_caught
    await client.send_all(b"NOOP\r\n")
    with trio.CancelScope() as scope:  # the bytes are there, and the read is cancelled
        scope.cancel()
        await control.read_line()
    assert scope.cancelled_caught
    assert await control.read_line() == b"NOOP"


async def test_a_socket_reply_bigger_than_the_send_buffer_goes_out_whole() -> None:
    client, server = await socket_pair()
    server.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_SNDBUF, 4096)
    control = channel(server)
    body = [f" line {number:06d}" for number in range(40_000)]
    control.push(Reply(211, ("Status:", *body, "End")))
    expected = "\r\n".join(["211-Status:", *body, "211 End"]).encode() + b"\r\n"
    received = bytearray()

    async def read_all() -> None:
        while len(received) < len(expected):
            received.extend(await client.receive_some(65536))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        await control.flush()
    assert bytes(received) == expected


async def test_a_socket_reply_to_a_closed_client_closes_the_channel() -> None:
    client, server = await socket_pair()
    control = channel(server)
    await client.aclose()
    control.push(Reply.of(200, "ok"))
    with pytest.raises(ControlClosed):
        await control.flush()


# --- DataChannel --------------------------------------------------------------------------


@attrs.define
class Settings:
    local_ip: str = "127.0.0.1"
    remote_ip: str = "127.0.0.1"
    permit_foreign_addresses: bool = False
    passive_ports: list[int] | None = None
    data_connect_timeout: float = 30
    data_connector: object = attrs.field(factory=TCPConnector)
    proxy_gate: object = None
    passive_dtp: type[PassiveDTP] = PassiveDTP
    active_dtp: type[ActiveDTP] = ActiveDTP


class SlowConnector:
    """Connects after *delay* seconds (of Trio time) with a memory stream."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.client_end: trio.abc.Stream | None = None

    async def connect(self, local_ip: str, ip: str, port: int) -> trio.abc.Stream:
        await trio.sleep(self.delay)
        server_end, self.client_end = trio.testing.memory_stream_pair()
        return server_end


def data_channel(nursery: trio.Nursery, settings: Settings) -> tuple[DataChannel, list[object]]:
    protected: list[object] = []

    async def protect(stream: trio.abc.Stream) -> trio.abc.Stream:
        protected.append(stream)
        return stream

    warnings: list[str] = []
    return DataChannel(settings, nursery, protect, warnings.append), protected  # type: ignore[arg-type]


async def test_active_connection_through_the_connector_and_protect_hook(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    connector = SlowConnector(delay=5)
    data, protected = data_channel(nursery, Settings(data_connector=connector))
    data.set_active("127.0.0.1", 5000)
    assert data.status() == "Active data channel to 127.0.0.1:5000."
    stream = await data.open()
    assert protected == [stream]
    assert data.endpoint is None  # used up
    with pytest.raises(NoDataConnection, match="No data connection"):
        await data.open()


async def test_active_connection_that_takes_too_long(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    settings = Settings(data_connect_timeout=20, data_connector=SlowConnector(delay=60))
    data, protected = data_channel(nursery, settings)
    data.set_active("127.0.0.1", 5000)
    start = trio.current_time()
    with pytest.raises(NoDataConnection) as refused:
        await data.open()
    assert trio.current_time() - start == 20
    assert refused.value.reply == "425 Can't open data connection."
    assert protected == []


async def test_settings_are_read_when_needed(nursery: trio.Nursery) -> None:
    settings = Settings(remote_ip="192.0.2.7")
    data, _ = data_channel(nursery, settings)
    assert data.foreign("192.0.2.8")
    assert not data.foreign("::ffff:192.0.2.7")
    settings.permit_foreign_addresses = True
    assert not data.foreign("192.0.2.8")


async def test_passive_endpoint_on_a_free_port(nursery: trio.Nursery) -> None:
    data, protected = data_channel(nursery, Settings())
    endpoint = await data.open_passive()
    assert endpoint is not None
    assert data.status() == f"Passive data channel on port {endpoint.port}, waiting for connection."
    client = await trio.open_tcp_stream("127.0.0.1", endpoint.port)
    stream = await data.open()
    assert protected == [stream]
    await client.send_all(b"x")
    assert await stream.receive_some(1) == b"x"
    await client.aclose()
    await stream.aclose()

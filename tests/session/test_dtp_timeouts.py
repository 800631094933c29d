"""pyftpdlib's ``FTPHandler.passive_dtp.timeout`` and ``active_dtp.timeout``, on MockClock.

Each overrides ``data_connect_timeout`` for its direction; 0 means no limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from trioftp.handlers import ActiveDTP, FTPHandler, PassiveDTP
from trioftp.session.dataconn import NoDataConnection
from trioftp.session.runner import InlineRunner

from ..support.ftpclient import read_all
from ..support.servers import RunningServer
from .test_parts import Settings, SlowConnector, data_channel

StartServer = Callable[..., Awaitable[RunningServer]]


def passive(seconds: float) -> type[PassiveDTP]:
    return type("Passive", (PassiveDTP,), {"timeout": seconds})


def active(seconds: float) -> type[ActiveDTP]:
    return type("Active", (ActiveDTP,), {"timeout": seconds})


def test_handlers_offer_pyftpdlibs_classes() -> None:
    assert FTPHandler.passive_dtp is PassiveDTP
    assert FTPHandler.active_dtp is ActiveDTP
    assert PassiveDTP.timeout is None  # data_connect_timeout applies
    assert ActiveDTP.timeout is None


async def test_passive_timeout_overrides_data_connect_timeout(
    start_server: StartServer, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(
        runner=InlineRunner(), data_connect_timeout=20, passive_dtp=passive(5)
    )
    client = await server.client()
    reply = await client.cmd("EPSV")
    port = int(reply.text.split("|||")[1].split("|")[0])
    await trio.sleep(6)
    with pytest.raises(OSError, match="all attempts to connect"):
        await trio.open_tcp_stream("127.0.0.1", port)
    (server.home / "a.txt").write_bytes(b"data")
    assert (await client.cmd("RETR a.txt")).code == 150
    assert (await client.reply()).first == "425 Can't open data connection."
    await client.aclose()


async def test_passive_timeout_zero_waits_for_the_client_without_limit(
    start_server: StartServer, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(
        runner=InlineRunner(), data_connect_timeout=20, passive_dtp=passive(0)
    )
    (server.home / "a.txt").write_bytes(b"data")
    client = await server.client()
    reply = await client.cmd("EPSV")
    port = int(reply.text.split("|||")[1].split("|")[0])
    await trio.sleep(200)  # within the control connection's idle timeout (300 s)
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    assert (await client.cmd("RETR a.txt")).code == 125
    assert await read_all(stream) == b"data"
    assert (await client.reply()).first == "226 Transfer complete."
    await client.aclose()


async def test_active_timeout_overrides_data_connect_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    settings = Settings(
        data_connect_timeout=20, data_connector=SlowConnector(delay=60), active_dtp=active(7)
    )
    data, _ = data_channel(nursery, settings)
    data.set_active("127.0.0.1", 5000)
    start = trio.current_time()
    with pytest.raises(NoDataConnection, match=r"Can.t connect to 127\.0\.0\.1:5000"):
        await data.open()
    assert trio.current_time() - start == 7


async def test_active_timeout_zero_waits_without_limit(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    connector = SlowConnector(delay=600)
    settings = Settings(data_connect_timeout=20, data_connector=connector, active_dtp=active(0))
    data, protected = data_channel(nursery, settings)
    data.set_active("127.0.0.1", 5000)
    start = trio.current_time()
    stream = await data.open()
    assert protected == [stream]
    assert trio.current_time() - start == 600

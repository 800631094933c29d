"""A session that floods commands is slowed to the rate, then cut (MockClock)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from trioftp.session.pacing import CommandPacer
from trioftp.session.runner import InlineRunner

from ..support.servers import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

NOOP_OK = "200 I successfully did nothing."
FLOOD = "421 Too many commands; closing connection."


async def _paced_server(
    start_server: StartServer, *, cutoff: float, rate: float = 8
) -> RunningServer:
    """A server whose sessions may send a burst of 5 commands, then *rate* per second."""
    return await start_server(
        runner=InlineRunner(),
        max_commands_per_second=rate,
        command_burst=5,
        command_flood_cutoff=cutoff,
    )


@pytest.fixture
def clock(autojump_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    return autojump_clock


def test_pacer_burst_then_rate() -> None:
    pacer = CommandPacer(rate=8, burst=3, cutoff=0, now=0.0)
    assert [pacer.delay(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.delay(0.0) == 0.125
    assert pacer.delay(0.125) == 0.125
    assert pacer.delay(10.0) == 0.0  # a pause refills the bucket
    assert pacer.delay(10.0) == 0.0


def test_pacer_cuts_a_flood_after_the_cutoff() -> None:
    pacer = CommandPacer(rate=8, burst=1, cutoff=1, now=0.0)
    assert pacer.delay(0.0) == 0.0
    now, delays = 0.0, []
    while (wait := pacer.delay(now)) is not None:
        delays.append(wait)
        now += wait
    assert delays == [0.125] * 8
    assert now == 1.0


async def test_commands_beyond_the_burst_run_at_the_rate(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    server = await _paced_server(start_server, cutoff=0)
    client = await server.client()
    start = trio.current_time()
    await client.send_raw(b"NOOP\r\n" * 21)
    for _ in range(21):
        assert (await client.reply()).first == NOOP_OK
    # USER and PASS took 2 of the burst: 3 at once, 18 at 1/8 s each.
    assert trio.current_time() - start == 18 * 0.125
    await client.aclose()


async def test_a_flood_is_cut_with_421_and_others_are_served(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    server = await _paced_server(start_server, cutoff=3)
    flooder = await server.client()
    bystander = await server.client()
    await flooder.send_raw(b"NOOP\r\n" * 1000)
    answered = 0
    while (reply := await flooder.reply()).first == NOOP_OK:
        answered += 1
        if answered == 10:  # mid-flood, another session is answered at once
            start = trio.current_time()
            assert (await bystander.cmd("NOOP")).first == NOOP_OK
            assert trio.current_time() == start
    assert reply.first == FLOOD
    # What USER and PASS left of the burst (3) at once, then one per 1/8 s
    # until 3 s of unbroken throttling.
    assert answered == 3 + 3 * 8
    assert await flooder.at_eof()
    assert (await bystander.cmd("NOOP")).first == NOOP_OK
    await bystander.aclose()


async def test_rate_zero_means_no_limit(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    server = await start_server(runner=InlineRunner(), max_commands_per_second=0, command_burst=1)
    client = await server.client()
    start = trio.current_time()
    await client.send_raw(b"NOOP\r\n" * 50)
    for _ in range(50):
        assert (await client.reply()).first == NOOP_OK
    assert trio.current_time() == start
    await client.aclose()


def test_pacer_never_cuts_a_session_with_nothing_queued() -> None:
    pacer = CommandPacer(rate=8, burst=1, cutoff=1, now=0.0)
    now = 0.0
    for _ in range(100):  # 12 s held to the rate, each command alone
        wait = pacer.delay(now, lambda: False)
        assert wait is not None
        now += wait
    assert now == 99 * 0.125
    delays = []  # commands queued behind: the cutoff's clock runs
    while (wait := pacer.delay(now, lambda: True)) is not None:
        delays.append(wait)
        now += wait
    assert delays == [0.125] * 8


async def test_a_client_waiting_for_each_reply_is_slowed_never_cut(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    server = await _paced_server(start_server, cutoff=3)
    client = await server.client()
    start = trio.current_time()
    for _ in range(60):  # past the rate for 7 s, more than the 3 s cutoff
        assert (await client.cmd("NOOP")).first == NOOP_OK
    # USER and PASS took 2 of the burst: 3 at once, 57 at 1/8 s each.
    assert trio.current_time() - start == 57 * 0.125
    assert (await client.cmd("QUIT")).code == 221


async def test_a_flood_whose_reads_end_on_line_boundaries_is_cut(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    # 8-byte lines: every 8 KiB read ends at a line's end, so nothing is ever
    # buffered behind the line being run - the commands were there unwaited.
    server = await _paced_server(start_server, cutoff=2, rate=1000)
    flooder = await server.client()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(flooder.send_raw, b"TYPE I\r\n" * 10_000)
        answered = 0
        while (await flooder.reply()).first != FLOOD:
            answered += 1
    # What USER and PASS left of the burst (3), then 2 s at the rate.
    assert answered == 3 + 2 * 1000

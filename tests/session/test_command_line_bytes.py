"""Bytes of a command line: a line past max_line_length costs one 500 and bounded memory."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trioftp.protocol.framing import DEFAULT_MAX_LINE, LineFramer, LineTooLong

from ..support.harness import SessionHarness

MEGABYTE = 1 << 20
READ = 8192  # what the control channel asks of the socket per read


def test_the_framer_drops_a_long_line_as_it_comes() -> None:
    framer = LineFramer()
    results: list[bytes | LineTooLong] = []
    peak = 0
    for _ in range(MEGABYTE // READ):
        framer.feed(b"A" * READ)
        while (line := framer.next_line()) is not None:
            results.append(line)
        peak = max(peak, framer.buffered)
    framer.feed(b"\r\nNOOP\r\n")
    while (line := framer.next_line()) is not None:
        results.append(line)
    assert results == [LineTooLong.LINE_TOO_LONG, b"NOOP"]
    assert peak <= DEFAULT_MAX_LINE + READ


@pytest.mark.parametrize("logged_in", [False, True])
async def test_a_megabyte_line_gets_one_500_and_the_session_goes_on(
    session_harness: SessionHarness, autojump_clock: trio.testing.MockClock, logged_in: bool
) -> None:
    session = session_harness()
    client = session.client
    assert (await client.reply()).code == 220
    if logged_in:
        assert (await client.login()).code == 230
    control = session.handler.control_channel
    peak = 0
    for _ in range(MEGABYTE // READ):
        await client.send_raw(b"STOR " + b"x" * (READ - 5))
        await trio.testing.wait_all_tasks_blocked()
        peak = max(peak, control.buffered)
    await client.send_raw(b"\r\nNOOP\r\n")
    assert (await client.reply()).lines == ("500 Command too long.",)
    assert (await client.reply()).code == 200
    assert (await client.cmd("SYST")).code == 215
    # The session never held more than one line's worth and one read.
    assert peak <= session.handler.max_line_length + READ
    assert control.buffered == 0
    assert not session.ended.is_set()

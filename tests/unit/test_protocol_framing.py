"""Unit and property tests for trioftp.protocol.framing.LineFramer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trioftp.protocol.framing import DEFAULT_MAX_LINE, LineFramer, LineTooLong

from ..support.chunking import split_at

TOO_LONG = LineTooLong.LINE_TOO_LONG
IAC = 0xFF
IP, DM, NOP, AYT = 0xF4, 0xF2, 0xF1, 0xF6
WILL, WONT, DO, DONT = 0xFB, 0xFC, 0xFD, 0xFE
SB, SE = 0xFA, 0xF0

Result = list[bytes | LineTooLong]


def drain(framer: LineFramer) -> Result:
    out: Result = []
    while (line := framer.next_line()) is not None:
        out.append(line)
    return out


def feed_all(chunks: list[bytes], max_line: int = DEFAULT_MAX_LINE) -> Result:
    """Feed *chunks* one by one, collecting every line after each feed."""
    framer = LineFramer(max_line)
    out: Result = []
    for chunk in chunks:
        framer.feed(chunk)
        out.extend(drain(framer))
    return out


def reference_lines(data: bytes, max_line: int) -> Result:
    """Oracle for streams without IAC: split on LF, apply cap, CR and CR NUL rules."""
    *complete, rest = data.split(b"\n")
    out: Result = []
    for raw in complete:
        line = raw.removesuffix(b"\r")
        if len(line) > max_line:
            out.append(TOO_LONG)
        else:
            out.append(line.replace(b"\r\x00", b"\r"))
    if len(rest.removesuffix(b"\r")) > max_line:
        out.append(TOO_LONG)
    return out


# --- examples -----------------------------------------------------------------------------


def test_crlf_and_bare_lf_lines() -> None:
    assert feed_all([b"USER bob\r\nPASS x\nNOOP\r\n"]) == [b"USER bob", b"PASS x", b"NOOP"]


def test_incomplete_line_waits_for_terminator() -> None:
    framer = LineFramer()
    framer.feed(b"NO")
    assert framer.next_line() is None
    assert framer.buffered == 2
    framer.feed(b"OP\r")
    assert framer.next_line() is None
    assert framer.buffered == 5
    framer.feed(b"\n")
    assert framer.next_line() == b"NOOP"
    assert framer.next_line() is None
    assert framer.buffered == 0


def test_empty_lines_are_returned() -> None:
    assert feed_all([b"\r\n\n"]) == [b"", b""]


def test_only_one_trailing_cr_is_removed() -> None:
    assert feed_all([b"a\r\r\n"]) == [b"a\r"]


def test_cr_nul_becomes_cr() -> None:
    assert feed_all([b"MKD a\r\x00b\r\n"]) == [b"MKD a\rb"]
    # A CR NUL split across chunks, and one at the end of the line.
    assert feed_all([b"MKD a\r", b"\x00b\r\x00\r\n"]) == [b"MKD a\rb\r"]
    assert feed_all([b"x\r\x00\n"]) == [b"x\r"]


def test_line_exactly_at_cap_is_accepted_with_either_terminator() -> None:
    assert feed_all([b"A" * 8 + b"\n"], max_line=8) == [b"A" * 8]
    assert feed_all([b"A" * 8 + b"\r\n"], max_line=8) == [b"A" * 8]
    assert feed_all([b"A" * 8 + b"\r", b"\n"], max_line=8) == [b"A" * 8]
    assert feed_all([b"A" * 8, b"\r", b"\n"], max_line=8) == [b"A" * 8]


def test_line_one_over_cap_is_too_long() -> None:
    assert feed_all([b"A" * 9 + b"\n"], max_line=8) == [TOO_LONG]
    assert feed_all([b"A" * 9 + b"\r\n"], max_line=8) == [TOO_LONG]
    assert feed_all([b"A" * 9, b"\r\n"], max_line=8) == [TOO_LONG]


def test_too_long_line_reported_once_while_streaming() -> None:
    framer = LineFramer(10)
    framer.feed(b"X" * 11)
    assert framer.next_line() is TOO_LONG
    assert framer.buffered == 0  # the excess is not kept
    for _ in range(5):
        framer.feed(b"X" * 100)
        assert framer.next_line() is None
        assert framer.buffered == 0
    framer.feed(b"XXX\r\nNOOP\r\n")
    assert framer.next_line() == b"NOOP"
    assert framer.next_line() is None


def test_too_long_line_in_one_chunk_then_next_line_intact() -> None:
    assert feed_all([b"A" * 20 + b"\r\nNOOP\r\nPWD\r\n"], max_line=10) == [
        TOO_LONG,
        b"NOOP",
        b"PWD",
    ]


def test_two_too_long_lines_give_two_markers() -> None:
    assert feed_all([b"A" * 20 + b"\n" + b"B" * 20 + b"\nC\n"], max_line=10) == [
        TOO_LONG,
        TOO_LONG,
        b"C",
    ]
    assert feed_all([b"A" * 20, b"\n", b"B" * 20, b"\nC\n"], max_line=10) == [
        TOO_LONG,
        TOO_LONG,
        b"C",
    ]


def test_default_max_line() -> None:
    assert DEFAULT_MAX_LINE == 4096
    assert LineFramer().max_line == 4096
    assert feed_all([b"A" * 4096 + b"\r\n"]) == [b"A" * 4096]
    assert feed_all([b"A" * 4097 + b"\r\n"]) == [TOO_LONG]


def test_telnet_ip_dm_before_abor_is_removed() -> None:
    data = bytes([IAC, IP, IAC, DM]) + b"ABOR\r\n"
    assert feed_all([data]) == [b"ABOR"]


def test_telnet_option_negotiation_is_removed() -> None:
    data = b"NO" + bytes([IAC, WILL, 1, IAC, DO, ord("\n"), IAC, DONT, 3, IAC, WONT, 4]) + b"OP\n"
    assert feed_all([data]) == [b"NOOP"]


def test_telnet_subnegotiation_is_removed() -> None:
    data = b"NO" + bytes([IAC, SB, 24, 0, ord("\r"), IAC, IAC, 5, IAC, SE]) + b"OP\r\n"
    assert feed_all([data]) == [b"NOOP"]


def test_unterminated_subnegotiation_ends_at_the_line_end() -> None:
    # A stray IAC SB with no IAC SE costs its own line only, not every later command.
    data = b"NOOP" + bytes([IAC, SB, 24]) + b" junk\r\nPWD\r\n"
    data += bytes([IAC, SB, IAC]) + b"\nCDUP\n"
    assert feed_all([data]) == [b"NOOP", b"PWD", b"", b"CDUP"]
    assert feed_all([bytes([b]) for b in data]) == [b"NOOP", b"PWD", b"", b"CDUP"]


def test_stray_iac_keeps_the_byte_after_it() -> None:
    # Not a Telnet command (those are 240-255): only the IAC goes.
    assert feed_all([bytes([IP, IAC]) + b"abor\r\n"]) == [bytes([IP]) + b"abor"]
    assert feed_all([b"NOOP" + bytes([IAC]), b"\r\nPWD\n"]) == [b"NOOP", b"PWD"]


def test_iac_iac_is_literal_ff() -> None:
    assert feed_all([b"RETR a" + bytes([IAC, IAC]) + b"b\r\n"]) == [b"RETR a\xffb"]
    assert feed_all([b"RETR a" + bytes([IAC]), bytes([IAC]) + b"b\r\n"]) == [b"RETR a\xffb"]


def test_telnet_sequence_split_byte_by_byte() -> None:
    data = bytes([IAC, SB, 1, 2, IAC, SE, IAC, WILL, 7, IAC, NOP]) + b"QUIT\r\n"
    assert feed_all([bytes([b]) for b in data]) == [b"QUIT"]


def test_discard_buffered_forgets_pipelined_bytes() -> None:
    framer = LineFramer()
    framer.feed(b"AUTH TLS\r\nUSER evil\r\nPASS x")
    assert framer.next_line() == b"AUTH TLS"
    assert framer.buffered == len(b"USER evil\r\nPASS x")
    framer.discard_buffered()
    assert framer.buffered == 0
    assert framer.next_line() is None
    framer.feed(b"USER good\r\n")
    assert framer.next_line() == b"USER good"


def test_discard_buffered_resets_telnet_and_discarding_state() -> None:
    framer = LineFramer(4)
    framer.feed(b"XXXXXXXX")
    assert framer.next_line() is TOO_LONG
    framer.feed(bytes([IAC, SB]))
    framer.discard_buffered()
    # Neither the half-read subnegotiation nor the too-long line swallows the next line.
    framer.feed(b"PWD\n")
    assert framer.next_line() == b"PWD"


# --- properties ---------------------------------------------------------------------------

# Bytes that matter to the framer, plus a little ordinary text.
framer_bytes = st.lists(
    st.sampled_from(
        [b"\r", b"\n", b"\x00", b"\xff", b"\xfb", b"\xfa", b"\xf0", b"\xf4", b"A", b"b", b" "]
    ),
    max_size=60,
).map(b"".join)
cuts = st.lists(st.integers(min_value=0, max_value=80), max_size=10)


@settings(max_examples=300, deadline=None)
@given(data=framer_bytes, cut_points=cuts, max_line=st.integers(min_value=1, max_value=12))
def test_chunking_does_not_change_lines(data: bytes, cut_points: list[int], max_line: int) -> None:
    assert feed_all(split_at(data, cut_points), max_line) == feed_all([data], max_line)


no_iac_bytes = st.lists(
    st.sampled_from([b"\r", b"\n", b"\x00", b"\r\x00", b"\r\n", b"A", b"b", b" "]), max_size=60
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(data=no_iac_bytes, cut_points=cuts, max_line=st.integers(min_value=1, max_value=12))
def test_lines_match_reference_and_respect_cap(
    data: bytes, cut_points: list[int], max_line: int
) -> None:
    lines = feed_all(split_at(data, cut_points), max_line)
    assert lines == reference_lines(data, max_line)
    for line in lines:
        if isinstance(line, bytes):
            assert len(line) <= max_line
            assert b"\n" not in line


line_text = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(line_text.filter(lambda b: b"\xff" not in b), max_size=3),
    long_size=st.integers(min_value=17, max_value=200),
    after=st.lists(line_text.filter(lambda b: b"\xff" not in b), min_size=1, max_size=4),
    cut_points=st.lists(st.integers(min_value=0, max_value=300), max_size=12),
    crlf=st.booleans(),
)
def test_too_long_line_yields_one_marker_and_later_lines_intact(
    before: list[bytes], long_size: int, after: list[bytes], cut_points: list[int], crlf: bool
) -> None:
    end = b"\r\n" if crlf else b"\n"
    data = b"".join(line + end for line in [*before, b"L" * long_size, *after])
    lines = feed_all(split_at(data, cut_points), max_line=16)
    assert lines == [*before, TOO_LONG, *after]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(line_text, min_size=1, max_size=4),
    cut_points=st.lists(st.integers(min_value=0, max_value=120), max_size=12),
)
def test_iac_iac_round_trips_to_ff(lines: list[bytes], cut_points: list[int]) -> None:
    data = b"".join(line.replace(b"\xff", b"\xff\xff") + b"\r\n" for line in lines)
    assert feed_all(split_at(data, cut_points)) == lines


telnet_command = st.one_of(
    st.sampled_from([IP, DM, NOP, AYT, 0xF3, 0xF5, 0xF7, 0xF8, 0xF9]).map(
        lambda c: bytes([IAC, c])
    ),
    st.tuples(st.sampled_from([WILL, WONT, DO, DONT]), st.integers(0, 255)).map(
        lambda t: bytes([IAC, t[0], t[1]])
    ),
    st.binary(max_size=6)
    .map(lambda b: b.replace(b"\xff", b"").replace(b"\n", b""))
    .map(lambda b: bytes([IAC, SB]) + b + bytes([IAC, SE])),
)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(line_text.filter(lambda b: b"\xff" not in b), min_size=1, max_size=4),
    inserts=st.lists(st.tuples(st.integers(0, 200), telnet_command), max_size=6),
    cut_points=st.lists(st.integers(min_value=0, max_value=300), max_size=15),
)
def test_telnet_sequences_split_across_chunks_are_removed(
    lines: list[bytes], inserts: list[tuple[int, bytes]], cut_points: list[int]
) -> None:
    data = b"".join(line + b"\r\n" for line in lines)
    # Positions index the original data and go right to left, so no command
    # is ever inserted inside another one.
    end = len(data)
    for wanted, command in sorted(inserts, reverse=True):
        position = min(wanted, end)
        data = data[:position] + command + data[position:]
    assert feed_all(split_at(data, cut_points)) == lines

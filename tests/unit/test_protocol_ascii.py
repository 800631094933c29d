"""Unit and property tests for trioftp.protocol.ascii (TYPE A line endings)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trioftp.protocol.ascii import ToDisk, ToNetwork

from ..support.chunking import split_at


def to_network(chunks: list[bytes]) -> bytes:
    converter = ToNetwork()
    return b"".join(converter.convert(chunk) for chunk in chunks)


def to_disk(chunks: list[bytes]) -> bytes:
    converter = ToDisk()
    return b"".join(converter.convert(chunk) for chunk in chunks) + converter.flush()


# --- examples -----------------------------------------------------------------------------


def test_to_network_examples() -> None:
    assert to_network([b"a\nb\n"]) == b"a\r\nb\r\n"
    assert to_network([b"a\r\nb\r\n"]) == b"a\r\nb\r\n"  # not doubled
    assert to_network([b"a\rb"]) == b"a\rb"  # a lone CR is data
    assert to_network([b"\n\n"]) == b"\r\n\r\n"
    assert to_network([b"a\r\r\n"]) == b"a\r\r\n"
    assert to_network([b""]) == b""
    assert to_network([]) == b""


def test_to_network_crlf_split_across_chunks() -> None:
    assert to_network([b"a\r", b"\nb"]) == b"a\r\nb"
    assert to_network([b"a\r", b"", b"\nb"]) == b"a\r\nb"
    assert to_network([b"\r", b"\n", b"\n"]) == b"\r\n\r\n"
    assert to_network([b"a\n", b"\nb"]) == b"a\r\n\r\nb"


def test_to_network_state_only_from_last_byte() -> None:
    converter = ToNetwork()
    assert converter.convert(b"x\r") == b"x\r"
    assert converter.convert(b"y") == b"y"
    assert converter.convert(b"\n") == b"\r\n"  # the CR was two chunks ago


def test_to_disk_examples() -> None:
    assert to_disk([b"a\r\nb\r\n"]) == b"a\nb\n"
    assert to_disk([b"a\nb"]) == b"a\nb"  # bare LF stays
    assert to_disk([b"a\rb"]) == b"a\rb"  # lone CR is data
    assert to_disk([b"a\r\r\n"]) == b"a\r\n"
    assert to_disk([b""]) == b""


def test_to_disk_holds_back_final_cr() -> None:
    converter = ToDisk()
    assert converter.convert(b"a\r") == b"a"
    assert converter.convert(b"\nb\r") == b"\nb"
    assert converter.convert(b"c") == b"\rc"
    assert converter.convert(b"\r") == b""
    assert converter.convert(b"") == b""  # still pending
    assert converter.flush() == b"\r"
    assert converter.flush() == b""


def test_to_disk_accepts_bytearray() -> None:
    converter = ToDisk()
    result = converter.convert(bytearray(b"x\r\ny"))
    assert result == b"x\ny"
    assert type(result) is bytes


def test_to_disk_cr_cr_lf_across_chunks() -> None:
    assert to_disk([b"\r", b"\r", b"\n"]) == b"\r\n"
    assert to_disk([b"\r\r", b"\n"]) == b"\r\n"


# --- properties ---------------------------------------------------------------------------

line_bytes = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b"b", b"\x00", b"\xff"]), max_size=60
).map(b"".join)
no_cr_bytes = st.lists(st.sampled_from([b"\n", b"a", b"b", b"\x00", b"\xff"]), max_size=60).map(
    b"".join
)
cuts = st.lists(st.integers(min_value=0, max_value=80), max_size=12)


@settings(max_examples=300, deadline=None)
@given(data=line_bytes, cut_points=cuts)
def test_to_network_chunking_invariant(data: bytes, cut_points: list[int]) -> None:
    assert to_network(split_at(data, cut_points)) == to_network([data])


@settings(max_examples=300, deadline=None)
@given(data=line_bytes, cut_points=cuts)
def test_to_disk_chunking_invariant(data: bytes, cut_points: list[int]) -> None:
    assert to_disk(split_at(data, cut_points)) == to_disk([data])


@settings(max_examples=300, deadline=None)
@given(data=line_bytes, cut_points=cuts)
def test_to_network_matches_reference(data: bytes, cut_points: list[int]) -> None:
    expected = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert to_network(split_at(data, cut_points)) == expected


@settings(max_examples=300, deadline=None)
@given(data=line_bytes, cut_points=cuts)
def test_to_disk_matches_reference(data: bytes, cut_points: list[int]) -> None:
    assert to_disk(split_at(data, cut_points)) == data.replace(b"\r\n", b"\n")


@settings(max_examples=300, deadline=None)
@given(data=no_cr_bytes, cut_points=cuts, cut_points2=cuts)
def test_round_trip_without_cr(data: bytes, cut_points: list[int], cut_points2: list[int]) -> None:
    wire = to_network(split_at(data, cut_points))
    assert wire.count(b"\n") == wire.count(b"\r\n") == data.count(b"\n")
    assert to_disk(split_at(wire, cut_points2)) == data


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.binary(max_size=8), max_size=8), cut_points=cuts)
def test_to_network_leaves_crlf_text_unchanged(lines: list[bytes], cut_points: list[int]) -> None:
    data = b"".join(line.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n" for line in lines)
    assert to_network(split_at(data, cut_points)) == data


@settings(max_examples=200, deadline=None)
@given(data=line_bytes, cut_points=cuts)
def test_to_network_output_has_no_bare_lf(data: bytes, cut_points: list[int]) -> None:
    wire = to_network(split_at(data, cut_points))
    assert wire.count(b"\n") == wire.count(b"\r\n")

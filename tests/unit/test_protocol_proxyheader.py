"""Unit and property tests for trioftp.protocol.proxyheader (PROXY protocol v1 and v2)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trioftp.protocol.proxyheader import (
    V1_MAX_LENGTH,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    TrustedProxies,
    parse_proxy_header,
)

from ..support.proxyheaders import v2, v2_tcp

# --- version 1: examples


def test_v1_tcp4() -> None:
    line = b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 21\r\n"
    data = line + b"USER bob\r\n"
    header = parse_proxy_header(data)
    assert header == ProxyHeader(1, len(line), ("192.0.2.10", 56324), ("198.51.100.1", 21))
    assert header.proxied
    assert data[header.length :] == b"USER bob\r\n"


def test_v1_tcp6_is_returned_in_canonical_form() -> None:
    line = b"PROXY TCP6 2001:DB8:0::1 2001:db8::2 65535 0\r\n"
    header = parse_proxy_header(line)
    assert header == ProxyHeader(1, len(line), ("2001:db8::1", 65535), ("2001:db8::2", 0))


def test_v1_longest_tcp6_line_is_accepted() -> None:
    full = ":".join(["ffff"] * 8).encode()
    line = b"PROXY TCP6 " + full + b" " + full + b" 65535 65535\r\n"
    assert len(line) == 104
    header = parse_proxy_header(line)
    assert header is not None
    assert header.source == (":".join(["ffff"] * 8), 65535)


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY UNKNOWN\r\n",
        b"PROXY UNKNOWN ffff:: ffff:: 65535 65535\r\n",
        b"PROXY UNKNOWN whatever the sender put here\r\n",
    ],
)
def test_v1_unknown_uses_the_connection_s_own_addresses(line: bytes) -> None:
    header = parse_proxy_header(line + b"rest")
    assert header == ProxyHeader(1, len(line))
    assert not header.proxied


def test_v1_worst_case_unknown_line_of_107_bytes() -> None:
    full = ":".join(["ffff"] * 8).encode()
    line = b"PROXY UNKNOWN " + full + b" " + full + b" 65535 65535\r\n"
    assert len(line) == V1_MAX_LENGTH
    assert parse_proxy_header(line) == ProxyHeader(1, V1_MAX_LENGTH)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "lone CR or LF"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\r\n", "lone CR or LF"),
        (b"PROXY TCP4 1.2.3.4\n", "lone CR or LF"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "exactly two addresses"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "exactly two addresses"),
        (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "exactly two addresses"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "invalid port b'01'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "invalid port b'65536'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "invalid port b'+1'"),
        (b"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", "invalid IPv4 address b'1.2.3.04'"),
        (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "invalid IPv4 address"),
        (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "invalid IPv4 address b'::1'"),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "invalid IPv6 address b'1.2.3.4'"),
        (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "invalid IPv6 address"),
        (b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "invalid IPv6 address"),
        (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol b'UDP4'"),
        (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol b'tcp4'"),
        (b"PROXY \r\n", "unknown protocol b''"),
        (b"PROXY UNKNOWN\x00\r\n", "not printable"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\xc3\xa9\r\n", "not printable"),
        (b"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY header"),
        (b"PROXI", "not a PROXY header"),
        (b"USER anonymous\r\n", "not a PROXY header"),
        (b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY header"),
    ],
)
def test_v1_malformed(data: bytes, why: str) -> None:
    with pytest.raises(ProxyHeaderError, match=why.replace("+", r"\+")):
        parse_proxy_header(data)


def test_v1_without_crlf_in_107_bytes_is_refused() -> None:
    data = b"PROXY UNKNOWN " + b"x" * 200
    assert parse_proxy_header(data[: V1_MAX_LENGTH - 1]) is None
    with pytest.raises(ProxyHeaderError, match="without CRLF in 107 bytes"):
        parse_proxy_header(data[:V1_MAX_LENGTH])
    with pytest.raises(ProxyHeaderError, match="without CRLF in 107 bytes"):
        parse_proxy_header(data)


def test_v1_crlf_just_past_107_bytes_is_refused() -> None:
    with pytest.raises(ProxyHeaderError, match="without CRLF"):
        parse_proxy_header(b"PROXY UNKNOWN " + b"x" * (V1_MAX_LENGTH - 15) + b"\r\n")


def test_v1_needs_more_bytes_until_the_crlf() -> None:
    line = b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 21\r\n"
    for end in range(len(line)):
        assert parse_proxy_header(line[:end]) is None, line[:end]


# --- version 2: examples


def test_v2_tcp4() -> None:
    data = v2_tcp(("192.0.2.10", 56324), ("198.51.100.1", 21)) + b"\x16\x03\x01"
    header = parse_proxy_header(data)
    assert header == ProxyHeader(2, 28, ("192.0.2.10", 56324), ("198.51.100.1", 21))
    assert data[header.length :] == b"\x16\x03\x01"


def test_v2_tcp6() -> None:
    header = parse_proxy_header(v2_tcp(("2001:db8::1", 1), ("2001:db8::2", 990)))
    assert header == ProxyHeader(2, 52, ("2001:db8::1", 1), ("2001:db8::2", 990))


def test_v2_tlvs_are_skipped() -> None:
    # PP2_TYPE_AUTHORITY ("ftp.example.com") and a NOOP padding TLV, as AWS and HAProxy send.
    tlvs = b"\x02\x00\x0fftp.example.com" + b"\x04\x00\x03\x00\x00\x00"
    data = v2_tcp(("203.0.113.7", 40000), ("10.0.0.1", 21), tlvs) + b"after"
    header = parse_proxy_header(data)
    assert header is not None
    assert header.source == ("203.0.113.7", 40000)
    assert header.length == 16 + 12 + len(tlvs)
    assert data[header.length :] == b"after"


@pytest.mark.parametrize("family", [0x00, 0x11, 0x21, 0x12, 0x31])
def test_v2_local_uses_the_connection_s_own_addresses(family: int) -> None:
    # LOCAL (a health check): any address block present is skipped, its family ignored.
    body = bytes(12) if family == 0x11 else b""
    header = parse_proxy_header(v2(0x0, family, body) + b"QUIT\r\n")
    assert header == ProxyHeader(2, 16 + len(body))
    assert not header.proxied


@pytest.mark.parametrize("family", [0x00, 0x12, 0x22, 0x31, 0x32])
def test_v2_proxy_of_other_families_falls_back_to_the_connection(family: int) -> None:
    body = bytes(216) if family >> 4 == 3 else bytes(12)
    assert parse_proxy_header(v2(0x1, family, body)) == ProxyHeader(2, 16 + len(body))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (V2_SIGNATURE[:5] + b"X", "not a PROXY header"),
        (b"\r\nQUIT\r\n", "not a PROXY header"),
        (V2_SIGNATURE + b"\x11", "version 2 signature with version 1"),
        (V2_SIGNATURE + b"\x31\x11\x00\x0c", "version 3"),
        (V2_SIGNATURE + b"\x22", "unknown command 0x2"),
        (V2_SIGNATURE + b"\x2f\x11\x00\x00", "unknown command 0xf"),
        (V2_SIGNATURE + b"\x21\x13", "invalid family 0x13"),
        (V2_SIGNATURE + b"\x21\x41\x00\x00", "invalid family 0x41"),
        (V2_SIGNATURE + b"\x21\x10\x00\x0c", "invalid family 0x10"),
        (v2(0x1, 0x11, bytes(11)), "11 address bytes where 12 are needed"),
        (v2(0x1, 0x21, bytes(12)), "12 address bytes where 36 are needed"),
        (v2(0x1, 0x11, b""), "0 address bytes where 12 are needed"),
    ],
)
def test_v2_malformed(data: bytes, why: str) -> None:
    with pytest.raises(ProxyHeaderError, match=why):
        parse_proxy_header(data)


def test_v2_needs_more_bytes_until_the_whole_length() -> None:
    header = v2_tcp(("2001:db8::1", 1), ("2001:db8::2", 990), b"\x04\x00\x02\x00\x00")
    for end in range(len(header)):
        assert parse_proxy_header(header[:end]) is None, end
    assert parse_proxy_header(header) is not None


def test_v2_largest_length_is_accepted() -> None:
    data = v2(0x1, 0x11, bytes(12) + b"\x04\xff\xf0" + bytes(0xFFF0), length=0xFFFF)
    header = parse_proxy_header(data)
    assert header is not None
    assert header.length == 16 + 0xFFFF


def test_empty_input_needs_more() -> None:
    assert parse_proxy_header(b"") is None


@pytest.mark.parametrize("first", [b"\x16", b"U", b"\x00", b" ", b"\n"])
def test_other_first_bytes_are_not_a_header(first: bytes) -> None:
    with pytest.raises(ProxyHeaderError, match="not a PROXY header"):
        parse_proxy_header(first)


# --- properties

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
ports = st.integers(0, 65535)
tails = st.binary(max_size=64)


def v1_line(family: str, source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    return f"PROXY {family} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n".encode()


@settings(max_examples=300)
@given(
    st.one_of(
        st.tuples(st.just("TCP4"), ipv4, ipv4),
        st.tuples(st.just("TCP6"), ipv6, ipv6),
    ),
    ports,
    ports,
    st.integers(1, 2),
    tails,
)
def test_round_trip_with_any_following_bytes(
    addresses: tuple[str, str, str], sport: int, dport: int, version: int, tail: bytes
) -> None:
    family, source_ip, destination_ip = addresses
    source, destination = (source_ip, sport), (destination_ip, dport)
    header = v1_line(family, source, destination) if version == 1 else v2_tcp(source, destination)
    parsed = parse_proxy_header(header + tail)
    assert parsed is not None
    assert parsed.source is not None
    assert parsed.destination is not None
    assert (parsed.version, parsed.length) == (version, len(header))
    assert ipaddress.ip_address(parsed.source[0]) == ipaddress.ip_address(source_ip)
    assert ipaddress.ip_address(parsed.destination[0]) == ipaddress.ip_address(destination_ip)
    assert (parsed.source[1], parsed.destination[1]) == (sport, dport)


@settings(max_examples=300)
@given(
    st.one_of(
        st.tuples(st.just("TCP4"), ipv4, ipv4),
        st.tuples(st.just("TCP6"), ipv6, ipv6),
    ),
    ports,
    ports,
    st.integers(1, 2),
    st.data(),
)
def test_every_proper_prefix_needs_more(
    addresses: tuple[str, str, str], sport: int, dport: int, version: int, data: st.DataObject
) -> None:
    family, source_ip, destination_ip = addresses
    source, destination = (source_ip, sport), (destination_ip, dport)
    header = v1_line(family, source, destination) if version == 1 else v2_tcp(source, destination)
    end = data.draw(st.integers(0, len(header) - 1))
    assert parse_proxy_header(header[:end]) is None


@settings(max_examples=1000)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_fail_cleanly(data: bytes) -> None:
    try:
        header = parse_proxy_header(data)
    except ProxyHeaderError:
        return
    if header is None:  # a proper beginning of a header: short of both limits
        assert len(data) < max(V1_MAX_LENGTH, 16 + 0xFFFF)
        assert data[:1] in (b"", b"P", b"\r")
    else:
        assert 0 < header.length <= len(data)
        assert parse_proxy_header(data[: header.length]) == header


@settings(max_examples=1000)
@given(
    st.sampled_from([b"PROXY ", b"PROXY TCP4 ", b"PROXY TCP6 ", b"PROXY UNKNOWN", V2_SIGNATURE]),
    st.binary(max_size=120),
)
def test_garbage_after_a_valid_start_parses_or_fails_cleanly(start: bytes, rest: bytes) -> None:
    data = start + rest
    try:
        header = parse_proxy_header(data)
    except ProxyHeaderError:
        return
    if header is not None:
        assert header.length <= len(data)
        assert header.version == (1 if start.startswith(b"PROXY") else 2)


@settings(max_examples=500)
@given(
    st.sampled_from(
        [
            b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 21\r\n",
            b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n",
            v2_tcp(("192.0.2.10", 56324), ("198.51.100.1", 21)),
        ]
    ),
    st.data(),
)
def test_one_changed_byte_parses_or_fails_cleanly(header: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(header) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda byte: byte != header[index]))
    changed = header[:index] + bytes([value]) + header[index + 1 :]
    try:
        parsed = parse_proxy_header(changed)
    except ProxyHeaderError:
        return
    if parsed is not None:
        assert parsed.length <= len(changed)


# --- trusted sources


def test_trusted_proxies_addresses_and_networks() -> None:
    trusted = TrustedProxies(
        ["10.0.0.5", "192.168.1.0/24", ipaddress.ip_network("2001:db8::/64"), "::1"]
    )
    assert trusted
    for ip in ("10.0.0.5", "192.168.1.0", "192.168.1.255", "2001:db8::42", "::1"):
        assert ip in trusted, ip
    for ip in ("10.0.0.6", "192.168.2.1", "2001:db8:1::1", "127.0.0.1", "::2"):
        assert ip not in trusted, ip


def test_no_trusted_proxies() -> None:
    trusted = TrustedProxies([])
    assert not trusted
    assert "127.0.0.1" not in trusted


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("10.0.0.1/8", "has host bits set"),
        ("10.0.0.0/33", "10.0.0.0/33"),
        ("example.com", "example.com"),
        ("", "''"),
    ],
)
def test_trusted_proxies_refuse_what_is_not_an_address(source: str, why: str) -> None:
    with pytest.raises(ValueError, match=f"^proxy_protocol_from: .*{why}"):
        TrustedProxies(["127.0.0.1", source])

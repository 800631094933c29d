"""Unit and property tests for trioftp.protocol.addresses (PORT/PASV/EPRT/EPSV)."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trioftp.protocol.addresses import (
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

ports = st.integers(min_value=1, max_value=65535)


# --- PORT / PASV --------------------------------------------------------------------------


def test_parse_port_basic() -> None:
    assert parse_port("127,0,0,1,4,1") == ("127.0.0.1", 1025)
    assert parse_port("192,168,1,2,255,255") == ("192.168.1.2", 65535)
    assert parse_port("10,0,0,1,0,1") == ("10.0.0.1", 1)


def test_parse_port_allows_spaces_and_leading_zeros() -> None:
    assert parse_port(" 127, 0 ,0,1 , 0,21 ") == ("127.0.0.1", 21)
    assert parse_port("010,000,000,001,000,021") == ("10.0.0.1", 21)


@pytest.mark.parametrize(
    "arg",
    [
        "127,0,0,1,0,0",  # port 0
        "127,0,0,1,256,1",  # field > 255
        "127,0,0,256,0,21",
        "1,2,3",
        "1,2,3,4,5",
        "1,2,3,4,5,6,7",
        "",
        ",,,,,",
        "1,2,3,4,0x1,2",
        "1,2,3,4,+1,2",
        "1,2,3,4,-1,2",
        "\u0661,2,3,4,5,6",  # Arabic-Indic digit one
        "1,2,3,4,5,\u0666",  # Arabic-Indic digit six
        "1,2,3,4,\uff15,6",  # fullwidth five
        "1,2,3,4,1 0,6",
        "1,2,3,4,1000,6",
        "1.2.3.4,5,6",
        "1,2,3,4,5,6\x00",
        "a,b,c,d,e,f",
        "1,2,3,4,5,\t6",
        "1,2,3,4,5,6\n",
    ],
)
def test_parse_port_rejects(arg: str) -> None:
    with pytest.raises(AddressError):
        parse_port(arg)


def test_address_error_is_value_error() -> None:
    assert issubclass(AddressError, ValueError)


def test_format_pasv_exact() -> None:
    assert format_pasv("127.0.0.1", 1025) == "227 Entering Passive Mode (127,0,0,1,4,1)."
    assert format_pasv("10.1.2.3", 65535) == "227 Entering Passive Mode (10,1,2,3,255,255)."
    assert format_pasv("0.0.0.0", 1) == "227 Entering Passive Mode (0,0,0,0,0,1)."


@settings(max_examples=300, deadline=None)
@given(ip=st.ip_addresses(v=4), port=ports)
def test_pasv_port_round_trip(ip: ipaddress.IPv4Address, port: int) -> None:
    reply = format_pasv(str(ip), port)
    match = re.fullmatch(r"227 Entering Passive Mode \(([0-9,]+)\)\.", reply)
    assert match is not None
    assert parse_port(match.group(1)) == (str(ip), port)
    # And what a client would send as PORT for the same endpoint.
    h = str(ip).split(".")
    assert parse_port(f"{h[0]},{h[1]},{h[2]},{h[3]},{port // 256},{port % 256}") == (str(ip), port)


@settings(max_examples=300, deadline=None)
@given(arg=st.text(max_size=40))
def test_parse_port_fuzz_only_address_error(arg: str) -> None:
    try:
        ip, port = parse_port(arg)
    except AddressError:
        return
    assert ipaddress.IPv4Address(ip)
    assert 1 <= port <= 65535


@settings(max_examples=300, deadline=None)
@given(arg=st.text(alphabet=" ,0123456789+-\u0661", max_size=30))
def test_parse_port_fuzz_near_valid(arg: str) -> None:
    try:
        ip, port = parse_port(arg)
    except AddressError:
        return
    fields = [int(f) for f in arg.split(",")]
    assert ip == ".".join(map(str, fields[:4]))
    assert port == fields[4] * 256 + fields[5]
    assert 1 <= port <= 65535


# --- EPRT ---------------------------------------------------------------------------------


def test_parse_eprt_examples() -> None:
    # RFC 2428 examples.
    assert parse_eprt("|1|132.235.1.2|6275|") == (1, "132.235.1.2", 6275)
    assert parse_eprt("|2|1080::8:800:200C:417A|5282|") == (2, "1080::8:800:200c:417a", 5282)
    assert parse_eprt("!1!10.0.0.1!21!") == (1, "10.0.0.1", 21)
    # IPv4-mapped: written with the IPv4 part dotted on every Python version
    # (Python 3.13's ipaddress does so itself, older ones write ::ffff:7f00:1).
    assert parse_eprt("|2|::ffff:127.0.0.1|1|") == (2, "::ffff:127.0.0.1", 1)
    assert parse_eprt("|2|::ffff:7f00:1|1|") == (2, "::ffff:127.0.0.1", 1)
    assert parse_eprt("|1|1.2.3.4|65535|") == (1, "1.2.3.4", 65535)


@pytest.mark.parametrize("proto", ["3", "0", "99999"])
def test_parse_eprt_unsupported_protocol(proto: str) -> None:
    assert parse_eprt(f"|{proto}|1.2.3.4|21|") == UnsupportedProtocol(proto)


def test_parse_eprt_other_family_is_unsupported_before_the_address_is_read() -> None:
    assert parse_eprt("|2|1.2.3.256|2048|", protocols=("1",)) == UnsupportedProtocol("2")
    assert parse_eprt("|1|::1|2048|", protocols=("2",)) == UnsupportedProtocol("1")
    assert parse_eprt("|1|1.2.3.4|2048|", protocols=("1",)) == (1, "1.2.3.4", 2048)


@pytest.mark.parametrize(
    "arg",
    [
        "",
        "|",
        "||||",
        "|1|1.2.3.4|21",  # missing final delimiter
        "1|1.2.3.4|21|",  # delimiter is '1': wrong field count
        "|1|1.2.3.4|21|x",
        "|1|1.2.3.4|0|",
        "|1|1.2.3.4|65536|",
        "|1|1.2.3.4|123456|",
        "|1|1.2.3.4|+21|",
        "|1|1.2.3.4|\u0662\u0661|",
        "|1|1.2.3.4||",
        "|1|::1|21|",  # IPv6 address with protocol 1
        "|2|1.2.3.4|21|",  # IPv4 address with protocol 2
        "|1|1.2.3|21|",
        "|1|01.2.3.4|21|",
        "|1| 1.2.3.4|21|",
        "|1|host.example|21|",
        "|x|1.2.3.4|21|",
        "| 1|1.2.3.4|21|",
        "|\u0661|1.2.3.4|21|",
        " |1|1.2.3.4|21|",  # space is not a valid delimiter
        "\x7f1\x7f1.2.3.4\x7f21\x7f",  # DEL is not a valid delimiter
        "é1é1.2.3.4é21é",
    ],
)
def test_parse_eprt_rejects(arg: str) -> None:
    with pytest.raises(AddressError):
        parse_eprt(arg)


@st.composite
def eprt_args(draw: st.DrawFn) -> tuple[str, int, str, int]:
    version = draw(st.sampled_from([4, 6]))
    address = draw(st.ip_addresses(v=version))
    host = address.exploded if draw(st.booleans()) else str(address)
    if version == 6 and draw(st.booleans()):
        host = host.upper()
    port = draw(ports)
    proto = 1 if version == 4 else 2
    delimiter = chr(draw(st.integers(min_value=33, max_value=126)))
    assume(delimiter not in f"{proto}{host}{port}")
    return (
        f"{delimiter}{proto}{delimiter}{host}{delimiter}{port}{delimiter}",
        proto,
        str(address),
        port,
    )


@settings(max_examples=400, deadline=None)
@given(case=eprt_args())
def test_parse_eprt_generated(case: tuple[str, int, str, int]) -> None:
    arg, proto, ip, port = case
    parsed = parse_eprt(arg)
    assert isinstance(parsed, tuple)
    # The same address (its text form differs between Python versions for
    # IPv4-mapped addresses: test_parse_eprt_examples pins trioftp's).
    assert (parsed[0], ipaddress.ip_address(parsed[1]), parsed[2]) == (
        proto,
        ipaddress.ip_address(ip),
        port,
    )


@settings(max_examples=300, deadline=None)
@given(arg=st.text(max_size=50))
def test_parse_eprt_fuzz_only_address_error(arg: str) -> None:
    try:
        result = parse_eprt(arg)
    except AddressError:
        return
    if isinstance(result, UnsupportedProtocol):
        assert result.protocol.isascii()
        assert result.protocol.isdigit()
        return
    proto, ip, port = result
    assert proto in (1, 2)
    assert ipaddress.ip_address(ip).version == (4 if proto == 1 else 6)
    assert 1 <= port <= 65535


@settings(max_examples=300, deadline=None)
@given(arg=st.text(alphabet="|!12:.0fa%\u0663 ", max_size=30))
def test_parse_eprt_fuzz_near_valid(arg: str) -> None:
    try:
        result = parse_eprt(arg)
    except AddressError:
        return
    if not isinstance(result, UnsupportedProtocol):
        assert 1 <= result[2] <= 65535


# --- EPSV ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("", None),
        ("   ", None),
        ("ALL", EpsvAll.ALL),
        ("all", EpsvAll.ALL),
        ("All", EpsvAll.ALL),
        (" ALL ", EpsvAll.ALL),
        ("1", 1),
        ("2", 2),
        (" 2 ", 2),
        ("3", UnsupportedProtocol("3")),
        ("0", UnsupportedProtocol("0")),
    ],
)
def test_parse_epsv(arg: str, expected: object) -> None:
    assert parse_epsv(arg) == expected


@pytest.mark.parametrize("arg", ["x", "ALLX", "1 2", "+1", "\u0661", "-1", "123456", "ALL 1"])
def test_parse_epsv_rejects(arg: str) -> None:
    with pytest.raises(AddressError):
        parse_epsv(arg)


@settings(max_examples=200, deadline=None)
@given(arg=st.text(max_size=20))
def test_parse_epsv_fuzz_only_address_error(arg: str) -> None:
    try:
        result = parse_epsv(arg)
    except AddressError:
        return
    assert (
        result is None or result in (1, 2, EpsvAll.ALL) or isinstance(result, UnsupportedProtocol)
    )


def test_format_epsv_exact() -> None:
    assert format_epsv(1025) == "229 Entering extended passive mode (|||1025|)."
    assert format_epsv(65535) == "229 Entering extended passive mode (|||65535|)."


@settings(max_examples=100, deadline=None)
@given(port=ports)
def test_format_epsv_port_parses_back(port: int) -> None:
    match = re.fullmatch(
        r"229 Entering extended passive mode \(\|\|\|(\d+)\|\)\.", format_epsv(port)
    )
    assert match is not None
    assert int(match.group(1)) == port


# --- normalize_ip -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::FFFF:7f00:1", "127.0.0.1"),
        ("fe80::1%eth0", "fe80::1"),
        ("FE80:0000::0001%2", "fe80::1"),
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("::ffff:10.0.0.1%eth0", "10.0.0.1"),
    ],
)
def test_normalize_ip(ip: str, expected: str) -> None:
    assert normalize_ip(ip) == expected


def test_normalize_ip_mapped_equals_plain() -> None:
    assert normalize_ip("::ffff:192.168.0.7") == normalize_ip("192.168.0.7")
    # Not mapped: the IPv4-compatible form stays IPv6.
    assert normalize_ip("::192.168.0.7") == "::c0a8:7"


def test_normalize_ip_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="does not appear to be"):
        normalize_ip("not an ip")


@settings(max_examples=200, deadline=None)
@given(ip=st.ip_addresses(v=4))
def test_normalize_ip_mapped_round_trip(ip: ipaddress.IPv4Address) -> None:
    assert normalize_ip(f"::ffff:{ip}") == str(ip)
    assert normalize_ip(str(ip)) == str(ip)

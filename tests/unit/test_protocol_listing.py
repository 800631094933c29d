"""Unit tests for trioftp.protocol.listing (LIST and MLSD/MLST lines)."""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trioftp.protocol.listing import (
    ALL_FACTS,
    DEFAULT_FACTS,
    SIX_MONTHS,
    STAT_FACTS,
    format_ls_line,
    format_ls_time,
    format_mlsx_line,
    format_mlsx_time,
    mlsx_perm,
    mlsx_type,
    unique_fact,
)

NOW = 1_700_000_000  # 2023-11-14 22:13:20 UTC
DAY = 24 * 60 * 60


# --- ls -l dates --------------------------------------------------------------------------


def test_six_months_is_180_days() -> None:
    assert SIX_MONTHS == 180 * DAY


@pytest.mark.parametrize(
    ("mtime", "expected"),
    [
        (NOW, "Nov 14 22:13"),
        (NOW - 3600, "Nov 14 21:13"),
        (NOW - 30 * DAY, "Oct 15 22:13"),
        (NOW - SIX_MONTHS, "May 18 22:13"),  # exactly 180 days: still recent
        (NOW - SIX_MONTHS - 1, "May 18  2023"),
        (NOW - 400 * DAY, "Oct 10  2022"),
        (NOW + 3600, "Nov 14 23:13"),  # an hour of clock skew is tolerated
        (NOW + 3601, "Nov 14  2023"),
        (NOW + 60 * DAY, "Jan 13  2024"),
        (0, "Jan 01  1970"),
    ],
)
def test_format_ls_time(mtime: float, expected: str) -> None:
    assert format_ls_time(mtime, NOW) == expected


def test_format_ls_time_english_months() -> None:
    months = [format_ls_time(calendar.timegm((2023, m, 5, 8, 9, 0)), NOW)[:3] for m in range(1, 13)]
    assert months == [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]  # fmt: skip
    assert format_ls_time(calendar.timegm((2023, 5, 5, 8, 9, 0)), NOW) == "May 05  2023"
    assert format_ls_time(calendar.timegm((2023, 9, 5, 8, 9, 0)), NOW) == "Sep 05 08:09"


def test_format_ls_time_unrepresentable_falls_back_to_epoch() -> None:
    assert format_ls_time(1e300, NOW) == "Jan 01  1970"
    assert format_ls_time(float("nan"), NOW) == "Jan 01 00:00"


@pytest.fixture
def utc_plus_3() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "XYZ-3"  # POSIX: three hours east of UTC, no DST
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.usefixtures("utc_plus_3")
def test_format_ls_time_local_time() -> None:
    assert format_ls_time(NOW, NOW, use_gmt=False) == "Nov 15 01:13"
    assert format_ls_time(NOW, NOW, use_gmt=True) == "Nov 14 22:13"
    line = format_ls_line(
        "f", mode=0o100644, nlink=1, owner="o", group="g", size=0, mtime=NOW, now=NOW, use_gmt=False
    )
    assert line == "-rw-r--r--   1 o        g               0 Nov 15 01:13 f\r\n"


# --- ls -l lines --------------------------------------------------------------------------


def test_format_ls_line_file() -> None:
    line = format_ls_line(
        "a.txt", mode=0o100644, nlink=1, owner="ftp", group="ftp", size=3, mtime=0.0, now=0.0
    )
    assert line == "-rw-r--r--   1 ftp      ftp             3 Jan 01 00:00 a.txt\r\n"


def test_format_ls_line_directory() -> None:
    line = format_ls_line(
        "sub dir",
        mode=0o040755,
        nlink=2,
        owner="owner",
        group="group",
        size=4096,
        mtime=NOW - 3600,
        now=NOW,
    )
    assert line == "drwxr-xr-x   2 owner    group        4096 Nov 14 21:13 sub dir\r\n"


def test_format_ls_line_symlink() -> None:
    line = format_ls_line(
        "link",
        mode=0o120777,
        nlink=1,
        owner="ftp",
        group="ftp",
        size=6,
        mtime=NOW,
        now=NOW,
        link_target="target",
    )
    assert line == "lrwxrwxrwx   1 ftp      ftp             6 Nov 14 22:13 link -> target\r\n"


def test_format_ls_line_wide_fields_and_old_file() -> None:
    line = format_ls_line(
        "big",
        mode=0o100600,
        nlink=1234,
        owner="averylongowner",
        group="staff",
        size=123_456_789_012,
        mtime=NOW - SIX_MONTHS - 1,
        now=NOW,
    )
    assert line == "-rw------- 1234 averylongowner staff    123456789012 May 18  2023 big\r\n"


def test_format_ls_line_zero_nlink_shown_as_one() -> None:
    line = format_ls_line("x", mode=0o100000, nlink=0, owner="1000", group="1000", size=0,
                          mtime=NOW, now=NOW)  # fmt: skip
    assert line == "----------   1 1000     1000            0 Nov 14 22:13 x\r\n"


def test_format_ls_line_special_modes() -> None:
    line = format_ls_line("s", mode=0o104755, nlink=1, owner="r", group="r", size=1,
                          mtime=NOW, now=NOW)  # fmt: skip
    assert line.startswith("-rwsr-xr-x ")
    line = format_ls_line("t", mode=0o041777, nlink=1, owner="r", group="r", size=1,
                          mtime=NOW, now=NOW)  # fmt: skip
    assert line.startswith("drwxrwxrwt ")


# --- MLSx ---------------------------------------------------------------------------------


def test_fact_lists() -> None:
    assert ALL_FACTS == (
        "type", "size", "modify", "perm", "unique", "unix.mode", "unix.uid", "unix.gid",
    )  # fmt: skip
    assert DEFAULT_FACTS == ("type", "size", "modify", "perm", "unique")


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (NOW, "20231114221320"),
        (NOW + 0.999, "20231114221320"),
        (0, "19700101000000"),
        (-1, "19691231235959"),
        (calendar.timegm((2000, 2, 29, 1, 2, 3)), "20000229010203"),
        (calendar.timegm((702, 6, 15, 0, 53, 20)), "07020615005320"),  # four year digits
        (calendar.timegm((9999, 12, 31, 23, 59, 59)), "99991231235959"),
        (calendar.timegm((9999, 12, 31, 23, 59, 59)) + 1, "19700101000000"),  # year 10000
        (1e300, "19700101000000"),
        (float("inf"), "19700101000000"),
        (float("nan"), "19700101000000"),
    ],
)
def test_format_mlsx_time(timestamp: float, expected: str) -> None:
    assert format_mlsx_time(timestamp) == expected


@settings(max_examples=200, deadline=None)
@given(timestamp=st.floats(allow_nan=True, allow_infinity=True))
def test_format_mlsx_time_always_fourteen_digits(timestamp: float) -> None:
    value = format_mlsx_time(timestamp)
    assert len(value) == 14
    assert value.isascii()
    assert value.isdigit()


def test_format_mlsx_line_exact() -> None:
    facts = {
        "type": "file",
        "size": "3",
        "modify": "20231114221320",
        "perm": "rwadf",
        "unique": "803g1f",
        "unix.mode": "0644",
        "unix.uid": "1000",
        "unix.gid": "100",
    }
    assert format_mlsx_line("a file.txt", facts, DEFAULT_FACTS) == (
        "type=file;size=3;modify=20231114221320;perm=rwadf;unique=803g1f; a file.txt\r\n"
    )
    assert format_mlsx_line("a", facts, ALL_FACTS) == (
        "type=file;size=3;modify=20231114221320;perm=rwadf;unique=803g1f;"
        "unix.mode=0644;unix.uid=1000;unix.gid=100; a\r\n"
    )


def test_format_mlsx_line_order_and_missing_facts() -> None:
    facts = {"type": "dir", "perm": "el", "modify": "20000101000000"}
    assert format_mlsx_line("d", facts, ["perm", "size", "type"]) == "perm=el;type=dir; d\r\n"
    assert format_mlsx_line("d", facts, []) == " d\r\n"
    assert format_mlsx_line("..", {"type": "pdir"}, ["type"]) == "type=pdir; ..\r\n"


def test_format_mlsx_line_accepts_generator() -> None:
    facts = {"type": "cdir", "size": "0"}
    assert format_mlsx_line(".", facts, (f for f in ("size", "type"))) == "size=0;type=cdir; .\r\n"


@pytest.mark.parametrize(
    ("name", "mode", "expected"),
    [
        (".", 0o040755, "cdir"),
        ("..", 0o040755, "pdir"),
        ("sub", 0o040755, "dir"),
        ("a.txt", 0o100644, "file"),
        ("link", 0o120777, "OS.unix=slink"),
        ("fifo", 0o010644, "file"),
    ],
)
def test_mlsx_type(name: str, mode: int, expected: str) -> None:
    assert mlsx_type(name, mode) == expected


def test_stat_facts_cover_every_fact_but_perm() -> None:
    st = os.stat_result((0o104755, 0x1F, 0x803, 2, 1000, 100, 3, 0, NOW, 0))
    assert set(STAT_FACTS) == set(ALL_FACTS) - {"perm"}
    assert {fact: compute("x", st) for fact, compute in STAT_FACTS.items()} == {
        "type": "file",
        "size": "3",
        "modify": "20231114221320",
        "unique": "803g1f",
        "unix.mode": "4755",
        "unix.uid": "1000",
        "unix.gid": "100",
    }


@pytest.mark.parametrize(
    ("perms", "is_dir", "expected"),
    [
        ("elradfmwMT", False, "rwadf"),
        ("elradfmwMT", True, "elcmpdf"),
        ("elr", False, "r"),
        ("elr", True, "el"),
        ("", False, ""),
        ("", True, ""),
        ("w", True, "c"),
        ("w", False, "w"),
        ("d", True, "pd"),
        ("d", False, "d"),
        ("a", False, "a"),
        ("a", True, ""),
        ("f", True, "f"),
        ("m", False, ""),
        ("MT", False, ""),
        ("MT", True, ""),
    ],
)
def test_mlsx_perm(perms: str, is_dir: bool, expected: str) -> None:
    assert mlsx_perm(perms, is_dir=is_dir) == expected


@settings(max_examples=200, deadline=None)
@given(perms=st.sets(st.sampled_from("elradfmwMT")).map("".join), is_dir=st.booleans())
def test_mlsx_perm_only_rfc_letters(perms: str, is_dir: bool) -> None:
    fact = mlsx_perm(perms, is_dir=is_dir)
    assert set(fact) <= set("acdeflmprw")
    assert len(set(fact)) == len(fact)
    # Order of the input letters never matters.
    assert mlsx_perm(perms[::-1], is_dir=is_dir) == fact


def test_unique_fact() -> None:
    assert unique_fact(2049, 12345) == "801g3039"
    assert unique_fact(0, 0) == "0g0"
    # Hard links (same dev and inode) share the fact; other files do not.
    assert unique_fact(64769, 131) == unique_fact(64769, 131)
    assert unique_fact(64769, 131) != unique_fact(64769, 132)
    assert unique_fact(1, 0x11) != unique_fact(0x11, 1)

"""Log formats (line, JSON, xferlog), configure_logging, and the small helpers
behind the audit lines: error chains, transfer lines, the start line."""

from __future__ import annotations

import io
import json
import logging
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from trioftp._util import error_chain
from trioftp.auditevent import RECORD_ATTRIBUTE, AuditEvent, host_port
from trioftp.handlers import FTPHandler, TLS_FTPHandler
from trioftp.log import logger
from trioftp.logformats import (
    JSONFormatter,
    TransfersOnly,
    XferlogFormatter,
    configure_logging,
)
from trioftp.servers.startline import start_line
from trioftp.session.auditlog import transfer_line
from trioftp.session.events import TransferRecord

CREATED = 1_700_000_000.25  # 2023-11-14 22:13:20.250 UTC

UPLOAD = AuditEvent(
    "transfer",
    7,
    "[::1]:40000",
    "alice",
    command="STOR",
    path="/in box/report.pdf",
    code=226,
    bytes=2048,
    seconds=1.6,
    direction="in",
    completed=True,
    transfer_type="binary",
    anonymous=False,
)


def record(
    msg: str, event: AuditEvent | None = None, level: int = logging.INFO
) -> logging.LogRecord:
    fields: dict[str, object] = {
        "name": "trioftp",
        "msg": msg,
        "levelno": level,
        "levelname": logging.getLevelName(level),
        "created": CREATED,
        "process": 4242,
    }
    if event is not None:
        fields[RECORD_ATTRIBUTE] = event
    return logging.makeLogRecord(fields)


# --- JSON


def test_json_audit_line_has_every_key() -> None:
    line = JSONFormatter().format(record("[::1]:40000-[alice] STOR ...", UPLOAD))
    assert line == (
        '{"time": "2023-11-14T22:13:20.250Z", "level": "INFO", "pid": 4242, "event": "transfer", '
        '"session": 7, "remote": "[::1]:40000", "user": "alice", "command": "STOR", '
        '"path": "/in box/report.pdf", "code": 226, "reason": null, "bytes": 2048, '
        '"seconds": 1.6, "direction": "in", "completed": true, "transfer_type": "binary", '
        '"anonymous": false, "rate": 1280.0, "message": "[::1]:40000-[alice] STOR ..."}'
    )


def test_json_other_lines_are_messages() -> None:
    line = JSONFormatter().format(record("received interrupt signal", level=logging.WARNING))
    assert json.loads(line) == {
        "time": "2023-11-14T22:13:20.250Z",
        "level": "WARNING",
        "pid": 4242,
        "event": "message",
        "message": "received interrupt signal",
    }


def test_json_keys_are_stable_across_events() -> None:
    command = AuditEvent("command", 1, "127.0.0.1:5000", "bob", command="RMD", path="/x", code=550)
    keys = list(json.loads(JSONFormatter().format(record("x", command))))
    assert keys == list(json.loads(JSONFormatter().format(record("x", UPLOAD))))


# --- xferlog


def test_xferlog_line() -> None:
    formatter = XferlogFormatter(localtime=time.gmtime)
    assert formatter.format(record("ignored", UPLOAD)) == (
        "Tue Nov 14 22:13:20 2023 2 ::1 2048 /in_box/report.pdf b _ i r alice ftp 0 * c"
    )


def test_xferlog_incomplete_ascii_anonymous_download() -> None:
    event = AuditEvent(
        "transfer",
        1,
        "192.0.2.7:1234",
        "anonymous",
        command="RETR",
        path="/pub/a\tb.txt",
        code=426,
        reason="Transfer aborted",
        bytes=10,
        seconds=0.2,
        direction="out",
        completed=False,
        transfer_type="ascii",
        anonymous=True,
    )
    assert XferlogFormatter(localtime=time.gmtime).format(record("x", event)) == (
        "Tue Nov 14 22:13:20 2023 0 192.0.2.7 10 /pub/a_b.txt a _ o a anonymous ftp 0 * i"
    )


def test_xferlog_filter_keeps_transfers_only() -> None:
    keep = TransfersOnly()
    command = AuditEvent("command", 1, "127.0.0.1:5000", "bob", command="MKD", path="/x", code=257)
    assert keep.filter(record("x", UPLOAD))
    assert not keep.filter(record("x", command))
    assert not keep.filter(record(">>> starting FTP server"))


# --- configure_logging


@pytest.fixture
def restore_logger() -> Iterator[list[logging.Handler]]:
    """Remove the handlers a test adds to the trioftp logger, and restore its level."""
    added: list[logging.Handler] = []
    level = logger.level
    yield added
    for handler in added:
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(level)


def test_configure_line_format(restore_logger: list[logging.Handler]) -> None:
    stream = io.StringIO()
    restore_logger += configure_logging("line", stream=stream)
    logger.info("127.0.0.1:5000-[bob] MKD /x 257", extra={RECORD_ATTRIBUTE: UPLOAD})
    assert stream.getvalue().endswith("] 127.0.0.1:5000-[bob] MKD /x 257\n")
    assert stream.getvalue().startswith("[I 2")


def test_configure_json_to_a_file(restore_logger: list[logging.Handler], tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    restore_logger += configure_logging("json", path)
    logger.info("one", extra={RECORD_ATTRIBUTE: UPLOAD})
    logger.info("two")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["event"], line["message"]) for line in lines] == [
        ("transfer", "one"),
        ("message", "two"),
    ]


def test_a_log_file_moved_away_is_reopened(
    restore_logger: list[logging.Handler], tmp_path: Path
) -> None:
    """logrotate renames the file; the next line starts a new one."""
    path = tmp_path / "log.jsonl"
    restore_logger += configure_logging("json", path)
    logger.info("before")
    path.rename(tmp_path / "log.jsonl.1")
    logger.info("after")
    assert [json.loads(line)["message"] for line in path.read_text().splitlines()] == ["after"]
    rotated = (tmp_path / "log.jsonl.1").read_text().splitlines()
    assert [json.loads(line)["message"] for line in rotated] == ["before"]


def test_configure_xferlog_writes_transfers_to_the_file(
    restore_logger: list[logging.Handler], tmp_path: Path
) -> None:
    path = tmp_path / "xferlog"
    stream = io.StringIO()
    restore_logger += configure_logging("xferlog", path, stream=stream)
    logger.info("[::1]:40000-[alice] STOR /in box/report.pdf ...", extra={RECORD_ATTRIBUTE: UPLOAD})
    logger.info("not a transfer")
    (line,) = path.read_text().splitlines()
    assert line.endswith(" 2 ::1 2048 /in_box/report.pdf b _ i r alice ftp 0 * c")
    assert "STOR /in box/report.pdf ..." in stream.getvalue()
    assert "not a transfer" in stream.getvalue()


def test_undecodable_names_survive_in_files(
    restore_logger: list[logging.Handler], tmp_path: Path
) -> None:
    """A name kept as surrogates (``surrogateescape``) is escaped, never an error."""
    event = AuditEvent(
        "transfer", 1, "127.0.0.1:5000", "bob", command="RETR", path="/caf\udce9",
        bytes=1, seconds=0.0, direction="out", completed=True, transfer_type="binary",
        anonymous=False,
    )  # fmt: skip
    jsonl = tmp_path / "log.jsonl"
    restore_logger += configure_logging("json", jsonl)
    logger.info("x", extra={RECORD_ATTRIBUTE: event})
    assert json.loads(jsonl.read_text())["path"] == "/caf\udce9"
    xferlog = tmp_path / "xferlog"
    restore_logger += configure_logging("xferlog", xferlog, stream=io.StringIO())
    logger.info("x", extra={RECORD_ATTRIBUTE: event})
    assert " 127.0.0.1 1 /caf\\udce9 b _ o r bob ftp 0 * c\n" in xferlog.read_text()


def test_configure_refuses_bad_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown log format 'yaml'"):
        configure_logging("yaml")
    with pytest.raises(ValueError, match="the xferlog format needs a log file"):
        configure_logging("xferlog")
    with pytest.raises(FileNotFoundError):
        configure_logging("json", tmp_path / "missing" / "log")


# --- helpers


def chained(outer: BaseException, cause: BaseException) -> BaseException:
    """*outer* raised ``from`` *cause*."""
    outer.__cause__ = cause
    return outer


def test_error_chain_names_the_cause_behind_an_empty_wrapper() -> None:
    cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    wrapper = chained(trio.BrokenResourceError(), cause)
    assert str(wrapper) == ""
    assert error_chain(wrapper) == "SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number"


def test_error_chain_keeps_the_outer_text() -> None:
    cause = ConnectionResetError(104, "Connection reset by peer")
    wrapper = chained(trio.BrokenResourceError("the peer went away"), cause)
    assert error_chain(wrapper) == (
        "the peer went away: ConnectionResetError: [Errno 104] Connection reset by peer"
    )
    assert error_chain(trio.TooSlowError()) == "TooSlowError"


def test_transfer_line() -> None:
    done = TransferRecord("RETR", "/srv/a", "/a", False, True, 3000, 1.5)
    assert transfer_line(done) == "RETR /a completed=1 bytes=3000 seconds=1.500 rate=2000B/s"
    failed = TransferRecord(
        "STOR", "/srv/b", "/b", True, False, 0, 0.0, 550, "No space left on device"
    )
    assert transfer_line(failed) == (
        "STOR /b completed=0 bytes=0 seconds=0.000 code=550 reason='No space left on device'"
    )


def test_host_port_brackets_ipv6() -> None:
    assert host_port("::1", 21) == "[::1]:21"
    assert host_port("192.0.2.1", 21) == "192.0.2.1:21"


def test_start_line_names_every_setting() -> None:
    plain = type("Plain", (FTPHandler,), {})
    assert start_line(("127.0.0.1", 2121), 42, plain, workers=1) == (
        ">>> starting FTP server on 127.0.0.1:2121, pid=42 <<< "
        "nat=none passive=any tls=off workers=1"
    )
    tls = type(
        "Behind",
        (TLS_FTPHandler,),
        {"masquerade_address": "203.0.113.5", "passive_ports": list(range(60000, 60101))},
    )
    assert start_line(("::", 21), 7, tls, workers=4) == (
        ">>> starting FTP server on [::]:21, pid=7 <<< "
        "nat=203.0.113.5 passive=60000-60100 tls=explicit workers=4"
    )
    implicit = type("Implicit", (TLS_FTPHandler,), {"tls_implicit": True, "passive_ports": [5, 9]})
    assert start_line(("::1", 990), 1, implicit, workers=1).endswith(
        "nat=none passive=5,9 tls=implicit workers=1"
    )

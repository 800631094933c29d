"""The ``trioftp`` command's logging and metrics options, run as a real subprocess:
``--log-format line|json|xferlog``, ``--log-file`` and ``--metrics HOST:PORT``."""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from ..support.interop import download
from ..support.serverprocess import ServerProcess, running, trioftp_command
from ..support.serverprocess import run_trioftp as run


def upload_and_download(server: ServerProcess) -> int:
    """Log in anonymously, MKD, upload 5 bytes, download hello.txt; the client's port."""
    with server.ftp("anonymous", "me@example.com") as ftp:
        port = int(ftp.sock.getsockname()[1])
        assert ftp.mkd("dir") == "/dir"
        ftp.storbinary("STOR dir/up load.bin", io.BytesIO(b"12345"))
        assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
        ftp.quit()
    return port


def test_start_line_names_nat_passive_range_tls_and_workers(share: Path) -> None:
    with running(trioftp_command("-n", "10.1.2.3", "-r", "60000-60010"), cwd=share) as server:
        server.ftp().quit()  # serving (not still starting) when the signal comes
        stderr = server.stop_cleanly()
    assert (
        f">>> starting FTP server on 127.0.0.1:{server.port}, pid={server.proc.pid} <<< "
        "nat=10.1.2.3 passive=60000-60010 tls=off workers=1\n"
    ) in stderr


def test_line_format_logs_each_file_operation(share: Path) -> None:
    with running(trioftp_command("-w"), cwd=share) as server:
        port = upload_and_download(server)
        stderr = server.stop_cleanly()
    who = f"127.0.0.1:{port}-[anonymous]"
    assert f"] {who} MKD /dir 257\n" in stderr
    assert re.search(
        rf"\] {re.escape(who)} STOR /dir/up load\.bin completed=1 bytes=5 seconds=\d+\.\d{{3}}"
        rf"( rate=\d+B/s)?\n",
        stderr,
    )
    assert re.search(rf"\] {re.escape(who)} RETR /hello\.txt completed=1 bytes=12 seconds=", stderr)


def test_json_log_to_a_file(share: Path, tmp_path: Path) -> None:
    log = tmp_path / "trioftp.jsonl"
    with running(
        trioftp_command("-w", "--log-format", "json", "--log-file", str(log)), cwd=share
    ) as server:
        port = upload_and_download(server)
        stderr = server.stop_cleanly()
    assert stderr == ""  # everything went to the file
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert {record["level"] for record in records} == {"INFO"}
    audit = [record for record in records if record["event"] != "message"]
    remote = f"127.0.0.1:{port}"
    picked = [
        (r["event"], r["remote"], r["user"], r["command"], r["path"], r["code"], r["bytes"])
        for r in audit
    ]
    assert picked == [
        ("connect", remote, "", None, None, None, None),
        ("login", remote, "anonymous", None, None, None, None),
        ("command", remote, "anonymous", "MKD", "/dir", 257, None),
        ("transfer", remote, "anonymous", "STOR", "/dir/up load.bin", 226, 5),
        ("transfer", remote, "anonymous", "RETR", "/hello.txt", 226, 12),
        ("logout", remote, "anonymous", None, None, None, None),
        ("disconnect", remote, "anonymous", None, None, None, None),
    ]
    assert len({r["session"] for r in audit}) == 1
    stor = audit[3]
    assert (stor["direction"], stor["completed"], stor["transfer_type"]) == ("in", True, "binary")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stor["time"])
    messages = [r["message"] for r in records if r["event"] == "message"]
    assert messages[0].startswith(">>> starting FTP server on 127.0.0.1:")
    assert messages[-1] == ">>> FTP server stopped <<<"


def test_xferlog_to_a_file(share: Path, tmp_path: Path) -> None:
    log = tmp_path / "xferlog"
    with running(
        trioftp_command("-w", "--log-format", "xferlog", "--log-file", str(log)), cwd=share
    ) as server:
        upload_and_download(server)
        stderr = server.stop_cleanly()
    date = r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}"
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(
        rf"{date} \d+ 127\.0\.0\.1 5 /dir/up_load\.bin b _ i a anonymous ftp 0 \* c", lines[0]
    ), lines[0]
    assert re.fullmatch(
        rf"{date} \d+ 127\.0\.0\.1 12 /hello\.txt b _ o a anonymous ftp 0 \* c", lines[1]
    ), lines[1]
    # The line log stays on stderr.
    assert "[anonymous] MKD /dir 257" in stderr


def test_metrics_endpoint(share: Path) -> None:
    with running(trioftp_command("--metrics", "127.0.0.1:0"), cwd=share) as server:
        line = server.read_line()
        match = re.fullmatch(
            r"trioftp: Prometheus metrics at (http://127\.0\.0\.1:\d+/metrics)", line
        )
        assert match is not None, line
        with server.ftp("anonymous", "x@y") as ftp:
            assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            assert ftp.sendcmd("NOOP").startswith("200")
            with urllib.request.urlopen(match.group(1), timeout=10) as response:
                text = response.read().decode()
            ftp.quit()
        server.stop_cleanly()
    lines = text.splitlines()
    for sample in [
        "trioftp_sessions 1.0",
        "trioftp_sessions_opened_total 1.0",
        'trioftp_logins_total{outcome="success"} 1.0',
        'trioftp_logins_total{outcome="failure"} 0.0',
        'trioftp_commands_total{code="200",command="NOOP"} 1.0',
        'trioftp_commands_total{code="226",command="RETR"} 1.0',
        'trioftp_transfers_total{direction="sent",outcome="completed"} 1.0',
        'trioftp_transfer_bytes_total{direction="sent",outcome="completed"} 12.0',
        'trioftp_transfer_duration_seconds_count{direction="sent"} 1.0',
    ]:
        assert sample in lines, sample


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--log-format", "xferlog"], "--log-format xferlog needs --log-file"),
        (["--log-format", "yaml"], "invalid choice: 'yaml'"),
        (["--metrics", "9100"], "invalid metrics address '9100'"),
        (["--metrics", "127.0.0.1:70000"], "invalid metrics address '127.0.0.1:70000'"),
    ],
)
def test_bad_logging_options(share: Path, args: list[str], message: str) -> None:
    result = run("-p", "0", *args, cwd=share)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_log_file(share: Path, tmp_path: Path) -> None:
    result = run("-p", "0", "--log-file", str(tmp_path / "missing" / "log"), cwd=share)
    assert result.returncode == 2
    assert result.stderr.rstrip().endswith(
        f"error: can't write the log file '{tmp_path / 'missing' / 'log'}': "
        "No such file or directory"
    )
    assert "Traceback" not in result.stderr


def test_prometheus_client_is_imported_only_for_metrics() -> None:
    code = (
        "import sys, trioftp.cli, trioftp.servers.metrics;print('prometheus_client' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout) == (0, "False\n")


def test_metrics_without_the_extra(share: Path) -> None:
    # As if prometheus-client were not installed: importing it fails.
    code = (
        "import sys; sys.modules['prometheus_client'] = None;"
        "from trioftp.cli import main;"
        "sys.exit(main(['-p', '0', '--metrics', '127.0.0.1:0']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=share,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.endswith(
        "trioftp: can't serve metrics on 127.0.0.1: "
        "metrics need prometheus-client: pip install 'trioftp[metrics]'\n"
    )


def test_metrics_port_in_use(share: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("-p", "0", "--metrics", f"127.0.0.1:{port}", cwd=share)
    assert result.returncode == 1
    assert result.stderr.endswith(
        "trioftp: can't serve metrics on 127.0.0.1: Address already in use\n"
    )
    assert "Traceback" not in result.stderr

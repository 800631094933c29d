"""Interoperability with the ``curl`` command-line client.

Each test runs ``curl -v`` against a server in a thread, checks its exit
status and the exact bytes it downloaded or uploaded, and (from the verbose
trace on stderr) the FTP commands it sent.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from ..support.interop import (
    MTIME,
    curl_commands,
    curl_replies,
    ls_lines,
    make_listing_tree,
    put,
    run_curl,
)
from ..support.servers import PASSWORD, USER, ThreadedServer

DATA = random.Random(2).randbytes(5 * 1024 * 1024 + 3)

# curl exit codes (see "EXIT CODES" in curl(1)).
CURLE_FTP_COULDNT_STOR_FILE = 25
CURLE_QUOTE_ERROR = 21
CURLE_LOGIN_DENIED = 67
CURLE_REMOTE_FILE_NOT_FOUND = 78


class Curl:
    """Runs curl against one server."""

    def __init__(self, binary: str, server: ThreadedServer, workdir: Path) -> None:
        self.binary = binary
        self.server = server
        self.workdir = workdir

    def url(self, path: str = "", *, user: str | None = USER, password: str = PASSWORD) -> str:
        auth = f"{user}:{password}@" if user is not None else ""
        return f"ftp://{auth}{self.server.host}:{self.server.port}/{path}"

    def __call__(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return run_curl(self.binary, *args, cwd=self.workdir, timeout=30)


@pytest.fixture
def curl(curl_binary: str, threaded_server: ThreadedServer, workdir: Path) -> Curl:
    return Curl(curl_binary, threaded_server, workdir)


# --- downloads


def test_download(curl: Curl) -> None:
    put(curl.server.home / "data.bin", DATA)
    out = curl.workdir / "out.bin"
    result = curl(curl.url("data.bin"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == DATA
    assert curl_commands(result)[-2:] == ["SIZE data.bin", "RETR data.bin"]
    assert "EPSV" in curl_commands(result)
    assert "226 Transfer complete." in curl_replies(result)


def test_download_missing_file(curl: Curl) -> None:
    result = curl(curl.url("missing.bin"), "-o", str(curl.workdir / "missing.bin"))
    assert result.returncode == CURLE_REMOTE_FILE_NOT_FOUND
    assert not (curl.workdir / "missing.bin").exists()


def test_ascii_download(curl: Curl) -> None:
    # ";type=a" makes curl send TYPE A. The server sends every line ending as
    # CRLF (a bare LF gains a CR, an existing CRLF stays), and curl turns the
    # CRLFs back into LFs (curl also turns a lone CR into LF, so none here).
    put(curl.server.home / "text.txt", b"dos\r\nunix\n")
    result = curl(curl.url("text.txt;type=a"))
    assert result.returncode == 0, result.stderr
    assert "TYPE A" in curl_commands(result)
    assert result.stdout == b"dos\nunix\n"
    binary = curl(curl.url("text.txt"))
    assert binary.stdout == b"dos\r\nunix\n"


def test_range_download_aborts_the_transfer(curl: Curl) -> None:
    put(curl.server.home / "data.bin", DATA)
    result = curl(curl.url("data.bin"), "-r", "1000-1999")
    assert result.returncode == 0, result.stderr
    assert result.stdout == DATA[1000:2000]
    sent = curl_commands(result)
    assert "REST 1000" in sent
    # curl closes the data connection early and sends ABOR (not as urgent data).
    assert "ABOR" in sent
    assert any(reply.startswith("426 ") for reply in curl_replies(result))


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("multicwd", ["CWD sub", "CWD deeper", "SIZE f.txt", "RETR f.txt"]),
        ("singlecwd", ["CWD sub/deeper", "SIZE f.txt", "RETR f.txt"]),
        ("nocwd", ["SIZE sub/deeper/f.txt", "RETR sub/deeper/f.txt"]),
    ],
)
def test_ftp_method(curl: Curl, method: str, expected: list[str]) -> None:
    (curl.server.home / "sub" / "deeper").mkdir(parents=True)
    put(curl.server.home / "sub" / "deeper" / "f.txt", b"deep\n")
    result = curl("--ftp-method", method, curl.url("sub/deeper/f.txt"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"deep\n"
    relevant = [c for c in curl_commands(result) if c.split(" ")[0] in ("CWD", "SIZE", "RETR")]
    assert relevant == expected


def test_head_uses_mdtm_and_size(curl: Curl) -> None:
    put(curl.server.home / "a.txt", b"hello\n")
    result = curl("-I", curl.url("a.txt"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        b"Last-Modified: Thu, 02 Jan 2020 03:04:05 GMT\r\n"
        b"Content-Length: 6\r\n"
        b"Accept-ranges: bytes\r\n"
    )
    assert "MDTM a.txt" in curl_commands(result)
    assert "RETR a.txt" not in curl_commands(result)


def test_remote_time(curl: Curl) -> None:
    put(curl.server.home / "a.txt", b"dated")
    out = curl.workdir / "a.txt"
    result = curl("-R", curl.url("a.txt"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == b"dated"
    assert out.stat().st_mtime == MTIME


def test_several_files_on_one_connection(curl: Curl) -> None:
    for n in (1, 2, 3):
        put(curl.server.home / f"f{n}.txt", f"file {n}\n".encode() * n)
    result = curl(curl.url("f[1-3].txt"), "-o", "#1.out")
    assert result.returncode == 0, result.stderr
    for n in (1, 2, 3):
        assert (curl.workdir / f"{n}.out").read_bytes() == f"file {n}\n".encode() * n
    assert curl_commands(result).count(f"USER {USER}") == 1  # the connection was reused
    assert [c for c in curl_commands(result) if c.startswith("RETR")] == [
        "RETR f1.txt",
        "RETR f2.txt",
        "RETR f3.txt",
    ]


def test_empty_files(curl: Curl) -> None:
    put(curl.server.home / "empty", b"")
    out = curl.workdir / "downloaded"
    result = curl(curl.url("empty"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == b""
    source = put(curl.workdir / "nothing", b"")
    put(curl.server.home / "replaced", b"old content")
    result = curl("-T", str(source), curl.url("replaced"))
    assert result.returncode == 0, result.stderr
    assert (curl.server.home / "replaced").read_bytes() == b""


# --- uploads


def test_upload(curl: Curl) -> None:
    source = put(curl.workdir / "src.bin", DATA)
    result = curl("-T", str(source), curl.url("up.bin"))
    assert result.returncode == 0, result.stderr
    assert (curl.server.home / "up.bin").read_bytes() == DATA
    assert curl_commands(result)[-1] == "STOR up.bin"


def test_upload_to_directory_url_uses_local_name(curl: Curl) -> None:
    (curl.server.home / "inbox").mkdir()
    source = put(curl.workdir / "letter.txt", b"Dear server,\n")
    result = curl("-T", str(source), curl.url("inbox/"))
    assert result.returncode == 0, result.stderr
    assert (curl.server.home / "inbox" / "letter.txt").read_bytes() == b"Dear server,\n"


@pytest.mark.parametrize("content", [b"one\ntwo\n", b"one\r\ntwo\r\n", b"cr\ronly\nend"])
def test_ascii_upload_round_trips(curl: Curl, content: bytes) -> None:
    # In TYPE A curl turns every LF into CRLF (even one after a CR); the
    # server turns CRLF back into LF: the file arrives unchanged.
    source = put(curl.workdir / "text.txt", content)
    result = curl("-T", str(source), curl.url("text.txt;type=a"))
    assert result.returncode == 0, result.stderr
    assert curl_commands(result)[-2:] == ["TYPE A", "STOR text.txt"]
    assert (curl.server.home / "text.txt").read_bytes() == content


def test_ftp_create_dirs(curl: Curl) -> None:
    source = put(curl.workdir / "src.bin", DATA[:4096])
    result = curl("--ftp-create-dirs", "-T", str(source), curl.url("x/y/z.bin"))
    assert result.returncode == 0, result.stderr
    assert (curl.server.home / "x" / "y" / "z.bin").read_bytes() == DATA[:4096]
    sent = curl_commands(result)
    assert sent.index("MKD x") < sent.index("CWD y") < sent.index("STOR z.bin")
    assert "MKD y" in sent
    # Again: the directories exist now, no MKD needed.
    result = curl("--ftp-create-dirs", "-T", str(source), curl.url("x/y/again.bin"))
    assert result.returncode == 0, result.stderr
    assert not [line for line in curl_commands(result) if line.startswith("MKD")]
    assert (curl.server.home / "x" / "y" / "again.bin").read_bytes() == DATA[:4096]


def test_upload_into_missing_directory_fails_without_create_dirs(curl: Curl) -> None:
    source = put(curl.workdir / "src.bin", b"x")
    result = curl("-T", str(source), curl.url("nowhere/z.bin"))
    assert result.returncode != 0
    assert not (curl.server.home / "nowhere").exists()


# --- resume


def test_resume_download(curl: Curl) -> None:
    put(curl.server.home / "data.bin", DATA)
    out = put(curl.workdir / "data.bin", DATA[:1_000_000])
    result = curl("-C", "-", curl.url("data.bin"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == DATA
    assert "REST 1000000" in curl_commands(result)


def test_resume_upload(curl: Curl) -> None:
    source = put(curl.workdir / "src.bin", DATA)
    remote = put(curl.server.home / "up.bin", DATA[:777_777])
    result = curl("-C", "-", "-T", str(source), curl.url("up.bin"))
    assert result.returncode == 0, result.stderr
    assert remote.read_bytes() == DATA
    # curl asks the size, then appends the rest.
    assert curl_commands(result)[-2:] == ["SIZE up.bin", "APPE up.bin"]


def test_resume_upload_with_explicit_offset(curl: Curl) -> None:
    source = put(curl.workdir / "src.bin", DATA)
    remote = put(curl.server.home / "up.bin", DATA[:4096])
    result = curl("-C", "4096", "-T", str(source), curl.url("up.bin"))
    assert result.returncode == 0, result.stderr
    assert remote.read_bytes() == DATA


# --- active and passive


def test_active_mode_eprt(curl: Curl) -> None:
    put(curl.server.home / "data.bin", DATA)
    result = curl("--ftp-port", "127.0.0.1", curl.url("data.bin"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == DATA
    eprt = [line for line in curl_commands(result) if line.startswith("EPRT")]
    assert len(eprt) == 1
    assert eprt[0].startswith("EPRT |1|127.0.0.1|")
    assert "EPSV" not in curl_commands(result)


def test_active_mode_port_upload(curl: Curl) -> None:
    source = put(curl.workdir / "src.bin", DATA)
    result = curl("-P", "127.0.0.1", "--disable-eprt", "-T", str(source), curl.url("up.bin"))
    assert result.returncode == 0, result.stderr
    assert (curl.server.home / "up.bin").read_bytes() == DATA
    assert [line for line in curl_commands(result) if line.startswith("PORT 127,0,0,1,")]
    assert "EPRT" not in {line.split(" ")[0] for line in curl_commands(result)}


def test_passive_epsv_and_pasv(curl: Curl) -> None:
    put(curl.server.home / "data.bin", DATA)
    result = curl(curl.url("data.bin"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == DATA
    assert "EPSV" in curl_commands(result)
    assert "PASV" not in curl_commands(result)
    result = curl("--disable-epsv", curl.url("data.bin"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == DATA
    assert "PASV" in curl_commands(result)
    assert "EPSV" not in curl_commands(result)
    assert [
        r for r in curl_replies(result) if r.startswith("227 Entering Passive Mode (127,0,0,1,")
    ]


# --- listings


def make_tree(home: Path) -> None:
    make_listing_tree(home, DATA[:1000], "dir")


def test_list_directory(curl: Curl) -> None:
    home = curl.server.home
    make_tree(home)
    result = curl(curl.url())
    assert result.returncode == 0, result.stderr
    # Listings are ASCII: curl turns the server's CRLFs into LFs.
    expected = ls_lines(home / "a.txt", home / "b.bin", home / "dir")
    assert result.stdout.decode() == expected
    assert curl_commands(result)[-1] == "LIST"
    result = curl(curl.url("dir/"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == ls_lines(home / "dir" / "inner.txt")


def test_list_only(curl: Curl) -> None:
    make_tree(curl.server.home)
    result = curl("--list-only", curl.url())
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"a.txt\nb.bin\ndir\n"
    assert curl_commands(result)[-1] == "NLST"


def test_custom_list_command(curl: Curl) -> None:
    make_tree(curl.server.home)
    result = curl("-X", "MLSD", curl.url("dir/"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["inner.txt"]
    assert lines[0].startswith("type=file;size=5;modify=20200102030405;perm=rwadf;unique=")


# --- quote commands


def test_quote_dele(curl: Curl) -> None:
    make_tree(curl.server.home)
    result = curl("-Q", "DELE a.txt", curl.url())
    assert result.returncode == 0, result.stderr
    assert not (curl.server.home / "a.txt").exists()
    assert "250 File removed." in curl_replies(result)
    # The listing that follows no longer shows it.
    assert b"a.txt" not in result.stdout
    assert result.stdout.decode().splitlines()[0].endswith(" b.bin")


def test_quote_commands_before_and_after(curl: Curl) -> None:
    source = put(curl.workdir / "src.bin", b"payload")
    result = curl(
        "-Q",
        "MKD staging",
        "-Q",
        "-RNFR /staging/tmp.bin",
        "-Q",
        "-RNTO /final.bin",
        "-T",
        str(source),
        curl.url("staging/tmp.bin"),
    )
    assert result.returncode == 0, result.stderr
    assert (curl.server.home / "final.bin").read_bytes() == b"payload"
    assert list((curl.server.home / "staging").iterdir()) == []


def test_quote_failure(curl: Curl) -> None:
    result = curl("-Q", "DELE nothing", curl.url())
    assert result.returncode == CURLE_QUOTE_ERROR
    assert any(reply.startswith("550 ") for reply in curl_replies(result))


# --- logins


def test_anonymous_download(curl: Curl) -> None:
    put(curl.server.home / "pub.txt", b"public\n")
    result = curl(curl.url("pub.txt", user=None))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"public\n"
    assert "USER anonymous" in curl_commands(result)


def test_anonymous_upload_refused(curl: Curl) -> None:
    source = put(curl.workdir / "src.bin", b"x")
    result = curl("-T", str(source), curl.url("nope.bin", user=None))
    assert result.returncode == CURLE_FTP_COULDNT_STOR_FILE
    assert "550 Not enough privileges." in curl_replies(result)
    assert not (curl.server.home / "nope.bin").exists()


def test_failed_login(curl: Curl) -> None:
    put(curl.server.home / "a.txt", b"x")
    result = curl(curl.url("a.txt", password="wrong"))
    assert result.returncode == CURLE_LOGIN_DENIED
    assert result.stdout == b""
    assert "530 Authentication failed." in curl_replies(result)


def test_ssl_opportunistic_falls_back_to_plain(curl: Curl) -> None:
    put(curl.server.home / "a.txt", b"still plain\n")
    result = curl("--ssl", curl.url("a.txt"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"still plain\n"
    sent = curl_commands(result)
    assert sent[:3] == ["AUTH SSL", "AUTH TLS", f"USER {USER}"]
    assert [r[:1] for r in curl_replies(result)[1:3]] == ["5", "5"]


def test_ssl_required_fails_cleanly(curl: Curl) -> None:
    # --ssl-reqd on a server without TLS: curl gives up (64: "requested FTP
    # SSL level failed") and the server keeps running.
    result = curl("--ssl-reqd", curl.url("a.txt"))
    assert result.returncode == 64
    put(curl.server.home / "a.txt", b"ok")
    assert curl(curl.url("a.txt")).stdout == b"ok"

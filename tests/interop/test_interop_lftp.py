"""Interoperability with the ``lftp`` command-line client.

Each test runs ``lftp -d -c "...; open ...; <commands>"`` against a server in a
thread with plain FTP (``ftp:ssl-allow no``), one retry and a 10 s network
timeout, and checks its exit status, the exact files on both sides and (from
the ``-d`` trace on stderr) the commands it sent.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ..support.interop import (
    MTIME,
    TREE_DATA,
    assert_ok,
    lftp_commands,
    ls_lines,
    make_mirror_tree,
    put,
    run_lftp,
    snapshot,
)
from ..support.servers import PASSWORD, USER, ThreadedServer

DATA = TREE_DATA  # make_mirror_tree()'s big file: the same bytes


class Lftp:
    """Runs lftp scripts against one server, from a local working directory."""

    def __init__(self, binary: str, server: ThreadedServer, workdir: Path) -> None:
        self.binary = binary
        self.server = server
        self.workdir = workdir

    def __call__(
        self, script: str, *, user: str | None = USER, password: str = PASSWORD
    ) -> subprocess.CompletedProcess[bytes]:
        login = f"-u {user},{password} " if user is not None else ""
        url = f"ftp://{self.server.host}:{self.server.port}"
        return run_lftp(
            self.binary,
            "set ftp:ssl-allow no",
            f"{login}{url}",
            script,
            cwd=self.workdir,
            timeout=30,
        )


def verbs(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    return [line.split(" ", 1)[0] for line in lftp_commands(result)]


@pytest.fixture
def lftp(lftp_binary: str, threaded_server: ThreadedServer, workdir: Path) -> Lftp:
    return Lftp(lftp_binary, threaded_server, workdir)


# --- get and put


def test_get(lftp: Lftp) -> None:
    put(lftp.server.home / "data.bin", DATA)
    result = lftp("get data.bin -o fetched.bin")
    assert_ok(result)
    assert (lftp.workdir / "fetched.bin").read_bytes() == DATA
    assert "RETR data.bin" in lftp_commands(result)
    assert "TYPE I" in lftp_commands(result)


def test_put(lftp: Lftp) -> None:
    source = put(lftp.workdir / "source.bin", DATA)
    result = lftp(f"put {source} -o stored.bin")
    assert_ok(result)
    assert (lftp.server.home / "stored.bin").read_bytes() == DATA
    assert "STOR stored.bin" in lftp_commands(result)
    # lftp then sets the modification time with MFMT.
    assert "MFMT 20200102030405 stored.bin" in lftp_commands(result)
    assert (lftp.server.home / "stored.bin").stat().st_mtime == MTIME


def test_get_missing_file_fails(lftp: Lftp) -> None:
    result = lftp("get missing.bin")
    assert result.returncode == 1
    assert b"550" in result.stderr
    assert not (lftp.workdir / "missing.bin").exists()


# --- mirror


def test_mirror_downloads_a_tree(lftp: Lftp) -> None:
    expected = make_mirror_tree(lftp.server.home / "tree")
    result = lftp("mirror tree copy")
    assert_ok(result)
    assert snapshot(lftp.workdir / "copy") == expected
    assert "MLSD" in verbs(result)


def test_mirror_reverse_uploads_a_tree(lftp: Lftp) -> None:
    expected = make_mirror_tree(lftp.workdir / "local")
    result = lftp("mirror -R local /uploaded")
    assert_ok(result)
    assert snapshot(lftp.server.home / "uploaded") == expected
    sent = lftp_commands(result)
    assert "MKD uploaded" in sent
    assert "MKD two" in sent
    # lftp copies permissions with SITE CHMOD.
    assert any(line.startswith("SITE CHMOD") for line in sent)


def test_mirror_again_transfers_nothing(lftp: Lftp) -> None:
    expected = make_mirror_tree(lftp.server.home / "tree")
    assert_ok(lftp("mirror tree copy"))
    result = lftp("mirror tree copy")
    assert_ok(result)
    assert "RETR" not in verbs(result)
    assert snapshot(lftp.workdir / "copy") == expected


def test_mirror_in_parallel_both_ways(lftp: Lftp) -> None:
    expected = make_mirror_tree(lftp.server.home / "tree")
    result = lftp("mirror --parallel=4 tree copy; mirror -R --parallel=4 copy /back")
    assert_ok(result)
    assert snapshot(lftp.workdir / "copy") == expected
    assert snapshot(lftp.server.home / "back") == expected


def test_pget_segmented_download(lftp: Lftp) -> None:
    # pget splits the file into ranges fetched over several connections.
    put(lftp.server.home / "data.bin", DATA)
    result = lftp("pget -n 4 data.bin -o segmented.bin")
    assert_ok(result)
    assert (lftp.workdir / "segmented.bin").read_bytes() == DATA
    # lftp logs in on extra connections at once; how many segments they get
    # (REST n + RETR, aborted at the segment's end) depends on timing.
    assert lftp_commands(result).count(f"USER {USER}") >= 2
    rests = [int(c.split(" ")[1]) for c in lftp_commands(result) if c.startswith("REST ")]
    assert all(0 < offset < len(DATA) for offset in rests)


# --- listings


def test_ls(lftp: Lftp) -> None:
    home = lftp.server.home
    put(home / "a.txt", b"abc")
    put(home / "dir" / "inner.bin", DATA[:10])
    os.utime(home / "dir", (MTIME, MTIME))
    result = lftp("ls; ls dir")
    assert_ok(result)
    expected = ls_lines(home / "a.txt", home / "dir", home / "dir/inner.bin")
    assert result.stdout.decode() == expected
    assert verbs(result).count("LIST") == 2


def test_cls(lftp: Lftp) -> None:
    home = lftp.server.home
    put(home / "b.txt", b"b")
    put(home / "a.txt", b"a")
    put(home / "dir" / "inner.bin", b"x")
    result = lftp("cls -1; cls -1 dir")
    assert_ok(result)
    assert result.stdout.decode() == "a.txt\nb.txt\ndir/\ndir/inner.bin\n"
    assert "MLSD" in verbs(result)


# --- file operations


def test_mkdir_rm_mv(lftp: Lftp) -> None:
    home = lftp.server.home
    put(home / "old.txt", b"moving")
    put(home / "junk.txt", b"junk")
    put(home / "gone" / "x" / "y.txt", b"y")
    result = lftp(
        "mkdir newdir; mkdir -p deep/er/est; mv old.txt newdir/new.txt; rm junk.txt; rm -r gone"
    )
    assert_ok(result)
    assert snapshot(home) == {
        "deep": None,
        "deep/er": None,
        "deep/er/est": None,
        "newdir": None,
        "newdir/new.txt": b"moving",
    }
    sent = lftp_commands(result)
    assert "MKD newdir" in sent
    assert "RNFR old.txt" in sent
    assert "RNTO newdir/new.txt" in sent
    assert "DELE junk.txt" in sent
    assert "RMD gone" in sent


def test_rm_missing_fails(lftp: Lftp) -> None:
    result = lftp("rm nothing.txt")
    assert result.returncode == 1
    assert b"550" in result.stderr


def test_rmdir_non_empty_fails(lftp: Lftp) -> None:
    put(lftp.server.home / "full" / "f", b"f")
    result = lftp("rmdir full")
    assert result.returncode == 1
    assert (lftp.server.home / "full" / "f").read_bytes() == b"f"


# --- resume


def test_get_continue(lftp: Lftp) -> None:
    put(lftp.server.home / "data.bin", DATA)
    local = put(lftp.workdir / "data.bin", DATA[:123457])
    result = lftp("get -c data.bin")
    assert_ok(result)
    assert local.read_bytes() == DATA
    assert "REST 123457" in lftp_commands(result)


def test_put_continue(lftp: Lftp) -> None:
    source = put(lftp.workdir / "data.bin", DATA)
    remote = put(lftp.server.home / "data.bin", DATA[:654321])
    result = lftp(f"put -c {source}")
    assert_ok(result)
    assert remote.read_bytes() == DATA
    sent = lftp_commands(result)
    assert sent.index("SIZE data.bin") < sent.index("REST 654321") < sent.index("STOR data.bin")


# --- active and passive


@pytest.mark.parametrize(("passive", "command"), [("on", "PASV"), ("off", "PORT")])
def test_passive_and_active(lftp: Lftp, passive: str, command: str) -> None:
    put(lftp.server.home / "data.bin", DATA)
    source = put(lftp.workdir / "up.bin", DATA[:100001])
    result = lftp(
        f"set ftp:passive-mode {passive}; get data.bin -o down.bin; put {source} -o up.bin; cls -1"
    )
    assert_ok(result)
    assert (lftp.workdir / "down.bin").read_bytes() == DATA
    assert (lftp.server.home / "up.bin").read_bytes() == DATA[:100001]
    assert result.stdout == b"data.bin\nup.bin\n"
    used = {verb for verb in verbs(result) if verb in ("PASV", "EPSV", "PORT", "EPRT")}
    assert used == {command}


def test_epsv_when_preferred(lftp: Lftp) -> None:
    put(lftp.server.home / "data.bin", DATA[:5000])
    result = lftp("set ftp:prefer-epsv yes; get data.bin -o down.bin")
    assert_ok(result)
    assert (lftp.workdir / "down.bin").read_bytes() == DATA[:5000]
    assert "EPSV" in verbs(result)


# --- logins


def test_anonymous(lftp: Lftp) -> None:
    put(lftp.server.home / "pub.txt", b"public")
    source = put(lftp.workdir / "up.bin", b"x")
    result = lftp("get pub.txt", user=None)
    assert_ok(result)
    assert (lftp.workdir / "pub.txt").read_bytes() == b"public"
    assert "USER anonymous" in lftp_commands(result)
    result = lftp(f"put {source}", user=None)
    assert result.returncode == 1
    assert b"550" in result.stderr
    assert not (lftp.server.home / "up.bin").exists()


def test_failed_login(lftp: Lftp) -> None:
    result = lftp("ls", password="wrong")
    assert result.returncode == 1
    assert b"Login failed: 530 Authentication failed." in result.stderr
    assert result.stdout == b""

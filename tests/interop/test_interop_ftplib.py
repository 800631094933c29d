"""Interoperability with Python's :mod:`ftplib` against a server in a thread.

Every test checks exact bytes on disk or exact listing content, and where it
matters which commands ftplib sent (PASV/EPSV, PORT/EPRT, REST, ABOR).
"""

from __future__ import annotations

import ftplib
import io
import os
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trioftp.servers import FTPServer

from ..support.interop import MTIME, assert_read_only, ls_line, make_listing_tree, put
from ..support.servers import PASSWORD, USER, ThreadedServer, make_handler, serve_in_thread

MLSX_DATE = "20200102030405"  # MTIME in MLST facts

DATA = random.Random(1).randbytes(3 * 1024 * 1024 + 17)  # not a multiple of any block size
TEXT_LF = b"first line\nsecond line\n\nlast line without newline"


class RecordingFTP(ftplib.FTP):
    """An :class:`ftplib.FTP` that remembers every command it sent."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.sent: list[str] = []
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def putcmd(self, line: str) -> None:
        self.sent.append(line)
        super().putcmd(line)

    def verbs(self) -> list[str]:
        """The command names sent so far (``PASS`` included, its argument not)."""
        return [line.split(" ", 1)[0].upper() for line in self.sent]


def connect(host: str, port: int, user: str = USER, password: str = PASSWORD) -> RecordingFTP:
    ftp = RecordingFTP(timeout=10)
    ftp.connect(host, port)
    ftp.login(user, password)
    return ftp


@pytest.fixture
def ftp(threaded_server: ThreadedServer) -> Iterator[RecordingFTP]:
    """ftplib logged in as user/pass (all permissions) on the threaded server."""
    client = connect(threaded_server.host, threaded_server.port)
    yield client
    client.close()


@pytest.fixture
def ipv6_server(home: Path) -> Iterator[ThreadedServer]:
    """Like ``threaded_server``, listening on ``::1``."""
    if not socket.has_ipv6:
        pytest.fail("this Python has no IPv6 support; the IPv6 interop test needs it")
    with serve_in_thread(FTPServer(("::1", 0), make_handler(home)), home) as running:
        yield running


def retrieve(ftp: ftplib.FTP, command: str, rest: int | None = None) -> bytes:
    chunks: list[bytes] = []
    ftp.retrbinary(command, chunks.append, rest=rest)
    return b"".join(chunks)


# --- downloads and uploads


def test_retrbinary_exact_bytes(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    put(threaded_server.home / "data.bin", DATA)
    assert retrieve(ftp, "RETR data.bin") == DATA
    assert ftp.verbs()[-3:] == ["TYPE", "PASV", "RETR"]
    assert ftp.lastresp == "226"


def test_retrbinary_empty_file(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    put(threaded_server.home / "empty", b"")
    assert retrieve(ftp, "RETR empty") == b""
    assert ftp.lastresp == "226"


def test_retrlines_ascii_converts_lf_to_crlf(
    threaded_server: ThreadedServer, ftp: RecordingFTP
) -> None:
    put(threaded_server.home / "text.txt", TEXT_LF)
    lines: list[str] = []
    assert ftp.retrlines("RETR text.txt", lines.append).startswith("226")
    assert lines == ["first line", "second line", "", "last line without newline"]
    # The raw bytes on the wire in TYPE A: every LF became CRLF.
    ftp.voidcmd("TYPE A")
    with ftp.transfercmd("RETR text.txt") as conn:
        wire = b""
        while chunk := conn.recv(65536):
            wire += chunk
    assert ftp.voidresp().startswith("226")
    assert wire == TEXT_LF.replace(b"\n", b"\r\n")


def test_storbinary_exact_bytes(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    resp = ftp.storbinary("STOR up.bin", io.BytesIO(DATA))
    assert resp == "226 Transfer complete."
    assert (threaded_server.home / "up.bin").read_bytes() == DATA
    # Binary mode leaves CR/LF bytes alone, and STOR replaces a longer file.
    ftp.storbinary("STOR up.bin", io.BytesIO(b"a\r\nb\rc\n"))
    assert (threaded_server.home / "up.bin").read_bytes() == b"a\r\nb\rc\n"


def test_storlines_ascii_stores_native_line_endings(
    threaded_server: ThreadedServer, ftp: RecordingFTP
) -> None:
    # ftplib sends each line with CRLF; the server stores LF.
    resp = ftp.storlines("STOR text.txt", io.BytesIO(b"one\ntwo\r\nthree"))
    assert resp == "226 Transfer complete."
    assert "TYPE A" in ftp.sent
    assert (threaded_server.home / "text.txt").read_bytes() == b"one\ntwo\nthree\n"


def test_large_ascii_round_trip(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    # Enough lines that CRLF pairs straddle the server's read and write chunks.
    rng = random.Random(4)
    lines = ["x" * rng.randrange(0, 200) for _ in range(60000)]
    ftp.storlines("STOR big.txt", io.BytesIO("\n".join(lines).encode() + b"\n"))
    on_disk = (threaded_server.home / "big.txt").read_bytes()
    assert on_disk == "\n".join(lines).encode() + b"\n"
    received: list[str] = []
    ftp.retrlines("RETR big.txt", received.append)
    assert received == lines


def test_stou_creates_a_new_file(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    put(threaded_server.home / "existing", b"keep me")
    ftp.voidcmd("TYPE I")
    with ftp.transfercmd("STOU") as conn:
        conn.sendall(b"unique content")
    assert ftp.voidresp() == "226 Transfer complete."
    created = [p for p in threaded_server.home.iterdir() if p.name != "existing"]
    assert len(created) == 1
    assert created[0].name.startswith("ftpd.")
    assert created[0].read_bytes() == b"unique content"
    assert (threaded_server.home / "existing").read_bytes() == b"keep me"


def test_appe_appends(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    put(threaded_server.home / "log", b"start;")
    ftp.storbinary("APPE log", io.BytesIO(b"more;"))
    ftp.storbinary("APPE new", io.BytesIO(b"created"))
    assert (threaded_server.home / "log").read_bytes() == b"start;more;"
    assert (threaded_server.home / "new").read_bytes() == b"created"


# --- resume


def test_resume_download_with_rest(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    put(threaded_server.home / "data.bin", DATA)
    offset = 1_000_003
    assert retrieve(ftp, "RETR data.bin", rest=offset) == DATA[offset:]
    assert f"REST {offset}" in ftp.sent
    # At exactly the end: nothing more to send, still a success.
    assert retrieve(ftp, "RETR data.bin", rest=len(DATA)) == b""
    assert ftp.lastresp == "226"
    # Past the end: refused.
    with pytest.raises(ftplib.error_perm, match=r"^554 "):
        retrieve(ftp, "RETR data.bin", rest=len(DATA) + 1)


def test_resume_upload_with_rest_stor(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    offset = 1_234_567
    partial = put(threaded_server.home / "partial.bin", DATA[:offset])
    source = io.BytesIO(DATA)
    source.seek(offset)  # ftplib sends REST but reads the file from where it is
    resp = ftp.storbinary("STOR partial.bin", source, rest=offset)
    assert resp == "226 Transfer complete."
    assert f"REST {offset}" in ftp.sent
    assert partial.read_bytes() == DATA


def test_rest_refused_in_ascii_mode(ftp: RecordingFTP) -> None:
    ftp.voidcmd("TYPE A")
    with pytest.raises(ftplib.error_perm, match=r"^501 "):
        ftp.sendcmd("REST 10")


# --- active and passive


def test_active_mode(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    ftp.set_pasv(False)
    put(threaded_server.home / "data.bin", DATA)
    assert retrieve(ftp, "RETR data.bin") == DATA
    ftp.storbinary("STOR copy.bin", io.BytesIO(DATA))
    assert (threaded_server.home / "copy.bin").read_bytes() == DATA
    assert ftp.nlst() == ["copy.bin", "data.bin"]
    assert "PORT" in ftp.verbs()
    assert "PASV" not in ftp.verbs()
    assert "EPSV" not in ftp.verbs()


def test_passive_mode(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    put(threaded_server.home / "data.bin", DATA)
    assert retrieve(ftp, "RETR data.bin") == DATA
    ftp.storbinary("STOR copy.bin", io.BytesIO(DATA))
    assert (threaded_server.home / "copy.bin").read_bytes() == DATA
    assert ftp.verbs().count("PASV") == 2
    assert "PORT" not in ftp.verbs()


def test_epsv_on_ipv4_when_forced(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    put(threaded_server.home / "data.bin", DATA)
    ftp.af = socket.AF_INET6  # makes ftplib use EPSV (the host stays the control peer)
    try:
        assert retrieve(ftp, "RETR data.bin") == DATA
    finally:
        ftp.af = socket.AF_INET
    assert "EPSV" in ftp.verbs()


# --- listings


def make_tree(home: Path) -> None:
    make_listing_tree(home, DATA[:1000], "sub")


def test_nlst(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    make_tree(threaded_server.home)
    assert ftp.nlst() == ["a.txt", "b.bin", "sub"]
    assert ftp.nlst("sub") == ["inner.txt"]
    assert ftp.nlst("a.txt") == ["a.txt"]
    with pytest.raises(ftplib.error_perm, match=r"^550 "):
        ftp.nlst("missing")


def test_dir(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    home = threaded_server.home
    make_tree(home)
    lines: list[str] = []
    ftp.dir(lines.append)
    assert lines == [ls_line(home / "a.txt"), ls_line(home / "b.bin"), ls_line(home / "sub")]
    lines.clear()
    ftp.dir("sub", lines.append)
    assert lines == [ls_line(home / "sub" / "inner.txt")]
    assert ftp.verbs()[-1] == "LIST"


def test_mlsd_facts(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    home = threaded_server.home
    make_tree(home)

    def unique(path: Path) -> str:
        st = path.stat()
        return f"{st.st_dev:x}g{st.st_ino:x}"

    entries = dict(ftp.mlsd())
    assert list(entries) == ["a.txt", "b.bin", "sub"]
    assert entries["a.txt"] == {
        "type": "file",
        "size": "6",
        "modify": MLSX_DATE,
        "perm": "rwadf",
        "unique": unique(home / "a.txt"),
    }
    assert entries["b.bin"]["size"] == "1000"
    assert entries["sub"] == {
        "type": "dir",
        "size": str((home / "sub").stat().st_size),
        "modify": MLSX_DATE,
        "perm": "elcmpdf",
        "unique": unique(home / "sub"),
    }
    # Chosen facts (ftplib sends OPTS MLST first).
    chosen = dict(ftp.mlsd("sub", facts=["type", "size", "unix.mode"]))
    assert "OPTS MLST type;size;unix.mode;" in ftp.sent
    assert chosen["inner.txt"] == {"type": "file", "size": "5", "unix.mode": "0644"}
    assert [name for name in chosen if name not in (".", "..")] == ["inner.txt"]


def test_mlsd_anonymous_perm_is_read_only(threaded_server: ThreadedServer) -> None:
    make_tree(threaded_server.home)
    with connect(threaded_server.host, threaded_server.port, "anonymous", "guest@") as anon:
        entries = dict(anon.mlsd(facts=["type", "perm"]))
    assert entries["a.txt"] == {"type": "file", "perm": "r"}
    assert entries["sub"] == {"type": "dir", "perm": "el"}


# --- commands without a data connection


def test_size(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    put(threaded_server.home / "data.bin", DATA)
    ftp.voidcmd("TYPE I")
    assert ftp.size("data.bin") == len(DATA)
    with pytest.raises(ftplib.error_perm, match=r"^550 "):
        ftp.size("missing")
    ftp.voidcmd("TYPE A")  # like pyftpdlib: SIZE is refused in ASCII mode
    with pytest.raises(ftplib.error_perm, match=r"^550 SIZE not allowed in ASCII mode"):
        ftp.size("data.bin")


def test_directory_and_file_operations(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    home = threaded_server.home
    assert ftp.pwd() == "/"
    assert ftp.mkd("new dir") == "/new dir"
    assert (home / "new dir").is_dir()
    assert ftp.cwd("new dir").startswith("250")
    assert ftp.pwd() == "/new dir"
    ftp.storbinary("STOR f.txt", io.BytesIO(b"content"))
    assert (home / "new dir" / "f.txt").read_bytes() == b"content"
    assert ftp.rename("f.txt", "/g.txt").startswith("250")
    assert not (home / "new dir" / "f.txt").exists()
    assert (home / "g.txt").read_bytes() == b"content"
    assert ftp.sendcmd("CDUP").startswith("250")
    assert ftp.pwd() == "/"
    assert ftp.rmd("new dir").startswith("250")
    assert not (home / "new dir").exists()
    assert ftp.delete("g.txt").startswith("250")
    assert list(home.iterdir()) == []
    # Errors are 550 replies, never crashes.
    with pytest.raises(ftplib.error_perm, match=r"^550 "):
        ftp.delete("g.txt")
    with pytest.raises(ftplib.error_perm, match=r"^550 "):
        ftp.cwd("nowhere")
    with pytest.raises(ftplib.error_perm, match=r"^550 "):
        ftp.rmd("nowhere")
    with pytest.raises(ftplib.error_perm, match=r"^550 "):
        ftp.rename("nothing", "else")
    # The jail: ".." at the root stays at the root.
    assert ftp.cwd("..").startswith("250")
    assert ftp.pwd() == "/"


def test_rmd_of_non_empty_directory_fails(
    threaded_server: ThreadedServer, ftp: RecordingFTP
) -> None:
    make_tree(threaded_server.home)
    with pytest.raises(ftplib.error_perm, match=r"^550 "):
        ftp.rmd("sub")
    assert (threaded_server.home / "sub" / "inner.txt").read_bytes() == b"inner"


def test_retr_missing_file(ftp: RecordingFTP) -> None:
    with pytest.raises(ftplib.error_perm, match=r"^550 "):
        retrieve(ftp, "RETR missing")
    # The session goes on.
    assert ftp.pwd() == "/"


def test_anonymous_is_read_only(threaded_server: ThreadedServer) -> None:
    put(threaded_server.home / "pub.txt", b"public")
    with connect(threaded_server.host, threaded_server.port, "anonymous", "a@b") as anon:
        assert retrieve(anon, "RETR pub.txt") == b"public"
        assert_read_only(anon, existing="pub.txt", new="nope")
    assert sorted(p.name for p in threaded_server.home.iterdir()) == ["pub.txt"]
    assert (threaded_server.home / "pub.txt").read_bytes() == b"public"


def test_failed_login(threaded_server: ThreadedServer) -> None:
    with RecordingFTP(timeout=10) as ftp:
        ftp.connect(threaded_server.host, threaded_server.port)
        with pytest.raises(ftplib.error_perm, match=r"^530 "):
            ftp.login(USER, "wrong")
        assert ftp.login(USER, PASSWORD).startswith("230")


def test_quit(ftp: RecordingFTP) -> None:
    assert ftp.quit() == "221 Goodbye."


# --- ABOR


def test_abort_during_large_retr(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    # A sparse file far bigger than the loopback socket buffers: the transfer
    # is still running when ABOR arrives.
    size = 1 << 30
    with open(threaded_server.home / "huge.bin", "wb") as f:
        f.truncate(size)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR huge.bin")
    try:
        received = conn.recv(65536)
        assert received
        assert set(received) == {0}
        # ftplib sends "ABOR" with MSG_OOB (Telnet IP + Synch as urgent data).
        assert ftp.abort() == "426 Transfer aborted."
    finally:
        conn.close()
    assert ftp.voidresp() == "226 ABOR command successful."
    # The session is usable afterwards, and a new transfer works.
    put(threaded_server.home / "small", b"after abort")
    assert retrieve(ftp, "RETR small") == b"after abort"


def test_abort_during_stor_keeps_received_bytes(
    threaded_server: ThreadedServer, ftp: RecordingFTP
) -> None:
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("STOR partial.bin")
    try:
        conn.sendall(DATA[:100_000])
        # STAT during a transfer reports its progress: wait (without sleeping)
        # until the server has read every byte, so the outcome is exact.
        deadline = time.monotonic() + 10
        while "100000 bytes transmitted" not in ftp.sendcmd("STAT"):
            assert time.monotonic() < deadline, "the server did not read the upload"
        assert ftp.abort() == "426 Transfer aborted, partial file kept (100000 bytes received)."
    finally:
        conn.close()
    assert ftp.voidresp() == "226 ABOR command successful."
    # Like pyftpdlib: what was received before ABOR is on disk (a client can
    # resume from there with REST + STOR).
    assert (threaded_server.home / "partial.bin").read_bytes() == DATA[:100_000]


def test_abort_without_transfer(ftp: RecordingFTP) -> None:
    assert ftp.abort().startswith("225")


# --- IPv6


def test_ipv6_uses_epsv_and_eprt(ipv6_server: ThreadedServer) -> None:
    put(ipv6_server.home / "data.bin", DATA)
    with connect("::1", ipv6_server.port) as ftp:
        assert ftp.af == socket.AF_INET6
        assert retrieve(ftp, "RETR data.bin") == DATA
        ftp.storbinary("STOR passive.bin", io.BytesIO(DATA))
        assert "EPSV" in ftp.verbs()
        assert "PASV" not in ftp.verbs()
        ftp.set_pasv(False)
        assert retrieve(ftp, "RETR data.bin") == DATA
        ftp.storbinary("STOR active.bin", io.BytesIO(DATA[:100]))
        assert ftp.nlst() == ["active.bin", "data.bin", "passive.bin"]
        eprt = [line for line in ftp.sent if line.startswith("EPRT")]
        assert len(eprt) == 3
        assert all(line.startswith("EPRT |2|::1|") for line in eprt)
        assert "PORT" not in ftp.verbs()
        # PASV makes no sense on IPv6: 522 (RFC 2428), as PORT.
        with pytest.raises(ftplib.error_perm, match=r"^522 "):
            ftp.sendcmd("PASV")
    assert (ipv6_server.home / "passive.bin").read_bytes() == DATA
    assert (ipv6_server.home / "active.bin").read_bytes() == DATA[:100]


# --- UTF-8 file names


NFC = "\u00e9t\u00e9.txt"  # "été.txt", precomposed
NFD = "e\u0301te\u0301.txt"  # "été.txt", decomposed


def test_encoding_is_utf8(ftp: RecordingFTP) -> None:
    assert ftp.encoding == "utf-8"
    feat = ftp.sendcmd("FEAT")
    assert " UTF8" in feat.splitlines()


def test_nfc_and_nfd_names_are_distinct_files(
    threaded_server: ThreadedServer, ftp: RecordingFTP
) -> None:
    ftp.storbinary(f"STOR {NFC}", io.BytesIO(b"composed"))
    ftp.storbinary(f"STOR {NFD}", io.BytesIO(b"decomposed"))
    home = threaded_server.home
    on_disk = sorted(os.listdir(os.fsencode(home)))
    assert on_disk == sorted([NFC.encode(), NFD.encode()])
    assert (home / NFC).read_bytes() == b"composed"
    assert (home / NFD).read_bytes() == b"decomposed"
    assert sorted(ftp.nlst()) == sorted([NFC, NFD])
    assert retrieve(ftp, f"RETR {NFC}") == b"composed"
    assert retrieve(ftp, f"RETR {NFD}") == b"decomposed"


def test_non_ascii_names_round_trip(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    home = threaded_server.home
    directory = "Каталог 日本"
    name = "naïve résumé \u2013 ✓ 🐍.txt"
    assert ftp.mkd(directory) == f"/{directory}"
    ftp.cwd(directory)
    assert ftp.pwd() == f"/{directory}"
    ftp.storbinary(f"STOR {name}", io.BytesIO(b"unicode"))
    assert (home / directory / name).read_bytes() == b"unicode"
    assert ftp.nlst() == [name]
    lines: list[str] = []
    ftp.dir(lines.append)
    assert len(lines) == 1
    assert lines[0].endswith(f" {name}")
    assert [entry for entry, _ in ftp.mlsd() if entry not in (".", "..")] == [name]
    assert retrieve(ftp, f"RETR {name}") == b"unicode"
    ftp.voidcmd("TYPE I")
    assert ftp.size(name) == 7
    ftp.rename(name, "ü")
    assert (home / directory / "ü").read_bytes() == b"unicode"


def test_mdtm(threaded_server: ThreadedServer, ftp: RecordingFTP) -> None:
    # MDTM reports the modification time in UTC.
    put(threaded_server.home / "a.txt", b"x")
    assert ftp.sendcmd("MDTM a.txt") == f"213 {MLSX_DATE}"
    assert time.strftime("%Y%m%d%H%M%S", time.gmtime(MTIME)) == MLSX_DATE

"""FTPS (RFC 4217) interoperability: Python's ftplib, curl and lftp against TLS servers.

Every server runs in a thread with a trustme certificate for 127.0.0.1 and
localhost; clients trust the CA file written to the test's directory. The
server's handler records each protected data connection (TLS version, and
whether the client resumed the control connection's TLS session), so the
tests can say what each client really did.
"""

from __future__ import annotations

import ftplib
import io
import os
import random
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from OpenSSL import SSL

import trioftp

from ..support.interop import (
    MTIME,
    assert_ok,
    curl_commands,
    curl_replies,
    download,
    lftp_commands,
    lftp_replies,
    ls_line,
    ls_lines,
    make_mirror_tree,
    put,
    run_curl,
    run_lftp,
    snapshot,
)
from ..support.servers import PASSWORD, USER
from ..support.tls_fixtures import (
    DataConnection,
    TLSFiles,
    TLSServer,
    client_context,
    tls_servers,
    write_tls_files,
)

DATA = random.Random(4217).randbytes(2 * 1024 * 1024 + 11)
TLS13 = DataConnection("TLSv1.3", reused=True)
REFUSED_522 = "522 Data connection must reuse the control connection's TLS session."

# curl exit codes (see "EXIT CODES" in curl(1)).
CURLE_SEND_ERROR = 55
CURLE_PARTIAL_FILE = 18
CURLE_SSL_CONNECT_ERROR = 35
CURLE_PEER_FAILED_VERIFICATION = 60
# What curl sends first with --ssl or --ssl-reqd (explicit FTPS).
CURL_SECURE_LOGIN = ["AUTH SSL", f"USER {USER}", "PASS pass", "PBSZ 0", "PROT P"]

StartServer = Callable[..., TLSServer]


# --- fixtures


@pytest.fixture
def tls_files(tmp_path: Path) -> TLSFiles:
    return write_tls_files(tmp_path / "tls")


@pytest.fixture
def start(home: Path, tls_files: TLSFiles) -> Iterator[StartServer]:
    """``start(**handler_attributes)``: a TLS server in a thread, closed after the test."""
    with tls_servers(home, tls_files) as starter:
        yield starter


@pytest.fixture
def tls_server(start: StartServer) -> TLSServer:
    """A TLS server with default settings (explicit FTPS, binding preferred)."""
    return start()


# --- ftplib


class RecordingFTPS(ftplib.FTP_TLS):
    """``FTP_TLS`` that remembers the commands it sent and its data connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[str] = []
        self.data_tls: list[bool] = []
        super().__init__(*args, **kwargs)

    def putcmd(self, line: str) -> None:
        self.sent.append(line)
        super().putcmd(line)

    def verbs(self) -> list[str]:
        return [line.split(" ", 1)[0].upper() for line in self.sent]

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        conn, size = super().ntransfercmd(cmd, rest)
        self.data_tls.append(isinstance(conn, ssl.SSLSocket))
        return conn, size


class ResumingFTPS(RecordingFTPS):
    """``FTP_TLS`` whose data connections resume the control connection's TLS session."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.resumed: list[bool] = []
        super().__init__(*args, **kwargs)

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            assert isinstance(self.sock, ssl.SSLSocket)
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session
            )
            self.resumed.append(bool(conn.session_reused))
        self.data_tls.append(isinstance(conn, ssl.SSLSocket))
        return conn, size


def ftps_login(
    server: TLSServer, *, cls: type[RecordingFTPS] = RecordingFTPS, passive: bool = True
) -> RecordingFTPS:
    """Connect, AUTH TLS and log in as user/pass."""
    ftp = cls(context=client_context(server.files), timeout=10)
    ftp.connect(server.host, server.port)
    ftp.login(USER, PASSWORD)
    ftp.set_pasv(passive)
    assert isinstance(ftp.sock, ssl.SSLSocket)
    return ftp


def listing(ftp: ftplib.FTP, command: str = "LIST") -> list[str]:
    lines: list[str] = []
    ftp.retrlines(command, lines.append)
    return lines


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_ftplib_protected_transfers(tls_server: TLSServer, passive: bool) -> None:
    home = tls_server.home
    put(home / "listed.txt", b"listed\n")
    with ftps_login(tls_server, passive=passive) as ftp:
        assert ftp.prot_p() == "200 Protection set to Private."
        assert ftp.storbinary("STOR up.bin", io.BytesIO(DATA)) == "226 Transfer complete."
        assert (home / "up.bin").read_bytes() == DATA
        assert download(ftp, "up.bin") == DATA
        put(home / "up.bin", DATA)  # a fixed mtime for the exact LIST line
        assert listing(ftp) == [
            ls_line(home / "listed.txt"),
            ls_line(home / "up.bin"),
        ]
        facts = dict(ftp.mlsd(facts=["type", "size"]))
        assert facts == {
            "listed.txt": {"type": "file", "size": "7"},
            "up.bin": {"type": "file", "size": str(len(DATA))},
        }
        assert ftp.nlst() == ["listed.txt", "up.bin"]
        assert ftp.data_tls == [True] * 5
        used = {verb for verb in ftp.verbs() if verb in ("PASV", "EPSV", "PORT", "EPRT")}
        assert used == ({"PASV"} if passive else {"PORT"})
        assert ftp.verbs()[:4] == ["AUTH", "USER", "PASS", "PBSZ"]
    # ftplib never resumes the control session on data connections.
    assert tls_server.handler.connections == [DataConnection("TLSv1.3", reused=False)] * 5


def test_ftplib_prot_c_transfers_in_clear(tls_server: TLSServer) -> None:
    with ftps_login(tls_server) as ftp:
        ftp.prot_p()
        assert ftp.prot_c() == "200 Protection set to Clear."
        ftp.storbinary("STOR clear.bin", io.BytesIO(DATA[:70000]))
        assert download(ftp, "clear.bin") == DATA[:70000]
        assert ftp.nlst() == ["clear.bin"]
        assert ftp.data_tls == [False] * 3
        assert isinstance(ftp.sock, ssl.SSLSocket)  # the control connection stays protected
    assert (tls_server.home / "clear.bin").read_bytes() == DATA[:70000]
    assert tls_server.handler.connections == []


def test_ftplib_feat_lists_ftps(tls_server: TLSServer) -> None:
    ftp = RecordingFTPS(context=client_context(tls_server.files), timeout=10)
    with ftp:
        ftp.connect(tls_server.host, tls_server.port)
        features = ftp.sendcmd("FEAT").splitlines()[1:-1]
        assert {" AUTH TLS", " AUTH SSL", " PBSZ", " PROT"} <= set(features)


def test_ftplib_resuming_client_under_binding_required(start: StartServer) -> None:
    server = start(tls_data_session_binding="required")
    with ftps_login(server, cls=ResumingFTPS) as ftp:
        assert isinstance(ftp, ResumingFTPS)
        ftp.prot_p()
        ftp.storbinary("STOR bound.bin", io.BytesIO(DATA))
        assert download(ftp, "bound.bin") == DATA
        assert ftp.nlst() == ["bound.bin"]
        ftp.set_pasv(False)
        assert len(listing(ftp)) == 1
        assert ftp.resumed == [True] * 4
    assert (server.home / "bound.bin").read_bytes() == DATA
    assert server.handler.connections == [TLS13] * 4


def test_ftplib_without_resumption_gets_522_under_binding_required(start: StartServer) -> None:
    server = start(tls_data_session_binding="required")
    put(server.home / "a.txt", b"abc")
    with ftps_login(server) as ftp:
        ftp.prot_p()
        for transfer in (lambda: download(ftp, "a.txt"), ftp.nlst):
            # The server completes the handshake, sees no resumption and drops
            # the data connection without close_notify; ftplib's unwrap() of it
            # then fails before it reads the reply (OpenSSL's words for it
            # depend on the Python version: 3.11.2 reports the missing close_notify)...
            with pytest.raises(
                ssl.SSLError, match=r"SHUTDOWN_WHILE_IN_INIT|UNEXPECTED_EOF_WHILE_READING"
            ):
                transfer()
            # ... which is the 522.
            with pytest.raises(ftplib.error_perm, match=f"^{REFUSED_522}$"):
                ftp.getresp()
        # The control connection is still in step and usable.
        assert ftp.pwd() == "/"
        assert ftp.sendcmd("NOOP") == "200 I successfully did nothing."
        assert ftp.data_tls == [True, True]
    # Refused after the handshake: no data connection was handed to a transfer.
    assert server.handler.connections == []


@pytest.fixture(params=["stdlib", "pyopenssl"])
def context_server(
    request: pytest.FixtureRequest, start: StartServer, tls_files: TLSFiles
) -> TLSServer:
    """A TLS server with trioftp's own contexts (certfile) or a pyOpenSSL ``ssl_context``."""
    if request.param == "pyopenssl":
        return start(ssl_context=pyopenssl_context(tls_files))
    return start()


def test_ftplib_ccc_after_login(context_server: TLSServer) -> None:
    put(context_server.home / "a.txt", b"abc")
    with ftps_login(context_server) as ftp:
        ftp.prot_p()
        assert isinstance(ftp.sock, ssl.SSLSocket)
        assert ftp.sock.version() == "TLSv1.3"
        # ftplib answers the server's close_notify with its own.
        assert ftp.ccc() == "200 Clear Command Channel OK."
        assert ftp.sock.version() is None  # unwrapped: clear text from here on
        assert ftp.pwd() == "/"
        assert ftp.mkd("made") == "/made"
        ftp.cwd("made")
        assert ftp.pwd() == "/made"
        ftp.cwd("/")
        # The data connections stay protected (PROT P survives CCC).
        assert download(ftp, "a.txt") == b"abc"
        assert ftp.nlst() == ["a.txt", "made"]
        assert ftp.data_tls == [True, True]
        sent = ftp.verbs()
        assert sent[sent.index("CCC") :][:6] == ["CCC", "PWD", "MKD", "CWD", "PWD", "CWD"]
    assert (context_server.home / "made").is_dir()


# --- curl


class Curl:
    """Runs ``curl -sS -v`` from a working directory."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir

    def __call__(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return run_curl(self.binary, *args, cwd=self.workdir)


def url(server: TLSServer, path: str = "", *, scheme: str = "ftp") -> str:
    return f"{scheme}://{USER}:{PASSWORD}@{server.host}:{server.port}/{path}"


@pytest.fixture
def curl(curl_binary: str, workdir: Path) -> Curl:
    return Curl(curl_binary, workdir)


def curl_round_trip(
    curl: Curl, server: TLSServer, *options: str, scheme: str = "ftp"
) -> tuple[subprocess.CompletedProcess[bytes], subprocess.CompletedProcess[bytes]]:
    """Upload DATA then download it with *options*; exact bytes both ways."""
    source = curl.workdir / "source.bin"
    source.write_bytes(DATA)
    result = curl(*options, "-T", str(source), url(server, "up.bin", scheme=scheme))
    assert_ok(result)
    assert (server.home / "up.bin").read_bytes() == DATA
    assert "226 Transfer complete." in curl_replies(result)
    out = curl.workdir / "down.bin"
    download = curl(*options, url(server, "up.bin", scheme=scheme), "-o", str(out))
    assert_ok(download)
    assert out.read_bytes() == DATA
    return result, download


def test_curl_download_and_upload(curl: Curl, tls_server: TLSServer) -> None:
    source = curl.workdir / "source.bin"
    source.write_bytes(DATA)
    result = curl(
        "--ssl-reqd",
        "--cacert",
        str(tls_server.files.ca),
        "-T",
        str(source),
        url(tls_server, "up.bin"),
    )
    assert_ok(result)
    assert (tls_server.home / "up.bin").read_bytes() == DATA
    # curl sends AUTH SSL first (it would try AUTH TLS next if that were refused).
    assert curl_commands(result)[:5] == CURL_SECURE_LOGIN
    assert curl_replies(result)[1] == "234 AUTH SSL successful."
    assert curl_commands(result)[-1] == "STOR up.bin"
    assert "SSL connection using TLSv1.3" in result.stderr.decode()
    out = curl.workdir / "down.bin"
    result = curl(
        "--ssl-reqd",
        "--cacert",
        str(tls_server.files.ca),
        url(tls_server, "up.bin"),
        "-o",
        str(out),
    )
    assert_ok(result)
    assert out.read_bytes() == DATA
    assert curl_commands(result)[-1] == "RETR up.bin"
    # curl resumes the control connection's session on every data connection.
    assert tls_server.handler.connections == [TLS13, TLS13]


def test_curl_directory_listing(curl: Curl, tls_server: TLSServer) -> None:
    home = tls_server.home
    put(home / "a.txt", b"abc")
    put(home / "dir" / "inner.txt", b"inner")
    os.utime(home / "dir", (MTIME, MTIME))
    ca = str(tls_server.files.ca)
    result = curl("--ssl-reqd", "--cacert", ca, url(tls_server))
    assert_ok(result)
    assert result.stdout.decode() == ls_lines(home / "a.txt", home / "dir")
    assert curl_commands(result)[-1] == "LIST"
    result = curl("--ssl-reqd", "--cacert", ca, "--list-only", url(tls_server, "dir/"))
    assert_ok(result)
    assert result.stdout == b"inner.txt\n"
    assert curl_commands(result)[-1] == "NLST"
    assert tls_server.handler.connections == [TLS13, TLS13]


def test_curl_rejects_a_certificate_from_another_ca(curl: Curl, tls_server: TLSServer) -> None:
    put(tls_server.home / "a.txt", b"secret")
    out = curl.workdir / "a.txt"
    result = curl(
        "--ssl-reqd",
        "--cacert",
        str(tls_server.files.other_ca),
        url(tls_server, "a.txt"),
        "-o",
        str(out),
    )
    assert result.returncode == CURLE_PEER_FAILED_VERIFICATION, result.stderr
    assert not out.exists()
    # curl gave up after the handshake: no credentials were sent.
    assert curl_commands(result) == ["AUTH SSL"]
    # The server is unharmed.
    result = curl("--ssl-reqd", "--cacert", str(tls_server.files.ca), url(tls_server, "a.txt"))
    assert_ok(result)
    assert result.stdout == b"secret"


def test_curl_ssl_upgrades_when_offered(curl: Curl, tls_server: TLSServer) -> None:
    put(tls_server.home / "a.txt", b"upgraded\n")
    result = curl("--ssl", "--cacert", str(tls_server.files.ca), url(tls_server, "a.txt"))
    assert_ok(result)
    assert result.stdout == b"upgraded\n"
    assert curl_commands(result)[:5] == CURL_SECURE_LOGIN
    assert tls_server.handler.connections == [TLS13]


def test_curl_implicit_ftps(curl: Curl, start: StartServer) -> None:
    server = start(tls_implicit=True)
    for result in curl_round_trip(curl, server, "--cacert", str(server.files.ca), scheme="ftps"):
        # TLS from the first byte: no AUTH; curl still sends PBSZ and PROT P.
        assert curl_commands(result)[:4] == [f"USER {USER}", "PASS pass", "PBSZ 0", "PROT P"]
        assert not {"AUTH SSL", "AUTH TLS"} & set(curl_commands(result))
        assert curl_replies(result)[0] == f"220 trioftp {trioftp.__version__} ready."
    assert server.handler.connections == [TLS13, TLS13]


def test_curl_under_binding_required(curl: Curl, start: StartServer) -> None:
    server = start(tls_data_session_binding="required")
    curl_round_trip(curl, server, "--ssl-reqd", "--cacert", str(server.files.ca))
    assert server.handler.connections == [TLS13, TLS13]


@pytest.mark.parametrize("mode", ["passive", "active"])
def test_curl_ccc(curl: Curl, context_server: TLSServer, mode: str) -> None:
    # In passive mode (curl's default) curl does not answer the server's
    # close_notify: its next command follows in clear text at once.
    server = context_server
    put(server.home / "a.txt", b"after ccc")
    result = curl(
        "--ssl-reqd",
        "--ftp-ssl-ccc",
        "--ftp-ssl-ccc-mode",
        mode,
        "--cacert",
        str(server.files.ca),
        url(server, "a.txt"),
    )
    assert_ok(result)
    assert result.stdout == b"after ccc"
    sent = curl_commands(result)
    assert sent[:7] == [*CURL_SECURE_LOGIN, "CCC", "PWD"]
    assert curl_replies(result)[6:8] == [
        "200 Clear Command Channel OK.",
        '257 "/" is the current directory.',
    ]
    assert sent[-1] == "RETR a.txt"
    # The data connection stays protected.
    assert [connection.version for connection in server.handler.connections] == ["TLSv1.3"]


def curl_version(binary: str) -> tuple[int, ...]:
    output = subprocess.run([binary, "--version"], capture_output=True, timeout=60, check=True)
    return tuple(int(part) for part in output.stdout.split()[1].decode().split("."))


def data_commands(result: subprocess.CompletedProcess[bytes]) -> set[str]:
    return {c.split(" ")[0] for c in curl_commands(result)} & {"PASV", "EPSV", "PORT", "EPRT"}


def test_curl_passive_mode(curl: Curl, tls_server: TLSServer) -> None:
    options = ("--ssl-reqd", "--cacert", str(tls_server.files.ca), "--ftp-pasv")
    curl_round_trip(curl, tls_server, *options)
    assert data_commands(curl(*options, url(tls_server, "up.bin"))) == {"EPSV"}
    assert tls_server.handler.connections == [TLS13] * 3


def test_curl_active_mode(curl: Curl, curl_binary: str, start: StartServer) -> None:
    server = start()
    options = ("--ssl-reqd", "--cacert", str(server.files.ca), "--ftp-port", "127.0.0.1")
    if not (7, 87) <= curl_version(curl_binary) < (8, 0):
        curl_round_trip(curl, server, *options)
        assert data_commands(curl(*options, url(server, "up.bin"))) == {"EPRT"}
        assert server.handler.connections == [TLS13] * 3
        return
    # curl 7.87 and 7.88 forget TLS on active data connections (curl issue
    # 10666, fixed in 8.0.0): the upload goes out in clear text under PROT P.
    # The server must refuse it, and never store it.
    source = curl.workdir / "source.bin"
    source.write_bytes(DATA[:300000])
    result = curl(*options, "-T", str(source), url(server, "up.bin"))
    # curl either reads the 425 first (18) or fails writing into the closed
    # data connection before it does (55): a race inside curl.
    assert result.returncode in (CURLE_PARTIAL_FILE, CURLE_SEND_ERROR), result.stderr
    assert data_commands(result) == {"EPRT"}
    replies = curl_replies(result)
    assert not any(reply.startswith("226") for reply in replies), replies
    if result.returncode == CURLE_PARTIAL_FILE:
        assert replies[-1] == "425 TLS negotiation on the data connection failed."
    assert not (server.home / "up.bin").exists()
    assert server.handler.connections == []


# --- lftp


class Lftp:
    """Runs ``lftp -d -c`` scripts against one server, trusting the test CA."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir

    def __call__(self, server: TLSServer, script: str) -> subprocess.CompletedProcess[bytes]:
        settings = (
            f"set ssl:ca-file {server.files.ca}; set ftp:ssl-force yes; "
            "set ftp:ssl-protect-data yes"
        )
        target = f"-u {USER},{PASSWORD} ftp://{server.host}:{server.port}"
        return run_lftp(self.binary, settings, target, script, cwd=self.workdir, timeout=60)


@pytest.fixture
def lftp(lftp_binary: str, workdir: Path) -> Lftp:
    return Lftp(lftp_binary, workdir)


@pytest.fixture
def strict_server(start: StartServer) -> TLSServer:
    """TLS required on both channels."""
    return start(tls_control_required=True, tls_data_required=True)


@pytest.mark.parametrize(("passive", "command"), [("on", "PASV"), ("off", "PORT")])
def test_lftp_get_and_put(lftp: Lftp, strict_server: TLSServer, passive: str, command: str) -> None:
    put(strict_server.home / "data.bin", DATA)
    source = put(lftp.workdir / "source.bin", DATA[:123457])
    result = lftp(
        strict_server,
        f"set ftp:passive-mode {passive}; get data.bin -o fetched.bin; put {source} -o stored.bin",
    )
    assert_ok(result)
    used = {c.split(" ")[0] for c in lftp_commands(result)} & {"PASV", "EPSV", "PORT", "EPRT"}
    assert used == {command}
    assert (lftp.workdir / "fetched.bin").read_bytes() == DATA
    assert (strict_server.home / "stored.bin").read_bytes() == DATA[:123457]
    sent = lftp_commands(result)
    assert sent.index("AUTH TLS") < sent.index(f"USER {USER}")
    assert sent.index("PBSZ 0") < sent.index("PROT P") < sent.index("RETR data.bin")
    assert "STOR stored.bin" in sent
    # lftp (GnuTLS) resumes the control session on its data connections, with TLS 1.3.
    assert strict_server.handler.connections == [TLS13, TLS13]


def test_lftp_mirror_both_ways(lftp: Lftp, strict_server: TLSServer) -> None:
    expected = make_mirror_tree(strict_server.home / "tree")
    result = lftp(strict_server, "mirror tree copy; mirror -R copy /back")
    assert_ok(result)
    assert snapshot(lftp.workdir / "copy") == expected
    assert snapshot(strict_server.home / "back") == expected
    assert "MLSD" in [line.split(" ")[0] for line in lftp_commands(result)]
    files = sum(1 for content in expected.values() if content is not None)
    connections = strict_server.handler.connections
    # Every file crossed twice; listings add more data connections.
    assert len(connections) > 2 * files
    assert connections == [TLS13] * len(connections)


def test_lftp_tls13_uploads_arrive_intact(lftp: Lftp, strict_server: TLSServer) -> None:
    sizes = {"zero.bin": 0, "one.bin": 1, "hundred-k.bin": 100_000, "five-m.bin": 5_000_000}
    rng = random.Random(13)
    contents = {name: rng.randbytes(size) for name, size in sizes.items()}
    for name, content in contents.items():
        (lftp.workdir / name).write_bytes(content)
    script = "; ".join(f"put {name}" for name in sizes)
    result = lftp(strict_server, script)
    assert_ok(result)
    for name, content in contents.items():
        assert (strict_server.home / name).read_bytes() == content, name
    assert [c for c in lftp_commands(result) if c.startswith("STOR ")] == [
        f"STOR {name}" for name in sizes
    ]
    assert lftp_replies(result).count("226 Transfer complete.") == len(sizes)
    assert strict_server.handler.connections == [TLS13] * len(sizes)


def test_lftp_under_binding_required(lftp: Lftp, start: StartServer) -> None:
    # lftp resumes the control session, so binding does not get in its way.
    server = start(
        tls_control_required=True, tls_data_required=True, tls_data_session_binding="required"
    )
    put(server.home / "data.bin", DATA)
    source = put(lftp.workdir / "source.bin", DATA[:5000])
    result = lftp(server, f"get data.bin -o fetched.bin; put {source} -o stored.bin; cls -1")
    assert_ok(result)
    assert (lftp.workdir / "fetched.bin").read_bytes() == DATA
    assert (server.home / "stored.bin").read_bytes() == DATA[:5000]
    assert result.stdout == b"data.bin\nstored.bin\n"
    assert REFUSED_522 not in lftp_replies(result)
    assert server.handler.connections == [TLS13] * 3


# --- a pyOpenSSL context


def pyopenssl_context(files: TLSFiles) -> SSL.Context:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate_chain_file(str(files.certfile))
    context.use_privatekey_file(str(files.keyfile))
    context.set_options(SSL.OP_NO_SSLv2 | SSL.OP_NO_SSLv3)
    return context


def test_pyopenssl_context_with_ftplib(start: StartServer, tls_files: TLSFiles) -> None:
    server = start(ssl_context=pyopenssl_context(tls_files))
    with ftps_login(server) as ftp:
        ftp.prot_p()
        ftp.storbinary("STOR up.bin", io.BytesIO(DATA))
        assert (server.home / "up.bin").read_bytes() == DATA
        assert download(ftp, "up.bin") == DATA
        assert ftp.nlst() == ["up.bin"]
        assert ftp.data_tls == [True] * 3
    assert server.handler.connections == [DataConnection("TLSv1.3", reused=False)] * 3


def test_pyopenssl_context_with_curl(curl: Curl, start: StartServer, tls_files: TLSFiles) -> None:
    server = start(ssl_context=pyopenssl_context(tls_files))
    curl_round_trip(curl, server, "--ssl-reqd", "--cacert", str(tls_files.ca))
    versions = [connection.version for connection in server.handler.connections]
    assert versions == ["TLSv1.3", "TLSv1.3"]


# --- old clients


def test_curl_with_tls_1_0_or_1_1_is_refused(curl: Curl, tls_server: TLSServer) -> None:
    put(tls_server.home / "a.txt", b"abc")
    result = curl(
        "--ssl-reqd",
        "--tlsv1.0",
        "--tls-max",
        "1.1",
        "--ciphers",
        "DEFAULT:@SECLEVEL=0",
        "--cacert",
        str(tls_server.files.ca),
        url(tls_server, "a.txt"),
    )
    assert result.returncode == CURLE_SSL_CONNECT_ERROR, result.stderr
    assert result.stdout == b""
    # curl did offer TLS 1.1 (its highest allowed); the server refused it with
    # the protocol_version alert and ended the connection.
    assert "* TLSv1.1 (OUT), TLS handshake, Client hello (1):" in result.stderr.decode()
    assert "alert protocol version" in result.stderr.decode()
    assert curl_commands(result) == ["AUTH SSL"]


def old_client_context(files: TLSFiles, version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client context pinned to *version*, with OpenSSL's floor lowered so it can offer it."""
    context = client_context(files)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = context.maximum_version = version
    return context


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["TLSv1.0", "TLSv1.1"]
)
def test_old_tls_versions_are_refused(
    tls_server: TLSServer, tls_files: TLSFiles, version: ssl.TLSVersion
) -> None:
    context = old_client_context(tls_files, version)
    # The client can speak that version: a server that allows it completes the handshake.
    assert permissive_handshake(context, tls_files) == version_name(version)
    ftp = ftplib.FTP_TLS(context=context, timeout=10)
    ftp.connect(tls_server.host, tls_server.port)
    # The server refuses the ClientHello with the protocol_version alert
    # OpenSSL prepared, and drops the connection.
    with pytest.raises(ssl.SSLError, match="TLSV1_ALERT_PROTOCOL_VERSION"):
        ftp.auth()
    ftp.close()
    # The server keeps serving modern clients.
    with ftps_login(tls_server) as modern:
        assert modern.pwd() == "/"


def version_name(version: ssl.TLSVersion) -> str:
    return {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}[version]


def permissive_handshake(client: ssl.SSLContext, files: TLSFiles) -> str:
    """Handshake *client* with a bare server that allows TLS 1.0; return the version."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.minimum_version = ssl.TLSVersion.TLSv1
    server_context.set_ciphers("DEFAULT:@SECLEVEL=0")
    server_context.load_cert_chain(str(files.certfile), str(files.keyfile))
    listener = socket.create_server(("127.0.0.1", 0))
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with server_context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with (
            socket.create_connection(listener.getsockname(), timeout=10) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            version = tls.version()
            tls.sendall(b"x")
    finally:
        thread.join(10)
        listener.close()
    assert not errors, errors
    assert version is not None
    return version


# --- tls_strict_eof: real clients end their uploads with close_notify


def test_clients_upload_under_strict_eof(start: StartServer, curl: Curl, lftp: Lftp) -> None:
    server = start(tls_strict_eof=True)
    with ftps_login(server) as ftp:
        assert ftp.prot_p() == "200 Protection set to Private."
        assert ftp.storbinary("STOR ftplib.bin", io.BytesIO(DATA)) == "226 Transfer complete."
    source = put(curl.workdir / "source.bin", DATA)
    result = curl(
        "--ssl-reqd", "--cacert", str(server.files.ca), "-T", str(source), url(server, "curl.bin")
    )
    assert_ok(result)
    assert "226 Transfer complete." in curl_replies(result)
    result = lftp(server, f"put {source} -o lftp.bin")
    assert_ok(result)
    assert "226 Transfer complete." in lftp_replies(result)
    for name in ("ftplib.bin", "curl.bin", "lftp.bin"):
        assert (server.home / name).read_bytes() == DATA, name

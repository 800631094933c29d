"""Virtual hosts with real clients: ``trioftp --sites FILE`` driven by curl and lftp.

curl sends no ``HOST`` command, so it reaches a site only by TLS server name
(SNI, ``--resolve NAME:PORT:127.0.0.1``); lftp sends ``HOST <name of the
URL>`` when FEAT lists HOST, and SNI under TLS. Each site serves a file of
its own; the tests compare the exact bytes each client downloads.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import trustme

from ..support.interop import (
    assert_ok,
    curl_commands,
    lftp_commands,
    lftp_replies,
    run_curl,
    run_lftp,
)
from ..support.serverprocess import ServerProcess, running, trioftp_command

DEFAULT_BYTES = b"the default site\n"
A_BYTES = b"site A: \x00\x01\xfe\xff\r\n" * 500
LOCAL_BYTES = b"the site called localhost\n"
CURLE_SSL_CONNECT_ERROR = 35


@attrs.frozen
class Sites:
    """A sites file, its directories' files and the certificates, under one directory."""

    directory: Path
    sites_file: Path
    ca: Path
    default_cert: Path
    default_key: Path


def _pem(leaf: trustme.LeafCert, directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return cert, key


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Sites:
    directory = tmp_path_factory.mktemp("vhosts")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    default_cert, default_key = _pem(ca.issue_cert("127.0.0.1"), directory, "default")
    _pem(ca.issue_cert("a.example", "ftp.a.example"), directory, "a")
    _pem(ca.issue_cert("localhost"), directory, "local")
    for name, content in (("share", DEFAULT_BYTES), ("a", A_BYTES), ("local", LOCAL_BYTES)):
        (directory / name).mkdir()
        (directory / name / "file.bin").write_bytes(content)
    sites_file = directory / "sites.toml"
    sites_file.write_text(
        """\
[[site]]
name = "a.example"
aliases = ["ftp.a.example"]
directory = "a"
banner = "Site A."
certfile = "a.pem"
keyfile = "a.key"

[[site]]
name = "localhost"
directory = "local"
username = "lou"
password = "secret"
certfile = "local.pem"
keyfile = "local.key"
"""
    )
    return Sites(directory, sites_file, directory / "ca.pem", default_cert, default_key)


@pytest.fixture(scope="module")
def server(sites: Sites) -> Iterator[ServerProcess]:
    """``trioftp --sites`` with a default site (anonymous, ``share``) and explicit FTPS."""
    args = ["-d", str(sites.directory / "share"), "--sites", str(sites.sites_file)]
    args += ["--certfile", str(sites.default_cert), "--keyfile", str(sites.default_key)]
    with running(trioftp_command(*args), cwd=sites.directory) as process:
        yield process


def curl(
    binary: str, server: ServerProcess, sites: Sites, name: str, *options: str
) -> subprocess.CompletedProcess[bytes]:
    """curl for ``ftp://NAME:PORT/file.bin`` with NAME resolved to the server."""
    return run_curl(
        binary,
        "--resolve",
        f"{name}:{server.port}:127.0.0.1",
        "--cacert",
        str(sites.ca),
        *options,
        f"ftp://{name}:{server.port}/file.bin",
        cwd=sites.directory,
    )


def test_the_command_line_lists_the_sites(server: ServerProcess) -> None:
    assert server.read_line() == "site a.example, ftp.a.example"
    assert server.read_line() == "site localhost"


@pytest.mark.parametrize("name", ["a.example", "FTP.A.Example"])
def test_curl_reaches_a_site_by_sni(
    curl_binary: str, server: ServerProcess, sites: Sites, name: str
) -> None:
    result = curl(curl_binary, server, sites, name, "--ssl-reqd")
    assert_ok(result)
    assert result.stdout == A_BYTES
    assert "HOST" not in " ".join(curl_commands(result))  # curl sends no HOST
    # curl checked the certificate against the name: site A's certificate.
    assert f'subjectaltname: host "{name.lower()}" matched' in result.stderr.decode().lower()


def test_curl_implicit_ftps_reaches_a_site_by_sni(curl_binary: str, sites: Sites) -> None:
    args = ["-d", str(sites.directory / "share"), "--sites", str(sites.sites_file)]
    args += ["--certfile", str(sites.default_cert), "--keyfile", str(sites.default_key)]
    with running(trioftp_command(*args, "--tls-implicit"), cwd=sites.directory) as implicit:
        assert implicit.scheme == "ftps"
        result = run_curl(
            curl_binary,
            "--resolve",
            f"a.example:{implicit.port}:127.0.0.1",
            "--cacert",
            str(sites.ca),
            f"ftps://a.example:{implicit.port}/file.bin",
            cwd=sites.directory,
        )
        assert_ok(result)
        assert result.stdout == A_BYTES
        # The greeting after the handshake is the site's: SNI chose it.
        assert "< 220 Site A." in result.stderr.decode()


def test_curl_without_tls_gets_the_default_site(
    curl_binary: str, server: ServerProcess, sites: Sites
) -> None:
    result = curl(curl_binary, server, sites, "a.example")
    assert_ok(result)
    assert result.stdout == DEFAULT_BYTES


def test_lftp_sends_host_for_its_site(
    lftp_binary: str, server: ServerProcess, sites: Sites
) -> None:
    result = run_lftp(
        lftp_binary,
        "set ftp:ssl-allow no",
        f"-u lou,secret ftp://localhost:{server.port}",
        "cat file.bin",
        cwd=sites.directory,
        timeout=60,
    )
    assert_ok(result)
    assert result.stdout == LOCAL_BYTES
    commands = lftp_commands(result)
    assert commands.index("HOST localhost") < commands.index("USER lou")
    assert "220 trioftp" in " ".join(lftp_replies(result))


def test_lftp_over_tls_with_sni_and_host(
    lftp_binary: str, server: ServerProcess, sites: Sites
) -> None:
    result = run_lftp(
        lftp_binary,
        f"set ssl:ca-file {sites.ca}; set ftp:ssl-force yes; set ftp:ssl-protect-data yes",
        f"-u lou,secret ftp://localhost:{server.port}",
        "cat file.bin",
        cwd=sites.directory,
        timeout=60,
    )
    assert_ok(result)
    assert result.stdout == LOCAL_BYTES
    commands = lftp_commands(result)
    assert commands.index("AUTH TLS") < commands.index("USER lou")
    assert "HOST localhost" in commands


def test_strict_sni_refuses_unknown_names(curl_binary: str, sites: Sites) -> None:
    args = ["-d", str(sites.directory / "share"), "--sites", str(sites.sites_file)]
    args += ["--certfile", str(sites.default_cert), "--keyfile", str(sites.default_key)]
    with running(trioftp_command(*args, "--tls-strict-sni"), cwd=sites.directory) as strict:
        refused = curl(curl_binary, strict, sites, "unknown.example", "--ssl-reqd", "-k")
        assert refused.returncode == CURLE_SSL_CONNECT_ERROR, refused.stderr
        accepted = curl(curl_binary, strict, sites, "a.example", "--ssl-reqd")
        assert_ok(accepted)
        assert accepted.stdout == A_BYTES


def test_a_bad_sites_file_is_a_one_line_error(tmp_path: Path) -> None:
    sites_file = tmp_path / "sites.toml"
    sites_file.write_text("[[site]]\nname = 'x.example'\ndirectory = 'nope'\n")
    result = subprocess.run(
        trioftp_command("--sites", str(sites_file)),
        capture_output=True,
        cwd=tmp_path,
        timeout=30,
        check=False,
        env={**os.environ},
    )
    assert result.returncode == 2
    assert result.stderr.decode().splitlines()[-1] == (
        f"trioftp: error: {sites_file}: site 1 (x.example): "
        f"no such directory: {str(tmp_path / 'nope')!r}"
    )

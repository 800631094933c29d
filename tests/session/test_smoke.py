"""The shared fixtures work: a session over loopback, a threaded server with ftplib."""

from __future__ import annotations

import ftplib
import io

from ..support.ftpclient import FTPClient
from ..support.servers import RunningServer, ThreadedServer


async def test_login_and_download(server: RunningServer, client: FTPClient) -> None:
    (server.home / "a.txt").write_bytes(b"hello\n")
    assert (await client.cmd("TYPE I")).code == 200
    data, reply = await client.retr("a.txt")
    assert data == b"hello\n"
    assert reply.first == "226 Transfer complete."


def test_ftplib_round_trip(threaded_server: ThreadedServer) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect(threaded_server.host, threaded_server.port)
        ftp.login("user", "pass")
        ftp.storbinary("STOR up.bin", io.BytesIO(b"\x00\x01" * 1000))
        assert (threaded_server.home / "up.bin").read_bytes() == b"\x00\x01" * 1000
        assert ftp.quit().startswith("221")

"""A transfer command checks its file before its data connection (as pyftpdlib does).

With no PASV/EPSV/PORT/EPRT sent, a missing file, a missing permission or a
bad REST marker is the answer, not ``425``; a command that would succeed
gets ``425`` and changes nothing on disk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from ..support.ftpclient import FTPClient
from ..support.servers import RunningServer

NO_ENDPOINT = "425 Use PORT/EPRT or PASV/EPSV first."


async def test_file_problems_come_before_the_missing_data_connection(
    server: RunningServer, client: FTPClient
) -> None:
    (server.home / "f.bin").write_bytes(b"0123456789")
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("RETR missing.bin")).first == "550 No such file or directory."
    assert (await client.cmd("REST 11")).code == 350
    assert (await client.cmd("RETR f.bin")).first == (
        "554 Invalid REST parameter: position 11 > file size 10."
    )
    assert (await client.cmd("REST 11")).code == 350
    assert (await client.cmd("STOR f.bin")).first == (
        "554 Invalid REST parameter: position 11 > file size 10."
    )
    assert (await client.cmd("REST 10")).code == 350
    assert (await client.cmd("STOR missing.bin")).first == "550 No such file or directory."
    assert (await client.cmd("STOR no-dir/f.bin")).first == "550 No such directory."
    # Each refusal used the marker up; a good command meets the missing connection.
    assert (await client.cmd("RETR f.bin")).first == NO_ENDPOINT
    assert (await client.cmd("STOR new.bin")).first == NO_ENDPOINT
    assert (await client.cmd("STOU")).first == NO_ENDPOINT
    assert sorted(path.name for path in server.home.iterdir()) == ["f.bin"]
    assert (server.home / "f.bin").read_bytes() == b"0123456789"


async def test_stou_without_permission_is_refused_before_the_data_connection(
    start_server: Callable[..., Awaitable[RunningServer]], home: Path
) -> None:
    server = await start_server(perm="elr")
    client = await server.client()
    assert (await client.cmd("STOU")).first == "550 Not enough privileges."
    assert (await client.cmd("STOU name")).first == "550 Not enough privileges."
    assert list(home.iterdir()) == []
    await client.aclose()

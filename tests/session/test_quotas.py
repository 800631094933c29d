"""Per-user quotas: bytes and files, checked before and during uploads; exact replies and bytes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio.testing

from trioftp.session.runner import InlineRunner
from trioftp.userfile import UsersFileAuthorizer

from ..support.ftpclient import FTPClient
from ..support.servers import RunningServer
from ..support.users import user_table, users_file

StartServer = Callable[..., Awaitable[RunningServer]]


def quota_user(tmp_path: Path, home: Path, **limits: int) -> UsersFileAuthorizer:
    text = user_table("q", home, "pw", perm='"elradfmw"') + "[users.q.limits]\n"
    text += "".join(f"{key} = {value}\n" for key, value in limits.items())
    return UsersFileAuthorizer(users_file(tmp_path / "users.toml", text))


async def login(server: RunningServer) -> FTPClient:
    client, _ = await FTPClient.connect(server.host, server.port)
    assert (await client.login("q", "pw")).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    return client


async def test_byte_quota_before_and_during_uploads(
    start_server: StartServer, home: Path, tmp_path: Path
) -> None:
    (home / "old.bin").write_bytes(b"o" * 30)  # counted at login
    server = await start_server(authorizer=quota_user(tmp_path, home, quota_bytes=100))
    client = await login(server)
    assert (await client.stor("a.bin", b"a" * 50)).first == "226 Transfer complete."
    # 80 used: an upload of 50 stops at the quota; what fits is kept.
    assert (await client.stor("b.bin", b"b" * 50)).first == (
        "552 Disk quota exceeded; transfer aborted, partial file kept (50 bytes received)."
    )
    assert (home / "b.bin").read_bytes() == b"b" * 20
    # At the quota, uploads are refused before they start.
    assert (await client.stor("c.bin", b"c")).first == "552 Quota exceeded: 100 of 100 bytes used."
    assert (await client.stor("a.bin", b"c", command="APPE")).code == 552
    assert not (home / "c.bin").exists()
    # DELE frees what it removes.
    assert (await client.cmd("DELE old.bin")).code == 250
    assert (await client.stor("c.bin", b"c" * 30)).code == 226
    assert (await client.stor("d.bin", b"d")).first == "552 Quota exceeded: 100 of 100 bytes used."
    # A rename over a file frees the file it replaces (a.bin: 50 bytes).
    assert (await client.cmd("RNFR c.bin")).code == 350
    assert (await client.cmd("RNTO a.bin")).code == 250
    # 50 used: appending counts only what grows; overwriting first frees the old size.
    assert (await client.stor("a.bin", b"+" * 10, command="APPE")).code == 226
    assert (await client.stor("b.bin", b"B" * 40)).code == 226  # 20 bytes replaced by 40
    assert (await client.stor("e.bin", b"e" * 25)).first == (
        "552 Disk quota exceeded; transfer aborted, partial file kept (25 bytes received)."
    )
    assert (home / "e.bin").read_bytes() == b"e" * 20
    assert (home / "a.bin").read_bytes() == b"c" * 30 + b"+" * 10
    assert (home / "b.bin").read_bytes() == b"B" * 40
    assert sum(path.stat().st_size for path in home.iterdir()) == 100


async def test_rest_stor_counts_only_what_grows(
    start_server: StartServer, home: Path, tmp_path: Path
) -> None:
    (home / "part.bin").write_bytes(b"p" * 60)
    server = await start_server(authorizer=quota_user(tmp_path, home, quota_bytes=100))
    client = await login(server)
    assert (await client.cmd("REST 50")).code == 350
    # Bytes 50-59 are rewritten, 60-99 grow the file to the quota, the rest is refused.
    assert (await client.stor("part.bin", b"r" * 60)).first == (
        "552 Disk quota exceeded; transfer aborted, partial file kept (60 bytes received)."
    )
    assert (home / "part.bin").read_bytes() == b"p" * 50 + b"r" * 50


async def test_file_quota(start_server: StartServer, home: Path, tmp_path: Path) -> None:
    (home / "old.bin").write_bytes(b"o")
    server = await start_server(authorizer=quota_user(tmp_path, home, quota_files=2))
    client = await login(server)
    assert (await client.stor("new.bin", b"n")).code == 226
    assert (await client.stor("other.bin", b"x")).first == "552 Quota exceeded: 2 of 2 files."
    assert (await client.cmd("STOU")).first == "552 Quota exceeded: 2 of 2 files."
    # Replacing a file creates none.
    assert (await client.stor("new.bin", b"N" * 10)).code == 226
    assert (await client.cmd("DELE old.bin")).code == 250
    data_stream = await client.pasv()
    preliminary = await client.cmd("STOU")
    assert preliminary.first.startswith("125 FILE: ftpd.")
    await data_stream.send_all(b"unique")
    await data_stream.aclose()
    assert (await client.reply()).code == 226
    unique = home / preliminary.first.removeprefix("125 FILE: ")
    assert sorted(home.iterdir()) == sorted([home / "new.bin", unique])
    assert unique.read_bytes() == b"unique"
    assert (await client.stor("third.bin", b"x")).first == "552 Quota exceeded: 2 of 2 files."


async def test_usage_is_counted_once_and_shared_by_the_users_sessions(
    start_server: StartServer, home: Path, tmp_path: Path
) -> None:
    server = await start_server(authorizer=quota_user(tmp_path, home, quota_bytes=100))
    first = await login(server)
    assert (await first.stor("one.bin", b"1" * 60)).code == 226
    # Written behind the server's back: not seen while the user has a session open.
    (home / "outside.bin").write_bytes(b"x" * 30)
    second = await login(server)
    assert (await second.stor("two.bin", b"2" * 50)).first == (
        "552 Disk quota exceeded; transfer aborted, partial file kept (50 bytes received)."
    )
    assert (home / "two.bin").read_bytes() == b"2" * 40
    assert (await first.stor("three.bin", b"3")).first == (
        "552 Quota exceeded: 100 of 100 bytes used."
    )
    # Once every session of the user has ended, the next login counts again.
    for client in (first, second):
        assert (await client.cmd("QUIT")).code == 221
        assert await client.at_eof()
    third = await login(server)
    assert (await third.stor("four.bin", b"4")).first == (
        "552 Quota exceeded: 130 of 100 bytes used."
    )


@pytest.mark.parametrize("limit", ["quota_bytes", "quota_files"])
async def test_users_without_quota_are_not_counted(
    start_server: StartServer, home: Path, tmp_path: Path, limit: str
) -> None:
    server = await start_server(authorizer=quota_user(tmp_path, home, **{limit: 0}))
    client = await login(server)
    for index in range(3):
        assert (await client.stor(f"{index}.bin", b"z" * 1000)).code == 226


async def test_an_unused_stou_file_is_removed_and_uncounted(
    start_server: StartServer,
    home: Path,
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
) -> None:
    (home / "old.bin").write_bytes(b"o")
    server = await start_server(
        runner=InlineRunner(),
        data_connect_timeout=5,
        authorizer=quota_user(tmp_path, home, quota_files=2),
    )
    client = await login(server)
    assert (await client.cmd("PASV")).code == 227  # and never connect
    assert (await client.cmd("STOU")).first.startswith("150 FILE: ftpd.")
    assert (await client.reply()).first == "425 Can't open data connection."
    assert sorted(path.name for path in home.iterdir()) == ["old.bin"]
    # The file STOU made and removed is not counted: one more file fits.
    assert (await client.stor("new.bin", b"n")).code == 226
    assert (await client.stor("more.bin", b"m")).first == "552 Quota exceeded: 2 of 2 files."

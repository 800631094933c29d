"""Permissions lost in the middle of a session: 550 for what is now forbidden, the session goes on.

The tests may run as root, for whom ``chmod 000`` changes nothing
(``CAP_DAC_OVERRIDE``): the server runs on ``mode_bits_fs``, which checks
the permission bits as the kernel does for an ordinary owner. The bits are
changed with a real ``chmod`` between two commands.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import pytest

from ..support.faults import mode_bits_fs
from ..support.servers import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

DENIED = "550 Permission denied."
DENIED_UPLOAD = "550 Permission denied; transfer aborted."


@pytest.fixture
async def revocable(start_server: StartServer) -> RunningServer:
    server = await start_server(abstracted_fs=mode_bits_fs())
    (server.home / "sub").mkdir()
    (server.home / "sub" / "f.txt").write_bytes(b"readable until revoked")
    (server.home / "g.txt").write_bytes(b"a file in the home")
    return server


async def test_directory_chmod_000_between_commands(revocable: RunningServer) -> None:
    sub = revocable.home / "sub"
    client = await revocable.client()
    listing, reply = await client.listing("NLST", "sub")
    assert (listing, reply.code) == ("f.txt\r\n", 226)
    os.chmod(sub, 0o000)
    try:
        assert (await client.cmd("CWD sub")).first == DENIED
        assert (await client.cmd("PWD")).first == '257 "/" is the current directory.'
        data, reply = await client.retr("sub/f.txt")
        assert (data, reply.first) == (b"", DENIED)
        assert (await client.stor("sub/new.txt", b"x")).first == DENIED_UPLOAD
        assert (await client.cmd("MKD sub/dir")).first == DENIED
        assert (await client.cmd("DELE sub/f.txt")).first == DENIED
        listing, reply = await client.listing("NLST", "sub")
        assert (listing, reply.first) == ("", DENIED)
        # Nothing changed on disk; the rest of the home is still served.
        assert sorted(os.listdir(sub)) == ["f.txt"]
        data, reply = await client.retr("g.txt")
        assert (data, reply.first) == (b"a file in the home", "226 Transfer complete.")
    finally:
        os.chmod(sub, 0o755)
    # Given back, it works again in the same session.
    assert (await client.cmd("CWD sub")).first == '250 "/sub" is the current directory.'
    data, reply = await client.retr("f.txt")
    assert data == b"readable until revoked"
    await client.aclose()


async def test_cwd_revoked_while_inside(revocable: RunningServer) -> None:
    """The working directory itself loses its permissions: commands in it fail, CDUP works."""
    client = await revocable.client()
    assert (await client.cmd("CWD sub")).code == 250
    os.chmod(revocable.home / "sub", 0o000)
    try:
        listing, reply = await client.listing("NLST")
        assert (listing, reply.first) == ("", DENIED)
        data, reply = await client.retr("f.txt")
        assert (data, reply.first) == (b"", DENIED)
        assert (await client.cmd("CDUP")).first == '250 "/" is the current directory.'
        listing, reply = await client.listing("NLST")
        assert sorted(listing.split()) == ["g.txt", "sub"]
    finally:
        os.chmod(revocable.home / "sub", 0o755)
    await client.aclose()


async def test_file_made_unreadable_between_commands(revocable: RunningServer) -> None:
    client = await revocable.client()
    os.chmod(revocable.home / "g.txt", 0o200)
    data, reply = await client.retr("g.txt")
    assert (data, reply.first) == (b"", DENIED)
    assert (await client.stor("g.txt", b"still writable")).first == "226 Transfer complete."
    os.chmod(revocable.home / "g.txt", 0o644)
    assert (revocable.home / "g.txt").read_bytes() == b"still writable"
    await client.aclose()

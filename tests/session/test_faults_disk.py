"""A disk that fills up during an upload: a failure reply, never 226, and the partial file kept.

The upload stores what fits; the reply says how many bytes were received and
that the partial file is kept (as for any failed upload: the client may
resume it with REST/APPE, or delete it). Two disks: a wrapper filesystem
(``full_disk_fs``: ``ENOSPC``, and ``EDQUOT`` for a quota) and, when the
tests may mount filesystems (root with ``CAP_SYS_ADMIN``), a real 1 MiB tmpfs.
"""

from __future__ import annotations

import errno
import gc
import os
import random
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from trioftp.authorizers import DummyAuthorizer

from ..support.faults import full_disk_fs
from ..support.ftpclient import FTPClient, Reply
from ..support.servers import PASSWORD, USER, RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

FREE = 100_000  #: bytes the wrapper disk has left


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def recorder(events: list[tuple[str, str]]) -> dict[str, Any]:
    def record(kind: str) -> Callable[[Any, str], None]:
        return lambda _session, path: events.append((kind, os.path.basename(path)))

    return {
        "on_file_received": record("received"),
        "on_incomplete_file_received": record("incomplete received"),
    }


async def upload(client: FTPClient, command: str, data: bytes) -> Reply:
    """Upload over PASV, tolerating a server that stops reading early; the final reply."""
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd(command)).code in (125, 150)
    try:
        await stream.send_all(data)
        await stream.aclose()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the server gave up on the upload first
    with trio.fail_after(10):
        reply = await client.reply()
    await stream.aclose()
    return reply


@pytest.mark.parametrize(
    ("error", "reply"),
    [
        (errno.ENOSPC, "452 No space left on device; transfer aborted, partial file kept"),
        (errno.EDQUOT, "552 Disk quota exceeded; transfer aborted, partial file kept"),
    ],
)
@pytest.mark.parametrize("command", ["STOR", "APPE"])
async def test_disk_full_during_upload(
    start_server: StartServer, error: int, reply: str, command: str
) -> None:
    events: list[tuple[str, str]] = []
    disconnected = trio.Event()
    server = await start_server(
        abstracted_fs=full_disk_fs(FREE, error),
        on_disconnect=lambda _session: disconnected.set(),
        **recorder(events),
    )
    before = b"existing content\n"
    (server.home / "up.bin").write_bytes(before)
    sent = random.Random(0).randbytes(3 * FREE)
    fds = open_fds()
    client = await server.client()
    final = await upload(client, f"{command} up.bin", sent)
    assert final.first.startswith(reply + " ("), final
    received = int(final.first.rsplit("(", 1)[1].split()[0])
    assert FREE <= received <= len(sent)
    # What fit is on disk, in order: a partial file (after the old content for APPE).
    kept = (before if command == "APPE" else b"") + sent[:FREE]
    assert (server.home / "up.bin").read_bytes() == kept
    assert events == [("incomplete received", "up.bin")]
    # The session goes on; freeing space is the operator's business, a DELE works.
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.cmd("DELE up.bin")).code == 250
    await client.aclose()
    with trio.fail_after(10):
        await disconnected.wait()
    assert open_fds() <= fds


# --- a real full filesystem


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for the test (as root: the tests using it say so)."""
    mountpoint = tmp_path / "tmpfs"
    mountpoint.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.mark.skipif(
    os.geteuid() != 0,
    reason="mounting a tmpfs needs root; the full_disk_fs wrapper covers the logic",
)
@pytest.mark.parametrize("command", ["STOR", "APPE"])
async def test_real_tmpfs_full_during_upload(
    start_server: StartServer, tiny_tmpfs: Path, command: str
) -> None:
    events: list[tuple[str, str]] = []
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(tiny_tmpfs), perm="elradfmwMT")
    server = await start_server(authorizer=authorizer, **recorder(events))
    sent = random.Random(1).randbytes(3 * 1024 * 1024)  # three times the filesystem
    client = await server.client()
    final = await upload(client, f"{command} up.bin", sent)
    assert final.first.startswith(
        "452 No space left on device; transfer aborted, partial file kept ("
    ), final
    kept = (tiny_tmpfs / "up.bin").read_bytes()
    assert 0 < len(kept) <= 1024 * 1024
    assert kept == sent[: len(kept)]  # what fit, in order
    assert events == [("incomplete received", "up.bin")]
    # Once space is freed, uploads complete again.
    assert (await client.cmd("DELE up.bin")).code == 250
    assert (await client.stor("small.bin", b"fits now")).first == "226 Transfer complete."
    assert (tiny_tmpfs / "small.bin").read_bytes() == b"fits now"
    await client.aclose()


async def test_disk_full_during_atomic_upload_leaves_the_target_alone(
    start_server: StartServer,
) -> None:
    """With ``atomic_uploads`` what fit stays in the user's hidden partial file (to resume)."""
    events: list[tuple[str, str]] = []
    server = await start_server(
        abstracted_fs=full_disk_fs(FREE), atomic_uploads=True, **recorder(events)
    )
    (server.home / "up.bin").write_bytes(b"previous version\n")
    sent = random.Random(2).randbytes(3 * FREE)
    client = await server.client()
    final = await upload(client, "STOR up.bin", sent)
    assert final.first.startswith(
        "452 No space left on device; transfer aborted, partial file kept ("
    ), final
    assert (server.home / "up.bin").read_bytes() == b"previous version\n"
    [partial] = [path for path in server.home.iterdir() if path.name != "up.bin"]
    assert partial.name.startswith(".trioftp-partial.")
    assert partial.read_bytes() == sent[:FREE]
    assert events == [("incomplete received", partial.name)]
    listing, _ = await client.listing("NLST")
    assert listing.split() == ["up.bin"]
    await client.aclose()

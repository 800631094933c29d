"""Atomic, resumable uploads (``atomic_uploads = True``): partial files, resume, expiry."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel

from trioftp.dtp import DTPHandler
from trioftp.filesystems import AbstractedFS
from trioftp.session.partials import PARTIAL_PREFIX, remove_expired, resumable_partial
from trioftp.session.runner import InlineRunner
from trioftp.session.state import SessionState

from ..support.ftpclient import FTPClient, wait_transmitted
from ..support.servers import USER, RunningServer
from .test_abort_and_faults import (
    ABOR_OK,
    DONE,
    Hooks,
    failing_fs,
    random_bytes,
    reset,
    start_stor,
)

StartServer = Callable[..., Awaitable[RunningServer]]

OLD = b"the previous version\n"
MISSING = "550 No such file or directory."


def partials(directory: Path) -> list[Path]:
    """The partial files in *directory*."""
    return sorted(path for path in directory.iterdir() if path.name.startswith(PARTIAL_PREFIX))


def resumable(home: Path, name: str, user: str = USER) -> Path:
    return Path(resumable_partial(str(home / name), user))


async def start_atomic(start_server: StartServer, **attributes: Any) -> RunningServer:
    return await start_server(atomic_uploads=True, **attributes)


async def binary_client(server: RunningServer) -> FTPClient:
    """A logged-in client in TYPE I."""
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    return client


async def abort_upload(client: FTPClient, name: str, sent: bytes) -> None:
    """Start STOR of *name*, send *sent*, then ABOR: ``426`` and ``226``."""
    stream = await start_stor(client, name, sent)
    await client.send("ABOR")
    with trio.fail_after(10):
        aborted = (await client.reply()).first
        assert aborted == (f"426 Transfer aborted, partial file kept ({len(sent)} bytes received).")
        assert (await client.reply()).first == ABOR_OK
    await stream.aclose()


async def test_complete_upload_replaces_the_target(start_server: StartServer) -> None:
    hooks = Hooks()
    server = await start_atomic(start_server, **hooks.attributes())
    target = server.home / "up.bin"
    target.write_bytes(OLD)
    target.chmod(0o640)
    new = random_bytes(3 * 1024 * 1024)
    client = await binary_client(server)
    assert (await client.stor("up.bin", new)).first == DONE
    assert target.read_bytes() == new
    assert target.stat().st_mode & 0o777 == 0o640  # the replaced file's permission bits
    assert partials(server.home) == []
    assert hooks.events == [("received", str(target))]
    assert (await client.cmd("SIZE up.bin")).first == f"213 {len(new)}"
    await client.aclose()


async def test_on_file_received_sees_the_file_in_place(start_server: StartServer) -> None:
    seen: list[tuple[str, bytes, list[Path]]] = []

    def on_file_received(session: Any, path: str) -> None:
        seen.append((path, Path(path).read_bytes(), partials(Path(path).parent)))

    server = await start_atomic(start_server, on_file_received=on_file_received)
    (server.home / "up.bin").write_bytes(OLD)
    client = await binary_client(server)
    assert (await client.stor("up.bin", b"new version")).first == DONE
    assert seen == [(str(server.home / "up.bin"), b"new version", [])]
    await client.aclose()


async def test_abor_keeps_the_old_version_and_the_partial(start_server: StartServer) -> None:
    hooks = Hooks()
    server = await start_atomic(start_server, **hooks.attributes())
    target = server.home / "up.bin"
    target.write_bytes(OLD)
    sent = random_bytes(300_000)
    client = await binary_client(server)
    reader = await binary_client(server)
    stream = await start_stor(client, "up.bin", sent)
    # While the upload runs, the previous version is what readers get.
    assert target.read_bytes() == OLD
    data, reply = await reader.retr("up.bin")
    assert (data, reply.first) == (OLD, DONE)
    assert (await reader.cmd("SIZE up.bin")).first == f"213 {len(OLD)}"
    await client.send("ABOR")
    with trio.fail_after(10):
        assert (await client.reply()).first == (
            "426 Transfer aborted, partial file kept (300000 bytes received)."
        )
        assert (await client.reply()).first == ABOR_OK
    await stream.aclose()
    assert target.read_bytes() == OLD
    partial = resumable(server.home, "up.bin")
    assert partials(server.home) == [partial]
    assert partial.read_bytes() == sent
    # on_incomplete_file_received names the partial, never the previous version.
    assert hooks.events == [("sent", str(target)), ("incomplete received", str(partial))]
    # SIZE tells the uploader what arrived; everyone else sees the target.
    assert (await client.cmd("SIZE up.bin")).first == "213 300000"
    anonymous = await server.client(login=False)
    assert (await anonymous.login("anonymous", "guest@")).code == 230
    assert (await anonymous.cmd("TYPE I")).code == 200
    assert (await anonymous.cmd("SIZE up.bin")).first == f"213 {len(OLD)}"
    data, reply = await anonymous.retr("up.bin")
    assert (data, reply.first) == (OLD, DONE)
    for each in (client, reader, anonymous):
        await each.aclose()


@pytest.mark.parametrize("how", ["REST+STOR", "APPE"])
async def test_resume_after_abor(start_server: StartServer, how: str) -> None:
    hooks = Hooks()
    server = await start_atomic(start_server, **hooks.attributes())
    target = server.home / "up.bin"
    target.write_bytes(OLD)
    whole = random_bytes(1_000_000, seed=3)
    client = await binary_client(server)
    await abort_upload(client, "up.bin", whole[:400_000])
    assert (await client.cmd("SIZE up.bin")).first == "213 400000"
    if how == "APPE":
        reply = await client.stor("up.bin", whole[400_000:], command="APPE")
    else:
        assert (await client.cmd("REST 400000")).first == "350 Restarting at position 400000."
        reply = await client.stor("up.bin", whole[400_000:])
    assert reply.first == DONE
    assert target.read_bytes() == whole
    assert partials(server.home) == []
    partial = str(resumable(server.home, "up.bin"))
    assert hooks.events == [("incomplete received", partial), ("received", str(target))]
    assert (await client.cmd("SIZE up.bin")).first == "213 1000000"
    await client.aclose()


async def test_rest_inside_the_partial_cuts_it_there(start_server: StartServer) -> None:
    server = await start_atomic(start_server)
    whole = random_bytes(500_000, seed=4)
    client = await binary_client(server)
    await abort_upload(client, "up.bin", whole[:300_000])
    assert (await client.cmd("REST 100000")).code == 350
    assert (await client.stor("up.bin", whole[100_000:])).first == DONE
    assert (server.home / "up.bin").read_bytes() == whole
    await client.aclose()


async def test_rest_past_the_partial_is_refused(start_server: StartServer) -> None:
    server = await start_atomic(start_server)
    (server.home / "up.bin").write_bytes(b"x" * 1_000_000)  # bigger than the partial
    client = await binary_client(server)
    await abort_upload(client, "up.bin", b"y" * 1000)
    assert (await client.cmd("REST 1001")).code == 350
    reply = await client.stor("up.bin", b"z")
    assert reply.first == "554 Invalid REST parameter: offset 1001 is past the end."
    assert resumable(server.home, "up.bin").read_bytes() == b"y" * 1000
    await client.aclose()


async def test_fresh_stor_replaces_an_older_partial(start_server: StartServer) -> None:
    server = await start_atomic(start_server)
    client = await binary_client(server)
    await abort_upload(client, "up.bin", b"a" * 5000)
    assert (await client.stor("up.bin", b"fresh")).first == DONE  # no REST: starts over
    assert (server.home / "up.bin").read_bytes() == b"fresh"
    assert partials(server.home) == []
    assert (await client.cmd("SIZE up.bin")).first == "213 5"
    # A fresh upload that breaks again becomes the partial a resume continues.
    await abort_upload(client, "up.bin", b"b" * 700)
    assert (await client.cmd("SIZE up.bin")).first == "213 700"
    # One that breaks before any byte arrived keeps nothing, and says so.
    stream = await start_stor(client, "up.bin", b"")
    await client.send("ABOR")
    assert (await client.reply()).first == "426 Transfer aborted."
    assert (await client.reply()).first == ABOR_OK
    await stream.aclose()
    assert (await client.cmd("SIZE up.bin")).first == "213 700"
    assert partials(server.home) == [resumable(server.home, "up.bin")]
    await client.aclose()


async def test_resume_without_partial_continues_the_target_atomically(
    start_server: StartServer,
) -> None:
    """APPE or REST with no partial: the target's bytes are copied into a new partial first."""
    server = await start_atomic(start_server)
    target = server.home / "log.txt"
    target.write_bytes(b"line 1\nline 2\n")
    client = await binary_client(server)
    assert (await client.cmd("SIZE log.txt")).first == "213 14"
    assert (await client.stor("log.txt", b"line 3\n", command="APPE")).first == DONE
    assert target.read_bytes() == b"line 1\nline 2\nline 3\n"
    assert (await client.cmd("REST 7")).code == 350
    assert (await client.stor("log.txt", b"LINE 2\n")).first == DONE
    assert target.read_bytes() == b"line 1\nLINE 2\n"
    assert (await client.stor("new.txt", b"created", command="APPE")).first == DONE
    assert (server.home / "new.txt").read_bytes() == b"created"
    assert partials(server.home) == []
    await client.aclose()


async def test_data_connection_reset_keeps_the_partial(start_server: StartServer) -> None:
    server = await start_atomic(start_server)
    target = server.home / "up.bin"
    target.write_bytes(OLD)
    sent = random_bytes(100_000)
    client = await binary_client(server)
    stream = await start_stor(client, "up.bin", sent)
    reset(stream)
    with trio.fail_after(10):
        reply = await client.reply()
    assert reply.code in (426, 451), reply
    assert reply.text.endswith("partial file kept (100000 bytes received).")
    assert target.read_bytes() == OLD
    assert resumable(server.home, "up.bin").read_bytes() == sent
    await client.aclose()


async def test_client_vanishing_keeps_the_partial(start_server: StartServer) -> None:
    hooks = Hooks()
    server = await start_atomic(start_server, **hooks.attributes())
    target = server.home / "up.bin"
    target.write_bytes(OLD)
    client = await binary_client(server)
    stream = await start_stor(client, "up.bin", b"partial upload")
    reset(stream)
    reset(client.stream)
    await hooks.wait_disconnect()
    assert target.read_bytes() == OLD
    partial = resumable(server.home, "up.bin")
    assert partial.read_bytes() == b"partial upload"
    assert hooks.events == [("incomplete received", str(partial))]
    # The same user, in a new session, resumes it.
    again = await binary_client(server)
    assert (await again.cmd("SIZE up.bin")).first == "213 14"
    assert (await again.stor("up.bin", b", finished", command="APPE")).first == DONE
    assert target.read_bytes() == b"partial upload, finished"
    await again.aclose()


async def test_quit_then_hang_up_completes_the_upload(start_server: StartServer) -> None:
    """RFC 959: a client that sent QUIT gets its transfer finished."""
    hooks = Hooks()
    server = await start_atomic(start_server, **hooks.attributes())
    client = await binary_client(server)
    stream = await start_stor(client, "up.bin", b"whole file")
    await client.send("QUIT")
    await client.stream.aclose()
    await stream.aclose()
    await hooks.wait_disconnect()
    target = server.home / "up.bin"
    assert hooks.events == [("received", str(target))]
    assert target.read_bytes() == b"whole file"
    assert partials(server.home) == []


async def test_stalled_upload_keeps_the_partial(
    start_server: StartServer, autojump_clock: trio.testing.MockClock
) -> None:
    class Impatient(DTPHandler):
        timeout = 20

    server = await start_atomic(start_server, runner=InlineRunner(), dtp_handler=Impatient)
    (server.home / "up.bin").write_bytes(OLD)
    client = await binary_client(server)
    stream = await start_stor(client, "up.bin", b"first part")
    assert (await client.reply()).first == (
        "426 Data connection timed out; transfer aborted, partial file kept (10 bytes received)."
    )
    assert (server.home / "up.bin").read_bytes() == OLD
    assert resumable(server.home, "up.bin").read_bytes() == b"first part"
    await stream.aclose()
    await client.aclose()


async def test_failed_write_keeps_the_target(start_server: StartServer) -> None:
    server = await start_atomic(start_server, abstracted_fs=failing_fs(errno.ENOSPC, "write"))
    (server.home / "up.bin").write_bytes(OLD)
    client = await binary_client(server)
    stream = await client.pasv()
    assert (await client.cmd("STOR up.bin")).code in (125, 150)
    try:
        await stream.send_all(random_bytes(100))
        await stream.aclose()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    with trio.fail_after(10):
        reply = await client.reply()
    assert reply.first == "452 No space left on device; transfer aborted."
    assert (server.home / "up.bin").read_bytes() == OLD
    assert partials(server.home) == []  # nothing was written: no partial kept
    await client.aclose()


async def test_no_data_connection_touches_nothing(start_server: StartServer) -> None:
    server = await start_atomic(start_server)
    (server.home / "up.bin").write_bytes(OLD)
    client = await binary_client(server)
    assert (await client.cmd("STOR up.bin")).first == "425 Use PORT/EPRT or PASV/EPSV first."
    assert (server.home / "up.bin").read_bytes() == OLD
    assert partials(server.home) == []
    await client.aclose()


async def test_partial_files_are_invisible(start_server: StartServer) -> None:
    server = await start_atomic(start_server)
    (server.home / "visible.txt").write_bytes(b"v")
    client = await binary_client(server)
    await abort_upload(client, "up.bin", b"p" * 1000)
    (name,) = (path.name for path in partials(server.home))
    listing, reply = await client.listing("NLST")
    assert (listing, reply.first) == ("visible.txt\r\n", DONE)
    for command in ("LIST", "MLSD"):
        listing, reply = await client.listing(command)
        assert reply.first == DONE
        assert PARTIAL_PREFIX not in listing
        assert "visible.txt" in listing
    status = await client.cmd("STAT /")
    assert status.code == 213
    assert PARTIAL_PREFIX not in str(status)
    assert "visible.txt" in str(status)
    for command in ("SIZE", "MDTM", "MLST", "DELE", "RNFR", "STAT", "CWD", "MKD"):
        assert (await client.cmd(f"{command} {name}")).first == MISSING, command
    assert (await client.cmd(f"MFMT 20200101000000 {name}")).first == MISSING
    assert (await client.cmd(f"SITE CHMOD 644 {name}")).first == MISSING
    data, reply = await client.retr(name)
    assert (data, reply.first) == (b"", MISSING)
    for command in ("STOR", "APPE"):
        assert (await client.stor(name, b"forged", command=command)).first == MISSING
    assert (await client.cmd("RNFR visible.txt")).code == 350
    assert (await client.cmd(f"RNTO {name}")).first == MISSING
    assert (await client.cmd(f"NLST {name}")).code == 550
    # The partial is untouched by all of that.
    assert (server.home / name).read_bytes() == b"p" * 1000
    await client.aclose()


async def test_stou_lands_atomically(start_server: StartServer) -> None:
    server = await start_atomic(start_server)
    client = await binary_client(server)
    stream = await client.pasv()
    preliminary = await client.cmd("STOU")
    assert preliminary.code == 125
    assert preliminary.text.startswith("FILE: ftpd."), preliminary
    name = preliminary.text.removeprefix("FILE: ")
    assert (server.home / name).read_bytes() == b""  # the name is reserved, empty
    await stream.send_all(b"unique content")
    await stream.aclose()
    assert (await client.reply()).first == DONE
    assert (server.home / name).read_bytes() == b"unique content"
    assert partials(server.home) == []
    # An empty upload is an empty file, and leaves no partial either.
    stream = await client.pasv()
    second = (await client.cmd("STOU")).text.removeprefix("FILE: ")
    await stream.aclose()
    assert (await client.reply()).first == DONE
    assert sorted(path.name for path in server.home.iterdir()) == sorted([name, second])
    assert (server.home / second).read_bytes() == b""
    await client.aclose()


async def test_broken_stou_is_resumable_under_its_name(start_server: StartServer) -> None:
    server = await start_atomic(start_server)
    client = await binary_client(server)
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200
    name = (await client.cmd("STOU")).text.removeprefix("FILE: ")
    await stream.send_all(b"first half, ")
    await wait_transmitted(client, 12)
    reset(stream)
    with trio.fail_after(10):
        assert (await client.reply()).code in (426, 451)
    assert (server.home / name).read_bytes() == b""  # the reserved name, still empty
    assert resumable(server.home, name).read_bytes() == b"first half, "
    assert (await client.cmd(f"SIZE {name}")).first == "213 12"
    assert (await client.stor(name, b"second half", command="APPE")).first == DONE
    assert (server.home / name).read_bytes() == b"first half, second half"
    assert partials(server.home) == []
    await client.aclose()


async def test_concurrent_uploads_to_one_name(start_server: StartServer) -> None:
    server = await start_atomic(start_server)
    contents = [random_bytes(2 * 1024 * 1024 + n, seed=n) for n in range(8)]
    clients = [await binary_client(server) for _ in contents]
    replies: list[str] = []

    async def upload(client: FTPClient, data: bytes) -> None:
        stream = await client.pasv()
        assert (await client.cmd("STOR same.bin")).code in (125, 150)
        for start in range(0, len(data), 256 * 1024):  # interleave with the others
            await stream.send_all(data[start : start + 256 * 1024])
            await trio.lowlevel.checkpoint()
        await stream.aclose()
        replies.append((await client.reply()).first)

    async with trio.open_nursery() as nursery:
        for client, data in zip(clients, contents, strict=True):
            nursery.start_soon(upload, client, data)
    assert replies == [DONE] * 8
    assert (server.home / "same.bin").read_bytes() in contents
    assert partials(server.home) == []
    for client in clients:
        await client.aclose()


async def test_stale_partials_expire_at_a_fresh_upload(start_server: StartServer) -> None:
    server = await start_atomic(start_server, atomic_upload_expiry=3600)
    (server.home / "sub").mkdir()
    client = await binary_client(server)
    await abort_upload(client, "old.bin", b"o" * 100)
    await abort_upload(client, "recent.bin", b"r" * 100)
    await abort_upload(client, "sub/elsewhere.bin", b"e" * 100)
    stale = resumable(server.home, "old.bin")
    an_hour_ago = time.time() - 3601
    os.utime(stale, (an_hour_ago, an_hour_ago))
    os.utime(resumable(server.home / "sub", "elsewhere.bin"), (an_hour_ago, an_hour_ago))
    # This session looked at both directories at its first fresh upload there:
    # it looks again only once the expiry has passed.
    assert (await client.stor("new.bin", b"n")).first == DONE
    assert stale.exists()
    # Another session looks at its first fresh upload; a resume expires nothing.
    second = await binary_client(server)
    assert (await second.cmd("REST 100")).code == 350
    assert (await second.stor("other.bin", b"")).first.startswith("554 ")
    assert (await second.stor("other.bin", b"", command="APPE")).first == DONE
    assert stale.exists()
    assert (await second.stor("new.bin", b"n")).first == DONE
    assert not stale.exists()
    assert partials(server.home) == [resumable(server.home, "recent.bin")]
    assert len(partials(server.home / "sub")) == 1  # another directory: not yet
    # STOU is a fresh upload too.
    stream = await second.pasv()
    assert (await second.cmd("STOU sub/unique")).code == 125
    await stream.aclose()
    assert (await second.reply()).first == DONE
    assert partials(server.home / "sub") == []
    await second.aclose()
    await client.aclose()


def test_a_session_looks_at_a_directory_once_per_expiry() -> None:
    state = SessionState()
    assert state.expiry_check_due("/home/a", 3600, now=1000.0)
    assert not state.expiry_check_due("/home/a", 3600, now=4599.0)
    assert state.expiry_check_due("/home/b", 3600, now=4599.0)
    assert state.expiry_check_due("/home/a", 3600, now=4600.0)
    assert not state.expiry_check_due("/home/a", 3600, now=4601.0)


async def test_expiry_zero_keeps_partials(start_server: StartServer) -> None:
    server = await start_atomic(start_server, atomic_upload_expiry=0)
    client = await binary_client(server)
    await abort_upload(client, "old.bin", b"o" * 100)
    os.utime(resumable(server.home, "old.bin"), (0, 0))
    assert (await client.stor("new.bin", b"n")).first == DONE
    assert resumable(server.home, "old.bin").exists()
    await client.aclose()


def test_remove_expired_by_modification_time(tmp_path: Path) -> None:
    fs = AbstractedFS(str(tmp_path), None)
    for name, mtime in [("a", 1000.0), ("b", 1499.0), ("c", 2000.0)]:
        path = tmp_path / f"{PARTIAL_PREFIX}{name}"
        path.write_bytes(b"x")
        os.utime(path, (mtime, mtime))
    (tmp_path / "user-file").write_bytes(b"u")
    os.utime(tmp_path / "user-file", (0, 0))
    removed = remove_expired(fs, str(tmp_path), before=1500.0)
    assert sorted(removed) == [str(tmp_path / f"{PARTIAL_PREFIX}{n}") for n in ("a", "b")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{PARTIAL_PREFIX}c", "user-file"]


async def test_off_by_default_changes_nothing(start_server: StartServer) -> None:
    """Without the setting a partial-looking name is an ordinary file, and STOR writes in place."""
    server = await start_server()
    name = f"{PARTIAL_PREFIX}mine"
    (server.home / name).write_bytes(b"ordinary")
    client = await binary_client(server)
    listing, _ = await client.listing("NLST")
    assert listing == f"{name}\r\n"
    data, reply = await client.retr(name)
    assert (data, reply.first) == (b"ordinary", DONE)
    await abort_upload(client, "up.bin", b"k" * 1000)
    assert (server.home / "up.bin").read_bytes() == b"k" * 1000
    assert partials(server.home) == [server.home / name]
    await client.aclose()


async def test_a_filesystem_subclass_takes_part_in_the_rename(start_server: StartServer) -> None:
    replaced: list[tuple[str, str]] = []

    class RecordingFS(AbstractedFS):
        def replace(self, src: str, dst: str) -> None:
            replaced.append((os.path.basename(src), os.path.basename(dst)))
            super().replace(src, dst)

    server = await start_atomic(start_server, abstracted_fs=RecordingFS)
    client = await binary_client(server)
    assert (await client.stor("f.txt", b"data")).first == DONE
    ((partial, target),) = replaced
    assert partial.startswith(PARTIAL_PREFIX)
    assert target == "f.txt"
    await client.aclose()


async def test_a_failed_rename_keeps_the_upload_resumable(start_server: StartServer) -> None:
    class NoRename(AbstractedFS):
        def replace(self, src: str, dst: str) -> None:
            if not os.path.basename(dst).startswith(PARTIAL_PREFIX):
                raise PermissionError(errno.EACCES, "Permission denied", dst)
            super().replace(src, dst)

    server = await start_atomic(start_server, abstracted_fs=NoRename)
    (server.home / "f.txt").write_bytes(OLD)
    client = await binary_client(server)
    assert (await client.stor("f.txt", b"complete")).first == (
        "451 Permission denied; transfer aborted, partial file kept (8 bytes received)."
    )
    assert (server.home / "f.txt").read_bytes() == OLD
    assert resumable(server.home, "f.txt").read_bytes() == b"complete"
    await client.aclose()

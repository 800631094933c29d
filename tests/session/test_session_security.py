"""Session tests: the jail, permissions, and hostile or malformed control input."""

from __future__ import annotations

import os
import random
import re
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from trioftp.authorizers import DummyAuthorizer

from ..support.ftpclient import FTPClient, Reply
from ..support.servers import PASSWORD, USER, RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

NO_PERM = "550 Not enough privileges."

# The file outside the home that no client may read, change or learn facts about.
SECRET = b"TOPSECRET\n" * 3001
SECRET_SIZE = len(SECRET)  # 30010
SECRET_MTIME = 1_000_000_000  # 2001-09-09 01:46:40 UTC
SECRET_MODE = 0o604
DECOY = b"jailed-decoy"  # home/etc/passwd: what "../../etc/passwd" must resolve to
PROBE = "trioftp-escape-probe"


# --- fixtures and helpers


@pytest.fixture
def jail(home: Path) -> Path:
    """Build the tree around the home directory; returns the directory outside it.

    outside/            (tmp_path/outside)
      secret.txt        SECRET, SECRET_MTIME, SECRET_MODE
      victim.txt
      dir/
    home/
      etc/passwd        DECOY
      inside/f.txt      b"inside"
      linkdir  -> outside           (absolute symlinks leaving the home)
      linkfile -> outside/secret.txt
      rellink  -> ../outside        (relative)
      dangling -> outside/nonexistent
      inlinkdir  -> home/inside     (symlinks staying inside)
      inlinkfile -> home/inside/f.txt
      relinfile  -> inside/f.txt
    """
    outside = home.parent / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    os.chmod(outside / "secret.txt", SECRET_MODE)
    (outside / "victim.txt").write_bytes(b"victim")
    (outside / "dir").mkdir()
    for path in (outside / "secret.txt", outside / "dir", outside):
        os.utime(path, (SECRET_MTIME, SECRET_MTIME))
    (home / "etc").mkdir()
    (home / "etc" / "passwd").write_bytes(DECOY)
    (home / "inside").mkdir()
    (home / "inside" / "f.txt").write_bytes(b"inside")
    (home / "linkdir").symlink_to(outside)
    (home / "linkfile").symlink_to(outside / "secret.txt")
    (home / "rellink").symlink_to(Path("..") / "outside")
    (home / "dangling").symlink_to(outside / "nonexistent")
    (home / "inlinkdir").symlink_to(home / "inside")
    (home / "inlinkfile").symlink_to(home / "inside" / "f.txt")
    (home / "relinfile").symlink_to(Path("inside") / "f.txt")
    return outside


def snapshot(root: Path, exclude: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """Every entry under *root* but *exclude*: mode, size, mtime and content."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == exclude or exclude in Path(dirpath).parents:
            continue
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path == exclude:
                continue
            st = os.lstat(path)
            content = path.read_bytes() if stat.S_ISREG(st.st_mode) else b""
            result[str(path)] = (st.st_mode, st.st_size, st.st_mtime_ns, content)
    return result


def assert_no_leak(text: str, *, tmp_path: Path) -> None:
    """*text* (replies and listings) holds no fact of the files outside the home."""
    assert "TOPSECRET" not in text
    assert str(tmp_path) not in text
    assert "20010909014640" not in text  # SECRET_MTIME as MDTM/MLSx
    assert "Sep 09  2001" not in text  # SECRET_MTIME as LIST
    assert f"size={SECRET_SIZE};" not in text
    assert f" {SECRET_SIZE} " not in text
    assert f"213 {SECRET_SIZE}" not in text
    assert "unix.mode=0604" not in text
    assert "-rw----r--" not in text  # SECRET_MODE as LIST


def reply_text(replies: list[Reply]) -> str:
    return "\n".join(line for reply in replies for line in reply.lines)


async def run_path_command(client: FTPClient, command: str, path: str) -> tuple[bytes, list[Reply]]:
    """Run *command* on *path* (opening a data connection where needed)."""
    if command in ("RETR", "LIST", "NLST", "MLSD"):
        data, reply = await client.retr(path, command=command)
        return data, [reply]
    if command in ("STOR", "APPE", "STOU"):
        return b"", [await client.stor(path, b"pwned", command=command)]
    if command == "RNTO":
        first = await client.cmd("RNFR inside/f.txt")
        assert first.code == 350, first
        return b"", [first, await client.cmd(f"RNTO {path}")]
    if command == "SIZE":
        assert (await client.cmd("TYPE I")).code == 200
    if command == "SITE CHMOD":
        line = f"SITE CHMOD 777 {path}"
    elif command == "MFMT":
        line = f"MFMT 20200101000000 {path}"
    else:
        line = f"{command} {path}"
    return b"", [await client.cmd(line)]


def assert_probe_stayed_inside(tmp_path: Path) -> None:
    for place in (tmp_path, tmp_path / "outside", tmp_path.parent, Path("/")):
        assert not list(place.glob(PROBE + "*")), place


READ_COMMANDS = ["CWD", "LIST", "NLST", "MLSD", "MLST", "STAT", "SIZE", "MDTM", "RETR", "RNFR"]
WRITE_COMMANDS = [
    "STOR",
    "APPE",
    "STOU",
    "MKD",
    "RMD",
    "DELE",
    "RNFR",
    "RNTO",
    "SITE CHMOD",
    "MFMT",
]

# Paths that climb out of the home lexically: harmless to try with read commands.
READ_DOTDOT = [
    "..",
    "../..",
    "../../etc/passwd",
    "/../..",
    "/../../etc/passwd",
    "//..//..//etc//passwd",
    "etc/../../../etc/passwd",
    "../outside/secret.txt",
    "/../../outside/secret.txt",
    "//..//outside//secret.txt",
]
# For commands that change things: a failed jail would hit tmp_path/outside or
# create a probe, never a system file.
WRITE_DOTDOT = [
    "..",
    "/../..",
    "../outside/victim.txt",
    "/../outside/victim.txt",
    "//..//outside//victim.txt",
    "../outside/dir",
    f"../../../../../../../../{PROBE}",
    f"/../../{PROBE}",
    f"//..//..//{PROBE}",
]
# Symlinks in the home that point outside it (and paths through them).
SYMLINK_OUT = [
    "linkdir",
    "linkfile",
    "rellink",
    "dangling",
    "linkdir/secret.txt",
    "linkdir/dir",
    "rellink/secret.txt",
    "linkdir/newname",
]


@pytest.mark.parametrize("path", READ_DOTDOT)
@pytest.mark.parametrize("command", READ_COMMANDS)
async def test_jail_dotdot_read_commands(
    server: RunningServer, client: FTPClient, jail: Path, tmp_path: Path, command: str, path: str
) -> None:
    before = snapshot(tmp_path, server.home)
    data, replies = await run_path_command(client, command, path)
    final = replies[-1]
    assert final.code in (213, 226, 250, 350, 501, 550), final
    assert_no_leak(reply_text(replies) + data.decode("utf-8", "surrogateescape"), tmp_path=tmp_path)
    pwd = await client.cmd("PWD")
    assert pwd.code == 257
    assert str(tmp_path) not in pwd.text
    assert snapshot(tmp_path, server.home) == before
    if command == "RETR" and final.code == 226:
        assert data == DECOY  # the home's etc/passwd, never the system's


@pytest.mark.parametrize("path", WRITE_DOTDOT)
@pytest.mark.parametrize("command", WRITE_COMMANDS)
async def test_jail_dotdot_write_commands(
    server: RunningServer, client: FTPClient, jail: Path, tmp_path: Path, command: str, path: str
) -> None:
    before = snapshot(tmp_path, server.home)
    _data, replies = await run_path_command(client, command, path)
    final = replies[-1]
    assert final.code < 600, final
    assert_no_leak(reply_text(replies), tmp_path=tmp_path)
    assert snapshot(tmp_path, server.home) == before
    assert_probe_stayed_inside(tmp_path)
    assert server.home.is_dir()
    assert (jail / "victim.txt").read_bytes() == b"victim"


@pytest.mark.parametrize("path", SYMLINK_OUT)
@pytest.mark.parametrize("command", sorted({*READ_COMMANDS, *WRITE_COMMANDS}))
async def test_jail_symlinks_pointing_outside_are_refused(
    server: RunningServer, client: FTPClient, jail: Path, tmp_path: Path, command: str, path: str
) -> None:
    if command == "STOU":
        path = f"{path}/new"  # STOU names a prefix: stay in the linked directory
    before = snapshot(tmp_path, server.home)
    data, replies = await run_path_command(client, command, path)
    assert replies[-1].code == 550, (command, path, replies)
    assert data == b""
    assert_no_leak(reply_text(replies), tmp_path=tmp_path)
    assert snapshot(tmp_path, server.home) == before
    assert not (jail / "nonexistent").exists()
    assert (await client.cmd("PWD")).lines == ('257 "/" is the current directory.',)
    # The links themselves are still there.
    assert (server.home / "linkfile").is_symlink()
    assert (server.home / "linkdir").is_symlink()


async def test_jail_dotdot_is_confined(
    server: RunningServer, client: FTPClient, jail: Path, tmp_path: Path
) -> None:
    assert (await client.cmd("CWD ../..")).lines == ('250 "/" is the current directory.',)
    assert (await client.cmd("CWD /../../etc")).lines == ('250 "/etc" is the current directory.',)
    assert (await client.cmd("CDUP")).lines == ('250 "/" is the current directory.',)
    data, reply = await client.retr("../../etc/passwd")
    assert (data, reply.code) == (DECOY, 226)
    data, reply = await client.retr("//..//..//etc//passwd")
    assert (data, reply.code) == (DECOY, 226)
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("SIZE ../../etc/passwd")).lines == (f"213 {len(DECOY)}",)
    names, reply = await client.listing("NLST", "/../..")
    assert reply.code == 226
    assert "etc" in names.split("\r\n")
    assert "outside" not in names.split("\r\n")
    assert (await client.cmd(f"MKD ../../{PROBE}")).lines == (f'257 "/{PROBE}" directory created.',)
    assert (server.home / PROBE).is_dir()
    assert (await client.stor(f"/../../{PROBE}.txt", b"up")).code == 226
    assert (server.home / f"{PROBE}.txt").read_bytes() == b"up"
    assert_probe_stayed_inside(tmp_path)
    assert (await client.cmd("DELE ../outside/victim.txt")).code == 550
    assert (await client.cmd("RMD ../outside/dir")).code == 550
    assert (jail / "victim.txt").exists()
    assert (jail / "dir").is_dir()
    assert (await client.cmd("RMD ..")).lines == ("550 Can't remove root directory.",)
    assert (await client.cmd("RNFR /..")).code == 550


async def test_listings_never_show_facts_of_outside_targets(
    server: RunningServer, client: FTPClient, jail: Path, tmp_path: Path
) -> None:
    assert (await client.cmd("OPTS MLST type;size;modify;perm;unique;unix.mode;")).code == 200
    texts = []
    for command in ("LIST", "NLST", "MLSD"):
        for path in ("", "/", "-la", "inlinkdir"):
            if command != "LIST" and path == "-la":
                continue
            listing, reply = await client.listing(command, path)
            assert reply.code == 226, (command, path, reply)
            texts.append(listing)
    for command in ("STAT /", "STAT .", "MLST inlinkfile", "MLST /", "STAT inlinkdir"):
        reply = await client.cmd(command)
        assert reply.code in (213, 250), (command, reply)
        texts.append(str(reply))
    for text in texts:
        assert_no_leak(text, tmp_path=tmp_path)

    listing, _ = await client.listing("LIST")
    lines = {line.split()[-1] if " -> " not in line else line.split(" -> ")[0].split()[-1]: line
             for line in listing.splitlines()}  # fmt: skip
    for name in ("linkdir", "linkfile", "rellink", "dangling"):
        assert lines[name].startswith("l"), lines[name]
        assert " -> " not in lines[name]  # the target outside is not shown
    assert lines["inlinkfile"].endswith(" inlinkfile -> /inside/f.txt")
    assert lines["inlinkdir"].endswith(" inlinkdir -> /inside")
    assert lines["relinfile"].endswith(" relinfile -> /inside/f.txt")

    mlsd, _ = await client.listing("MLSD")
    entries = {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in mlsd.splitlines()}
    for name in ("linkdir", "linkfile", "rellink", "dangling"):
        assert "type=OS.unix=slink;" in entries[name], entries[name]
    assert "type=file;size=6;" in entries["inlinkfile"]
    assert "type=dir;" in entries["inlinkdir"]


async def test_symlinks_pointing_inside_work(
    server: RunningServer, client: FTPClient, jail: Path
) -> None:
    assert (await client.cmd("CWD inlinkdir")).lines == (
        '250 "/inlinkdir" is the current directory.',
    )
    data, reply = await client.retr("f.txt")
    assert (data, reply.code) == (b"inside", 226)
    assert (await client.cmd("CWD /")).code == 250
    for path in ("inlinkfile", "relinfile", "inlinkdir/f.txt"):
        data, reply = await client.retr(path)
        assert (data, reply.code) == (b"inside", 226), path
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("SIZE inlinkfile")).lines == ("213 6",)
    assert (await client.cmd("MDTM relinfile")).code == 213
    assert (await client.stor("inlinkdir/up.txt", b"up")).code == 226
    assert (server.home / "inside" / "up.txt").read_bytes() == b"up"
    names, reply = await client.listing("NLST", "inlinkdir")
    assert reply.code == 226
    assert sorted(names.split()) == ["f.txt", "up.txt"]


# --- permissions


def user_with(home: Path, perm: str) -> DummyAuthorizer:
    authorizer = DummyAuthorizer()
    authorizer.add_user("u", "p", str(home), perm=perm)
    return authorizer


async def login_u(server: RunningServer) -> FTPClient:
    client = await server.client(login=False)
    assert (await client.login("u", "p")).code == 230
    return client


@pytest.fixture
def perm_tree(home: Path) -> Path:
    inside = home / "inside"
    inside.mkdir()
    for name in ("f.txt", "appe.txt", "del.txt", "ren.txt", "chmod.txt", "mfmt.txt"):
        (inside / name).write_bytes(b"orig")
        os.chmod(inside / name, 0o644)
        os.utime(inside / name, (SECRET_MTIME, SECRET_MTIME))
    (inside / "rmdir").mkdir()
    return inside


async def _probe_e(client: FTPClient) -> list[Reply]:
    reply = await client.cmd("CWD inside")
    if reply.code == 250:
        assert (await client.cmd("CWD /")).code == 250
    return [reply]


async def _probe_l(client: FTPClient) -> list[Reply]:
    replies = []
    for command in ("LIST", "NLST", "MLSD"):
        _, reply = await client.listing(command, "inside")
        replies.append(reply)
    assert (await client.cmd("TYPE I")).code == 200
    for line in ("MLST inside/f.txt", "STAT inside", "SIZE inside/f.txt", "MDTM inside/f.txt"):
        replies.append(await client.cmd(line))
    return replies


async def _probe_r(client: FTPClient) -> list[Reply]:
    return [(await client.retr("inside/f.txt"))[1]]


async def _probe_a(client: FTPClient) -> list[Reply]:
    return [await client.stor("inside/appe.txt", b"+more", command="APPE")]


async def _probe_d(client: FTPClient) -> list[Reply]:
    return [await client.cmd("DELE inside/del.txt"), await client.cmd("RMD inside/rmdir")]


async def _probe_f(client: FTPClient) -> list[Reply]:
    replies = [await client.cmd("RNFR inside/ren.txt")]
    if replies[0].code == 350:
        replies.append(await client.cmd("RNTO inside/ren2.txt"))
    return replies


async def _probe_m(client: FTPClient) -> list[Reply]:
    return [await client.cmd("MKD inside/newdir"), await client.cmd("XMKD inside/newdir2")]


async def _probe_w(client: FTPClient) -> list[Reply]:
    return [
        await client.stor("inside/stor.txt", b"new"),
        await client.stor("inside/stou", b"new", command="STOU"),
    ]


async def _probe_M(client: FTPClient) -> list[Reply]:
    return [await client.cmd("SITE CHMOD 600 inside/chmod.txt")]


async def _probe_T(client: FTPClient) -> list[Reply]:
    return [await client.cmd("MFMT 20200101000000 inside/mfmt.txt")]


PROBES: dict[str, Callable[[FTPClient], Awaitable[list[Reply]]]] = {
    "e": _probe_e,
    "l": _probe_l,
    "r": _probe_r,
    "a": _probe_a,
    "d": _probe_d,
    "f": _probe_f,
    "m": _probe_m,
    "w": _probe_w,
    "M": _probe_M,
    "T": _probe_T,
}


def assert_untouched(inside: Path, letter: str) -> None:
    """The effects of the *letter* probe did not happen."""
    checks: dict[str, Callable[[], bool]] = {
        "e": lambda: True,
        "l": lambda: True,
        "r": lambda: True,
        "a": lambda: (inside / "appe.txt").read_bytes() == b"orig",
        "d": lambda: (inside / "del.txt").exists() and (inside / "rmdir").is_dir(),
        "f": lambda: (inside / "ren.txt").exists() and not (inside / "ren2.txt").exists(),
        "m": lambda: not (inside / "newdir").exists() and not (inside / "newdir2").exists(),
        "w": lambda: not (inside / "stor.txt").exists() and not list(inside.glob("stou*")),
        "M": lambda: stat.S_IMODE(os.stat(inside / "chmod.txt").st_mode) == 0o644,
        "T": lambda: os.stat(inside / "mfmt.txt").st_mtime == SECRET_MTIME,
    }
    assert checks[letter](), letter


def assert_done(inside: Path, letter: str) -> None:
    """The effects of the *letter* probe happened."""
    checks: dict[str, Callable[[], bool]] = {
        "e": lambda: True,
        "l": lambda: True,
        "r": lambda: True,
        "a": lambda: (inside / "appe.txt").read_bytes() == b"orig+more",
        "d": lambda: not (inside / "del.txt").exists() and not (inside / "rmdir").exists(),
        "f": lambda: not (inside / "ren.txt").exists() and (inside / "ren2.txt").exists(),
        "m": lambda: (inside / "newdir").is_dir() and (inside / "newdir2").is_dir(),
        "w": lambda: (inside / "stor.txt").exists() and len(list(inside.glob("stou*"))) == 1,
        "M": lambda: stat.S_IMODE(os.stat(inside / "chmod.txt").st_mode) == 0o600,
        "T": lambda: os.stat(inside / "mfmt.txt").st_mtime == 1577836800,
    }
    assert checks[letter](), letter


@pytest.mark.parametrize("missing", list(PROBES))
async def test_each_permission_letter_is_enforced_alone(
    start_server: StartServer, home: Path, perm_tree: Path, missing: str
) -> None:
    server = await start_server(authorizer=user_with(home, "elradfmwMT".replace(missing, "")))
    client = await login_u(server)
    async with client.stream:
        for letter, probe in PROBES.items():
            replies = await probe(client)
            if letter == missing:
                assert [reply.lines for reply in replies] == [(NO_PERM,)] * len(replies), letter
                assert_untouched(perm_tree, letter)
            else:
                assert all(reply.code < 400 for reply in replies), (letter, replies)
                assert_done(perm_tree, letter)
        assert (await client.cmd("PWD")).lines == ('257 "/" is the current directory.',)


async def test_cdup_needs_e(start_server: StartServer, home: Path, perm_tree: Path) -> None:
    server = await start_server(authorizer=user_with(home, "lr"))
    client = await login_u(server)
    async with client.stream:
        assert (await client.cmd("CDUP")).lines == (NO_PERM,)
        assert (await client.cmd("XCUP")).lines == (NO_PERM,)
        assert (await client.cmd("XCWD inside")).lines == (NO_PERM,)
        assert (await client.cmd("CWD")).lines == (NO_PERM,)


async def test_override_perm_not_recursive(start_server: StartServer, home: Path) -> None:
    ro = home / "ro"
    (ro / "deep").mkdir(parents=True)
    (ro / "a.txt").write_bytes(b"a")
    (ro / "deep" / "b.txt").write_bytes(b"b")
    authorizer = user_with(home, "elradfmwMT")
    authorizer.override_perm("u", str(ro), "elr", recursive=False)
    server = await start_server(authorizer=authorizer)
    client = await login_u(server)
    async with client.stream:
        # Files directly in ro/ and ro/ itself: read-only.
        assert (await client.stor("ro/new.txt", b"x")).lines == (NO_PERM,)
        assert (await client.cmd("DELE ro/a.txt")).lines == (NO_PERM,)
        assert (await client.cmd("MKD ro/newdir")).lines == (NO_PERM,)
        assert (await client.cmd("RNFR ro/a.txt")).lines == (NO_PERM,)
        assert (await client.cmd("SITE CHMOD 600 ro/a.txt")).lines == (NO_PERM,)
        assert (await client.cmd("MFMT 20200101000000 ro/a.txt")).lines == (NO_PERM,)
        assert (await client.cmd("RMD ro")).lines == (NO_PERM,)
        data, reply = await client.retr("ro/a.txt")
        assert (data, reply.code) == (b"a", 226)
        assert sorted(p.name for p in ro.iterdir()) == ["a.txt", "deep"]
        # Subdirectories are not covered: the user's own letters apply.
        assert (await client.stor("ro/deep/new.txt", b"x")).code == 226
        assert (await client.cmd("DELE ro/deep/b.txt")).code == 250
        assert sorted(p.name for p in (ro / "deep").iterdir()) == ["new.txt"]
        # And elsewhere too.
        assert (await client.stor("top.txt", b"x")).code == 226


async def test_override_perm_recursive(start_server: StartServer, home: Path) -> None:
    ro = home / "ro"
    (ro / "deep").mkdir(parents=True)
    (ro / "deep" / "b.txt").write_bytes(b"b")
    authorizer = user_with(home, "elradfmwMT")
    authorizer.override_perm("u", str(ro), "elr", recursive=True)
    server = await start_server(authorizer=authorizer)
    client = await login_u(server)
    async with client.stream:
        assert (await client.stor("ro/deep/new.txt", b"x")).lines == (NO_PERM,)
        assert (await client.cmd("DELE ro/deep/b.txt")).lines == (NO_PERM,)
        assert (await client.cmd("MKD ro/deep/x")).lines == (NO_PERM,)
        assert (await client.cmd("RMD ro/deep")).lines == (NO_PERM,)
        assert (await client.cmd("CWD ro/deep")).code == 250
        assert (await client.cmd("DELE b.txt")).lines == (NO_PERM,)
        assert sorted(p.name for p in (ro / "deep").iterdir()) == ["b.txt"]
        data, reply = await client.retr("b.txt")
        assert (data, reply.code) == (b"b", 226)


async def test_override_perm_can_grant_more(start_server: StartServer, home: Path) -> None:
    up = home / "upload"
    up.mkdir()
    authorizer = user_with(home, "elr")
    authorizer.override_perm("u", str(up), "elrw", recursive=True)
    server = await start_server(authorizer=authorizer)
    client = await login_u(server)
    async with client.stream:
        assert (await client.stor("upload/x.txt", b"x")).code == 226
        assert (await client.stor("x.txt", b"x")).lines == (NO_PERM,)
        assert (await client.cmd("DELE upload/x.txt")).lines == (NO_PERM,)
        assert sorted(p.name for p in home.iterdir()) == ["upload"]
        assert (up / "x.txt").read_bytes() == b"x"


async def test_no_rename_across_a_permission_boundary(
    start_server: StartServer, home: Path
) -> None:
    ro = home / "ro"
    ro.mkdir()
    (ro / "b.txt").write_bytes(b"b")
    (home / "a.txt").write_bytes(b"a")
    authorizer = user_with(home, "elradfmwMT")
    authorizer.override_perm("u", str(ro), "elr", recursive=True)
    server = await start_server(authorizer=authorizer)
    client = await login_u(server)
    async with client.stream:
        # Into the read-only directory.
        assert (await client.cmd("RNFR a.txt")).code == 350
        assert (await client.cmd("RNTO ro/a.txt")).lines == (NO_PERM,)
        # Out of it.
        assert (await client.cmd("RNFR ro/b.txt")).lines == (NO_PERM,)
        assert (await client.cmd("RNTO b.txt")).code == 503
        # Over a file in it.
        assert (await client.cmd("RNFR a.txt")).code == 350
        assert (await client.cmd("RNTO ro/b.txt")).lines == (NO_PERM,)
        assert (home / "a.txt").read_bytes() == b"a"
        assert (ro / "b.txt").read_bytes() == b"b"
        assert sorted(p.name for p in ro.iterdir()) == ["b.txt"]
        # Within the writable part renaming still works.
        assert (await client.cmd("RNFR a.txt")).code == 350
        assert (await client.cmd("RNTO c.txt")).code == 250


async def test_anonymous_cannot_write(server: RunningServer, home: Path, perm_tree: Path) -> None:
    client = await server.client(login=False)
    async with client.stream:
        assert (await client.login("anonymous", "x")).code == 230
        for letter in "adfmwMT":
            replies = await PROBES[letter](client)
            assert [reply.lines for reply in replies] == [(NO_PERM,)] * len(replies), letter
            assert_untouched(perm_tree, letter)
        for letter in "elr":
            assert all(reply.code < 400 for reply in await PROBES[letter](client))


# --- hostile and malformed input


@pytest.mark.parametrize(
    "line",
    [b"MKD a\x00b", b"RETR a\x00b", b"CWD \x00", b"DELE x\x00", b"RNFR \x00\x00", b"SIZE a\x00"],
)
async def test_nul_byte_in_path(server: RunningServer, client: FTPClient, line: bytes) -> None:
    (server.home / "a").mkdir()
    reply = await client.cmd(line)
    assert reply.code == 501
    assert (await client.cmd("NOOP")).code == 200
    assert sorted(p.name for p in server.home.iterdir()) == ["a"]


async def test_nul_byte_before_login(server: RunningServer) -> None:
    client = await server.client(login=False)
    async with client.stream:
        assert (await client.cmd(b"USER us\x00er")).code == 501
        assert (await client.cmd("NOOP")).code == 200


def assert_well_formed(reply: Reply) -> None:
    """Only the first and last lines of a reply may start like a reply line."""
    code = str(reply.code)
    if len(reply.lines) == 1:
        assert reply.lines[0].startswith(code + " ")
        return
    assert reply.lines[0].startswith(code + "-")
    assert reply.lines[-1].startswith(code + " ")
    for line in reply.lines[1:-1]:
        assert not re.match(r"\d{3}(?:[ -]|$)", line), reply


async def test_cr_in_a_name_does_not_split_the_reply(
    server: RunningServer, client: FTPClient
) -> None:
    # RFC 2640: CR NUL stands for a CR inside a path name.
    reply = await client.cmd(b"MKD a\r\x00b")
    assert reply.lines == ('257 "/a\r\x00b" directory created.',)
    assert (server.home / "a\rb").is_dir()
    assert (await client.cmd("NOOP")).lines == ("200 I successfully did nothing.",)
    forged = await client.cmd(b"MKD x\r\x00200 fake")
    assert forged.lines == ('257 "/x\r\x00200 fake" directory created.',)
    assert (server.home / "x\r200 fake").is_dir()
    cwd = await client.cmd(b"CWD x\r\x00200 fake")
    assert cwd.lines == ('250 "/x\r\x00200 fake" is the current directory.',)
    assert (await client.cmd("PWD")).lines == ('257 "/x\r\x00200 fake" is the current directory.',)
    assert (await client.cmd("NOOP")).code == 200


async def test_names_with_line_breaks_never_forge_replies(
    server: RunningServer, client: FTPClient
) -> None:
    home = server.home
    (home / "lf\n230 fake").write_bytes(b"1")
    (home / "crlf\r\n226 fake").write_bytes(b"2")
    (home / "cr\r250 fake").write_bytes(b"3")
    (home / "dir\r213 fake").mkdir()
    (home / "dir\r213 fake" / "in\n211 x").write_bytes(b"")
    assert (await client.cmd("TYPE I")).code == 200
    commands: list[bytes] = [
        b"STAT /",
        b"STAT .",
        b"STAT cr\r\x00250 fake",
        b"STAT dir\r\x00213 fake",
        b"MLST cr\r\x00250 fake",
        b"MLST dir\r\x00213 fake",
        b"SIZE dir\r\x00213 fake",
        b"MDTM dir\r\x00213 fake",
        b"MFMT 20200101000000 cr\r\x00250 fake",
        b"SITE CHMOD 644 cr\r\x00250 fake",
        b"DELE dir\r\x00213 fake",
        b"RNFR cr\r\x00250 fake",
        b"RNTO cr2\r\x00250 fake",
        b"FOO\r\x00200 x",
        b"SITE X\r\x00200 x",
        b"TYPE \r\x00200 x",
        b"HELP \r\x00200 x",
        b"OPTS \r\x00200 x",
        b"CWD dir\r\x00213 fake",
        b"PWD",
        b"MKD y\r\x00226 z",
        b"CDUP",
    ]
    for command in commands:
        reply = await client.cmd(command)
        assert_well_formed(reply)
        # In step: the next reply belongs to the next command.
        assert (await client.cmd("NOOP")).lines == ("200 I successfully did nothing.",), command
    listing = await client.cmd("STAT /")
    assert listing.code == 213
    assert any("lf" in line for line in listing.lines)


async def test_line_longer_than_the_cap(client: FTPClient) -> None:
    await client.send_raw(b"NOOP " + b"a" * 5000 + b"\r\nNOOP\r\n")
    assert (await client.reply()).lines == ("500 Command too long.",)
    assert (await client.reply()).code == 200
    # No other reply is pending: the next one answers the next command.
    assert (await client.cmd("SYST")).code == 215


async def test_line_longer_than_the_cap_in_pieces(client: FTPClient) -> None:
    await client.send_raw(b"MKD " + b"b" * 3000)
    await client.send_raw(b"b" * 3000)
    await client.send_raw(b"b" * 3000 + b"\r\n")
    await client.send_raw(b"NOOP\r\n")
    assert (await client.reply()).lines == ("500 Command too long.",)
    assert (await client.reply()).code == 200
    assert (await client.cmd("SYST")).code == 215


async def test_line_just_under_the_cap_is_a_command(client: FTPClient) -> None:
    line = b"HELP " + b"x" * 4000
    reply = await client.cmd(line)
    assert reply.lines == ("501 Unrecognized command.",)
    assert (await client.cmd("NOOP")).code == 200


@pytest.mark.parametrize("login", [False, True])
async def test_flood_without_newline(server: RunningServer, login: bool) -> None:
    client = await server.client(login=login)
    async with client.stream:
        chunk = b"A" * 65536
        for _ in range(16):  # 1 MiB, no line end
            await client.send_raw(chunk)
        await client.send_raw(b"\r\nNOOP\r\n")
        assert (await client.reply()).lines == ("500 Command too long.",)
        assert (await client.reply()).code == 200
        assert (await client.cmd("SYST")).code == 215


def garbage_lines() -> list[bytes]:
    rng = random.Random(20240229)
    # Any byte but line ends; 0xFF (Telnet IAC) only as IAC IAC, IAC IP or IAC DM.
    alphabet = [b for b in range(256) if b not in (0x0A, 0x0D, 0xFF)]
    lines = [
        b"\xff\xff\xff\xff",
        b"\xff\xf4\xff\xf2GARBAGE",
        b"\x80\x81\x82 \xfe\xfd",
        b"\x00\x01\x02\x03",
        b"\xc3\x28 \xe2\x82",
        b"\x1b[31mRED\x1b[0m",
        b" ",
        b"\t\t",
    ]
    for _ in range(40):
        body = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 300)))
        cut = rng.randint(0, len(body))
        lines.append(body[:cut] + rng.choice([b"\xff\xff", b"\xff\xf4", b""]) + body[cut:])
    return lines


@pytest.mark.parametrize("login", [False, True])
async def test_binary_garbage_gets_replies(server: RunningServer, login: bool) -> None:
    client = await server.client(login=login)
    async with client.stream:
        lines = garbage_lines()
        for line in lines:
            reply = await client.cmd(line)
            assert 500 <= reply.code < 600, (line, reply)
        # All at once, too: one reply per line, then the session is in step.
        await client.send_raw(b"".join(line + b"\r\n" for line in lines) + b"NOOP\r\n")
        for line in lines:
            assert 500 <= (await client.reply()).code < 600, line
        assert (await client.reply()).code == 200
        if not login:
            assert (await client.login("user", "pass")).code == 230
        assert (await client.cmd("PWD")).code == 257


async def test_invalid_utf8_in_paths(server: RunningServer, client: FTPClient) -> None:
    reply = await client.cmd(b"MKD caf\xe9")
    assert reply.code == 257
    assert reply.lines == ('257 "/caf\udce9" directory created.',)
    assert b"caf\xe9" in os.listdir(bytes(server.home))
    assert (await client.cmd(b"CWD caf\xe9")).code == 250
    assert (await client.stor(b"\xfc\xe8.bin".decode("utf-8", "surrogateescape"), b"x")).code == 226
    assert (await client.cmd("CDUP")).code == 250
    names, reply = await client.listing("NLST", "caf\udce9")
    assert reply.code == 226
    assert names.encode("utf-8", "surrogateescape") == b"\xfc\xe8.bin\r\n"
    missing = await client.cmd(b"RETR \xe9\xe8")
    assert missing.code in (425, 550)
    assert (await client.cmd(b"DELE \xe9\xe8")).lines == ("550 No such file or directory.",)
    assert (await client.cmd(b"RNFR caf\xe9")).code == 350
    assert (await client.cmd(b"RNTO b\xfc")).code == 250
    assert sorted(os.listdir(bytes(server.home))) == [b"b\xfc"]
    assert (await client.cmd("NOOP")).code == 200


async def test_invalid_utf8_before_login(server: RunningServer) -> None:
    client = await server.client(login=False)
    async with client.stream:
        assert (await client.cmd(b"USER \xe9\xe8")).code == 331
        assert (await client.cmd(b"PASS \xe9")).code == 530
        assert (await client.cmd(b"\xe9\xe8 x")).code == 500
        assert (await client.cmd("NOOP")).code == 200


async def test_pipelined_commands_are_answered_in_order(
    server: RunningServer, client: FTPClient
) -> None:
    (server.home / "f").write_bytes(b"12345")
    await client.send_raw(
        b"NOOP\r\nSYST\r\nTYPE I\r\nPWD\r\nMKD p\r\nCWD p\r\nPWD\r\nCDUP\r\nSIZE f\r\n"
        b"SIZE nope\r\nSTAT\r\nFOO\r\nRNFR f\r\nRNTO g\r\nHELP USER\r\nNOOP\r\n"
    )
    expected: list[Any] = [
        ("200 I successfully did nothing.",),
        ("215 UNIX Type: L8",),
        ("200 Type set to: Binary.",),
        ('257 "/" is the current directory.',),
        ('257 "/p" directory created.',),
        ('250 "/p" is the current directory.',),
        ('257 "/p" is the current directory.',),
        ('250 "/" is the current directory.',),
        ("213 5",),
        ("550 No such file or directory.",),
        211,
        500,
        ("350 Ready for destination name.",),
        ("250 Renaming ok.",),
        ("214 Syntax: USER <SP> user-name (set username).",),
        ("200 I successfully did nothing.",),
    ]
    for want in expected:
        reply = await client.reply()
        if isinstance(want, int):
            assert reply.code == want
        else:
            assert reply.lines == want
    assert (server.home / "g").read_bytes() == b"12345"


async def test_pipelined_commands_with_a_transfer(server: RunningServer, client: FTPClient) -> None:
    (server.home / "f").write_bytes(b"data")
    data_stream = await client.pasv()
    await client.send_raw(b"RETR f\r\nNOOP\r\nPWD\r\n")
    assert (await client.reply()).code in (125, 150)
    received = b""
    async with data_stream:
        while chunk := await data_stream.receive_some(65536):
            received += chunk
    assert received == b"data"
    assert (await client.reply()).code == 226
    assert (await client.reply()).code == 200
    assert (await client.reply()).code == 257


# --- ALPACA: HTTP on the plain FTP port


async def test_http_post_with_ftp_commands_in_its_body_runs_none_of_them(
    server: RunningServer,
) -> None:
    """A browser's POST to the plain FTP port is dropped before its body's lines run."""
    (server.home / "keep.txt").write_bytes(b"precious")
    client = await server.client(login=False)
    async with client.stream:
        body = f"USER {USER}\r\nPASS {PASSWORD}\r\nDELE keep.txt\r\nMKD made\r\n".encode()
        await client.send_raw(
            b"POST / HTTP/1.1\r\nHost: victim\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert await client.stream.receive_some(65536) == b""
    assert (server.home / "keep.txt").read_bytes() == b"precious"
    assert not (server.home / "made").exists()

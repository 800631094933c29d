"""Unix accounts over FTP: files made as their users, concurrently; the server stays root."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from trioftp.authorizers import UnixAuthorizer
from trioftp.filesystems import AbstractedFS, UnixFilesystem
from trioftp.handlers import FTPHandler

from ..support.accounts import Account, needs_root
from ..support.ftpclient import FTPClient
from ..support.servers import RunningServer

pytestmark = needs_root

StartServer = Callable[..., Awaitable[RunningServer]]
USER_THREAD = "trioftp user "


Ids = tuple[tuple[int, ...], tuple[int, ...]]


def thread_credentials() -> dict[str, Ids]:
    """Each thread's (uid, euid, suid, fsuid) and (gid, egid, sgid, fsgid), by thread id."""
    found = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            lines = (task / "status").read_text().splitlines()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        fields = {line.split(":", 1)[0]: line.split()[1:] for line in lines if ":" in line}
        found[task.name] = (tuple(map(int, fields["Uid"])), tuple(map(int, fields["Gid"])))
    return found


def thread_ids() -> set[Ids]:
    """Every thread's ids, from the kernel."""
    return set(thread_credentials().values())


def user_ids(account: Account) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return (account.uid,) * 4, (account.gid,) * 4


ROOT_IDS = ((0,) * 4, (0,) * 4)


async def login(server: RunningServer, account: Account) -> FTPClient:
    client = await server.client(login=False)
    reply = await client.login(account.name, account.password)
    assert reply.code == 230, reply
    return client


async def end_user_threads() -> None:
    """Wait for the threads of ended sessions to exit (they were closed)."""
    for thread in threading.enumerate():
        if thread.name.startswith(USER_THREAD):
            await trio.to_thread.run_sync(thread.join, 10)
            assert not thread.is_alive()


class Disconnections:
    """Counts ended sessions (the handler's ``on_disconnect``), for waiting on them."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = trio.Event()

    def hook(self) -> Callable[[FTPHandler], None]:
        """The handler's ``on_disconnect`` (a plain function: it becomes a method)."""
        return lambda handler: self._ended()

    def _ended(self) -> None:
        self.count += 1
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, count: int) -> None:
        while self.count < count:
            await self._changed.wait()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A world-writable sticky directory every user can reach (as /tmp is)."""
    path = Path(tempfile.mkdtemp(prefix="trioftp-shared-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


async def start(start_server: StartServer, pam_service: str, **attributes: Any) -> RunningServer:
    authorizer = attributes.pop("authorizer", None) or UnixAuthorizer(pam_service=pam_service)
    return await start_server(authorizer=authorizer, **attributes)


@pytest.mark.parametrize("filesystem", [UnixFilesystem, AbstractedFS])
async def test_concurrent_uploads_and_directories_belong_to_their_users(
    start_server: StartServer,
    pam_service: str,
    alice: Account,
    bob: Account,
    carol: Account,
    filesystem: type[AbstractedFS],
) -> None:
    """Three users upload and make directories at the same time, as root's server.

    Every entry made belongs to its user; meanwhile and afterwards the
    server's own thread is root in all its ids, and every other thread is
    either root or one user in all of its ids. The one mix allowed is a new
    user thread caught between its ``setresgid`` and ``setresuid`` (root's
    uids, its user's gids), and only until it has switched.
    """
    users = [alice, bob, carol]
    disconnections = Disconnections()
    server = await start(
        start_server,
        pam_service,
        abstracted_fs=filesystem,
        on_disconnect=disconnections.hook(),
    )
    run = f"run-{secrets.token_hex(4)}"
    allowed = {ROOT_IDS} | {user_ids(account) for account in users}
    clients = [await login(server, account) for account in users]
    switching_gids = {(account.gid,) * 4 for account in users}
    switching: set[str] = set()  # threads seen between setresgid and setresuid
    working = True
    checks = 0

    def check_threads() -> None:
        threads = thread_credentials()
        switching.intersection_update(threads)  # ended threads
        for thread, ids in threads.items():
            if ids in allowed:
                switching.discard(thread)
            else:
                assert ids[0] == ROOT_IDS[0], ids
                assert ids[1] in switching_gids, ids
                switching.add(thread)

    async def watch() -> None:
        nonlocal checks
        while working:
            assert os.getresuid() == (0, 0, 0)
            assert os.getresgid() == (0, 0, 0)
            check_threads()
            checks += 1
            await trio.lowlevel.checkpoint()

    async def work(client: FTPClient, account: Account) -> None:
        assert (await client.cmd(f"MKD {run}")).code == 257
        for index in range(4):
            directory = f"{run}/dir{index}"
            assert (await client.cmd(f"MKD {directory}")).code == 257
            for number in range(3):
                data = f"{account.name} {index} {number}\n".encode() * 2000
                reply = await client.stor(f"{directory}/file{number}", data)
                assert reply.code == 226, reply
            assert (await client.cmd(f"SITE CHMOD 640 {directory}/file0")).code == 200

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        async with trio.open_nursery() as workers:
            for client, account in zip(clients, users, strict=True):
                workers.start_soon(work, client, account)
        # Each session's thread is alive and is its user, while the sessions last.
        assert {user_ids(account) for account in users} <= thread_ids()
        working = False
    assert checks > 0
    check_threads()
    assert not switching  # every thread seen mid-switch became its user
    for client in clients:
        assert (await client.cmd("QUIT")).code == 221
        await client.aclose()
    await disconnections.wait_for(len(users))
    await end_user_threads()
    assert thread_ids() == {ROOT_IDS}
    for account in users:
        base = account.home / run
        entries = [base, *base.rglob("*")]
        assert len(entries) == 1 + 4 + 4 * 3
        for entry in entries:
            status = entry.lstat()
            assert (status.st_uid, status.st_gid) == (account.uid, account.gid), entry
        for index in range(4):
            expected = f"{account.name} {index} 2\n".encode() * 2000
            assert (base / f"dir{index}" / "file2").read_bytes() == expected
            assert (base / f"dir{index}" / "file0").stat().st_mode & 0o777 == 0o640


async def test_a_user_cannot_read_another_users_private_file(
    start_server: StartServer, pam_service: str, alice: Account, bob: Account, shared_dir: Path
) -> None:
    server = await start(start_server, pam_service, abstracted_fs=UnixFilesystem)
    owner, other = await login(server, alice), await login(server, bob)
    secret = f"{shared_dir}/secret"
    assert (await owner.stor(secret, b"alice's secret")).code == 226
    assert (await owner.cmd(f"SITE CHMOD 600 {secret}")).code == 200
    data, reply = await other.retr(secret)
    assert (data, reply.code) == (b"", 550)
    assert (await other.stor(secret, b"overwritten")).code == 550
    assert (await other.cmd(f"DELE {secret}")).code == 550  # the sticky directory
    assert (await other.cmd(f"RNFR {secret}")).code == 350
    assert (await other.cmd(f"RNTO {shared_dir}/stolen")).code == 550
    data, reply = await owner.retr(secret)
    assert (data, reply.code) == (b"alice's secret", 226)
    assert os.stat(secret).st_uid == alice.uid
    private = f"{shared_dir}/private"
    assert (await owner.cmd(f"MKD {private}")).code == 257
    assert (await owner.cmd(f"SITE CHMOD 700 {private}")).code == 200
    _, reply = await other.listing("LIST", private)
    assert reply.code == 550
    assert (await other.cmd(f"CWD {private}")).code == 550
    _, reply = await owner.listing("LIST", private)
    assert reply.code == 226
    assert os.getresuid() == (0, 0, 0)


async def test_unix_filesystem_logs_in_at_the_home_from_the_password_database(
    start_server: StartServer, pam_service: str, alice: Account
) -> None:
    server = await start(start_server, pam_service, abstracted_fs=UnixFilesystem)
    client = await login(server, alice)
    reply = await client.cmd("PWD")
    assert reply.first == f'257 "{alice.home}" is the current directory.'
    assert (await client.cmd("CWD /")).code == 250  # no jail: the real root
    listing, reply = await client.listing("NLST", "/etc/hostname")
    assert (listing, reply.code) == ("hostname\r\n", 226)


async def test_the_jailed_filesystem_works_as_the_user(
    start_server: StartServer, pam_service: str, alice: Account
) -> None:
    """AbstractedFS's descriptor-relative lookups and /proc/self/fd calls, as the user."""
    server = await start(start_server, pam_service)
    client = await login(server, alice)
    assert (await client.cmd("PWD")).first == '257 "/" is the current directory.'
    name = f"jailed-{secrets.token_hex(4)}"
    assert (await client.stor(name, b"data")).code == 226
    assert (await client.cmd(f"SITE CHMOD 604 {name}")).code == 200
    assert (await client.cmd(f"MFMT 20200102030405 {name}")).code == 213
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd(f"SIZE {name}")).first == "213 4"
    status = (alice.home / name).stat()
    assert (status.st_uid, status.st_mode & 0o777) == (alice.uid, 0o604)
    assert (await client.cmd(f"DELE {name}")).code == 250
    assert (await client.cmd("CWD /..")).code == 250  # still the jail's root
    assert (await client.cmd("PWD")).first == '257 "/" is the current directory.'


async def test_login_refusals_over_ftp(
    start_server: StartServer, pam_service: str, alice: Account, bob: Account, shell_less: Account
) -> None:
    authorizer = UnixAuthorizer(pam_service=pam_service, rejected_users=[bob.name])
    server = await start(start_server, pam_service, authorizer=authorizer)
    client = await server.client(login=False)
    reply = await client.login(alice.name, "wrong")
    assert reply.first == "530 Authentication failed."
    reply = await client.login(bob.name, bob.password)
    assert reply.first == f"530 User {bob.name} is not allowed to login."
    client = await server.client(login=False)  # three failures end a session
    reply = await client.login(shell_less.name, shell_less.password)
    assert reply.first == f"530 User {shell_less.name} doesn't have a valid shell."
    client = await server.client(login=False)
    reply = await client.login("anonymous", "guest@")
    assert reply.first == "530 Anonymous access not allowed."
    assert (await client.login(alice.name, alice.password)).code == 230


async def test_anonymous_works_as_the_mapped_system_user(
    start_server: StartServer, pam_service: str, shell_less: Account
) -> None:
    authorizer = UnixAuthorizer(pam_service=pam_service, anonymous_user=shell_less.name)
    server = await start(start_server, pam_service, authorizer=authorizer)
    mine, roots = shell_less.home / "mine.txt", shell_less.home / "roots.txt"
    mine.write_bytes(b"for anonymous")
    roots.write_bytes(b"root only")
    os.chown(mine, shell_less.uid, shell_less.gid)
    for path in (mine, roots):
        path.chmod(0o600)
    client = await server.client(login=False)
    assert (await client.login("anonymous", "guest@")).code == 230
    data, reply = await client.retr("mine.txt")
    assert (data, reply.code) == (b"for anonymous", 226)
    data, reply = await client.retr("roots.txt")  # root could; the mapped user can't
    assert (data, reply.code) == (b"", 550)
    assert (await client.stor("new.txt", b"x")).code == 550  # anonymous is read-only


async def test_run_as_current_user_and_a_new_login_switch_users(
    start_server: StartServer, pam_service: str, alice: Account, bob: Account
) -> None:
    seen: list[tuple[str, tuple[int, int, int]]] = []

    def on_login(handler: FTPHandler, username: str) -> None:
        seen.append((username, handler.run_as_current_user(os.getresuid)))

    server = await start(start_server, pam_service, on_login=on_login)
    client = await login(server, alice)
    assert (await client.cmd("REIN")).code == 220
    assert (await client.login(bob.name, bob.password)).code == 230
    name = f"after-rein-{secrets.token_hex(4)}"
    assert (await client.cmd(f"MKD {name}")).code == 257
    assert (bob.home / name).stat().st_uid == bob.uid
    assert seen == [(alice.name, (alice.uid,) * 3), (bob.name, (bob.uid,) * 3)]
    assert os.getresuid() == (0, 0, 0)


class ProcessWideUnixAuthorizer(UnixAuthorizer):
    """Declines the per-session threads: the session falls back to impersonate_user."""

    def session_runner(self, username: str, password: str, base: object) -> None:
        return None


async def test_the_impersonation_fallback_also_works_as_the_user(
    start_server: StartServer, pam_service: str, alice: Account, bob: Account
) -> None:
    authorizer = ProcessWideUnixAuthorizer(pam_service=pam_service)
    server = await start(start_server, pam_service, authorizer=authorizer)
    clients = [await login(server, alice), await login(server, bob)]
    name = f"fallback-{secrets.token_hex(4)}"

    async def work(client: FTPClient) -> None:
        assert (await client.cmd(f"MKD {name}")).code == 257
        assert (await client.stor(f"{name}/file", b"data")).code == 226

    async with trio.open_nursery() as nursery:
        for client in clients:
            nursery.start_soon(work, client)
    for account in (alice, bob):
        for path in (account.home / name, account.home / name / "file"):
            assert path.stat().st_uid == account.uid
    assert thread_ids() == {ROOT_IDS}

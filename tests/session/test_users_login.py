"""Logging in with a users file: hashed passwords, reload, max sessions, bounded checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
import trio.testing

from trioftp.session.runner import InlineRunner
from trioftp.userfile import UsersFileAuthorizer

from ..support.ftpclient import FTPClient
from ..support.harness import SessionHarness
from ..support.servers import RunningServer
from ..support.users import cheap_hash, user_table, users_file

StartServer = Callable[..., Awaitable[RunningServer]]
T = TypeVar("T")


@pytest.fixture
def authorizer(home: Path, tmp_path: Path) -> UsersFileAuthorizer:
    text = f"""
[users.alice]
password = "{cheap_hash("alice-pw", "argon2id")}"
home = "{home}"
perm = "elradfmw"
msg_login = "Hello, Alice."
msg_quit = "Bye, Alice."

[users.alice.limits]
max_sessions = 1

[users.bob]
password = "{cheap_hash("bob-pw", "bcrypt")}"
home = "{home}"
"""
    return UsersFileAuthorizer(users_file(tmp_path / "users.toml", text))


async def test_login_with_hashed_passwords(
    session_harness: SessionHarness, authorizer: UsersFileAuthorizer
) -> None:
    session = session_harness(authorizer=authorizer)
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.cmd("USER alice")).code == 331
    assert (await client.cmd("PASS bob-pw")).first == "530 Authentication failed."
    assert (await client.login("alice", "alice-pw")).first == "230 Hello, Alice."
    assert (await client.cmd("QUIT")).first == "221 Bye, Alice."


async def test_logged_in_sessions_survive_a_reload(
    session_harness: SessionHarness, authorizer: UsersFileAuthorizer, home: Path
) -> None:
    session = session_harness(authorizer=authorizer)
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.login("bob", "bob-pw")).code == 230
    users_file(Path(authorizer.path), user_table("carol", home, "carol-pw"))
    assert authorizer.reload() is True
    # Still logged in; bob's letters are gone with him.
    assert (await client.cmd("PWD")).first == '257 "/" is the current directory.'
    assert (await client.cmd("CWD /")).first == "550 Not enough privileges."
    # A new login sees the new file.
    assert (await client.login("bob", "bob-pw")).first == "530 Authentication failed."
    assert (await client.login("carol", "carol-pw")).code == 230


async def test_max_sessions_per_user(
    start_server: StartServer, authorizer: UsersFileAuthorizer, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(authorizer=authorizer)
    first, _ = await FTPClient.connect(server.host, server.port)
    second, _ = await FTPClient.connect(server.host, server.port)
    assert (await first.login("alice", "alice-pw")).code == 230
    assert (await second.login("alice", "alice-pw")).first == (
        "530 Too many sessions for user 'alice'."
    )
    assert caplog.messages[-1].endswith("-[] USER 'alice' refused: max_sessions=1 reached.")
    # Not a failed login: another user may log in on the same connection.
    assert (await second.login("bob", "bob-pw")).code == 230
    assert (await first.cmd("QUIT")).code == 221
    assert await first.at_eof()
    assert (await second.login("alice", "alice-pw")).first == "230 Hello, Alice."
    # REIN gives the session back too.
    third, _ = await FTPClient.connect(server.host, server.port)
    assert (await third.login("alice", "alice-pw")).code == 530
    assert (await second.cmd("REIN")).code == 220
    assert (await third.login("alice", "alice-pw")).code == 230


class GatedRunner:
    """Runs calls inline; password checks wait for :attr:`gate` once it is set."""

    def __init__(self) -> None:
        self.gate: trio.Event | None = None
        self.checking = 0
        self.peak = 0

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        gate = self.gate
        if gate is None or getattr(function, "__name__", "") != "authenticate":
            return await InlineRunner().run(function, *args)
        self.checking += 1
        self.peak = max(self.peak, self.checking)
        try:
            await gate.wait()
            return function(*args)
        finally:
            self.checking -= 1


async def test_password_checks_are_bounded_and_do_not_block_others(
    start_server: StartServer, authorizer: UsersFileAuthorizer, home: Path
) -> None:
    (home / "a.txt").write_bytes(b"data")
    runner = GatedRunner()
    server = await start_server(runner=runner, authorizer=authorizer)
    working = await server.client(login=False)
    assert (await working.login("bob", "bob-pw")).code == 230
    runner.gate = gate = trio.Event()
    clients = [(await FTPClient.connect(server.host, server.port))[0] for _ in range(6)]
    for client in clients:
        assert (await client.cmd("USER bob")).code == 331
        await client.send("PASS bob-pw")
    await trio.testing.wait_all_tasks_blocked(cushion=0.05)
    # FTPServer.max_login_checks (2) checks run; the 4 others wait on the event loop.
    assert runner.checking == 2
    # Meanwhile a logged-in session's transfer is served.
    data, reply = await working.retr("a.txt")
    assert (data, reply.code) == (b"data", 226)
    assert runner.checking == 2
    gate.set()
    for client in clients:
        assert (await client.reply()).code == 230
    assert runner.peak == 2

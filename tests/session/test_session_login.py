"""Session tests: greeting, USER/PASS, failed logins, REIN, QUIT and the login callbacks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from trioftp.authorizers import DummyAuthorizer

from ..support.ftpclient import FTPClient, Reply
from ..support.servers import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

NOT_LOGGED_IN = "530 Log in with USER and PASS first."


async def connect(server: RunningServer) -> tuple[FTPClient, Reply]:
    return await FTPClient.connect(server.host, server.port)


async def assert_closed(client: FTPClient) -> None:
    """The server closes the connection (EOF), without waiting in real time for long."""
    with trio.fail_after(5):
        assert await client.at_eof()


# --- greeting


async def test_greeting_default_banner(server: RunningServer) -> None:
    client, greeting = await connect(server)
    async with client.stream:
        assert greeting.code == 220
        assert greeting.lines == (f"220 {server.handler.banner}",)
        assert greeting.text.startswith("trioftp ")


async def test_greeting_custom_banner(start_server: StartServer) -> None:
    server = await start_server(banner="Welcome to the test server.")
    client, greeting = await connect(server)
    async with client.stream:
        assert greeting.lines == ("220 Welcome to the test server.",)


async def test_greeting_multiline_banner_is_a_proper_multiline_reply(
    start_server: StartServer,
) -> None:
    server = await start_server(banner="Welcome.\nSecond line.\n230 not a login\nLast line.")
    client, greeting = await connect(server)
    async with client.stream:
        assert greeting.code == 220
        assert greeting.first == "220-Welcome."
        assert greeting.lines[-1].startswith("220 ")
        middle = greeting.lines[1:-1]
        assert "Second line." in middle
        assert "Last line." in middle
        # A banner line that looks like a reply is indented: it can't end the reply
        # early or pass for another one.
        assert " 230 not a login" in middle
        assert all(not line[:3].isdigit() for line in middle)
        # The session is in step after the greeting.
        assert (await client.cmd("NOOP")).code == 200


# --- USER and PASS


async def test_user_then_pass_logs_in(server: RunningServer) -> None:
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.cmd("USER user")).lines == ("331 Username ok, send password.",)
        assert (await client.cmd("PASS pass")).lines == ("230 Login successful.",)
        assert (await client.cmd("PWD")).lines == ('257 "/" is the current directory.',)


async def test_pass_reply_uses_msg_login_and_quit_uses_msg_quit(
    start_server: StartServer, home: Path
) -> None:
    authorizer = DummyAuthorizer()
    authorizer.add_user("joe", "secret", str(home), msg_login="Hi Joe.", msg_quit="Bye Joe.")
    server = await start_server(authorizer=authorizer)
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.login("joe", "secret")).lines == ("230 Hi Joe.",)
        assert (await client.cmd("QUIT")).lines == ("221 Bye Joe.",)
        await assert_closed(client)


async def test_wrong_password_and_unknown_user_get_the_same_reply(server: RunningServer) -> None:
    client, _ = await connect(server)
    async with client.stream:
        wrong_password = await client.login("user", "wrong")
        unknown_user = await client.login("nobody", "pass")
        assert wrong_password.code == unknown_user.code == 530
        assert wrong_password.lines == unknown_user.lines == ("530 Authentication failed.",)
        # Still not logged in; a correct login afterwards works.
        assert (await client.cmd("PWD")).lines == (NOT_LOGGED_IN,)
        assert (await client.login("user", "pass")).code == 230


async def test_max_login_attempts_closes_the_connection(start_server: StartServer) -> None:
    server = await start_server(max_login_attempts=2)
    client, _ = await connect(server)
    async with client.stream:
        first = await client.login("user", "bad1")
        assert first.lines == ("530 Authentication failed.",)
        last = await client.login("user", "bad2")
        assert last.code == 530
        assert "Disconnecting" in last.text
        await assert_closed(client)


async def test_default_max_login_attempts_is_three(server: RunningServer) -> None:
    client, _ = await connect(server)
    async with client.stream:
        for _ in range(2):
            assert (await client.login("user", "bad")).lines == ("530 Authentication failed.",)
        assert (await client.cmd("NOOP")).code == 200
        third = await client.login("user", "bad")
        assert third.code == 530
        assert "Disconnecting" in third.text
        await assert_closed(client)


async def test_successful_login_resets_failed_attempts(start_server: StartServer) -> None:
    server = await start_server(max_login_attempts=2)
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.login("user", "bad")).code == 530
        assert (await client.login("user", "pass")).code == 230
        assert (await client.cmd("REIN")).code == 220
        # One failure after the successful login does not disconnect.
        assert (await client.login("user", "bad")).lines == ("530 Authentication failed.",)
        assert (await client.cmd("NOOP")).code == 200


async def test_pass_without_user(server: RunningServer) -> None:
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.cmd("PASS pass")).lines == ("503 Login with USER first.",)
        assert (await client.cmd("PWD")).lines == (NOT_LOGGED_IN,)


async def test_pass_after_failed_login_needs_user_again(server: RunningServer) -> None:
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.login("user", "bad")).code == 530
        assert (await client.cmd("PASS pass")).code == 503


async def test_pass_when_already_logged_in(client: FTPClient) -> None:
    assert (await client.cmd("PASS pass")).lines == ("503 User already authenticated.",)


@pytest.mark.parametrize("password", ["", "guest@example.com", "anything at all"])
async def test_anonymous_logs_in_with_any_password(server: RunningServer, password: str) -> None:
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.cmd("USER anonymous")).code == 331
        reply = await client.cmd(f"PASS {password}".rstrip())
        assert reply.lines == ("230 Login successful.",)
        status = await client.cmd("STAT")
        assert " Logged in as: anonymous" in status.lines
        # anonymous is read-only.
        assert (await client.cmd("MKD new")).lines == ("550 Not enough privileges.",)
        assert not (server.home / "new").exists()


async def test_user_again_before_login_replaces_the_name(server: RunningServer) -> None:
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.cmd("USER nobody")).code == 331
        assert (await client.cmd("USER user")).code == 331
        assert (await client.cmd("PASS pass")).code == 230
        assert " Logged in as: user" in (await client.cmd("STAT")).lines


async def test_user_after_login_switches_account(server: RunningServer) -> None:
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.login("user", "pass")).code == 230
        assert (await client.cmd("MKD before")).code == 257
        assert (await client.cmd("USER anonymous")).code == 331
        # The previous login is gone at once.
        assert (await client.cmd("PWD")).lines == (NOT_LOGGED_IN,)
        assert (await client.cmd("PASS x")).code == 230
        assert " Logged in as: anonymous" in (await client.cmd("STAT")).lines
        assert (await client.cmd("MKD after")).code == 550
        assert not (server.home / "after").exists()


# --- commands before login


NEEDS_LOGIN = [
    "ABOR",
    "ALLO 100",
    "APPE f",
    "CDUP",
    "CWD",
    "CWD /",
    "DELE f",
    "EPRT |1|127.0.0.1|2000|",
    "EPSV",
    "LIST",
    "MDTM f",
    "MFMT 20200101000000 f",
    "MKD d",
    "MLSD",
    "MLST",
    "MODE S",
    "NLST",
    "OPTS UTF8 ON",
    "PASV",
    "PORT 127,0,0,1,7,208",
    "PWD",
    "REIN",
    "REST 0",
    "RETR f",
    "RMD d",
    "RNFR f",
    "RNTO g",
    "SITE CHMOD 755 f",
    "SIZE f",
    "STAT /",
    "STOR f",
    "STOU",
    "STRU F",
    "TYPE I",
    "XCUP",
    "XCWD /",
    "XMKD d",
    "XPWD",
    "XRMD d",
]


async def test_commands_need_login(server: RunningServer) -> None:
    (server.home / "f").write_bytes(b"data")
    (server.home / "d").mkdir()
    client, _ = await connect(server)
    async with client.stream:
        for command in NEEDS_LOGIN:
            reply = await client.cmd(command)
            assert reply.lines == (NOT_LOGGED_IN,), command
        # Also after USER but before PASS.
        assert (await client.cmd("USER user")).code == 331
        for command in NEEDS_LOGIN:
            reply = await client.cmd(command)
            assert reply.lines == (NOT_LOGGED_IN,), command
        # Nothing happened on disk.
        assert sorted(p.name for p in server.home.iterdir()) == ["d", "f"]
        assert (server.home / "f").read_bytes() == b"data"
        # The connection is still usable.
        assert (await client.cmd("PASS pass")).code == 230


async def test_every_auth_command_in_the_table_needs_login(server: RunningServer) -> None:
    """No command marked as needing a login slips through (arguments given where required)."""
    client, _ = await connect(server)
    async with client.stream:
        for name, spec in server.handler.proto_cmds.items():
            if not spec["auth"]:
                continue
            line = f"{name} x" if spec["arg"] else name
            if name in ("SITE CHMOD", "MFMT"):
                line = f"{name} 1 x"
            reply = await client.cmd(line)
            assert reply.lines == (NOT_LOGGED_IN,), line


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("NOOP", 200),
        ("SYST", 215),
        ("FEAT", 211),
        ("HELP", 214),
        ("HELP USER", 214),
        ("SITE HELP", 214),
        ("STAT", 211),
        ("HOST 127.0.0.1", 220),
    ],
)
async def test_commands_allowed_before_login(
    server: RunningServer, command: str, code: int
) -> None:
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.cmd(command)).code == code


# --- REIN and QUIT


async def test_rein_logs_out(client: FTPClient) -> None:
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("REIN")).lines == ("220 Ready for new user.",)
    assert (await client.cmd("PWD")).lines == (NOT_LOGGED_IN,)
    status = await client.cmd("STAT")
    assert " Waiting for username." in status.lines
    # A new login works on the same connection, with fresh session settings.
    assert (await client.login("anonymous", "x")).code == 230
    assert " TYPE: ASCII; STRUcture: File; MODE: Stream" in (await client.cmd("STAT")).lines


async def test_quit_after_login(client: FTPClient) -> None:
    assert (await client.cmd("QUIT")).lines == ("221 Goodbye.",)
    await assert_closed(client)


async def test_quit_before_login(server: RunningServer) -> None:
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.cmd("QUIT")).lines == ("221 Goodbye.",)
        await assert_closed(client)


async def test_quit_ignores_pipelined_commands(client: FTPClient) -> None:
    await client.send_raw(b"QUIT\r\nNOOP\r\n")
    assert (await client.reply()).code == 221
    await assert_closed(client)


# --- callbacks


def _recording_callbacks(events: list[Any], disconnected: trio.Event) -> dict[str, Any]:
    def on_connect(self: Any) -> None:
        events.append("connect")

    def on_login(self: Any, username: str) -> None:
        events.append(("login", username))

    def on_login_failed(self: Any, username: str, password: str) -> None:
        events.append(("login_failed", username, password))

    def on_logout(self: Any, username: str) -> None:
        events.append(("logout", username))

    def on_disconnect(self: Any) -> None:
        events.append("disconnect")
        disconnected.set()

    return {
        "on_connect": on_connect,
        "on_login": on_login,
        "on_login_failed": on_login_failed,
        "on_logout": on_logout,
        "on_disconnect": on_disconnect,
    }


def _async_recording_callbacks(events: list[Any], disconnected: trio.Event) -> dict[str, Any]:
    """The same callbacks as ``async def`` methods that yield before recording."""

    def make_async(hook: Callable[..., None]) -> Callable[..., Awaitable[None]]:
        async def async_hook(self: Any, *args: Any) -> None:
            await trio.lowlevel.checkpoint()
            hook(self, *args)

        return async_hook

    callbacks = _recording_callbacks(events, disconnected)
    return {name: make_async(hook) for name, hook in callbacks.items()}


@pytest.mark.parametrize("make_callbacks", [_recording_callbacks, _async_recording_callbacks])
async def test_callbacks(start_server: StartServer, make_callbacks: Any) -> None:
    events: list[Any] = []
    disconnected = trio.Event()
    server = await start_server(**make_callbacks(events, disconnected))
    client, greeting = await connect(server)
    async with client.stream:
        assert greeting.code == 220
        assert events == ["connect"]  # before the greeting
        assert (await client.login("user", "bad")).code == 530
        assert events[-1] == ("login_failed", "user", "bad")
        assert (await client.login("user", "pass")).code == 230
        assert events[-1] == ("login", "user")
        assert (await client.cmd("USER anonymous")).code == 331  # switches account
        assert events[-1] == ("logout", "user")
        assert (await client.cmd("PASS x")).code == 230
        assert events[-1] == ("login", "anonymous")
        assert (await client.cmd("REIN")).code == 220
        assert events[-1] == ("logout", "anonymous")
        assert (await client.cmd("REIN")).code == 530  # nobody to log out
        assert (await client.login("user", "pass")).code == 230
        assert (await client.cmd("QUIT")).code == 221
        await assert_closed(client)
    with trio.fail_after(5):
        await disconnected.wait()
    assert events == [
        "connect",
        ("login_failed", "user", "bad"),
        ("login", "user"),
        ("logout", "user"),
        ("login", "anonymous"),
        ("logout", "anonymous"),
        ("login", "user"),
        ("logout", "user"),
        "disconnect",
    ]


async def test_on_disconnect_when_client_drops_the_connection(start_server: StartServer) -> None:
    events: list[Any] = []
    disconnected = trio.Event()
    server = await start_server(**_recording_callbacks(events, disconnected))
    client, _ = await connect(server)
    assert (await client.login("user", "pass")).code == 230
    await client.aclose()
    with trio.fail_after(5):
        await disconnected.wait()
    assert events == ["connect", ("login", "user"), "disconnect"]


async def test_on_login_failed_at_the_last_attempt(start_server: StartServer) -> None:
    events: list[Any] = []
    disconnected = trio.Event()
    server = await start_server(max_login_attempts=1, **_recording_callbacks(events, disconnected))
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.login("nobody", "pw")).code == 530
        await assert_closed(client)
    with trio.fail_after(5):
        await disconnected.wait()
    assert events == ["connect", ("login_failed", "nobody", "pw"), "disconnect"]


async def test_failing_callback_does_not_break_the_session(start_server: StartServer) -> None:
    def on_login(self: Any, username: str) -> None:
        raise RuntimeError("callback bug")

    server = await start_server(on_login=on_login)
    client, _ = await connect(server)
    async with client.stream:
        assert (await client.login("user", "pass")).code == 230
        assert (await client.cmd("PWD")).code == 257

"""FTPHandler as pyftpdlib code uses it: overrides, respond, push, hooks, settings."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
import trio
import trio.testing

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.session.runner import InlineRunner

from ..support.ftpclient import read_all
from ..support.harness import MemorySession, SessionHarness

Clock = trio.testing.MockClock


async def logged_in(session: MemorySession) -> MemorySession:
    assert (await session.client.reply()).code == 220
    assert (await session.client.login()).code == 230
    return session


async def test_an_overridden_respond_sees_every_reply(
    session_harness: SessionHarness, home: Path, autojump_clock: Clock
) -> None:
    (home / "a.txt").write_bytes(b"abc")
    seen: list[str] = []

    class Recording(FTPHandler):
        def respond(self, resp: str, logfun: object = None) -> None:
            seen.append(resp)
            super().respond(resp)

    session = await logged_in(session_harness(Recording))
    client = session.client
    assert (await client.cmd("PORT 127,0,0,1,19,136")).code == 200
    assert (await client.cmd("RETR a.txt")).code == 150
    assert await read_all(await session.data_peers.receive()) == b"abc"
    assert (await client.reply()).code == 226
    assert [line[:3] for line in seen] == ["220", "331", "230", "200", "150", "226"]


async def test_respond_without_a_code_sends_one_clean_line(
    session_harness: SessionHarness, autojump_clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    class Chatty(FTPHandler):
        def ftp_SITE_HELLO(self, line: str) -> None:
            self.respond("Hello\r\n230 there")

    Chatty.proto_cmds = {
        **FTPHandler.proto_cmds,
        "SITE HELLO": {"perm": None, "auth": True, "arg": None, "help": "Syntax: SITE HELLO."},
    }
    session = await logged_in(session_harness(Chatty))
    await session.client.send("SITE HELLO")
    assert await session.client.read_line() == "Hello??230 there"
    assert any("Reply without a code" in r.getMessage() for r in caplog.records)
    assert (await session.client.cmd("NOOP")).code == 200


async def test_replies_are_logged_at_debug_or_by_the_given_function(
    session_harness: SessionHarness, autojump_clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    class Telling(FTPHandler):
        def ftp_SITE_TELL(self, line: str) -> None:
            self.respond("200 Told.", logfun=logging.getLogger("trioftp").warning)
            self.respond("211-Two\r\n211 lines", logfun=logging.getLogger("trioftp").warning)

    Telling.proto_cmds = {
        **FTPHandler.proto_cmds,
        "SITE TELL": {"perm": None, "auth": True, "arg": None, "help": "Syntax: SITE TELL."},
    }
    caplog.set_level(logging.INFO, logger="trioftp")
    session = await logged_in(session_harness(Telling))
    caplog.clear()
    assert (await session.client.cmd("NOOP")).code == 200
    assert (await session.client.cmd("SITE TELL")).code == 200
    assert (await session.client.reply()).code == 211
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "127.0.0.1:5000-[user] Told."),
        ("WARNING", "127.0.0.1:5000-[user] Two?lines"),
    ]
    caplog.set_level(logging.DEBUG, logger="trioftp")
    caplog.clear()
    assert (await session.client.cmd("NOOP")).code == 200
    assert (await session.client.cmd("SITE TELL")).code == 200
    assert (await session.client.reply()).code == 211
    assert [r.getMessage() for r in caplog.records if "->" in r.getMessage()] == [
        "127.0.0.1:5000-[user] -> 200 I successfully did nothing.",
        "127.0.0.1:5000-[user] -> 200 Told.",
        "127.0.0.1:5000-[user] -> 211 Two?lines",
    ]


async def test_push_queues_raw_lines(
    session_harness: SessionHarness, autojump_clock: Clock
) -> None:
    class Pushing(FTPHandler):
        def ftp_SITE_LIST(self, line: str) -> None:  # built piece by piece, as pyftpdlib code does
            self.push("211-Things:\r\n")
            self.push(" one\r\n")
            self.respond("211 End")

    Pushing.proto_cmds = {
        **FTPHandler.proto_cmds,
        "SITE LIST": {"perm": None, "auth": True, "arg": None, "help": "Syntax: SITE LIST."},
    }
    session = await logged_in(session_harness(Pushing))
    assert (await session.client.cmd("SITE LIST")).lines == ("211-Things:", " one", "211 End")


async def test_async_overrides_await_the_stock_methods(
    session_harness: SessionHarness, autojump_clock: Clock
) -> None:
    calls: list[str] = []

    class Overriding(FTPHandler):
        async def ftp_PORT(self, line: str) -> None:
            calls.append("PORT")
            await super().ftp_PORT(line)

        async def ftp_EPRT(self, line: str) -> None:
            calls.append("EPRT")
            await super().ftp_EPRT(line)

    session = await logged_in(session_harness(Overriding))
    assert (await session.client.cmd("PORT 127,0,0,1,19,136")).code == 200
    assert (await session.client.cmd("EPRT |1|127.0.0.1|5000|")).code == 200
    assert calls == ["PORT", "EPRT"]


async def test_call_hook_takes_a_callable_or_a_name(
    session_harness: SessionHarness, autojump_clock: Clock
) -> None:
    heard: list[str] = []

    class Hooked(FTPHandler):
        async def on_login(self, username: str) -> None:
            await self.call_hook(self.remember, "callable")
            await self.call_hook("remember", "name")

        def remember(self, how: str) -> None:
            heard.append(how)

    await logged_in(session_harness(Hooked))
    assert heard == ["callable", "name"]


async def test_a_callback_set_on_the_instance_is_called(
    session_harness: SessionHarness, autojump_clock: Clock
) -> None:
    heard: list[str] = []
    session = session_harness()
    session.handler.on_login = heard.append  # type: ignore[method-assign]
    await logged_in(session)
    assert heard == ["user"]


async def test_an_overridden_check_path_applies_to_every_command(
    session_harness: SessionHarness, home: Path, autojump_clock: Clock
) -> None:
    (home / "secret").mkdir()
    (home / "secret.txt").write_bytes(b"s")

    class Strict(FTPHandler):
        def check_path(self, path: str, perm: str) -> str | None:
            if "secret" in path:
                return "550 Not for you."
            return super().check_path(path, perm)

    session = await logged_in(session_harness(Strict))
    client = session.client
    assert (await client.cmd("TYPE I")).code == 200
    for command in ("CWD secret", "SIZE secret.txt", "DELE secret.txt", "MKD secret/x"):
        assert (await client.cmd(command)).lines == ("550 Not for you.",), command
    assert (await client.cmd("PORT 127,0,0,1,19,136")).code == 200
    assert (await client.cmd("RETR secret.txt")).lines == ("550 Not for you.",)
    assert (await client.cmd("MKD public")).code == 257
    assert (home / "secret.txt").read_bytes() == b"s"


async def test_login_state_is_readable_and_settable(
    session_harness: SessionHarness, autojump_clock: Clock
) -> None:
    hosts: list[str | None] = []

    class Watching(FTPHandler):
        def on_login(self, username: str) -> None:
            hosts.append(self.requested_host)
            self.attempted_logins = 0

    session = session_harness(Watching)
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.cmd("HOST localhost")).code == 220
    assert (await client.login()).code == 230
    assert hosts == ["localhost"]
    assert session.handler.authenticated
    session.handler.authenticated = False  # as a custom ftp_PASS may set it
    assert (await client.cmd("PWD")).code == 530


async def test_settings_changed_in_a_callback_apply(
    session_harness: SessionHarness, autojump_clock: Clock
) -> None:
    class Trusting(FTPHandler):
        def on_login(self, username: str) -> None:
            self.permit_foreign_addresses = True

    session = session_harness(Trusting)
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.cmd("STAT")).code == 211  # the data channel exists before login
    assert (await client.login()).code == 230
    assert (await client.cmd("PORT 10,0,0,1,19,136")).code == 200


def test_a_subclass_defining_a_removed_hook_is_warned() -> None:
    with pytest.warns(UserWarning, match="refuse_transfer, which trioftp no longer calls"):

        class Old(FTPHandler):
            def refuse_transfer(self) -> bool:
                return False

    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class Fine(FTPHandler):
            def on_login(self, username: str) -> None:
                pass

    del Old, Fine


async def test_log_prefix_takes_any_session_attribute(
    session_harness: SessionHarness, autojump_clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    class Tagged(FTPHandler):
        log_prefix = "%(remote_ip)s [%(username)s] %(tag)s"

        def on_connect(self) -> None:
            self.tag = "blue"  # an attribute a program adds, as with pyftpdlib

    caplog.set_level(logging.INFO, logger="trioftp")
    await logged_in(session_harness(Tagged))
    messages = [record.getMessage() for record in caplog.records]
    # The connect line comes before on_connect: no tag yet, so the plain address.
    assert messages[:2] == [
        "127.0.0.1:5000 FTP session opened (connect)",
        "127.0.0.1 [user] blue USER 'user' logged in.",
    ]


async def test_a_log_prefix_naming_no_attribute_falls_back_to_the_address(
    session_harness: SessionHarness, autojump_clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trioftp")
    await logged_in(session_harness(log_prefix="%(nothing)s"))
    assert "127.0.0.1:5000 USER 'user' logged in." in [r.getMessage() for r in caplog.records]


async def test_a_log_prefix_naming_a_property_that_cannot_answer_yet(
    session_harness: SessionHarness, autojump_clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trioftp")
    await logged_in(session_harness(log_prefix="%(vfs)s"))  # vfs raises before login
    assert caplog.records[0].getMessage() == "127.0.0.1:5000 FTP session opened (connect)"


class FalsyRunner(InlineRunner):
    """A runner that is false in a boolean context (it has a length of 0)."""

    def __len__(self) -> int:
        return 0


class PerUserRunners(DummyAuthorizer):
    """Gives 'user' a runner of its own; everybody else runs in the session's base runner."""

    def __init__(self, runner: FalsyRunner) -> None:
        super().__init__()
        self.runner = runner

    def session_runner(self, username: str, password: str, base: object) -> object:
        return self.runner if username == "user" else None


async def test_the_runner_given_or_chosen_at_login_is_used_even_if_false(home: Path) -> None:
    given, own = FalsyRunner(), FalsyRunner()
    authorizer = PerUserRunners(own)
    authorizer.add_user("user", "pass", str(home))
    authorizer.add_anonymous(str(home))
    handler_class = type("Handler", (FTPHandler,), {"authorizer": authorizer})
    _, server_end = trio.testing.memory_stream_pair()
    session = handler_class(
        server_end, None, local_address=("127.0.0.1", 21), remote_address=("127.0.0.1", 9),
        runner=given,
    )  # fmt: skip
    assert session.runner is given
    session.start_login("user", "pass", str(home))
    assert session.runner is own
    session.authenticated = False  # a custom login resets the state without flush_account
    session.start_login("anonymous", "", str(home))
    assert session.runner is given  # never the previous user's runner

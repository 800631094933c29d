"""pyftpdlib programs run unchanged: the customisation patterns they use, over real sockets.

Each test writes its handler the way a pyftpdlib program does (``proto_cmds``,
``ftp_<CMD>`` methods, callbacks, class attributes, custom filesystems and
authorizers) and checks the exact replies a client gets and the exact
arguments the program's code receives.
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio
import trio.lowlevel
import trio.testing

import trioftp.authorizers
import trioftp.exceptions
import trioftp.filesystems
from trioftp.authorizers import AuthenticationFailed, AuthorizerError, DummyAuthorizer
from trioftp.dtp import ThrottledDTPHandler
from trioftp.filesystems import AbstractedFS, FilesystemError
from trioftp.handlers import FTPHandler
from trioftp.ioloop import IOLoop
from trioftp.servers import FTPServer
from trioftp.session.runner import InlineRunner

from ..support.ftpclient import FTPClient, Reply, wait_transmitted
from ..support.interop import download
from ..support.serverprocess import make_share, running
from ..support.servers import PASSWORD, USER, RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

# A user who may list and change directory, and nothing else ("r", "d", "m", "w", "a" missing).
LIMITED, LIMITED_PASSWORD = "limited", "pw"
DONE = "226 Transfer complete."
OUTSIDE = '550 "/out/secret.txt" points to a path outside the user\'s root directory.'
NO_PRIVILEGES = "550 Not enough privileges."


def authorizer_for(home: Path) -> DummyAuthorizer:
    """user/pass with every permission, limited/pw with only "el"."""
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(home), perm="elradfmwMT")
    authorizer.add_user(LIMITED, LIMITED_PASSWORD, str(home), perm="el")
    authorizer.add_anonymous(str(home))
    return authorizer


@pytest.fixture
def outside(tmp_path: Path, home: Path) -> Path:
    """A directory outside the home, reachable through the symlink ``/out`` in the home."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_bytes(b"secret")
    (home / "out").symlink_to(path)
    return path


async def connect(server: RunningServer, user: str = USER, password: str = PASSWORD) -> FTPClient:
    client, greeting = await FTPClient.connect(server.host, server.port)
    assert greeting.code == 220, greeting
    reply = await client.login(user, password)
    assert reply.code == 230, reply
    return client


def listed_names(reply: Reply) -> list[str]:
    """The words of a multi-line HELP reply's body."""
    return [word for line in reply.lines[1:-1] for word in line.split()]


# --- adding commands through proto_cmds


class CustomCommands(FTPHandler):
    """Commands added exactly as pyftpdlib's documentation shows."""

    proto_cmds = FTPHandler.proto_cmds.copy()
    proto_cmds.update(
        {"SITE MD5": dict(perm="r", auth=True, arg=True, help="Syntax: SITE MD5 <SP> path")}
    )
    proto_cmds.update(
        {
            "SITE ECHO": dict(perm=None, auth=False, arg=None, help="Syntax: SITE ECHO [text]"),
            "XWHO": dict(perm=None, auth=True, arg=False, help="Syntax: XWHO (who am I)"),
            "SITE SIZE": dict(perm="l", auth=True, arg=True, help="Syntax: SITE SIZE <SP> path"),
            "SITE KICK": dict(perm=None, auth=True, arg=False, help="Syntax: SITE KICK"),
            "SITE BYE": dict(perm=None, auth=True, arg=False, help="Syntax: SITE BYE"),
        }
    )

    #: Replaced per test (a fresh list on a subclass).
    received: ClassVar[list[tuple[str, str]]] = []
    disconnected: ClassVar[trio.Event]

    def ftp_SITE_MD5(self, path: str) -> None:
        self.received.append(("SITE MD5", path))
        assert self.fs is not None
        with self.fs.open(path, "rb") as file:
            digest = hashlib.md5(file.read()).hexdigest()
        self.respond(f"200 MD5 {digest}")

    def ftp_SITE_ECHO(self, line: str) -> None:
        self.received.append(("SITE ECHO", line))
        self.respond(f"200 [{line}]")

    def ftp_XWHO(self, line: str) -> None:
        assert self.fs is not None
        self.log(f"XWHO asked by {self.username}")
        self.respond(
            f"200 {self.username} from {self.remote_ip}:{self.remote_port} "
            f"authenticated={self.authenticated} cwd={self.fs.cwd} root={self.fs.root}"
        )

    async def ftp_SITE_SIZE(self, path: str) -> None:
        self.received.append(("SITE SIZE", path))
        await trio.lowlevel.checkpoint()
        size = await self.run_blocking(os.path.getsize, path)
        self.respond(f"213 {size}")

    def ftp_SITE_KICK(self, line: str) -> None:
        self.close()

    def ftp_SITE_BYE(self, line: str) -> None:
        self.respond("200 See you.")
        self.close_when_done()

    def on_disconnect(self) -> None:
        self.disconnected.set()


@pytest.fixture
async def custom(start_server: StartServer, home: Path) -> RunningServer:
    (home / "a.txt").write_bytes(b"hello\n")
    (home / "sub").mkdir()
    (home / "sub" / "b.txt").write_bytes(b"in sub")
    return await start_server(
        base=CustomCommands,
        authorizer=authorizer_for(home),
        received=[],
        disconnected=trio.Event(),
    )


def received(server: RunningServer) -> list[tuple[str, str]]:
    return server.handler.received  # type: ignore[attr-defined,no-any-return]


async def test_proto_cmds_site_command_gets_the_checked_real_path(
    custom: RunningServer, home: Path, outside: Path
) -> None:
    client = await connect(custom)
    md5 = hashlib.md5(b"hello\n").hexdigest()
    assert (await client.cmd("SITE MD5 a.txt")).first == f"200 MD5 {md5}"
    assert (await client.cmd("site md5 /sub/../a.txt")).first == f"200 MD5 {md5}"
    assert (await client.cmd("CWD sub")).code == 250
    md5_b = hashlib.md5(b"in sub").hexdigest()
    assert (await client.cmd("SITE MD5 b.txt")).first == f"200 MD5 {md5_b}"
    assert received(custom) == [
        ("SITE MD5", os.path.join(home, "a.txt")),
        ("SITE MD5", os.path.join(home, "a.txt")),
        ("SITE MD5", os.path.join(home, "sub", "b.txt")),
    ]
    # Outside the jail (through a symlink): refused before the method runs.
    assert (await client.cmd("SITE MD5 /out/secret.txt")).first == OUTSIDE
    # The argument rule of the table entry applies.
    reply = await client.cmd("SITE MD5")
    assert reply.first == "501 Syntax error: command needs an argument."
    assert len(received(custom)) == 3
    await client.aclose()


async def test_proto_cmds_permission_and_login_are_checked_first(custom: RunningServer) -> None:
    client = await connect(custom, LIMITED, LIMITED_PASSWORD)  # no "r"
    assert (await client.cmd("SITE MD5 a.txt")).first == NO_PRIVILEGES
    await client.aclose()
    anonymous, _ = await FTPClient.connect(custom.host, custom.port)
    reply = await anonymous.cmd("SITE MD5 a.txt")
    assert reply.first == "530 Log in with USER and PASS first."
    await anonymous.aclose()
    assert received(custom) == []


async def test_proto_cmds_commands_show_in_help(custom: RunningServer) -> None:
    client = await connect(custom)
    help_reply = await client.cmd("HELP")
    assert help_reply.first == "214-The following commands are recognized:"
    assert help_reply.lines[-1] == "214 Help command successful."
    names = listed_names(help_reply)
    assert "XWHO" in names
    assert "SITE" in names
    assert "MD5" not in names  # SITE sub-commands are listed by SITE HELP
    assert (await client.cmd("HELP SITE MD5")).first == "214 Syntax: SITE MD5 <SP> path"
    assert (await client.cmd("HELP xwho")).first == "214 Syntax: XWHO (who am I)"
    site_help = await client.cmd("SITE HELP")
    assert site_help.first == "214-The following SITE commands are recognized:"
    assert site_help.lines[-1] == "214 Help SITE command successful."
    assert sorted(listed_names(site_help)) == [
        "BYE", "CHMOD", "ECHO", "HELP", "KICK", "MD5", "SIZE",
    ]  # fmt: skip
    assert (await client.cmd("SITE HELP md5")).first == "214 Syntax: SITE MD5 <SP> path"
    await client.aclose()
    # The program's copy did not change the library's table.
    assert "SITE MD5" not in FTPHandler.proto_cmds
    assert "XWHO" not in FTPHandler.proto_cmds


async def test_command_without_perm_receives_the_raw_line(custom: RunningServer) -> None:
    client, _ = await FTPClient.connect(custom.host, custom.port)
    # auth=False: works before login; the argument is passed through untouched.
    assert (await client.cmd("SITE ECHO ../x/./y  z ")).first == "200 [../x/./y  z ]"
    assert (await client.cmd("SITE ECHO")).first == "200 []"
    assert (await client.cmd("XWHO")).first == "530 Log in with USER and PASS first."
    assert received(custom) == [("SITE ECHO", "../x/./y  z "), ("SITE ECHO", "")]
    reply = await client.login(USER, PASSWORD)
    assert reply.code == 230
    # arg=False refuses an argument before the method runs.
    reply = await client.cmd("XWHO me")
    assert reply.first == "501 Syntax error: command does not accept arguments."
    await client.aclose()


async def test_async_command_method(custom: RunningServer, home: Path) -> None:
    client = await connect(custom)
    assert (await client.cmd("SITE SIZE sub/b.txt")).first == "213 6"
    reply = await client.cmd("SITE SIZE missing.txt")
    assert reply.first == "550 No such file or directory."  # an OSError from the method
    assert received(custom) == [
        ("SITE SIZE", os.path.join(home, "sub", "b.txt")),
        ("SITE SIZE", os.path.join(home, "missing.txt")),
    ]
    await client.aclose()


async def test_session_attributes_and_log_from_a_command(
    custom: RunningServer, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trioftp")
    client = await connect(custom)
    local_port = client.stream.socket.getsockname()[1]
    assert (await client.cmd("CWD sub")).code == 250
    assert (await client.cmd("XWHO")).first == (
        f"200 user from 127.0.0.1:{local_port} authenticated=True cwd=/sub root={home}"
    )
    assert f"127.0.0.1:{local_port}-[user] XWHO asked by user" in caplog.messages
    await client.aclose()


async def test_close_from_a_command_drops_the_connection(custom: RunningServer) -> None:
    client = await connect(custom)
    other = await connect(custom)
    await client.send("SITE KICK")
    with trio.fail_after(10):
        assert await client.at_eof()
        await custom.handler.disconnected.wait()  # type: ignore[attr-defined]
    assert (await other.cmd("NOOP")).code == 200
    await client.aclose()
    await other.aclose()


async def test_close_when_done_delivers_the_reply_then_drops(custom: RunningServer) -> None:
    client = await connect(custom)
    await client.send("SITE BYE")
    with trio.fail_after(10):
        assert (await client.reply()).first == "200 See you."
        assert await client.at_eof()
    await client.aclose()


# --- overriding built-in commands


class Overrides(FTPHandler):
    """Built-ins replaced (no super) or extended (``await super()...``)."""

    calls: ClassVar[list[tuple[str, ...]]] = []

    def ftp_DELE(self, path: str) -> None:
        self.calls.append(("DELE", path))
        self.respond("250 Deletion logged, file kept.")

    async def ftp_MKD(self, path: str) -> None:
        self.calls.append(("MKD", path))
        assert self.fs is not None
        await self.run_blocking(self.fs.mkdir, path)
        self.respond(f'257 "{self.fs.fs2ftp(path)}" made by the override.')

    async def ftp_RETR(self, file: str) -> None:
        self.calls.append(("RETR", file))
        await super().ftp_RETR(file)

    async def ftp_STOR(self, file: str, mode: str = "w") -> None:
        self.calls.append(("STOR", file, mode))
        await super().ftp_STOR(file, mode)

    def ftp_CWD(self, path: str) -> None:
        # A plain method, as pyftpdlib programs write them; no filesystem check here.
        self.calls.append(("CWD", path))
        assert self.fs is not None
        self.fs.cwd = self.fs.fs2ftp(path)
        self.respond(f'250 "{self.fs.cwd}" via the override.')


@pytest.fixture
async def overrides(start_server: StartServer, home: Path) -> RunningServer:
    (home / "a.txt").write_bytes(b"keep me")
    (home / "sub").mkdir()
    return await start_server(base=Overrides, authorizer=authorizer_for(home), calls=[])


def calls(server: RunningServer) -> list[tuple[str, ...]]:
    return server.handler.calls  # type: ignore[attr-defined,no-any-return]


async def test_override_without_super_gets_checked_paths(
    overrides: RunningServer, home: Path, outside: Path
) -> None:
    client = await connect(overrides)
    assert (await client.cmd("DELE a.txt")).first == "250 Deletion logged, file kept."
    assert (home / "a.txt").read_bytes() == b"keep me"
    assert (await client.cmd("MKD new")).first == '257 "/new" made by the override.'
    assert (home / "new").is_dir()
    # The obsolete alias calls the override too, as in pyftpdlib (ftp_XMKD -> ftp_MKD).
    assert (await client.cmd("XMKD other")).first == '257 "/other" made by the override.'
    assert (await client.cmd("DELE /out/secret.txt")).first == OUTSIDE
    assert (await client.cmd("MKD out/dir")).first == (
        '550 "/out/dir" points to a path outside the user\'s root directory.'
    )
    assert (outside / "secret.txt").exists()
    assert not (outside / "dir").exists()
    await client.aclose()

    limited = await connect(overrides, LIMITED, LIMITED_PASSWORD)
    assert (await limited.cmd("DELE a.txt")).first == NO_PRIVILEGES
    assert (await limited.cmd("MKD denied")).first == NO_PRIVILEGES
    assert (await limited.cmd("XMKD denied")).first == NO_PRIVILEGES
    await limited.aclose()
    assert calls(overrides) == [
        ("DELE", os.path.join(home, "a.txt")),
        ("MKD", os.path.join(home, "new")),
        ("MKD", os.path.join(home, "other")),
    ]
    assert not (home / "denied").exists()


async def test_override_calling_super(overrides: RunningServer, home: Path, outside: Path) -> None:
    client = await connect(overrides)
    assert (await client.cmd("TYPE I")).code == 200
    data, reply = await client.retr("a.txt")
    assert (data, reply.first) == (b"keep me", DONE)
    assert (await client.stor("up.bin", b"\x00\x01")).first == DONE
    # APPE goes through ftp_STOR(file, mode="a"), as in pyftpdlib.
    assert (await client.stor("up.bin", b"\x02", command="APPE")).first == DONE
    assert (home / "up.bin").read_bytes() == b"\x00\x01\x02"
    _, reply = await client.retr("out/secret.txt")
    assert reply.first == OUTSIDE
    await client.aclose()

    limited = await connect(overrides, LIMITED, LIMITED_PASSWORD)
    _, reply = await limited.retr("a.txt")
    assert reply.first == NO_PRIVILEGES
    assert (await limited.stor("up.bin", b"!", command="APPE")).first == NO_PRIVILEGES
    await limited.aclose()
    up = os.path.join(home, "up.bin")
    assert calls(overrides) == [
        ("RETR", os.path.join(home, "a.txt")),
        ("STOR", up, "w"),
        ("STOR", up, "a"),
    ]
    assert (home / "up.bin").read_bytes() == b"\x00\x01\x02"


async def test_plain_cwd_override_serves_cdup_and_aliases(
    overrides: RunningServer, home: Path, outside: Path
) -> None:
    client = await connect(overrides)
    assert (await client.cmd("CWD sub")).first == '250 "/sub" via the override.'
    assert (await client.cmd("CDUP")).first == '250 "/" via the override.'
    assert (await client.cmd("XCWD sub")).first == '250 "/sub" via the override.'
    assert (await client.cmd("XCUP")).first == '250 "/" via the override.'
    assert (await client.cmd("CWD out")).first == (
        '550 "/out" points to a path outside the user\'s root directory.'
    )
    assert (await client.cmd("PWD")).first == '257 "/" is the current directory.'
    await client.aclose()
    sub, root = os.path.join(home, "sub"), str(home)
    assert calls(overrides) == [("CWD", sub), ("CWD", root), ("CWD", sub), ("CWD", root)]


# --- callbacks


class PlainCallbacks(FTPHandler):
    """Every callback as a plain method, recording its arguments and the session state."""

    events: ClassVar[list[tuple[object, ...]]]
    threads: ClassVar[list[threading.Thread]]
    done: ClassVar[trio.Event]

    def on_connect(self) -> None:
        self.threads.append(threading.current_thread())
        self.events.append(("connect", self.remote_ip, self.remote_port, self.authenticated))

    def on_disconnect(self) -> None:
        self.events.append(("disconnect", self.fs))
        self.done.set()

    def on_login(self, username: str) -> None:
        assert self.fs is not None
        self.events.append(("login", username, self.username, self.authenticated, self.fs.root))

    def on_login_failed(self, username: str, password: str) -> None:
        self.events.append(("login_failed", username, password, self.authenticated))

    def on_logout(self, username: str) -> None:
        self.events.append(("logout", username))

    def on_file_sent(self, file: str) -> None:
        self.events.append(("file_sent", file, os.path.getsize(file)))

    def on_file_received(self, file: str) -> None:
        self.events.append(("file_received", file, os.path.getsize(file)))

    def on_incomplete_file_sent(self, file: str) -> None:
        self.events.append(("incomplete_file_sent", file))

    def on_incomplete_file_received(self, file: str) -> None:
        self.events.append(("incomplete_file_received", file))


class AsyncCallbacks(FTPHandler):
    """Every callback as ``async def``, awaiting Trio and worker threads."""

    events: ClassVar[list[tuple[object, ...]]]
    threads: ClassVar[list[threading.Thread]]
    done: ClassVar[trio.Event]

    async def on_connect(self) -> None:
        await trio.lowlevel.checkpoint()
        self.threads.append(threading.current_thread())
        self.events.append(("connect", self.remote_ip, self.remote_port, self.authenticated))

    async def on_disconnect(self) -> None:
        await trio.lowlevel.checkpoint()
        self.events.append(("disconnect", self.fs))
        self.done.set()

    async def on_login(self, username: str) -> None:
        await trio.lowlevel.checkpoint()
        assert self.fs is not None
        self.events.append(("login", username, self.username, self.authenticated, self.fs.root))

    async def on_login_failed(self, username: str, password: str) -> None:
        await trio.lowlevel.checkpoint()
        self.events.append(("login_failed", username, password, self.authenticated))

    async def on_logout(self, username: str) -> None:
        await trio.lowlevel.checkpoint()
        self.events.append(("logout", username))

    async def on_file_sent(self, file: str) -> None:
        self.events.append(("file_sent", file, await self.run_blocking(os.path.getsize, file)))

    async def on_file_received(self, file: str) -> None:
        self.events.append(("file_received", file, await self.run_blocking(os.path.getsize, file)))

    async def on_incomplete_file_sent(self, file: str) -> None:
        await trio.lowlevel.checkpoint()
        self.events.append(("incomplete_file_sent", file))

    async def on_incomplete_file_received(self, file: str) -> None:
        await trio.lowlevel.checkpoint()
        self.events.append(("incomplete_file_received", file))


@pytest.mark.parametrize("base", [PlainCallbacks, AsyncCallbacks], ids=["plain", "async"])
async def test_every_callback_with_exact_arguments(
    start_server: StartServer, home: Path, base: type[FTPHandler]
) -> None:
    events: list[tuple[object, ...]] = []
    threads: list[threading.Thread] = []
    done = trio.Event()
    server = await start_server(base=base, events=events, threads=threads, done=done)
    with (home / "big.bin").open("wb") as big:
        big.truncate(64 << 20)  # far more than the socket buffers hold
    up, part, big_path = (os.path.join(home, name) for name in ("up.bin", "part.bin", "big.bin"))

    client, greeting = await FTPClient.connect(server.host, server.port)
    assert greeting.code == 220
    local_port = client.stream.socket.getsockname()[1]
    assert (await client.cmd("USER user")).code == 331
    assert (await client.cmd("PASS wrong")).first == "530 Authentication failed."
    assert (await client.login(USER, PASSWORD)).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.stor("up.bin", b"x" * 1000)).first == DONE
    data, reply = await client.retr("up.bin")
    assert (data, reply.first) == (b"x" * 1000, DONE)

    # An upload stopped by ABOR after 500 bytes arrived.
    stream = await client.pasv()
    assert (await client.cmd("STOR part.bin")).code in (125, 150)
    await stream.send_all(b"y" * 500)
    await wait_transmitted(client, 500)
    await client.send("ABOR")
    assert (await client.reply()).first == (
        "426 Transfer aborted, partial file kept (500 bytes received)."
    )
    assert (await client.reply()).first == "226 ABOR command successful."
    await stream.aclose()

    # A download stopped by ABOR while the server waits for the client to read.
    stream = await client.pasv()
    assert (await client.cmd("RETR big.bin")).code in (125, 150)
    await wait_transmitted(client, 1)
    await client.send("ABOR")
    assert (await client.reply()).first == "426 Transfer aborted."
    assert (await client.reply()).first == "226 ABOR command successful."
    await stream.aclose()

    assert (await client.cmd("REIN")).code == 220  # logs out
    assert (await client.login(USER, PASSWORD)).code == 230
    assert (await client.cmd("USER anonymous")).code == 331  # a new USER logs out too
    assert (await client.cmd("PASS guest@example.com")).code == 230
    assert (await client.cmd("QUIT")).first == "221 Goodbye."
    with trio.fail_after(10):
        await done.wait()
    await client.aclose()

    root = str(home)
    assert events == [
        ("connect", "127.0.0.1", local_port, False),
        ("login_failed", "user", "wrong", False),
        ("login", "user", "user", True, root),
        ("file_received", up, 1000),
        ("file_sent", up, 1000),
        ("incomplete_file_received", part),
        ("incomplete_file_sent", big_path),
        ("logout", "user"),
        ("login", "user", "user", True, root),
        ("logout", "user"),
        ("login", "anonymous", "anonymous", True, root),
        ("logout", "anonymous"),
        ("disconnect", None),
    ]
    # Callbacks run in the session's task, on the event loop's thread.
    assert threads == [threading.current_thread()]
    assert (home / "part.bin").read_bytes() == b"y" * 500


async def test_callback_errors_are_logged_and_the_session_goes_on(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    def on_login(self: FTPHandler, username: str) -> None:
        raise ValueError(f"callback failed for {username}")

    server = await start_server(on_login=on_login)
    client = await connect(server)
    assert (await client.cmd("PWD")).first == '257 "/" is the current directory.'
    await client.aclose()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage().endswith("error in on_login")
    assert "ValueError: callback failed for user" in caplog.text


# --- data-transfer handler, filesystem


async def test_throttled_dtp_handler_subclass(
    start_server: StartServer, home: Path, autojump_clock: trio.testing.MockClock
) -> None:
    limit = 64 * 1024

    class Limited(ThrottledDTPHandler):
        read_limit = limit
        write_limit = limit

    handler = type("Handler", (FTPHandler,), {})
    handler.dtp_handler = Limited  # as pyftpdlib programs configure it
    assert FTPHandler.dtp_handler is not Limited
    server = await start_server(base=handler, runner=InlineRunner())
    content = bytes(range(256)) * 1000  # 256000 bytes: about 4 s at the limit
    client = await connect(server)
    assert (await client.cmd("TYPE I")).code == 200
    start = trio.current_time()
    assert (await client.stor("f.bin", content)).first == DONE
    uploaded = trio.current_time()
    data, reply = await client.retr("f.bin")
    assert (data, reply.first) == (content, DONE)
    downloaded = trio.current_time()
    assert (home / "f.bin").read_bytes() == content
    # Both directions were held to the limit (on Trio's clock).
    assert uploaded - start >= 0.8 * len(content) / limit
    assert downloaded - uploaded >= 0.8 * len(content) / limit
    await client.aclose()


class GeneratorFS(AbstractedFS):
    """``listdir`` as a generator that hides dot files, as pyftpdlib >= 1.6 allows."""

    def listdir(self, path: str) -> Iterator[str]:  # type: ignore[override]
        for name in os.listdir(path):
            if not name.startswith("."):
                yield name


async def test_abstracted_fs_with_generator_listdir(start_server: StartServer, home: Path) -> None:
    for name in ("b.txt", "a.txt", ".hidden"):
        (home / name).write_bytes(b"12345")
    handler = type("Handler", (FTPHandler,), {})
    handler.abstracted_fs = GeneratorFS
    server = await start_server(base=handler)
    client = await connect(server)
    names, reply = await client.listing("NLST")
    assert (names, reply.first) == ("a.txt\r\nb.txt\r\n", DONE)
    listing, reply = await client.listing("LIST")
    assert reply.first == DONE
    assert [line.split()[-1] for line in listing.splitlines()] == ["a.txt", "b.txt"]
    assert all(line.split()[4] == "5" for line in listing.splitlines())
    mlsd, reply = await client.listing("MLSD")
    assert reply.first == DONE
    assert [line.split(" ", 1)[1] for line in mlsd.splitlines()] == ["a.txt", "b.txt"]
    stat = await client.cmd("STAT /")
    assert [line.split()[-1] for line in stat.lines[1:-1]] == ["a.txt", "b.txt"]
    await client.aclose()


class RefusingFS(AbstractedFS):
    """Refuses some operations with a message meant for the client."""

    def mkdir(self, path: str) -> None:
        raise FilesystemError("custom message")

    def open(self, filename: str, mode: str) -> Any:
        if os.path.basename(filename) == "locked.txt":
            raise FilesystemError("custom message")
        return super().open(filename, mode)

    def listdir(self, path: str) -> list[str]:
        if os.path.basename(path) == "locked":
            raise trioftp.exceptions.FilesystemError("custom message")
        return super().listdir(path)  # type: ignore[return-value]


async def test_filesystem_error_message_reaches_the_client(
    start_server: StartServer, home: Path
) -> None:
    (home / "locked.txt").write_bytes(b"x")
    (home / "open.txt").write_bytes(b"free")
    (home / "locked").mkdir()
    server = await start_server(abstracted_fs=RefusingFS)
    client = await connect(server)
    assert (await client.cmd("MKD new")).first == "550 custom message."
    assert (await client.cmd("XMKD new")).first == "550 custom message."
    _, reply = await client.retr("locked.txt")
    assert reply.first == "550 custom message."
    # STOR opens the file once the data connection is made (after the 150).
    reply = await client.stor("locked.txt", b"overwrite")
    assert reply.first == "550 custom message; transfer aborted."
    _, reply = await client.listing("LIST", "locked")
    assert reply.first == "550 custom message."
    data, reply = await client.retr("open.txt")
    assert (data, reply.first) == (b"free", DONE)
    await client.aclose()
    assert (home / "locked.txt").read_bytes() == b"x"
    assert not (home / "new").exists()


def test_exception_classes_are_shared_between_modules() -> None:
    assert trioftp.authorizers.AuthenticationFailed is trioftp.exceptions.AuthenticationFailed
    assert trioftp.authorizers.AuthorizerError is trioftp.exceptions.AuthorizerError
    assert trioftp.filesystems.FilesystemError is trioftp.exceptions.FilesystemError


# --- custom authorizers


class RecordingAuthorizer(DummyAuthorizer):
    """Blocks in its checks (as a database would) and records every call and its thread."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, ...]] = []
        self.threads: list[threading.Thread] = []

    def validate_authentication(self, username: str, password: str, handler: object) -> None:
        time.sleep(0)  # a blocking call: fine here, this runs in a worker thread
        self.threads.append(threading.current_thread())
        self.calls.append(("validate", username, password))
        if password == "letmein":
            return
        if password == "raise-from-exceptions":
            raise trioftp.exceptions.AuthenticationFailed("no")
        raise AuthenticationFailed("no")

    def impersonate_user(self, username: str, password: str) -> None:
        self.threads.append(threading.current_thread())
        self.calls.append(("impersonate", username, password))

    def terminate_impersonation(self, username: str) -> None:
        self.threads.append(threading.current_thread())
        self.calls.append(("terminate", username))


def recording_fs(calls: list[tuple[str, ...]]) -> type[AbstractedFS]:
    class RecordingFS(AbstractedFS):
        def mkdir(self, path: str) -> None:
            calls.append(("mkdir", path))
            super().mkdir(path)

        def open(self, filename: str, mode: str) -> Any:
            calls.append(("open", filename))
            return super().open(filename, mode)

        def listdir(self, path: str) -> Any:
            calls.append(("listdir", path))
            return super().listdir(path)

    return RecordingFS


async def test_custom_authorizer_blocks_in_worker_threads(
    start_server: StartServer, home: Path
) -> None:
    authorizer = RecordingAuthorizer()
    authorizer.add_user("db-user", "unused", str(home), perm="elradfmwMT")
    server = await start_server(authorizer=authorizer, abstracted_fs=recording_fs(authorizer.calls))
    client, _ = await FTPClient.connect(server.host, server.port)
    assert (await client.cmd("USER db-user")).code == 331
    # As in pyftpdlib, the authorizer's message is the reply's text.
    assert (await client.cmd("PASS raise-from-exceptions")).first == "530 no"
    assert (await client.cmd("USER db-user")).code == 331
    assert (await client.cmd("PASS wrong")).first == "530 no"
    assert (await client.login("db-user", "letmein")).code == 230
    assert authorizer.calls == [
        ("validate", "db-user", "raise-from-exceptions"),
        ("validate", "db-user", "wrong"),
        ("validate", "db-user", "letmein"),
    ]
    assert (await client.cmd("MKD d")).code == 257
    assert (await client.stor("d/f.txt", b"data")).first == DONE
    names, reply = await client.listing("NLST", "d")
    assert (names, reply.first) == ("f.txt\r\n", DONE)
    assert (await client.cmd("QUIT")).code == 221
    await client.aclose()

    loop_thread = threading.current_thread()
    assert authorizer.threads
    assert all(thread is not loop_thread for thread in authorizer.threads)
    # After login every filesystem call is bracketed by impersonate/terminate.
    after_login = authorizer.calls[3:]
    depth = 0
    for call in after_login:
        if call == ("impersonate", "db-user", "letmein"):
            assert depth == 0, after_login
            depth += 1
        elif call == ("terminate", "db-user"):
            assert depth == 1, after_login
            depth -= 1
        else:
            assert depth == 1, (call, after_login)
    assert depth == 0
    work = [call for call in after_login if call[0] not in ("impersonate", "terminate")]
    assert work == [
        ("mkdir", os.path.join(home, "d")),
        ("open", os.path.join(home, "d", "f.txt")),
        ("listdir", os.path.join(home, "d")),
    ]
    assert (home / "d" / "f.txt").read_bytes() == b"data"


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (lambda a, home: a.add_user("user", "other", home), "already exists"),
        (lambda a, home: a.add_user("new", "pw", home, perm="elrX"), "no such permission"),
        (lambda a, home: a.add_user("new", "pw", os.path.join(home, "nope")), "no such directory"),
        (lambda a, home: a.add_anonymous(home), "already exists"),
        (lambda a, home: a.override_perm("ghost", home, "elr"), "no such user"),
        (lambda a, home: a.override_perm("user", os.path.dirname(home), "elr"), "escapes"),
    ],
)
def test_authorizer_errors_raise(home: Path, action: Callable[..., None], match: str) -> None:
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "pw", str(home))
    authorizer.add_anonymous(str(home))
    with pytest.raises(AuthorizerError, match=match) as raised:
        action(authorizer, str(home))
    assert isinstance(raised.value, ValueError)  # pyftpdlib raised ValueError here
    assert sorted(authorizer.user_table) == ["anonymous", "user"]


# --- ioloop and class-attribute configuration


async def test_ioloop_instance_is_carried_along(nursery: trio.Nursery, home: Path) -> None:
    loop = IOLoop.instance()
    assert IOLoop.instance() is loop
    seen: list[object] = []

    def on_connect(self: FTPHandler) -> None:
        seen.append(self.ioloop)
        seen.append(self.server)

    authorizer = authorizer_for(home)
    handler = type("Handler", (FTPHandler,), {"on_connect": on_connect})
    handler.authorizer = authorizer
    server = FTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop.instance())
    assert server.ioloop is loop
    host, port = await nursery.start(server.serve)
    client, greeting = await FTPClient.connect(host, port)
    assert greeting.code == 220
    assert (await client.login(USER, PASSWORD)).code == 230
    await client.aclose()
    assert seen == [loop, server]


async def test_class_attribute_configuration(nursery: trio.Nursery, home: Path) -> None:
    (home / "a.txt").write_bytes(b"configured")
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", str(home), perm="elradfmwMT")
    handler = type("FTPHandler", (FTPHandler,), {})
    handler.authorizer = authorizer
    handler.banner = "pyftpdlib based ftpd ready."
    handler.max_login_attempts = 1
    handler.auth_failed_timeout = 0
    server = FTPServer(("127.0.0.1", 0), handler)
    server.max_cons = 256
    server.max_cons_per_ip = 5
    host, port = await nursery.start(server.serve)
    client, greeting = await FTPClient.connect(host, port)
    assert greeting.first == "220 pyftpdlib based ftpd ready."
    assert (await client.login("user", "12345")).code == 230
    data, reply = await client.retr("a.txt")
    assert (data, reply.first) == (b"configured", DONE)
    await client.aclose()
    client, _ = await FTPClient.connect(host, port)
    assert (await client.cmd("USER user")).code == 331
    assert (await client.cmd("PASS bad")).first == "530 Authentication failed. Disconnecting."
    assert await client.at_eof()
    await client.aclose()
    # Nothing leaked into the library's class.
    assert FTPHandler.banner.startswith("trioftp ")
    assert FTPHandler.max_login_attempts == 3
    assert FTPHandler.authorizer is not authorizer


# pyftpdlib's tutorial script (doc/tutorial.rst, "A Base FTP server"); the test changes
# only its imports. Here already: port 0, passive ports enabled, the bound address printed.
PYFTPDLIB_TUTORIAL = """\
import os

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

def main():
    # Instantiate a dummy authorizer for managing 'virtual' users
    authorizer = DummyAuthorizer()

    # Define a new user having full r/w permissions and a read-only
    # anonymous user
    authorizer.add_user('user', '12345', '.', perm='elradfmwMT')
    authorizer.add_anonymous(os.getcwd())

    # Instantiate FTP handler class
    handler = FTPHandler
    handler.authorizer = authorizer

    # Define a customized banner (string returned when client connects)
    handler.banner = "pyftpdlib based ftpd ready."

    # Specify a masquerade address and the range of ports to use for
    # passive connections.  Decomment in case you're behind a NAT.
    #handler.masquerade_address = '151.25.42.11'
    handler.passive_ports = range(60000, 65535)

    # Instantiate FTP server class and listen on 0.0.0.0:2121
    address = ('', 0)
    server = FTPServer(address, handler)
    print("ftp://127.0.0.1:%d/" % server.address[1], flush=True)

    # set a limit for connections
    server.max_cons = 256
    server.max_cons_per_ip = 5

    # start ftp server
    server.serve_forever()

if __name__ == '__main__':
    main()
"""


def test_pyftpdlib_tutorial_script_runs_with_imports_rewritten(tmp_path: Path) -> None:
    share = make_share(tmp_path, "readme.txt", b"from the tutorial\n")
    script = tmp_path / "tutorial_ftpd.py"
    script.write_text(PYFTPDLIB_TUTORIAL.replace("from pyftpdlib.", "from trioftp."))
    assert "pyftpdlib." not in script.read_text()
    with running([sys.executable, str(script)], cwd=share) as server:
        with server.ftp() as ftp:
            assert ftp.getwelcome() == "220 pyftpdlib based ftpd ready."
            assert ftp.login("user", "12345") == "230 Login successful."
            ftp.storbinary("STOR up.bin", io.BytesIO(b"\x00\xff" * 5000))
            assert download(ftp, "readme.txt") == b"from the tutorial\n"
            pasv = re.search(r",(\d+),(\d+)\)", ftp.sendcmd("PASV"))
            assert pasv is not None
            assert int(pasv.group(1)) * 256 + int(pasv.group(2)) in range(60000, 65535)
            assert sorted(ftp.nlst()) == ["readme.txt", "up.bin"]
            assert ftp.quit() == "221 Goodbye."
        with server.ftp("anonymous", "guest@example.com") as ftp:
            with pytest.raises(ftplib.error_perm, match=r"^550 Not enough privileges\."):
                ftp.delete("readme.txt")
            ftp.quit()
        stderr = server.stop_cleanly(signal.SIGINT)
    assert (share / "up.bin").read_bytes() == b"\x00\xff" * 5000
    assert "received interrupt signal" in stderr

"""The failure boundary of a command: unexpected errors become 451, the session goes on."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest

from trioftp.authorizers import DummyAuthorizer

from ..support.faults import faulty_fs
from ..support.servers import PASSWORD, USER, RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

LOCAL_ERROR = "451 Requested action aborted: local error in processing."


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("fault", "command"),
    [
        ("chdir", "CWD sub"),
        ("mkdir", "MKD new"),
        ("rmdir", "RMD sub"),
        ("remove", "DELE a.txt"),
        ("rename", "RNTO b.txt"),
        ("stat", "MDTM a.txt"),
        ("lstat", "MLST a.txt"),
        ("realpath", "CWD sub"),
    ],
)
async def test_a_filesystem_bug_in_a_command_is_451(
    start_server: StartServer, caplog: pytest.LogCaptureFixture, fault: str, command: str
) -> None:
    server = await start_server(abstracted_fs=faulty_fs({fault: RuntimeError("storage bug")}))
    (server.home / "a.txt").write_bytes(b"data")
    (server.home / "sub").mkdir()
    client = await server.client()
    if command.startswith("RNTO"):
        assert (await client.cmd("RNFR a.txt")).code == 350
    assert (await client.cmd(command)).first == LOCAL_ERROR
    host, port = client.stream.socket.getsockname()[:2]
    assert errors_logged(caplog) == [f"{host}:{port}-[{USER}] {command.partition(' ')[0]} failed"]
    assert "RuntimeError: storage bug" in caplog.text
    # The session goes on.
    assert (await client.cmd("PWD")).code == 257
    assert (await client.cmd("TYPE I")).code == 200
    await client.aclose()


@pytest.mark.parametrize("fault", ["listdir", "open"])
async def test_a_filesystem_bug_in_a_transfer_is_451(
    start_server: StartServer, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    server = await start_server(abstracted_fs=faulty_fs({fault: ValueError("bad value")}))
    (server.home / "a.txt").write_bytes(b"data")
    client = await server.client()
    if fault == "listdir":
        listing, reply = await client.listing("LIST")
        assert listing == ""
    else:
        data, reply = await client.retr("a.txt")
        assert data == b""
    assert reply.code == 451, reply
    assert len(errors_logged(caplog)) == 1
    assert "ValueError: bad value" in caplog.text
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.stor("new.txt", b"fine")).first.startswith("451") is (fault == "open")
    await client.aclose()


async def test_a_file_object_bug_mid_download_is_451_not_226(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(
        abstracted_fs=faulty_fs({"file.read": RuntimeError("read bug")}), use_sendfile=False
    )
    (server.home / "a.txt").write_bytes(b"data")
    client = await server.client()
    data, reply = await client.retr("a.txt")
    assert (data, reply.first) == (b"", "451 Local error in processing; transfer aborted.")
    assert "RuntimeError: read bug" in caplog.text
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()


async def test_an_authorizer_bug_at_login_is_451(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenAuthorizer(DummyAuthorizer):
        def validate_authentication(self, username: str, password: str, handler: object) -> None:
            raise KeyError("directory service down")

    authorizer = BrokenAuthorizer()
    authorizer.add_user(USER, PASSWORD, "/", perm="elr")
    server = await start_server(authorizer=authorizer)
    client = await server.client(login=False)
    assert (await client.cmd(f"USER {USER}")).code == 331
    assert (await client.cmd(f"PASS {PASSWORD}")).first == LOCAL_ERROR
    assert "KeyError: 'directory service down'" in caplog.text
    # Not logged in, still connected.
    assert (await client.cmd("PWD")).code == 530
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()

"""FTPS handshake timeouts on Trio's MockClock: no thread and no real socket.

A TLS handler with blocking calls run inline serves one session over
:func:`trio.testing.memory_stream_pair`; data connections are memory streams
too, so the autojumping clock only moves when every task really waits (the
shared harness: ``tests/support/harness.py``, the ``session_harness`` fixture).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from trioftp.dtp import TLS_DTPHandler
from trioftp.handlers import FTPHandler, TLS_FTPHandler
from trioftp.session.commands import GROUPS, TLSCommands
from trioftp.session.tls import TLSProtection

from ..support.ftpclient import FTPClient, read_all
from ..support.harness import MemorySession, SessionHarness
from ..support.tlsclient import Certs, client_context, make_certs

TIMEOUT = 7.0
DONE = "226 Transfer complete."
DATA_TLS_FAILED = "425 TLS negotiation on the data connection failed."

#: The handler class the harness builds on TLS_FTPHandler, without the test attributes.


@pytest.fixture
def clock(autojump_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    return autojump_clock


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def start_session(session_harness: SessionHarness, certs: Certs) -> Callable[..., MemorySession]:
    """``start_session(**attributes)``: a session of a TLS handler on memory streams."""

    def start(**attributes: Any) -> MemorySession:
        attributes.setdefault("certfile", certs.certfile)
        attributes.setdefault("keyfile", certs.keyfile)
        attributes.setdefault("tls_handshake_timeout", TIMEOUT)
        return session_harness(TLS_FTPHandler, **attributes)

    return start


def tls_client(ca_certs: Certs, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    return client_context(ca_certs.ca, minimum_version=version, maximum_version=version)


async def start_tls(client: FTPClient, context: ssl.SSLContext) -> trio.SSLStream[Any]:
    tls = trio.SSLStream(client.stream, context, server_hostname="127.0.0.1")
    await tls.do_handshake()
    client.stream = tls  # type: ignore[assignment]
    return tls


async def secure_login(session: MemorySession, context: ssl.SSLContext) -> FTPClient:
    """Greeting, AUTH TLS + handshake, PBSZ 0, PROT P, login, TYPE I."""
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.cmd("AUTH TLS")).first == "234 AUTH TLS successful."
    await start_tls(client, context)
    assert (await client.cmd("PBSZ 0")).first == "200 PBSZ=0"
    assert (await client.cmd("PROT P")).first == "200 Protection set to Private."
    assert (await client.login()).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    return client


async def eof_after(stream: trio.abc.ReceiveStream) -> float:
    """Read until EOF (expecting no bytes); return the Trio time it took."""
    start = trio.current_time()
    assert await stream.receive_some(65536) == b""
    return trio.current_time() - start


# --- the handler classes


def test_tls_handler_is_the_plain_handler_with_the_ftps_group_and_policy() -> None:
    assert issubclass(TLS_FTPHandler, FTPHandler)
    assert issubclass(TLS_FTPHandler, TLSCommands)
    assert not issubclass(FTPHandler, TLSCommands)
    assert TLS_FTPHandler.protection is TLSProtection
    assert FTPHandler.protection is None
    assert {"AUTH", "PBSZ", "PROT", "CCC"} <= TLS_FTPHandler.proto_cmds.keys()
    assert "AUTH" not in FTPHandler.proto_cmds
    assert TLS_FTPHandler.dtp_handler is TLS_DTPHandler


def test_command_groups_reach_no_other_group() -> None:
    for group in GROUPS:
        assert group.__bases__ == (object,), group
        assert not [name for name in vars(group) if not name.startswith(("ftp_", "__"))], group


# --- control connection


async def test_auth_without_handshake_times_out(
    start_session: Callable[..., MemorySession], clock: trio.testing.MockClock
) -> None:
    session = start_session()
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.cmd("AUTH TLS")).first == "234 AUTH TLS successful."
    # The client never sends its ClientHello.
    assert await eof_after(session.stream) == pytest.approx(TIMEOUT)
    with trio.fail_after(1):
        await session.ended.wait()


async def test_auth_handshake_within_the_timeout(
    start_session: Callable[..., MemorySession], certs: Certs, clock: trio.testing.MockClock
) -> None:
    session = start_session()
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.cmd("AUTH TLS")).code == 234
    await trio.sleep(TIMEOUT - 1)  # a slow client, but in time
    await start_tls(client, tls_client(certs))
    await trio.sleep(TIMEOUT + 1)  # the timeout no longer applies
    assert (await client.cmd("NOOP")).first == "200 I successfully did nothing."


async def test_implicit_silent_client_is_disconnected(
    start_session: Callable[..., MemorySession], clock: trio.testing.MockClock
) -> None:
    session = start_session(tls_implicit=True)
    # No greeting in clear, no bytes at all: the server waits for the handshake.
    assert await eof_after(session.stream) == pytest.approx(TIMEOUT)
    with trio.fail_after(1):
        await session.ended.wait()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_implicit_session_over_memory_streams(
    start_session: Callable[..., MemorySession],
    certs: Certs,
    clock: trio.testing.MockClock,
    version: ssl.TLSVersion,
) -> None:
    session = start_session(tls_implicit=True)
    client = session.client
    tls = await start_tls(client, tls_client(certs, version))
    assert tls.version() == version.name.replace("_", ".")
    assert (await client.reply()).code == 220
    assert (await client.cmd("AUTH TLS")).first == "503 Already using TLS."
    assert (await client.login()).code == 230


async def test_idle_timeout_over_tls(
    start_session: Callable[..., MemorySession], certs: Certs, clock: trio.testing.MockClock
) -> None:
    session = start_session(timeout=60)
    client = await secure_login(session, tls_client(certs))
    start = trio.current_time()
    assert (await client.reply()).first == "421 Control connection timed out."
    assert trio.current_time() - start == pytest.approx(60)
    assert await client.read_line() is None


async def test_ccc_without_close_notify_times_out(
    start_session: Callable[..., MemorySession], certs: Certs, clock: trio.testing.MockClock
) -> None:
    session = start_session()
    client = await secure_login(session, tls_client(certs))
    assert (await client.cmd("CCC")).first == "200 Clear Command Channel OK."
    # The client neither answers the close_notify nor sends anything else.
    tls = client.stream
    assert isinstance(tls, trio.SSLStream)
    start = trio.current_time()
    assert await tls.receive_some(65536) == b""  # the server's close_notify, at once
    assert trio.current_time() == start
    assert await eof_after(tls.transport_stream) == pytest.approx(TIMEOUT)
    with trio.fail_after(1):
        await session.ended.wait()


# --- data connections


async def test_data_handshake_timeout_gets_425(
    start_session: Callable[..., MemorySession], certs: Certs, clock: trio.testing.MockClock
) -> None:
    session = start_session()
    (session.home / "a.bin").write_bytes(b"never sent")
    client = await secure_login(session, tls_client(certs))
    assert (await client.cmd("PORT 127,0,0,1,200,1")).code == 200
    assert (await client.cmd("RETR a.bin")).first == (
        "150 File status okay. About to open data connection."
    )
    start = trio.current_time()
    peer = await session.data_peers.receive()
    assert trio.current_time() == start
    # The client never starts the data connection's handshake.
    assert (await client.reply()).first == DATA_TLS_FAILED
    assert trio.current_time() - start == pytest.approx(TIMEOUT)
    assert await peer.receive_some(65536) == b""  # closed, nothing sent
    # The session goes on.
    assert (await client.cmd("NOOP")).code == 200


async def test_upload_data_handshake_timeout_keeps_the_old_file(
    start_session: Callable[..., MemorySession], certs: Certs, clock: trio.testing.MockClock
) -> None:
    session = start_session()
    (session.home / "a.bin").write_bytes(b"original")
    client = await secure_login(session, tls_client(certs))
    assert (await client.cmd("PORT 127,0,0,1,200,1")).code == 200
    assert (await client.cmd("STOR a.bin")).code == 150
    start = trio.current_time()
    await session.data_peers.receive()
    assert (await client.reply()).first == DATA_TLS_FAILED
    assert trio.current_time() - start == pytest.approx(TIMEOUT)
    assert (session.home / "a.bin").read_bytes() == b"original"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_protected_transfers_over_memory_streams(
    start_session: Callable[..., MemorySession],
    certs: Certs,
    clock: trio.testing.MockClock,
    version: ssl.TLSVersion,
) -> None:
    session = start_session(tls_data_session_binding="required")
    data = bytes(range(256)) * 2000
    (session.home / "a.bin").write_bytes(data)
    context = tls_client(certs, version)
    client = await secure_login(session, context)
    control = client.stream
    assert isinstance(control, trio.SSLStream)

    async def data_tls(resume: bool) -> trio.SSLStream[Any]:
        peer = await session.data_peers.receive()
        tls = trio.SSLStream(peer, context, server_hostname="127.0.0.1")
        if resume:
            tls.session = control.session
        await tls.do_handshake()
        return tls

    # A slow handshake that still starts in time is fine.
    assert (await client.cmd("PORT 127,0,0,1,200,1")).code == 200
    assert (await client.cmd("RETR a.bin")).code == 150
    await trio.sleep(TIMEOUT - 1)
    tls = await data_tls(resume=True)
    assert tls.session_reused
    assert await read_all(tls) == data
    assert (await client.reply()).first == DONE
    # Upload.
    assert (await client.cmd("PORT 127,0,0,1,200,2")).code == 200
    assert (await client.cmd("STOR b.bin")).code == 150
    tls = await data_tls(resume=True)
    await tls.send_all(data)
    await tls.aclose()
    assert (await client.reply()).first == DONE
    assert (session.home / "b.bin").read_bytes() == data
    # Binding required: a fresh handshake is refused at once, not after a timeout.
    assert (await client.cmd("PORT 127,0,0,1,200,3")).code == 200
    assert (await client.cmd("RETR a.bin")).code == 150
    start = trio.current_time()
    tls = await data_tls(resume=False)
    with pytest.raises(trio.BrokenResourceError):
        await read_all(tls)
    assert (await client.reply()).first == (
        "522 Data connection must reuse the control connection's TLS session."
    )
    assert trio.current_time() == start

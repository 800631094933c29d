"""Running under systemd: readiness notification, socket activation, SIGTERM in every mode.

The service manager is played by the test: a unix datagram socket named in
``$NOTIFY_SOCKET`` receives the server's ``READY=1``/``STOPPING=1``, and a
listening socket the test made is passed as descriptor 3 with
``LISTEN_FDS``/``LISTEN_PID`` (set by a small wrapper that then execs the
server, since LISTEN_PID must be the server's own pid). Each server is a real
subprocess stopped with SIGTERM, as systemd stops a service.
"""

from __future__ import annotations

import contextlib
import ftplib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.interop import download
from ..support.serverprocess import STARTUP_TIMEOUT, make_share, running, trioftp_command

HELLO = b"Hello, systemd!\n"
STOP_LINE = "] >>> FTP server stopped <<<"

# A program that serves with FTPServer.serve_forever and installs no signal handler.
PROGRAM = """\
import sys

from trioftp import systemd
from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer

authorizer = DummyAuthorizer()
authorizer.add_anonymous(sys.argv[1])
FTPHandler.authorizer = authorizer
inherited = systemd.listen_fds()
server = FTPServer(inherited[0].socket if inherited else ("127.0.0.1", 0), FTPHandler)
print("ftp://127.0.0.1:%d/" % server.address[1], flush=True)
server.serve_forever(worker_processes=int(sys.argv[2]))
print("serve_forever returned", flush=True)
"""


@pytest.fixture
def share(tmp_path: Path) -> Path:
    return make_share(tmp_path, "hello.txt", HELLO)


@contextlib.contextmanager
def service_manager(abstract: bool = False) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing for systemd, and the ``$NOTIFY_SOCKET`` naming it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.settimeout(STARTUP_TIMEOUT)
        if abstract:
            name = f"@trioftp-test-{os.getpid()}-{id(manager)}"
            manager.bind("\0" + name[1:])
            yield manager, name
            return
        # A short directory of its own: socket paths are limited to 107 bytes.
        with tempfile.TemporaryDirectory(prefix="notify-") as directory:
            path = os.path.join(directory, "notify")
            manager.bind(path)
            yield manager, path


def received(manager: socket.socket) -> str:
    """The next notification (waits up to the startup deadline)."""
    return manager.recv(4096).decode()


def nothing_more(manager: socket.socket) -> bool:
    """True if no further notification is queued."""
    manager.setblocking(False)
    try:
        manager.recv(4096)
    except BlockingIOError:
        return True
    return False


def program(tmp_path: Path, share: Path, workers: int) -> list[str]:
    path = tmp_path / "server_program.py"
    path.write_text(PROGRAM)
    return [sys.executable, str(path), str(share), str(workers)]


# What systemd does before it starts a socket-activated service: the socket
# becomes descriptor 3, the variables name it and this process, then exec
# (which keeps the pid that LISTEN_PID names).
ACTIVATE = """\
import os, sys
fds = [int(fd) for fd in sys.argv[1].split(",")]
for number, fd in enumerate(fds, start=3):
    os.dup2(fd, number)
os.environ.update(
    LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=sys.argv[2]
)
os.execv(sys.argv[3], sys.argv[3:])
"""


def activated(argv: list[str], *sockets: socket.socket, names: str) -> list[str]:
    """*argv* started as systemd starts a service, with *sockets* from descriptor 3 on."""
    fds = ",".join(str(sock.fileno()) for sock in sockets)
    return [sys.executable, "-c", ACTIVATE, fds, names, *argv]


def loopback_listener(dual_stack: bool = False) -> socket.socket:
    """A listening socket on 127.0.0.1, or an IPv6 one taking IPv4 connections.

    The dual-stack one is what ``ListenStream=21`` with ``BindIPv6Only=both``
    passes (bound here to the IPv4-mapped loopback, not to every address).
    """
    if not dual_stack:
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
    else:
        listening = socket.socket(socket.AF_INET6)
        listening.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listening.bind(("::ffff:127.0.0.1", 0))
    listening.listen()
    return listening


# --- readiness notification


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_command_notifies_ready_and_stopping(share: Path, abstract: bool) -> None:
    with service_manager(abstract) as (manager, address):
        env = {**os.environ, "NOTIFY_SOCKET": address}
        with running(trioftp_command(), cwd=share, env=env) as server:
            assert received(manager) == "READY=1"
            with server.ftp("anonymous", "x@y") as ftp:  # ready means serving
                assert download(ftp, "hello.txt") == HELLO
                ftp.quit()
            stderr = server.stop_cleanly(signal.SIGTERM)
        assert received(manager) == "STOPPING=1"
        assert nothing_more(manager)
    assert stderr.splitlines()[-1].endswith(STOP_LINE)


def test_prefork_parent_alone_notifies(tmp_path: Path, share: Path) -> None:
    with service_manager() as (manager, address):
        env = {**os.environ, "NOTIFY_SOCKET": address}
        with running(program(tmp_path, share, workers=2), cwd=tmp_path, env=env) as server:
            assert received(manager) == "READY=1"
            with server.ftp("anonymous", "x@y") as ftp:
                assert download(ftp, "hello.txt") == HELLO
                ftp.quit()
            stderr = server.stop_cleanly(signal.SIGTERM)
            assert server.rest_of_stdout() == "serve_forever returned\n"
        # One READY=1 and one STOPPING=1, from the parent: the workers say nothing.
        assert received(manager) == "STOPPING=1"
        assert nothing_more(manager)
    assert stderr.splitlines()[-1].endswith(STOP_LINE)


# --- socket activation


@pytest.mark.parametrize("dual_stack", [False, True], ids=["ipv4", "dual-stack"])
def test_command_serves_the_socket_systemd_passed(share: Path, dual_stack: bool) -> None:
    with loopback_listener(dual_stack) as listening:
        host, port = listening.getsockname()[:2]
        argv = activated(trioftp_command(), listening, names="trioftp.socket")
        with running(argv, cwd=share, pass_fds=[listening.fileno()]) as server:
            assert server.port == port  # the passed socket, not -p 0
            with ftplib.FTP() as ftp:  # an IPv4 client, with PASV
                ftp.connect("127.0.0.1", port, timeout=10)
                ftp.login("anonymous", "x@y")
                assert ftp.sendcmd("PASV").startswith("227 Entering Passive Mode (127,0,0,1,")
                assert ftp.nlst() == ["hello.txt"]
                assert download(ftp, "hello.txt") == HELLO
                ftp.quit()
            stderr = server.stop_cleanly(signal.SIGTERM)
    assert (
        "] socket activation: serving socket 'trioftp.socket' (fd 3) from systemd; "
        "-i/-p not used" in stderr
    )
    shown = f"[{host}]" if ":" in host else host
    assert f">>> starting FTP server on {shown}:{port}, pid={server.proc.pid} <<<" in stderr
    assert stderr.splitlines()[-1].endswith(STOP_LINE)


def test_prefork_workers_serve_the_socket_systemd_passed(tmp_path: Path, share: Path) -> None:
    with loopback_listener() as listening, service_manager() as (manager, address):
        port = listening.getsockname()[1]
        argv = activated(program(tmp_path, share, workers=2), listening, names="ftp")
        env = {**os.environ, "NOTIFY_SOCKET": address}
        with running(argv, cwd=tmp_path, env=env, pass_fds=[listening.fileno()]) as server:
            assert server.port == port
            assert received(manager) == "READY=1"
            for _ in range(3):
                with server.ftp("anonymous", "x@y") as ftp:
                    assert ftp.nlst() == ["hello.txt"]
                    ftp.quit()
            stderr = server.stop_cleanly(signal.SIGTERM)
        assert received(manager) == "STOPPING=1"
    assert "started 2 worker processes" in stderr
    assert stderr.splitlines()[-1].endswith(STOP_LINE)


def test_activation_meant_for_another_process_is_ignored(share: Path) -> None:
    # LISTEN_PID names another process: the command binds its own socket (-p 0).
    env = {**os.environ, "LISTEN_PID": "1", "LISTEN_FDS": "1"}
    with running(trioftp_command(), cwd=share, env=env) as server:
        with server.ftp("anonymous", "x@y") as ftp:
            assert ftp.nlst() == ["hello.txt"]
            ftp.quit()
        server.stop_cleanly(signal.SIGTERM)


def test_passed_descriptor_that_is_not_listening_is_refused(share: Path) -> None:
    with socket.socket() as unbound:
        argv = activated(trioftp_command(), unbound, names="trioftp.socket")
        result = subprocess_run(argv, share, unbound.fileno())
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "trioftp: socket activation: descriptor 3 (trioftp.socket) is not a listening "
        "TCP socket (the unit's socket needs ListenStream= and Accept=no)\n"
    )


def test_more_than_one_passed_socket_is_refused(share: Path) -> None:
    with loopback_listener() as first, loopback_listener() as second:
        argv = activated(trioftp_command(), first, second, names="ftp:ftps")
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=share,
            check=False,
            pass_fds=[first.fileno(), second.fileno()],
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "trioftp: socket activation: one listening socket expected, got ftp (fd 3), ftps (fd 4)\n"
    )


# --- SIGTERM without a handler of the program's own


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "prefork"])
def test_sigterm_stops_serve_forever_cleanly(tmp_path: Path, share: Path, workers: int) -> None:
    with running(program(tmp_path, share, workers), cwd=tmp_path) as server:
        with server.ftp("anonymous", "x@y") as ftp:
            assert download(ftp, "hello.txt") == HELLO
            ftp.quit()
        stderr = server.stop_cleanly(signal.SIGTERM)  # exit status 0, no traceback
        assert server.rest_of_stdout() == "serve_forever returned\n"
    lines = stderr.splitlines()
    assert any(line.endswith("] received interrupt signal") for line in lines), stderr
    assert lines[-1].endswith(STOP_LINE)


def subprocess_run(argv: list[str], cwd: Path, fd: int) -> subprocess.CompletedProcess[str]:
    """Run *argv* to completion, passing it descriptor *fd*."""
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, cwd=cwd, check=False, pass_fds=[fd]
    )

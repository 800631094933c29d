"""trioftp.systemd on its own: the notification datagram and the activation variables."""

from __future__ import annotations

import os
import socket
import tempfile

import pytest

from trioftp import systemd


def test_notify_without_a_service_manager_sends_nothing() -> None:
    assert systemd.notify(systemd.READY, environ={}) is False


def test_notify_sends_one_datagram_per_state() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="notify-") as directory,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager,
    ):
        path = os.path.join(directory, "notify")
        manager.bind(path)
        environ = {"NOTIFY_SOCKET": path}
        assert systemd.notify(systemd.READY, environ=environ) is True
        assert systemd.notify(systemd.STOPPING, environ=environ) is True
        assert manager.recv(100) == b"READY=1"
        assert manager.recv(100) == b"STOPPING=1"


def test_notify_to_a_missing_socket_raises() -> None:
    with tempfile.TemporaryDirectory() as directory:
        missing = os.path.join(directory, "gone")
        with pytest.raises(FileNotFoundError):
            systemd.notify(systemd.READY, environ={"NOTIFY_SOCKET": missing})


def test_activation_for_another_process_is_left_alone() -> None:
    environ = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "ftp"}
    assert systemd.listen_fds(environ=environ) == []
    # Not ours: the variables stay for the process they were meant for.
    assert environ == {
        "LISTEN_PID": str(os.getpid() + 1),
        "LISTEN_FDS": "1",
        "LISTEN_FDNAMES": "ftp",
    }


def test_no_descriptors_and_the_variables_are_removed() -> None:
    environ = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "0", "PATH": "/bin"}
    assert systemd.listen_fds(environ=environ) == []
    assert environ == {"PATH": "/bin"}


def test_a_malformed_count_is_an_activation_error() -> None:
    environ = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "three"}
    with pytest.raises(systemd.ActivationError, match=r"^LISTEN_FDS is not a number: 'three'$"):
        systemd.listen_fds(environ=environ)

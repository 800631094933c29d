#!/usr/bin/env python3
"""The Unix-accounts FTP server as a classic Unix daemon: start, stop, status.

``start`` opens the listening socket first (so a busy port or a missing
permission fails right there, on the terminal), then detaches: two forks and
``setsid`` (no controlling terminal), ``/`` as working directory, standard
output and error appended to the log file, the daemon's pid in the pid
file. It prints ``started (pid N) at ftp://HOST:PORT/`` once the daemon has
written its pid file. ``stop`` sends SIGTERM, on which the server closes
every session and the daemon removes its pid file; ``status`` says whether
it runs (exit status 0) or not (3, as LSB init scripts do). With no command
the server runs in the foreground.

The server is ``examples/unix_ftpd.py``'s: ``UnixAuthorizer`` and
``UnixFilesystem``, so it runs as root. Under systemd you need none of this:
run ``trioftp`` as a service (``contrib/systemd``, ``docs/deployment.md``).

Usage::

    sudo python examples/unix_daemon.py [--port PORT] [--pidfile PATH] [--logfile PATH]
                                         [--pam-service NAME] [start|stop|status]

PORT defaults to ``$FTPD_PORT`` or 21 (``0``: any free port), the pid file
to ``/run/trioftp-daemon.pid``, the log file to
``/var/log/trioftp-daemon.log``, the PAM service to ``login``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time

from trioftp.authorizers import UnixAuthorizer
from trioftp.filesystems import UnixFilesystem
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer

#: The exit status of ``status`` when the daemon does not run (LSB).
NOT_RUNNING = 3
STOP_TIMEOUT = 10.0


def make_server(port: int, pam_service: str) -> FTPServer:
    authorizer = UnixAuthorizer(
        rejected_users=["root"], require_valid_shell=True, pam_service=pam_service
    )
    attributes = {"authorizer": authorizer, "abstracted_fs": UnixFilesystem}
    return FTPServer(("127.0.0.1", port), type("Handler", (FTPHandler,), attributes))


def running_pid(pidfile: str) -> int | None:
    """The pid in *pidfile* if that process exists, else None (a stale file is ignored)."""
    try:
        with open(pidfile) as file:
            pid = int(file.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it exists, as another user
    return pid


def serve(server: FTPServer, pidfile: str | None) -> None:
    """Serve until SIGTERM/SIGINT; then remove the pid file."""
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    try:
        server.serve_forever()
    finally:
        if pidfile is not None:
            os.unlink(pidfile)


def start(args: argparse.Namespace) -> int:
    pid = running_pid(args.pidfile)
    if pid is not None:
        print(f"already running (pid {pid})", file=sys.stderr)
        return 1
    server = make_server(args.port, args.pam_service)
    host, port = server.address
    ready_read, ready_write = os.pipe()
    if os.fork() > 0:
        # The original process: wait until the daemon says its pid file is written.
        os.close(ready_write)
        with os.fdopen(ready_read) as ready:
            daemon_pid = ready.read().strip()
        if not daemon_pid:
            print(f"the daemon failed to start: see {args.logfile}", file=sys.stderr)
            return 1
        print(f"started (pid {daemon_pid}) at ftp://{host}:{port}/", flush=True)
        return 0
    os.close(ready_read)
    os.setsid()  # a session of its own: no controlling terminal
    if os.fork() > 0:
        os._exit(0)  # the session leader goes; its child can never get a terminal back
    os.chdir("/")
    os.umask(0o022)
    log = os.open(args.logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    with open(args.pidfile, "w") as file:
        file.write(f"{os.getpid()}\n")
    os.write(ready_write, f"{os.getpid()}\n".encode())
    os.close(ready_write)
    serve(server, args.pidfile)
    return 0


def stop(args: argparse.Namespace) -> int:
    pid = running_pid(args.pidfile)
    if pid is None:
        print("not running", file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGTERM)
    # The daemon is not our child, so there is nothing to wait on: the pid
    # file goes when it has finished (its process may linger as a zombie
    # where nothing reaps orphans, e.g. in a container without an init).
    deadline = time.monotonic() + STOP_TIMEOUT
    while os.path.exists(args.pidfile):
        if time.monotonic() > deadline:
            print(f"pid {pid} did not stop within {STOP_TIMEOUT:g} s", file=sys.stderr)
            return 1
        time.sleep(0.05)
    print(f"stopped (pid {pid})")
    return 0


def status(args: argparse.Namespace) -> int:
    pid = running_pid(args.pidfile)
    if pid is None:
        print("not running")
        return NOT_RUNNING
    print(f"running (pid {pid})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=os.environ.get("FTPD_PORT", "21"))
    parser.add_argument("--pidfile", default="/run/trioftp-daemon.pid")
    parser.add_argument("--logfile", default="/var/log/trioftp-daemon.log")
    parser.add_argument("--pam-service", default=os.environ.get("FTPD_PAM_SERVICE", "login"))
    args = parser.parse_args()
    args.pidfile, args.logfile = os.path.abspath(args.pidfile), os.path.abspath(args.logfile)
    if args.command == "start":
        return start(args)
    if args.command == "stop":
        return stop(args)
    if args.command == "status":
        return status(args)
    server = make_server(args.port, args.pam_service)
    host, port = server.address
    print(f"unix_daemon: serving in the foreground at ftp://{host}:{port}/", flush=True)
    serve(server, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Smoke test of an installed trioftp (run by scripts/check-dist.sh with the wheel's virtualenv).

Imports trioftp from outside the source tree, starts the ``trioftp`` command
of the same environment on a free loopback port serving a new directory,
logs in anonymously with ftplib, checks the listing, and stops it with
SIGINT (exit status 0). Prints one line per step; exits non-zero on failure.
"""

from __future__ import annotations

import ftplib
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import trioftp

ADDRESS = re.compile(r"ftp://127\.0\.0\.1:(\d+)/")


def main() -> None:
    installed = Path(trioftp.__file__).resolve()
    prefix = Path(sys.prefix).resolve()
    assert prefix in installed.parents, f"trioftp imported from {installed}, not from {prefix}"
    print(f"import trioftp {trioftp.__version__}: {installed}")

    command = Path(sys.executable).with_name("trioftp")
    with tempfile.TemporaryDirectory() as share:
        (Path(share) / "hello.txt").write_bytes(b"hello\n")
        server = subprocess.Popen(
            [str(command), "-p", "0", "-d", share],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            match = ADDRESS.search(line)
            assert match is not None, f"no address in {line!r}"
            print(f"trioftp command: {line.strip()}")
            with ftplib.FTP(timeout=10) as ftp:
                ftp.connect("127.0.0.1", int(match.group(1)))
                assert ftp.login().startswith("230 "), "anonymous login refused"
                listing: list[str] = []
                ftp.retrlines("LIST", listing.append)
                assert len(listing) == 1, listing
                fields = listing[0].split()  # ls -l: mode, links, owner, group, size, date, name
                assert (fields[4], fields[-1]) == ("6", "hello.txt"), listing
                assert ftp.quit() == "221 Goodbye."
            print(f"anonymous login and LIST: {listing[0]}")
        finally:
            server.send_signal(signal.SIGINT)
            _, stderr = server.communicate(timeout=10)
        assert server.returncode == 0, f"exit status {server.returncode}:\n{stderr}"
        assert "Traceback" not in stderr, stderr
    print("stopped cleanly: smoke test passed")


if __name__ == "__main__":
    main()

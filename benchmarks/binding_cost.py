"""What binding data connections to their TLS session costs per FTPS login.

Binding (``tls_data_session_binding`` "preferred" or "required") gives every
control session a TLS context of its own; "off" shares one. This script runs
trioftp both ways, interleaved, and times AUTH TLS logins (connect, AUTH TLS,
handshake, USER, PASS, QUIT) one after another, with the server's CPU
time per login.

    python -m benchmarks.binding_cost [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from trioftp.tls.certificates import self_signed_certificate

from .client import Session

_SERVER = textwrap.dedent(
    """
    import sys
    from trioftp.authorizers import DummyAuthorizer
    from trioftp.handlers import TLS_FTPHandler
    from trioftp.servers import FTPServer
    home, certfile, keyfile, binding = sys.argv[1:5]
    authorizer = DummyAuthorizer()
    authorizer.add_user("bench", "bench", home, perm="elr")
    attributes = dict(authorizer=authorizer, certfile=certfile, keyfile=keyfile,
                      tls_data_session_binding=binding)
    server = FTPServer(("127.0.0.1", 0), type("H", (TLS_FTPHandler,), attributes))
    print(server.address[1], flush=True)
    try:
        server.serve_forever(handle_exit=False)
    except KeyboardInterrupt:
        pass
    """
)


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def logins_per_second(
    binding: str, seconds: float, files: tuple[str, str, str]
) -> tuple[float, float]:
    """FTPS logins per second, and server CPU microseconds per login."""
    home, certfile, keyfile = files
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, home, certfile, keyfile, binding],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        context = ssl.create_default_context(cafile=certfile)
        context.check_hostname = False
        Session(port, tls=context).quit()  # warm up
        count = 0
        cpu = _process_cpu(server.pid)
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        while time.perf_counter() < deadline:
            Session(port, tls=context).quit()
            count += 1
        rate = count / (time.perf_counter() - start)
        return rate, (_process_cpu(server.pid) - cpu) / count * 1e6
    finally:
        server.terminate()
        server.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        certificate = self_signed_certificate(Path(tmp) / "tls")
        files = (tmp, str(certificate.certfile), str(certificate.keyfile))
        rates: dict[str, list[float]] = {"off": [], "preferred": []}
        cpus: dict[str, list[float]] = {"off": [], "preferred": []}
        for _ in range(options.rounds):
            for binding, values in rates.items():
                rate, cpu = logins_per_second(binding, options.seconds, files)
                values.append(rate)
                cpus[binding].append(cpu)
    off, bound = statistics.median(rates["off"]), statistics.median(rates["preferred"])
    cpu_off, cpu_bound = statistics.median(cpus["off"]), statistics.median(cpus["preferred"])
    print(f"FTPS logins/s, median of {options.rounds} rounds, {os.cpu_count()} CPUs:")
    print(f"  binding off (one shared context):    {off:8.1f}/s  {cpu_off:6.0f} us server CPU")
    print(f"  binding preferred (context/session): {bound:8.1f}/s  {cpu_bound:6.0f} us server CPU")
    print(f"  cost per login: {(1 / bound - 1 / off) * 1e6:.0f} us ({off / bound:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

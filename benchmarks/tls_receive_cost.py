"""The floor under FTPS transfer speed: what moving TLS data costs per stream kind.

Receiving (uploads): a thread sends MiB of TLS data over loopback (stdlib
``ssl``, blocking) to a receiver that only decrypts and discards it.
Sending (downloads): the server side encrypts and sends 256 KiB pieces to a
thread that reads and discards them. Each is measured through
``trio.SSLStream`` (what trioftp's control connection uses), through
trioftp's ``DataTLSStream`` (its data connections: whole batches of records
per wakeup) and through a blocking ``ssl.SSLSocket`` (as the synchronous
servers do, and as a whole transfer run in a worker thread would: the
floor). It prints MB/s and the server-side thread's CPU seconds per GiB, so
what a stream adds per TLS record shows apart from any FTP server's work.

    python -m benchmarks.tls_receive_cost [--mib 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import socket
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import trio

from trioftp.tls.certificates import self_signed_certificate
from trioftp.tls.datastream import DataTLSStream

_CHUNK = 4 << 20


def _thread_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def _send(port: int, size: int, cafile: str) -> None:
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
    ):
        chunk = bytes(_CHUNK)
        for _ in range(size // _CHUNK):
            conn.sendall(chunk)
        # Closing with the receiver's session tickets unread would reset the
        # connection and drop the last records: read until the receiver closes.
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass


def _drain(port: int, cafile: str) -> None:
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
        contextlib.suppress(OSError),
    ):
        buffer = bytearray(1 << 20)
        while conn.recv_into(buffer):
            pass


_PIECE = 256 << 10


def _send_with(
    make: Callable[
        [trio.SocketStream, ssl.SSLContext], trio.SSLStream[trio.SocketStream] | DataTLSStream
    ],
) -> Callable[[int, ssl.SSLContext, str], tuple[float, float]]:
    def run(size: int, server: ssl.SSLContext, cafile: str) -> tuple[float, float]:
        async def main() -> tuple[float, float]:
            listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
            port = listener.socket.getsockname()[1]
            threading.Thread(target=_drain, args=(port, cafile), daemon=True).start()
            stream = make(await listener.accept(), server)
            await stream.do_handshake()
            piece = bytes(_PIECE)
            cpu, start = _thread_cpu(), time.perf_counter()
            for _ in range(size // _PIECE):
                await stream.send_all(piece)
            elapsed, used = time.perf_counter() - start, _thread_cpu() - cpu
            await stream.aclose()
            return elapsed, used

        return trio.run(main)

    return run


def _send_blocking(size: int, server: ssl.SSLContext, cafile: str) -> tuple[float, float]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        threading.Thread(target=_drain, args=(port, cafile), daemon=True).start()
        raw, _ = listener.accept()
        with server.wrap_socket(raw, server_side=True) as conn:
            piece = bytes(_PIECE)
            cpu, start = _thread_cpu(), time.perf_counter()
            for _ in range(size // _PIECE):
                conn.sendall(piece)
            return time.perf_counter() - start, _thread_cpu() - cpu


def _receive_with_trio(size: int, server: ssl.SSLContext, cafile: str) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
        port = listener.socket.getsockname()[1]
        threading.Thread(target=_send, args=(port, size, cafile), daemon=True).start()
        stream = trio.SSLStream(await listener.accept(), server, server_side=True)
        await stream.do_handshake()
        cpu, start, received = _thread_cpu(), time.perf_counter(), 0
        while received < size:
            received += len(await stream.receive_some(65536))
        return time.perf_counter() - start, _thread_cpu() - cpu

    return trio.run(main)


def _receive_with_data_stream(
    size: int, server: ssl.SSLContext, cafile: str
) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
        port = listener.socket.getsockname()[1]
        threading.Thread(target=_send, args=(port, size, cafile), daemon=True).start()
        stream = DataTLSStream(await listener.accept(), server)
        await stream.do_handshake()
        cpu, start, received = _thread_cpu(), time.perf_counter(), 0
        while received < size:
            received += len(await stream.receive_some())
        elapsed, used = time.perf_counter() - start, _thread_cpu() - cpu
        await stream.aclose()
        return elapsed, used

    return trio.run(main)


def _receive_blocking(size: int, server: ssl.SSLContext, cafile: str) -> tuple[float, float]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        threading.Thread(target=_send, args=(port, size, cafile), daemon=True).start()
        raw, _ = listener.accept()
        with server.wrap_socket(raw, server_side=True) as conn:
            buffer = bytearray(65536)
            cpu, start, received = _thread_cpu(), time.perf_counter(), 0
            while received < size:
                received += conn.recv_into(buffer)
            return time.perf_counter() - start, _thread_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="MiB per run")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    size = options.mib << 20
    with tempfile.TemporaryDirectory() as directory:
        certificate = self_signed_certificate(Path(directory))
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(certificate.certfile, certificate.keyfile)
        cafile = str(certificate.certfile)
        kinds: dict[str, Callable[[int, ssl.SSLContext, str], tuple[float, float]]] = {
            "receive trio.SSLStream": _receive_with_trio,
            "receive DataTLSStream": _receive_with_data_stream,
            "receive blocking SSLSocket": _receive_blocking,
            "send trio.SSLStream": _send_with(
                lambda raw, context: trio.SSLStream(raw, context, server_side=True)
            ),
            "send DataTLSStream": _send_with(DataTLSStream),
            "send blocking SSLSocket": _send_blocking,
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in kinds}
        for _ in range(options.rounds):
            for name, measure in kinds.items():
                results[name].append(measure(size, server, cafile))
    gib = size / (1 << 30)
    print(f"moving {options.mib} MiB of TLS, medians of {options.rounds} rounds")
    for name, runs in results.items():
        rate = statistics.median(size / seconds / 1e6 for seconds, _ in runs)
        cpu = statistics.median(cpu / gib for _, cpu in runs)
        rounds = " ".join(f"{cpu / gib:.2f}" for _, cpu in runs)
        print(
            f"  {name:28} {rate:7.0f} MB/s  {cpu:5.2f} CPU s/GiB (server thread; rounds: {rounds})"
        )


if __name__ == "__main__":
    main()

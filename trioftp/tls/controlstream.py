"""The control connection's TLS, with as few passes through the scheduler as a plain one.

An FTPS login is a handful of short exchanges; over :class:`trio.SSLStream`
each step of each costs scheduler passes (its locks, its retry loop, a
transport ``send_all`` and ``receive_some`` per step), and an FTPS login
cost several times a plain one. :class:`ControlTLSStream` drives a stdlib
:class:`ssl.SSLObject` over memory BIOs (:class:`~.biostream.MemoryBIOStream`)
and, on a plain :class:`trio.SocketStream`, uses the socket's descriptor as
the plain control channel does:

* the transport is read straight from the descriptor, waiting for it
  (``wait_readable``) only when nothing is there;
* each flight of records - the server's handshake flight, a reply - is one
  write, which returns without waiting when the socket takes it all;
* a receive decrypts every complete record read, and returns with no await
  between decrypting and returning: cancelling it loses nothing.

One task may send while another receives (a receive may have to send, e.g.
the answer to a TLS 1.3 KeyUpdate: it is queued behind a send in progress,
never interleaved with it); two at once on the same side raise
:class:`trio.BusyResourceError`. :meth:`unwrap` takes TLS off for ``CCC``.
"""

from __future__ import annotations

import os
import ssl

import trio

from .biostream import MemoryBIOStream
from .records import TLS_RECORD_TYPES

__all__ = ["ControlTLSStream"]

# Ciphertext read from the socket at once: several records of pipelined commands.
_READ_SIZE = 32 * 1024
# Plaintext returned by a receive_some that names no size.
_RECEIVE_SIZE = 8192
# Sockets are read and written by descriptor where that works (POSIX).
_BY_DESCRIPTOR = os.name == "posix"


class ControlTLSStream(MemoryBIOStream):
    """The server side of TLS over *transport*, for a control connection (stdlib *context*)."""

    def __init__(self, transport: trio.abc.Stream, context: ssl.SSLContext) -> None:
        super().__init__(transport, context)
        self._socket: trio.socket.SocketType | None = None  # read and written by descriptor
        if _BY_DESCRIPTOR and type(transport) is trio.SocketStream:
            self._socket = transport.socket
        self._unsent = bytearray()  # records taken from OpenSSL, not written yet
        self._writing: trio.Event | None = None  # set when a waiting write ends
        self._sending = False
        self._receiving = False
        #: Whether the last receive had to wait for the peer (unknown, so
        #: True, on a transport that isn't read by descriptor): a client
        #: whose commands are there before it has read the replies is
        #: pipelining (see :mod:`trioftp.session.pacing`).
        self.receive_waited = False

    # --- the Stream interface

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """Up to *max_bytes* of plaintext (every complete record read); ``b""`` at the end."""
        await self._ready()
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this TLS stream")
        self._receiving = True
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            if self._outgoing.pending:  # a TLS 1.3 KeyUpdate's answer, queued by the last read
                self._unsent += self._take_outgoing()
                await self._write_unsent(wait=False)
            size = max_bytes or _RECEIVE_SIZE
            self.receive_waited = False
            waited = False
            while not self._eof:
                # No more plaintext can come out than ciphertext went in.
                buffer = bytearray(max(1, min(size, self._incoming.pending + self._ssl.pending())))
                with memoryview(buffer) as view:
                    count = self._decrypt_into(view)
                if count or self._eof:
                    del buffer[count:]
                    if not waited:  # others run too, but a cancel can't take the plaintext
                        await trio.lowlevel.cancel_shielded_checkpoint()
                    return buffer
                self._feed(await self._receive_raw())
                waited = True
            if not waited:
                await trio.lowlevel.cancel_shielded_checkpoint()
            return b""
        finally:
            self._receiving = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt all of *data* and write it at once (waiting only if the socket is full)."""
        await self._ready()
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this TLS stream")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint_if_cancelled()  # a cancelled send sends nothing
            await self._send(self._encrypt(data))
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    # --- CCC

    async def unwrap(self) -> tuple[trio.abc.Stream, bytes]:
        """Take TLS off (CCC): the transport, and the bytes read past TLS.

        Our close_notify goes out; the peer may answer with its own, or -
        like curl's default (passive) CCC mode - not at all, going on in
        clear text, which ends the wait: FTP commands never start with a TLS
        record's content type byte. The stream is closed afterwards (its
        transport stays open). :class:`trio.BrokenResourceError` if the
        connection ends or TLS fails first.
        """
        await self._ready()
        if self._receiving or self._sending:
            raise trio.BusyResourceError("the TLS stream is in use")
        # What was read and not decrypted starts at a record (see _decrypt_into);
        # it is taken out, so that OpenSSL never parses clear text.
        read: bytes | bytearray = self._incoming.read()
        done = self._shut_down()  # queues our close_notify
        self._unsent += self._take_outgoing()
        await self._write_unsent(wait=True)
        fed = False
        while not done:
            # Only the first bytes after the last whole record can tell clear text.
            if not fed and _clear_text(read):
                self._closed = True
                return self.transport_stream, bytes(read)
            if read:
                self._incoming.write(read)
                read, fed = b"", True
            done = self._shut_down()
            if not done:
                read = await self._receive_raw()
                if not read:
                    raise trio.BrokenResourceError("the connection ended during CCC")
        self._closed = True
        # Past the peer's close_notify (which may have come before the CCC was answered).
        return self.transport_stream, bytes(read) + self._incoming.read()

    def _shut_down(self) -> bool:
        """Send (queue) close_notify, read the peer's: True once it came (no I/O)."""
        try:
            self._ssl.unwrap()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError as exc:
            raise trio.BrokenResourceError(f"TLS shutdown failed: {exc}") from exc
        return True

    # --- the transport

    async def _send(self, records: bytes) -> None:
        self._unsent += records
        await self._write_unsent(wait=True)

    async def _write_unsent(self, *, wait: bool) -> None:
        """Write the records not yet written, in order, all of them.

        If another task is writing (it waits for the socket), it writes
        ours too: with *wait*, return once it has; without, at once.
        """
        while self._writing is not None:
            if not wait:
                return
            await self._writing.wait()
        if self._broken:
            raise trio.BrokenResourceError("an earlier send on this TLS stream was cut off")
        if not self._unsent:
            return
        records = bytes(self._unsent)
        self._unsent.clear()
        sent = 0
        if self._socket is not None:
            try:
                sent = os.write(self._socket.fileno(), records)
            except BlockingIOError:
                pass
            except OSError as exc:  # worded as trio.SocketStream words it
                self._broken = True
                raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc
            if sent == len(records):
                return
        writing = self._writing = trio.Event()
        try:
            await self.transport_stream.send_all(memoryview(records)[sent:])
            while self._unsent:  # queued meanwhile by a receive
                records = bytes(self._unsent)
                self._unsent.clear()
                await self.transport_stream.send_all(records)
        except BaseException:
            # Part of a record may have gone out: nothing more can follow it.
            self._broken = True
            raise
        finally:
            self._writing = None
            writing.set()

    async def _receive_raw(self) -> bytes | bytearray:
        """The next chunk of the transport (b"" at its end)."""
        sock = self._socket
        if sock is None:
            self.receive_waited = True
            try:
                return await self.transport_stream.receive_some(_READ_SIZE)
            except trio.BrokenResourceError:
                raise
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc
        while True:
            try:
                return os.read(sock.fileno(), _READ_SIZE)
            except BlockingIOError:
                self.receive_waited = True
                await trio.lowlevel.wait_readable(sock)
            except OSError as exc:  # worded as trio.SocketStream words it
                raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc

    async def _read_transport(self) -> None:
        self._feed(await self._receive_raw())


def _clear_text(data: bytes | bytearray) -> bool:
    """True if *data* (read where a TLS record starts) is clear text, not TLS."""
    return bool(data) and data[0] not in TLS_RECORD_TYPES

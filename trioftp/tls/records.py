"""TLS record framing, as much as FTPS needs to see of it (no I/O, no TLS library)."""

from __future__ import annotations

__all__ = ["RECORD_HEADER", "TLS_RECORD_TYPES", "record_end"]

#: A record's header: content type (1 byte), version (2), length (2).
RECORD_HEADER = 5
#: The first byte of every TLS record: change_cipher_spec, alert, handshake, application_data.
#: FTP commands never start with one of these bytes, so they tell clear text from TLS.
TLS_RECORD_TYPES = frozenset({20, 21, 22, 23})


def record_end(buffer: bytes) -> int:
    """The end of the first TLS record in *buffer* (its header, if incomplete)."""
    if len(buffer) < RECORD_HEADER:
        return RECORD_HEADER
    return RECORD_HEADER + int.from_bytes(buffer[3:5], "big")

"""File hashes: the algorithms, the blocking hashing job, and hashing while writing.

The names are those of IANA's "Hash Function Textual Names" registry, as
draft-bryan-ftpext-hash asks (CRC32, which the registry lacks, is named as
every FTP server names it). Everything here but the algorithm table runs
in the session's runner (a worker thread unless told otherwise):

* :func:`hash_file` reads a file in large blocks and checks a
  :class:`HashJob`'s cancel flag between blocks, so an ABOR or the end of
  the session stops the worker thread itself, not only the task awaiting it;
* :class:`HashingWriter` wraps an upload's file: each block is hashed in the
  thread that writes it, so the hash of a file that was just uploaded is
  known without reading it again (see :mod:`.digestcache`).
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Callable, Iterable
from typing import IO, Any, Protocol

import attrs

from .digestcache import DigestCache, FileIdentity, identity_of

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "HashCancelled",
    "HashJob",
    "Hasher",
    "HashingWriter",
    "algorithm_named",
    "hash_feature",
    "hash_file",
    "hash_option",
    "new_hasher",
    "selected_algorithm",
]


class Hasher(Protocol):
    """What the algorithms have in common: hashlib's ``update``/``hexdigest``."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


class _CRC32:
    """CRC-32 (zlib's, as ``cksum -a crc32b`` and every FTP server's XCRC) with hashlib's API."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def hexdigest(self) -> str:
        return f"{self._value:08x}"


#: Every algorithm offered, by its name in FEAT (the order FEAT lists them in).
ALGORITHMS: dict[str, Callable[[], Hasher]] = {
    "SHA-256": hashlib.sha256,
    "SHA-512": hashlib.sha512,
    "SHA-1": hashlib.sha1,
    "MD5": lambda: hashlib.md5(usedforsecurity=False),
    "CRC32": _CRC32,
}
#: The algorithm HASH uses until OPTS HASH selects another (the draft asks
#: for nothing weaker than SHA-1 as the default).
DEFAULT_ALGORITHM = "SHA-256"
# Spellings clients use for the same algorithms (the draft compares names
# without regard to case).
_ALIASES = {"SHA256": "SHA-256", "SHA512": "SHA-512", "SHA1": "SHA-1", "CRC-32": "CRC32"}


def algorithm_named(name: str) -> str | None:
    """The FEAT name of the algorithm *name* means (any case), or None if none is offered."""
    upper = name.strip().upper()
    upper = _ALIASES.get(upper, upper)
    return upper if upper in ALGORITHMS else None


def new_hasher(algorithm: str) -> Hasher:
    """A fresh hasher for *algorithm* (a name of :data:`ALGORITHMS`)."""
    return ALGORITHMS[algorithm]()


def selected_algorithm(chosen: str | None, default: str) -> str:
    """The algorithm HASH uses: the one OPTS HASH *chosen*, else the handler's *default*."""
    return chosen or algorithm_named(default) or DEFAULT_ALGORITHM


def hash_option(value: str, current: str) -> tuple[str, str]:
    """``OPTS HASH [name]``: the reply, and the algorithm selected from now on.

    Without a name the reply names the current algorithm; an unknown one is
    refused with ``501`` and changes nothing (draft-bryan-ftpext-hash 3.2).
    """
    value = value.strip()
    if not value:
        return f"200 {current}", current
    name = algorithm_named(value)
    if name is None:
        return "501 Unknown algorithm, current selection not changed.", current
    return f"200 {name}", name


def hash_feature(selected: str) -> str:
    """The FEAT line: every algorithm, the selected one marked with ``*``."""
    return "HASH " + ";".join(f"{name}{'*' if name == selected else ''}" for name in ALGORITHMS)


class HashCancelled(Exception):
    """The job's cancel flag was set (ABOR, or the session ended) while hashing."""


@attrs.define(eq=False)
class HashJob:
    """One hashing request, shared by the task that waits and the thread that reads.

    The task sets :attr:`cancel`; the thread checks it between blocks and
    counts what it read in :attr:`bytes_read` (for the session's budget).
    """

    algorithm: str
    #: First byte hashed.
    start: int = 0
    #: One past the last byte hashed; None: to the end of the file.
    end: int | None = None
    block_size: int = 1 << 20
    cancel: threading.Event = attrs.field(factory=threading.Event)
    bytes_read: int = 0


class _Opens(Protocol):
    def open(self, filename: str, mode: str) -> Any: ...


def hash_file(
    fs: _Opens, path: str, job: HashJob, *, size: int, identity: FileIdentity | None,
    cache: DigestCache | None,
) -> str:  # fmt: skip
    """Hash bytes ``job.start`` to ``job.end`` of *path*, a file of *size* bytes (blocking).

    Raises :class:`HashCancelled` as soon as the job is cancelled; the file
    is closed whatever happens. A whole-file hash goes into *cache* when the
    file's *identity* was the same before and after the read.
    """
    end = size if job.end is None else job.end
    hasher = new_hasher(job.algorithm)
    with fs.open(path, "rb") as file:
        if job.start:
            file.seek(job.start)
        left = end - job.start
        while left > 0:
            if job.cancel.is_set():
                raise HashCancelled
            block = file.read(min(job.block_size, left))
            if not block:  # the file shrank meanwhile: hash what there is
                break
            job.bytes_read += len(block)
            left -= len(block)
            hasher.update(block)
        whole_file = job.start == 0 and job.end is None
        if (
            whole_file
            and cache is not None
            and identity is not None
            and identity_of(file, path, fs) == identity  # unchanged while it was read
        ):
            cache.store(path, identity, {job.algorithm: hasher.hexdigest()})
    return hasher.hexdigest()


class HashingWriter:
    """A writable file that hashes every byte written to it, in the writing thread.

    Only ``write`` is its own; everything else (``flush``, ``fileno``...)
    is the wrapped file's.
    """

    def __init__(self, file: IO[bytes], algorithms: Iterable[str]) -> None:
        self.file = file
        self.hashers = {name: new_hasher(name) for name in algorithms}

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Hash *data*, then write it (blocking)."""
        for hasher in self.hashers.values():
            hasher.update(data)
        return self.file.write(data)

    def digests(self) -> dict[str, str]:
        """The hex digest of everything written so far, per algorithm."""
        return {name: hasher.hexdigest() for name, hasher in self.hashers.items()}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)

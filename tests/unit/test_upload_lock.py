"""AbstractedFS.open_upload: one upload at a time per file, truncated only once locked."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import BinaryIO

import pytest

from trioftp.exceptions import FileBusy
from trioftp.filesystems import AbstractedFS


@pytest.fixture
def fs(home: Path) -> AbstractedFS:
    return AbstractedFS(str(home), None)


def test_a_second_upload_is_refused_and_changes_nothing(fs: AbstractedFS, home: Path) -> None:
    target = home / "f.bin"
    target.write_bytes(b"old contents")
    with fs.open_upload(str(target), "wb") as first:
        first.write(b"new")
        first.flush()
        for mode in ("wb", "ab", "r+b"):
            with pytest.raises(FileBusy, match="another upload to it is in progress"):
                fs.open_upload(str(target), mode)
        # The refused opens neither truncated nor wrote anything.
        assert target.read_bytes() == b"new"
        assert fs.upload_in_progress(str(target))
    assert not fs.upload_in_progress(str(target))
    assert not fs.upload_in_progress(str(home / "missing"))
    with fs.open_upload(str(target), "wb") as again:  # the lock ends with the file
        again.write(b"third")
    assert target.read_bytes() == b"third"


def test_modes_create_append_and_keep_for_rest(fs: AbstractedFS, home: Path) -> None:
    target = home / "new.bin"
    with fs.open_upload(str(target), "ab") as appended:
        appended.write(b"abc")
    with fs.open_upload(str(target), "ab") as appended:
        appended.write(b"def")
    assert target.read_bytes() == b"abcdef"
    with fs.open_upload(str(target), "r+b") as resumed:
        resumed.seek(3)
        resumed.write(b"XY")
    assert target.read_bytes() == b"abcXYf"
    with pytest.raises(FileNotFoundError):
        fs.open_upload(str(home / "missing"), "r+b")
    with pytest.raises(ValueError, match="not an upload mode"):
        fs.open_upload(str(target), "rb")


def test_a_lock_taken_elsewhere_refuses_the_upload(fs: AbstractedFS, home: Path) -> None:
    # Another open file description (another process, another program) holding flock.
    target = home / "held.bin"
    target.write_bytes(b"kept")
    fd = os.open(target, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(FileBusy):
            fs.open_upload(str(target), "wb")
        assert fs.upload_in_progress(str(target))
    finally:
        os.close(fd)
    assert target.read_bytes() == b"kept"


def test_the_jail_holds(fs: AbstractedFS, home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"secret")
    (home / "link").symlink_to(outside)
    with pytest.raises(PermissionError):
        fs.open_upload(str(home / "link"), "wb")
    assert outside.read_bytes() == b"secret"


def test_a_subclass_with_its_own_open_gets_it_called(home: Path) -> None:
    opened: list[tuple[str, str]] = []

    class OwnOpen(AbstractedFS):
        def open(self, filename: str, mode: str) -> BinaryIO:
            opened.append((os.path.basename(filename), mode))
            return super().open(filename, mode)

    fs = OwnOpen(str(home), None)
    with fs.open_upload(str(home / "a"), "wb"), fs.open_upload(str(home / "a"), "wb"):
        assert not fs.upload_in_progress(str(home / "a"))  # not locked: maybe not OS files
    assert opened == [("a", "wb"), ("a", "wb")]


def test_asking_about_a_fifo_does_not_block(fs: AbstractedFS, home: Path) -> None:
    os.mkfifo(home / "pipe")
    assert not fs.upload_in_progress(str(home / "pipe"))  # no reader: ENXIO, not a hang

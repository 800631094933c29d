"""Lookups under a root that hold while the tree changes (trioftp._beneath)."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from trioftp._beneath import Beneath
from trioftp.filesystems import AbstractedFS


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ with a directory, links inside and out; outside/ with a secret."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (root / "d" / "f").write_bytes(b"inside")
    (root / "dir_link").symlink_to("d")
    (root / "d" / "file_link").symlink_to("f")
    (root / "d" / "up_link").symlink_to("../d/f")
    (root / "absolute_in").symlink_to(root / "d" / "f")
    (root / "relative_out").symlink_to("../outside")
    (root / "absolute_out").symlink_to(outside / "secret")
    (root / "loop").symlink_to("loop")
    return root


def read(lookups: Beneath, relative: str) -> bytes:
    fd = lookups.open(relative, os.O_RDONLY)
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "relative",
    ["d/f", "dir_link/f", "d/file_link", "d/up_link", "absolute_in", "dir_link/../d/f", "d/./f"],
)
def test_links_inside_the_root_are_followed(tree: Path, relative: str) -> None:
    assert read(Beneath(str(tree)), relative) == b"inside"


@pytest.mark.parametrize(
    "relative", ["relative_out/secret", "absolute_out", "relative_out", "../outside/secret"]
)
def test_a_lookup_ending_outside_is_refused(tree: Path, relative: str) -> None:
    with pytest.raises(PermissionError):
        read(Beneath(str(tree)), relative)


def test_a_symlink_loop_is_eloop(tree: Path) -> None:
    with pytest.raises(OSError, match="Too many levels of symbolic links") as raised:
        read(Beneath(str(tree)), "loop")
    assert raised.value.errno == errno.ELOOP


def test_a_root_reached_through_a_symlink(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "root_link").symlink_to(tree)
    lookups = Beneath(str(tmp_path / "root_link"))
    assert read(lookups, "absolute_in") == b"inside"  # spelled with the resolved root
    (tree / "via_link").symlink_to(tmp_path / "root_link" / "d" / "f")
    assert read(lookups, "via_link") == b"inside"  # spelled with the root as given


def test_create_exclusive_never_follows_a_link(tree: Path) -> None:
    (tree / "trap").symlink_to(tree.parent / "outside" / "planted")
    with pytest.raises(FileExistsError):
        Beneath(str(tree)).open("trap", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    assert not (tree.parent / "outside" / "planted").exists()


def test_on_file_and_parent(tree: Path) -> None:
    lookups = Beneath(str(tree))
    assert lookups.on_file("dir_link/f", os.stat).st_size == len(b"inside")
    with lookups.parent("dir_link/file_link") as (parent, name):
        assert name == "file_link"
        assert os.readlink(name, dir_fd=parent) == "f"
    with pytest.raises(PermissionError):
        lookups.on_file("relative_out", os.stat)


# --- the check-then-use race, made deterministic: the swap lands between the two


def swap_for_link(directory: Path, target: Path) -> None:
    directory.rename(directory.with_name(directory.name + ".moved"))
    directory.symlink_to(target)


@pytest.fixture
def swapped(tmp_path: Path) -> tuple[AbstractedFS, Path, Path]:
    """An AbstractedFS whose jail check passed for root/d before d became a link out."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"inside")
    (root / "d" / "sub").mkdir()
    outside.mkdir()
    (outside / "f").write_bytes(b"secret")
    (outside / "sub").mkdir()
    fs = AbstractedFS(str(root), None)
    for name in ("f", "sub", "new"):
        assert fs.validpath(str(root / "d" / name))
    swap_for_link(root / "d", outside)
    return fs, root, outside


def test_swapped_directory_reads_nothing_outside(swapped: tuple[AbstractedFS, Path, Path]) -> None:
    fs, root, _ = swapped
    path = str(root / "d" / "f")
    with pytest.raises(PermissionError):
        fs.open(path, "rb")
    for call in (fs.stat, fs.lstat, fs.getsize, fs.listdir):
        with pytest.raises(PermissionError):
            call(path if call is not fs.listdir else str(root / "d"))
    assert not fs.isfile(path)
    assert not fs.lexists(path)


def test_swapped_directory_writes_nothing_outside(
    swapped: tuple[AbstractedFS, Path, Path],
) -> None:
    fs, root, outside = swapped
    before = sorted(os.listdir(outside)), (outside / "f").read_bytes(), os.stat(outside / "f")
    d = root / "d"
    attempts = [
        lambda: fs.open(str(d / "new"), "wb"),
        lambda: fs.open(str(d / "f"), "r+b"),
        lambda: fs.open(str(d / "f"), "ab"),
        lambda: fs.mkdir(str(d / "new")),
        lambda: fs.remove(str(d / "f")),
        lambda: fs.rmdir(str(d / "sub")),
        lambda: fs.rename(str(d / "f"), str(root / "stolen")),
        lambda: fs.rename(str(root / "d.moved" / "f"), str(d / "planted")),
        lambda: fs.chmod(str(d / "f"), 0o777),
        lambda: fs.utime(str(d / "f"), 0),
        lambda: fs.mkstemp(dir=str(d)),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionError):
            attempt()
    after = sorted(os.listdir(outside)), (outside / "f").read_bytes(), os.stat(outside / "f")
    assert after == before
    assert not (root / "stolen").exists()


def test_racing_swaps_never_reach_outside(tmp_path: Path) -> None:
    """A thread flips root/d between a directory and a link out while files are used."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"inside")
    outside.mkdir()
    (outside / "f").write_bytes(b"secret")
    fs = AbstractedFS(str(root), None)
    stop = threading.Event()

    def flip() -> None:
        moved, d = root / "d.real", root / "d"
        while not stop.is_set():
            d.rename(moved)
            d.symlink_to(outside)
            d.unlink()
            moved.rename(d)

    flipper = threading.Thread(target=flip)
    flipper.start()
    seen: set[bytes] = set()
    try:
        for i in range(2000):
            source, target = str(root / "d" / "f"), str(root / "d" / f"up{i}")
            try:  # the session's order: the jail check, then the use
                if fs.validpath(source):
                    with fs.open(source, "rb") as file:
                        seen.add(file.read())
                if fs.validpath(target):
                    with fs.open(target, "wb") as file:
                        file.write(b"upload")
            except OSError:
                pass  # refused or mid-swap: never outside
    finally:
        stop.set()
        flipper.join()
    assert seen <= {b"inside"}
    assert sorted(os.listdir(outside)) == ["f"]


@pytest.mark.parametrize(
    "relative", ["d/f", "dir_link/f", "d/file_link", "d/up_link", "absolute_in"]
)
def test_stat_follows_links_inside_the_root(tree: Path, relative: str) -> None:
    found = Beneath(str(tree)).stat(relative)
    assert (found.st_ino, found.st_size) == ((tree / "d" / "f").stat().st_ino, len(b"inside"))


def test_stat_of_the_root_and_of_a_directory(tree: Path) -> None:
    lookups = Beneath(str(tree))
    assert lookups.stat("").st_ino == tree.stat().st_ino
    assert lookups.stat("d/..").st_ino == tree.stat().st_ino
    assert lookups.stat("dir_link").st_ino == (tree / "d").stat().st_ino


@pytest.mark.parametrize("relative", ["relative_out", "absolute_out", "relative_out/secret"])
def test_stat_of_a_link_out_is_refused(tree: Path, relative: str) -> None:
    with pytest.raises(PermissionError):
        Beneath(str(tree)).stat(relative)


def test_stat_of_a_root_that_is_no_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        Beneath(str(tmp_path / "file")).stat("")


def test_stat_of_a_missing_name(tree: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Beneath(str(tree)).stat("d/missing")


def test_follows_no_links(tree: Path, tmp_path: Path) -> None:
    lookups = Beneath(str(tree))
    assert lookups.follows_no_links("")
    assert lookups.follows_no_links("d/./f")
    (tmp_path / "root_link").symlink_to(tree)  # the root's own links don't count
    assert Beneath(str(tmp_path / "root_link")).follows_no_links("d/f")


@pytest.mark.parametrize(
    "relative", ["dir_link", "dir_link/f", "d/file_link", "relative_out", "d/.."]
)
def test_a_link_or_dotdot_below_the_root(tree: Path, relative: str) -> None:
    assert not Beneath(str(tree)).follows_no_links(relative)


@pytest.mark.parametrize("relative", ["missing", "missing/dir_link", "d/f/x", "d/f/x/y"])
def test_past_a_component_that_cannot_be_looked_at_all_is_as_written(
    tree: Path, relative: str
) -> None:
    assert Beneath(str(tree)).follows_no_links(relative)
    assert os.path.realpath(tree / relative) == str(tree.resolve() / relative)

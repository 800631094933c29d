"""Tests for trioftp.filesystems: the jail, the os wrappers and the listings."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from trioftp import exceptions
from trioftp.authorizers import DummyAuthorizer
from trioftp.filesystems import AbstractedFS, FilesystemError, UnixFilesystem
from trioftp.protocol.listing import ALL_FACTS
from trioftp.session.permissions import mlsx_perm_fact

MTIME = 1_700_000_000  # 2023-11-14 22:13:20 UTC
OLD_MTIME = 1_600_000_000  # 2020-09-13 12:26:40 UTC
NOW = MTIME + 86_400


@pytest.fixture
def root(home: Path) -> Path:
    """The filesystem's root: conftest's empty ``home`` directory (``tmp_path / "home"``)."""
    return home


@pytest.fixture
def fs(root: Path) -> AbstractedFS:
    return AbstractedFS(str(root), None)


class Session:
    """A stand-in for the handler: only the attributes the listings read."""

    def __init__(self, **attrs: object) -> None:
        self.__dict__.update(attrs)


class NamedFS(AbstractedFS):
    """Fixed owner/group names, counting look-ups; listings written at NOW."""

    def listing_now(self) -> float:
        return float(NOW)

    def __init__(self, root: str, cmd_channel: object | None = None) -> None:
        super().__init__(root, cmd_channel)
        self.lookups: list[tuple[str, int]] = []

    def get_user_by_uid(self, uid: int) -> str:
        self.lookups.append(("uid", uid))
        return "alice"

    def get_group_by_gid(self, gid: int) -> str:
        self.lookups.append(("gid", gid))
        return "staff"


def write(path: Path, data: bytes, mode: int = 0o644, mtime: float = MTIME) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, (mtime, mtime))
    return path


def test_reexports_filesystem_error() -> None:
    assert FilesystemError is exceptions.FilesystemError


# --- virtual paths


def test_initial_state(fs: AbstractedFS, root: Path) -> None:
    assert fs.cwd == "/"
    assert fs.root == str(root)
    assert fs.cmd_channel is None
    fs.cwd = "/x"
    fs.root = "/srv"
    assert (fs.cwd, fs.root) == ("/x", "/srv")


@pytest.mark.parametrize(
    ("cwd", "arg", "expected"),
    [
        ("/", "", "/"),
        ("/", "/", "/"),
        ("/", ".", "/"),
        ("/", "..", "/"),
        ("/", "../../..", "/"),
        ("/", "/../etc/passwd", "/etc/passwd"),
        ("/", "//", "/"),
        ("/", "//etc", "/etc"),
        ("/", "///etc//x", "/etc/x"),
        ("/", "a/b/", "/a/b"),
        ("/", "a/./b/../c", "/a/c"),
        ("/foo/bar", "baz", "/foo/bar/baz"),
        ("/foo/bar", "..", "/foo"),
        ("/foo/bar", "../../../..", "/"),
        ("/foo/bar", "/abs", "/abs"),
        ("/foo/bar", "", "/foo/bar"),
        ("/foo/bar/", "x/", "/foo/bar/x"),
        ("/foo", "a\\b", "/foo/a\\b"),  # backslash is an ordinary character
        ("/", "...", "/..."),
    ],
)
def test_ftpnorm(fs: AbstractedFS, cwd: str, arg: str, expected: str) -> None:
    fs.cwd = cwd
    assert fs.ftpnorm(arg) == expected


@pytest.mark.parametrize(
    ("cwd", "arg", "expected"),
    [
        ("/", "/", ""),
        ("/", "", ""),
        ("/", "..", ""),
        ("/", "/../../etc/passwd", "/etc/passwd"),
        ("/", "//etc/", "/etc"),
        ("/", "a/b/", "/a/b"),
        ("/sub", "f", "/sub/f"),
        ("/sub", "../..", ""),
    ],
)
def test_ftp2fs(fs: AbstractedFS, root: Path, cwd: str, arg: str, expected: str) -> None:
    fs.cwd = cwd
    assert fs.ftp2fs(arg) == str(root) + expected


def test_ftp2fs_root_variants(root: Path) -> None:
    assert AbstractedFS(str(root) + "/", None).ftp2fs("/a") == f"{root}/a"
    assert AbstractedFS(str(root) + "/", None).ftp2fs("/") == str(root)
    double = AbstractedFS("/" + str(root), None)  # POSIX normpath keeps "//"
    assert double.ftp2fs("/a") == f"{root}/a"
    assert double.fs2ftp(f"{root}/a") == "/a"
    slash = AbstractedFS("/", None)
    assert slash.ftp2fs("/") == "/"
    assert slash.ftp2fs("../etc//passwd") == "/etc/passwd"


def test_fs2ftp(fs: AbstractedFS, root: Path, tmp_path: Path) -> None:
    assert fs.fs2ftp(str(root)) == "/"
    assert fs.fs2ftp(str(root) + "/") == "/"
    assert fs.fs2ftp(f"{root}/a/b/") == "/a/b"
    assert fs.fs2ftp(f"{root}//a") == "/a"
    assert fs.fs2ftp(f"{root}/a/../b") == "/b"
    assert fs.fs2ftp("rel/x") == "/rel/x"  # relative to root
    # Never a server path: anything outside the root is "/".
    assert fs.fs2ftp(str(tmp_path)) == "/"
    assert fs.fs2ftp("/etc/passwd") == "/"
    assert fs.fs2ftp(f"{root}/../home2/x") == "/"
    assert fs.fs2ftp(f"{root}2") == "/"  # common prefix, not inside
    assert fs.fs2ftp("/") == "/"


def test_fs2ftp_symlinked_root(root: Path, tmp_path: Path) -> None:
    link = tmp_path / "homelink"
    link.symlink_to(root)
    fs = AbstractedFS(str(link), None)
    assert fs.fs2ftp(f"{link}/a") == "/a"
    assert fs.fs2ftp(os.path.realpath(root / "a")) == "/a"
    assert fs.ftp2fs("/a") == f"{link}/a"


def test_fs2ftp_root_slash() -> None:
    fs = AbstractedFS("/", None)
    assert fs.fs2ftp("/") == "/"
    assert fs.fs2ftp("/etc//passwd") == "/etc/passwd"


def test_ftp_fs_round_trip_keeps_exact_names(fs: AbstractedFS, root: Path) -> None:
    nfc = unicodedata.normalize("NFC", "café")
    nfd = unicodedata.normalize("NFD", "café")
    raw = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: a surrogate escape
    for name in (nfc, nfd, raw):
        real = fs.ftp2fs(f"/{name}")
        assert real == f"{root}/{name}"
        assert fs.fs2ftp(real) == f"/{name}"
    assert fs.ftp2fs(f"/{nfc}") != fs.ftp2fs(f"/{nfd}")
    assert os.fsencode(fs.ftp2fs(f"/{raw}")).endswith(b"/caf\xe9")


def test_validpath(fs: AbstractedFS, root: Path, tmp_path: Path) -> None:
    (root / "dir").mkdir()
    (root / "file").write_text("x")
    sibling = tmp_path / "home2"  # shares the root's prefix
    sibling.mkdir()
    (root / "escape").symlink_to(tmp_path)
    (root / "escape_file").symlink_to(sibling)
    (root / "inside").symlink_to(root / "dir")
    assert fs.validpath(str(root))
    assert fs.validpath(str(root) + "/")
    assert fs.validpath(str(root / "dir"))
    assert fs.validpath(str(root / "file"))
    assert fs.validpath(str(root / "missing"))
    assert fs.validpath(str(root / "inside"))
    assert fs.validpath(f"{root}/dir/..")
    assert not fs.validpath(str(root / "escape"))
    assert not fs.validpath(str(root / "escape_file"))
    assert fs.validpath(str(root / "escape" / "home"))  # leads back inside
    assert not fs.validpath(str(root / "escape" / "home2"))
    assert not fs.validpath(str(sibling))
    assert not fs.validpath(f"{root}/..")
    assert not fs.validpath(str(tmp_path))


def test_validpath_symlinked_root(root: Path, tmp_path: Path) -> None:
    link = tmp_path / "homelink"
    link.symlink_to(root)
    fs = AbstractedFS(str(link), None)
    assert fs.validpath(str(link / "a"))
    assert fs.validpath(str(root / "a"))
    assert not fs.validpath(str(tmp_path))


def test_validpath_asks_a_subclass_realpath(root: Path) -> None:
    class Mapped(AbstractedFS):
        def realpath(self, path: str) -> str:
            return "/elsewhere" if path.endswith("mapped") else os.path.realpath(path)

    (root / "mapped").mkdir()
    assert not Mapped(str(root), None).validpath(str(root / "mapped"))
    assert AbstractedFS(str(root), None).validpath(str(root / "mapped"))


def test_validpath_root_spelled_with_dotdot_after_a_link(root: Path, tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "hop").symlink_to(tmp_path / "deep" / "er")
    spelled = f"{tmp_path}/hop/../{root.name}"  # realpath: deep/root; lexically: root
    (tmp_path / "deep" / root.name).mkdir()
    fs = AbstractedFS(spelled, None)
    assert fs.validpath(str(tmp_path / "deep" / root.name / "x"))
    assert not fs.validpath(str(root / "x"))


def test_validpath_root_slash(tmp_path: Path) -> None:
    fs = AbstractedFS("/", None)
    assert fs.validpath("/")
    assert fs.validpath("/etc")
    assert fs.validpath(str(tmp_path))


# --- chdir


def test_chdir(fs: AbstractedFS, root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    before = os.getcwd()
    fs.chdir(str(root / "a" / "b"))
    assert fs.cwd == "/a/b"
    assert fs.ftp2fs("..") == str(root / "a")
    fs.chdir(str(root))
    assert fs.cwd == "/"
    assert os.getcwd() == before


def test_chdir_errors(fs: AbstractedFS, root: Path, tmp_path: Path) -> None:
    (root / "file").write_text("x")
    (root / "escape").symlink_to(tmp_path)
    before = os.getcwd()
    with pytest.raises(FileNotFoundError) as missing:
        fs.chdir(str(root / "missing"))
    assert missing.value.errno == errno.ENOENT
    with pytest.raises(NotADirectoryError) as notdir:
        fs.chdir(str(root / "file"))
    assert notdir.value.errno == errno.ENOTDIR
    assert notdir.value.strerror == os.strerror(errno.ENOTDIR)
    with pytest.raises(PermissionError) as outside:
        fs.chdir(str(root / "escape"))
    assert outside.value.errno == errno.EACCES
    assert fs.cwd == "/"
    assert os.getcwd() == before


def test_chdir_without_search_permission(
    fs: AbstractedFS, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root may enter any directory, so the refusal from access(2) is simulated.
    (root / "locked").mkdir()
    seen: list[tuple[str, int]] = []

    def access(path: str, mode: int, **kwargs: object) -> bool:
        seen.append((path, mode))
        return False

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(PermissionError) as denied:
        fs.chdir(str(root / "locked"))
    assert denied.value.errno == errno.EACCES
    assert seen == [(str(root / "locked"), os.X_OK)]
    assert fs.cwd == "/"


# --- files


def test_open_and_wrappers(fs: AbstractedFS, root: Path) -> None:
    path = str(root / "f")
    with fs.open(path, "wb") as file:
        file.write(b"hello")
    with fs.open(path, "rb") as file:
        assert file.read() == b"hello"
    with pytest.raises(ValueError, match="binary"):
        fs.open(path, "r")
    assert fs.isfile(path)
    assert not fs.isdir(path)
    assert not fs.islink(path)
    assert fs.getsize(path) == 5
    fs.utime(path, MTIME)
    assert fs.getmtime(path) == MTIME
    assert os.stat(path).st_atime == MTIME
    fs.chmod(path, 0o600)
    assert stat.S_IMODE(fs.stat(path).st_mode) == 0o600
    fs.mkdir(str(root / "d"))
    assert fs.isdir(str(root / "d"))
    fs.rename(path, str(root / "d" / "g"))
    assert not fs.lexists(path)
    assert sorted(fs.listdir(str(root))) == ["d"]
    assert list(fs.listdir(str(root / "d"))) == ["g"]
    os.symlink("d/g", root / "link")
    assert fs.islink(str(root / "link"))
    assert fs.readlink(str(root / "link")) == "d/g"
    assert stat.S_ISLNK(fs.lstat(str(root / "link")).st_mode)
    assert stat.S_ISREG(fs.stat(str(root / "link")).st_mode)
    assert fs.realpath(str(root / "link")) == os.path.realpath(root / "d" / "g")
    fs.remove(str(root / "d" / "g"))
    assert fs.lexists(str(root / "link"))  # dangling
    assert not fs.isfile(str(root / "link"))
    fs.remove(str(root / "link"))
    fs.rmdir(str(root / "d"))
    assert list(fs.listdir(str(root))) == []
    with pytest.raises(FileNotFoundError):
        fs.rmdir(str(root / "d"))


def test_mkstemp(fs: AbstractedFS, root: Path) -> None:
    with fs.mkstemp(prefix="up.", suffix=".tmp", dir=str(root)) as file:
        file.write(b"data")
        name = file.name
    assert isinstance(name, str)
    assert os.path.isabs(name)
    assert os.path.dirname(name) == str(root)
    base = os.path.basename(name)
    assert base.startswith("up.")
    assert base.endswith(".tmp")
    assert Path(name).read_bytes() == b"data"
    with pytest.raises(ValueError, match="binary"):
        fs.mkstemp(dir=str(root), mode="w")
    assert os.listdir(root) == [base]  # the refused call created nothing


def test_mkstemp_makes_new_private_files_only(fs: AbstractedFS, root: Path) -> None:
    existing = {root / f"taken{i}": f"keep {i}".encode() for i in range(5)}
    for path, data in existing.items():
        path.write_bytes(data)
    names = set()
    for _ in range(200):
        with fs.mkstemp(prefix="up", suffix=".part", dir=str(root)) as file:
            file.write(b"new")
        names.add(file.name)
        assert os.path.dirname(file.name) == str(root)
        assert os.path.basename(file.name).startswith("up")
        assert file.name.endswith(".part")
        assert stat.S_IMODE(os.stat(file.name).st_mode) == 0o600
    assert len(names) == 200
    for path, data in existing.items():
        assert path.read_bytes() == data


def test_mkstemp_relative_dir_gives_absolute_name(
    fs: AbstractedFS, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    with fs.mkstemp(dir=".") as file:
        assert file.name == os.path.join(str(root), os.path.basename(file.name))


def test_owner_and_group_names(fs: AbstractedFS) -> None:
    assert fs.get_user_by_uid(0) == pwd.getpwuid(0).pw_name
    assert fs.get_group_by_gid(0) == grp.getgrgid(0).gr_name
    unknown = 3_999_999_999
    with pytest.raises(KeyError):
        pwd.getpwuid(unknown)
    assert fs.get_user_by_uid(unknown) == "3999999999"
    assert fs.get_group_by_gid(unknown) == "3999999999"


# --- format_list


def listing_lines(fs: AbstractedFS, basedir: Path, names: list[str]) -> list[bytes]:
    return list(fs.format_list(str(basedir), names))


def test_format_list_file_line(root: Path) -> None:
    write(root / "a.txt", b"hello", 0o640)
    write(root / "old", b"x" * 123456, 0o755, OLD_MTIME)
    (root / "sub").mkdir()
    (root / "sub").chmod(0o750)
    os.utime(root / "sub", (MTIME, MTIME))
    os.link(root / "a.txt", root / "hard")
    sub = os.stat(root / "sub")
    fs = NamedFS(str(root))
    assert listing_lines(fs, root, ["a.txt", "old", "sub"]) == [
        b"-rw-r-----   2 alice    staff           5 Nov 14 22:13 a.txt\r\n",
        b"-rwxr-xr-x   1 alice    staff      123456 Sep 13  2020 old\r\n",
        f"drwxr-x--- {sub.st_nlink:3d} alice    staff    {sub.st_size:8d} "
        "Nov 14 22:13 sub\r\n".encode(),
    ]
    # One look-up per uid and per gid per call.
    assert fs.lookups == [("uid", os.getuid()), ("gid", os.getgid())]


def test_format_list_real_owner_names(fs: AbstractedFS, root: Path) -> None:
    write(root / "a", b"")
    line = listing_lines(fs, root, ["a"])[0]
    owner = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    assert line.split()[2:4] == [owner.encode(), group.encode()]


def test_format_list_local_time(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(root / "a", b"")
    monkeypatch.setenv("TZ", "XXX+05")  # five hours behind UTC, no DST
    time.tzset()
    try:
        gmt = NamedFS(str(root), Session(use_gmt_times=True))
        local = NamedFS(str(root), Session(use_gmt_times=False))
        assert listing_lines(gmt, root, ["a"])[0].endswith(b" Nov 14 22:13 a\r\n")
        assert listing_lines(local, root, ["a"])[0].endswith(b" Nov 14 17:13 a\r\n")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_format_list_symlink_inside_jail(root: Path) -> None:
    (root / "dir").mkdir()
    write(root / "dir" / "target.txt", b"12345678")
    os.symlink(root / "dir" / "target.txt", root / "abs")  # raw text: server path
    os.symlink("dir/target.txt", root / "rel")
    os.symlink("dir", root / "dirlink")
    fs = NamedFS(str(root))
    lines = listing_lines(fs, root, ["abs", "rel", "dirlink"])
    assert lines[0].startswith(b"lrwxrwxrwx ")
    assert lines[0].endswith(b" abs -> /dir/target.txt\r\n")
    assert lines[1].endswith(b" rel -> /dir/target.txt\r\n")
    assert lines[2].endswith(b" dirlink -> /dir\r\n")
    # The link's own size (length of its text), not the target's 8 bytes.
    assert int(lines[0].split()[4]) == len(str(root / "dir" / "target.txt"))
    assert all(str(root).encode() not in line for line in lines)


def test_format_list_symlink_outside_jail(root: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "secret", b"s" * 4321)
    os.symlink(secret, root / "out")
    os.symlink(root / "gone", root / "dangling")
    os.symlink("../home/../secret", root / "sneaky")
    fs = NamedFS(str(root))
    lines = listing_lines(fs, root, ["out", "dangling", "sneaky"])
    for line, name in zip(lines, ["out", "dangling", "sneaky"], strict=True):
        assert line.startswith(b"lrwxrwxrwx ")
        assert line.endswith(f" {name}\r\n".encode())
        assert b"->" not in line
        assert b"4321" not in line
    assert int(lines[0].split()[4]) == len(str(secret))


def test_format_list_errors(fs: AbstractedFS, root: Path) -> None:
    write(root / "a", b"")
    assert len(listing_lines(fs, root, ["gone", "a"])) == 1
    with pytest.raises(FileNotFoundError):
        list(fs.format_list(str(root), ["gone"], ignore_err=False))


def test_format_list_non_utf8_name_round_trips(root: Path) -> None:
    raw = b"caf\xe9-\xff.txt"
    (root / os.fsdecode(raw)).write_bytes(b"")
    nfd = unicodedata.normalize("NFD", "é")
    (root / nfd).write_bytes(b"")
    fs = NamedFS(str(root))
    names = sorted(fs.listdir(str(root)))
    lines = list(fs.format_list(str(root), names))
    assert sorted(line.rsplit(b" ", 1)[1] for line in lines) == sorted(
        [raw + b"\r\n", nfd.encode() + b"\r\n"]
    )


def test_format_list_uses_session_encoding(root: Path) -> None:
    (root / "é").write_bytes(b"")
    fs = NamedFS(str(root), Session(encoding="latin-1", unicode_errors="strict"))
    assert listing_lines(fs, root, ["é"])[0].endswith(b" \xe9\r\n")


# --- format_mlsx


def mlsx(fs: AbstractedFS, basedir: Path, names: list[str], perms: str = "elr",
         facts: tuple[str, ...] = ALL_FACTS) -> list[str]:  # fmt: skip
    return [
        line.decode("utf-8", "surrogateescape")
        for line in fs.format_mlsx(str(basedir), names, perms, facts)
    ]


def uniq(path: Path) -> str:
    st = os.stat(path)
    return f"{st.st_dev:x}g{st.st_ino:x}"


def test_format_mlsx_lines(fs: AbstractedFS, root: Path) -> None:
    write(root / "a.txt", b"hello", 0o640)
    (root / "sub").mkdir()
    (root / "sub").chmod(0o2750)
    root.chmod(0o755)
    os.utime(root / "sub", (OLD_MTIME, OLD_MTIME))
    os.utime(root, (MTIME, MTIME))
    uid, gid = os.getuid(), os.getgid()
    size_sub = os.stat(root / "sub").st_size
    size_root = os.stat(root).st_size
    lines = mlsx(fs, root, [".", "..", "sub", "a.txt"], perms="elradfmwMT")
    assert lines == [
        f"type=cdir;size={size_root};modify=20231114221320;perm=elcmpdf;"
        f"unique={uniq(root)};unix.mode=0755;unix.uid={uid};unix.gid={gid}; .\r\n",
        # ".." of the jail's root is the root itself, never its real parent.
        f"type=pdir;size={size_root};modify=20231114221320;perm=elcmpdf;"
        f"unique={uniq(root)};unix.mode=0755;unix.uid={uid};unix.gid={gid}; ..\r\n",
        f"type=dir;size={size_sub};modify=20200913122640;perm=elcmpdf;"
        f"unique={uniq(root / 'sub')};unix.mode=2750;unix.uid={uid};unix.gid={gid};"
        " sub\r\n",
        f"type=file;size=5;modify=20231114221320;perm=rwadf;"
        f"unique={uniq(root / 'a.txt')};unix.mode=0640;unix.uid={uid};unix.gid={gid};"
        " a.txt\r\n",
    ]


def test_format_mlsx_pdir_below_root(fs: AbstractedFS, root: Path) -> None:
    (root / "sub").mkdir()
    lines = mlsx(fs, root / "sub", [".."], facts=("type", "unique"))
    assert lines == [f"type=pdir;unique={uniq(root)}; ..\r\n"]


def test_format_mlsx_selected_facts_in_fixed_order(fs: AbstractedFS, root: Path) -> None:
    write(root / "a", b"abc")
    assert mlsx(fs, root, ["a"], facts=("unix.mode", "size", "type")) == [
        "type=file;size=3;unix.mode=0644; a\r\n"
    ]
    assert mlsx(fs, root, ["a"], facts=("Modify",)) == ["modify=20231114221320; a\r\n"]
    assert mlsx(fs, root, ["a"], facts=()) == [" a\r\n"]


def test_format_mlsx_modify_is_utc_even_without_gmt(root: Path) -> None:
    write(root / "a", b"")
    fs = AbstractedFS(str(root), Session(use_gmt_times=False))
    assert mlsx(fs, root, ["a"], facts=("modify",)) == ["modify=20231114221320; a\r\n"]


def test_format_mlsx_perm_from_perms_argument(fs: AbstractedFS, root: Path) -> None:
    write(root / "f", b"")
    (root / "d").mkdir()
    facts = ("type", "perm")
    assert mlsx(fs, root, ["d", "f"], "elr", facts) == [
        "type=dir;perm=el; d\r\n",
        "type=file;perm=r; f\r\n",
    ]
    assert mlsx(fs, root, ["d", "f"], "elrw", facts) == [
        "type=dir;perm=elc; d\r\n",
        "type=file;perm=rw; f\r\n",
    ]


def test_format_mlsx_perm_follows_override_perm(root: Path) -> None:
    for sub in ("up", "up/inner"):
        (root / sub).mkdir()
    for file in ("f", "up/f", "up/inner/f"):
        write(root / file, b"")
    auth = DummyAuthorizer()
    auth.add_user("u", "pw", str(root), perm="elr")
    auth.override_perm("u", str(root / "up"), "elradfmw", recursive=False)
    # The filesystem asks its session for the perm fact of each entry.
    fs = AbstractedFS(str(root), Session(mlsx_perm_fact=lambda p: mlsx_perm_fact(auth, "u", p)))
    facts = ("type", "perm")
    assert mlsx(fs, root, ["f", "up"], "elr", facts) == [
        "type=file;perm=r; f\r\n",
        "type=dir;perm=elcmpdf; up\r\n",
    ]
    assert mlsx(fs, root / "up", ["f", "inner"], "elr", facts) == [
        "type=file;perm=rwadf; f\r\n",
        "type=dir;perm=el; inner\r\n",  # non-recursive: not its subdirectories
    ]
    # Before login (no username) the perms argument is used.
    anonymous = AbstractedFS(
        str(root), Session(mlsx_perm_fact=lambda p: mlsx_perm_fact(auth, None, p))
    )
    assert mlsx(anonymous, root / "up", ["f"], "elrw", facts) == ["type=file;perm=rw; f\r\n"]


def test_format_mlsx_unique_hard_links(fs: AbstractedFS, root: Path) -> None:
    write(root / "a", b"x")
    os.link(root / "a", root / "b")
    write(root / "c", b"x")
    lines = mlsx(fs, root, ["a", "b", "c"], facts=("unique",))
    assert lines[0].split(";")[0] == lines[1].split(";")[0] == f"unique={uniq(root / 'a')}"
    assert lines[2] == f"unique={uniq(root / 'c')}; c\r\n"
    assert uniq(root / "a") != uniq(root / "c")


def test_format_mlsx_symlinks(fs: AbstractedFS, root: Path, tmp_path: Path) -> None:
    write(root / "target", b"12345678", mtime=OLD_MTIME)
    (root / "dir").mkdir()
    secret = write(tmp_path / "secret", b"s" * 4321)
    os.symlink("target", root / "in_file")
    os.symlink("dir", root / "in_dir")
    os.symlink(secret, root / "out")
    os.symlink("gone", root / "dangling")
    facts = ("type", "size", "unique")
    lines = mlsx(fs, root, ["in_file", "in_dir", "out", "dangling"], facts=facts)
    assert lines[0] == f"type=file;size=8;unique={uniq(root / 'target')}; in_file\r\n"
    assert lines[1].startswith("type=dir;")
    assert lines[1].endswith(f"unique={uniq(root / 'dir')}; in_dir\r\n")
    out = os.lstat(root / "out")
    assert lines[2] == (
        f"type=OS.unix=slink;size={len(str(secret))};unique={out.st_dev:x}g{out.st_ino:x}; out\r\n"
    )
    dangling = os.lstat(root / "dangling")
    assert lines[3] == (
        f"type=OS.unix=slink;size=4;unique={dangling.st_dev:x}g{dangling.st_ino:x}; dangling\r\n"
    )
    modify = mlsx(fs, root, ["out"], facts=("modify",))[0]
    assert modify != "modify=20231114221320; out\r\n"  # not the secret's mtime


def test_format_mlsx_errors(fs: AbstractedFS, root: Path) -> None:
    write(root / "a", b"")
    assert len(mlsx(fs, root, ["gone", "a"])) == 1
    with pytest.raises(FileNotFoundError):
        list(fs.format_mlsx(str(root), ["gone"], "elr", ["type"], ignore_err=False))


def test_format_mlsx_non_utf8_name(fs: AbstractedFS, root: Path) -> None:
    raw = b"\xff\xfe-name"
    write(root / os.fsdecode(raw), b"")
    (line,) = fs.format_mlsx(str(root), fs.listdir(str(root)), "elr", ["type"])
    assert line == b"type=file; " + raw + b"\r\n"


def test_listings_are_lazy_generators(fs: AbstractedFS, root: Path) -> None:
    listing = fs.format_list(str(root), ["gone"], ignore_err=False)
    assert isinstance(listing, Iterator)
    with pytest.raises(FileNotFoundError):
        next(listing)


class RefusingFS(AbstractedFS):
    def lstat(self, path: str) -> os.stat_result:
        if path.endswith("secret"):
            raise FilesystemError("hidden")
        return super().lstat(path)


def test_filesystem_error_from_subclass(root: Path) -> None:
    write(root / "secret", b"")
    write(root / "a", b"")
    fs = RefusingFS(str(root), None)
    assert [line.split(b" ")[-1] for line in fs.format_list(str(root), ["secret", "a"])] == [
        b"a\r\n"
    ]
    with pytest.raises(FilesystemError, match="hidden"):
        list(fs.format_mlsx(str(root), ["secret"], "elr", ["type"], ignore_err=False))


# --- UnixFilesystem


def test_unix_filesystem(root: Path, tmp_path: Path) -> None:
    fs = UnixFilesystem(str(root), None)
    assert fs.cwd == str(root)
    assert fs.ftp2fs("a/../b") == f"{root}/b"
    assert fs.ftp2fs("/etc//passwd") == "/etc/passwd"
    assert fs.fs2ftp("/etc/passwd") == "/etc/passwd"
    assert fs.validpath("/etc")
    fs.chdir(str(tmp_path))
    assert fs.cwd == str(tmp_path)
    os.symlink(tmp_path, root / "up")
    (line,) = fs.format_list(str(root), ["up"])
    assert line.endswith(f" up -> {os.path.realpath(tmp_path)}\r\n".encode())

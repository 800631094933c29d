"""Helpers for the tests that drive real clients: ftplib, and the ``curl`` and ``lftp`` commands.

- :func:`require_binary` finds a client command or fails saying how to install it;
  :func:`run_curl` and :func:`run_lftp` run one; :func:`curl_commands`,
  :func:`lftp_commands` (and the ``*_replies``) read the FTP dialogue back from
  its verbose trace;
- :func:`download`, :func:`assert_read_only`, :func:`assert_disconnected` and
  :func:`assert_shut_down` are ftplib steps shared by several test modules;
- :func:`put`, :func:`ls_line`, :func:`make_listing_tree`, :func:`make_mirror_tree`
  and :func:`snapshot` make files dated MTIME and describe them as a server
  lists them (or as a mirror must reproduce them).
"""

from __future__ import annotations

import ftplib
import grp
import io
import os
import pwd
import random
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

MTIME = 1577934245  # 2020-01-02 03:04:05 UTC: more than six months ago, so ``ls -l`` shows the year
LS_DATE = "Jan 02  2020"
TREE_DATA = random.Random(3).randbytes(4 * 1024 * 1024 + 5)  # the big file in make_mirror_tree()

# lftp: one retry, a 10 s network timeout, stop at the first failing command, no cache.
LFTP_SETTINGS = (
    "set net:max-retries 1; set net:timeout 10; "
    "set net:reconnect-interval-base 1; set cmd:fail-exit yes; set cache:enable no"
)

Result = subprocess.CompletedProcess[bytes]


def require_binary(name: str) -> str:
    """The path of the command *name*, or a clear failure saying it must be installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: the interop tests need it "
            f"(run scripts/test.sh, which installs curl and lftp, or apt-get install {name})"
        )
    return path


# --- running clients


def run_client(
    argv: Sequence[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> Result:
    """Run a client command to completion, capturing its output (any exit status)."""
    return subprocess.run(argv, timeout=timeout, capture_output=True, cwd=cwd, env=env, check=False)


def run_curl(binary: str, *args: str, cwd: Path, timeout: float = 60) -> Result:
    """``curl -sS -v ARGS`` from *cwd*."""
    return run_client([binary, "-sS", "-v", *args], cwd=cwd, timeout=timeout)


def run_lftp(
    binary: str, settings: str, target: str, script: str, *, cwd: Path, timeout: float
) -> Result:
    """``lftp -d -c "SETTINGS; <LFTP_SETTINGS>; open TARGET; SCRIPT"`` from *cwd*.

    ``HOME`` is *cwd*'s parent (so no user's ``~/.lftp`` applies), the locale C.UTF-8.
    """
    env = {**os.environ, "HOME": str(cwd.parent), "LC_ALL": "C.UTF-8"}
    command = f"{settings}; {LFTP_SETTINGS}; open {target}; {script}"
    return run_client([binary, "-d", "-c", command], cwd=cwd, timeout=timeout, env=env)


def assert_ok(result: Result) -> None:
    """The client exited with status 0 (else show the end of its trace)."""
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-3000:]


def traced(result: Result, prefix: str) -> list[str]:
    """The lines of *result*'s stderr that start with *prefix*, without it."""
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    return [line[len(prefix) :] for line in lines if line.startswith(prefix)]


def curl_commands(result: Result) -> list[str]:
    """The FTP commands curl sent, from its ``-v`` trace."""
    return traced(result, "> ")


def curl_replies(result: Result) -> list[str]:
    """The replies curl read, from its ``-v`` trace."""
    return traced(result, "< ")


def lftp_commands(result: Result) -> list[str]:
    """The FTP commands lftp sent, from its ``-d`` trace."""
    return traced(result, "---> ")


def lftp_replies(result: Result) -> list[str]:
    """The replies lftp read, from its ``-d`` trace."""
    return traced(result, "<--- ")


# --- ftplib


def download(ftp: ftplib.FTP, name: str) -> bytes:
    """``RETR name`` with ftplib; the bytes received."""
    chunks: list[bytes] = []
    ftp.retrbinary(f"RETR {name}", chunks.append)
    return b"".join(chunks)


def assert_read_only(ftp: ftplib.FTP, existing: str, new: str) -> None:
    """A read-only login: storing *new*, deleting *existing* and making a directory get 550."""
    with pytest.raises(ftplib.error_perm, match=r"^550 "):
        ftp.storbinary(f"STOR {new}", io.BytesIO(b"x"))
    with pytest.raises(ftplib.error_perm, match=r"^550 "):
        ftp.delete(existing)
    with pytest.raises(ftplib.error_perm, match=r"^550 "):
        ftp.mkd("dir")


def assert_disconnected(
    ftp: ftplib.FTP, errors: tuple[type[BaseException], ...] = (EOFError, ConnectionError)
) -> None:
    """The server hung up on *ftp*: its next command fails with one of *errors*. Close it."""
    with pytest.raises(errors):
        ftp.voidcmd("NOOP")
    ftp.close()


def assert_shut_down(
    ftp: ftplib.FTP, errors: tuple[type[BaseException], ...] = (EOFError, ConnectionError)
) -> None:
    """The server stopped: it said ``421 Server is shutting down.`` and hung up. Close *ftp*."""
    with pytest.raises(ftplib.error_temp, match=r"^421 Server is shutting down\.$"):
        ftp.voidcmd("NOOP")
    assert_disconnected(ftp, errors)


# --- files


def put(path: Path, data: bytes, mtime: float = MTIME) -> Path:
    """Write *data* to *path* (making its parents) with modification time *mtime*."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def ls_line(path: Path) -> str:
    """The ``LIST`` line (without line ending) for *path*, whose mtime is MTIME."""
    st = path.lstat()
    owner = pwd.getpwuid(st.st_uid).pw_name
    group = grp.getgrgid(st.st_gid).gr_name
    return (
        f"{stat.filemode(st.st_mode)} {st.st_nlink:3d} {owner:<8} {group:<8} "
        f"{st.st_size:8d} {LS_DATE} {path.name}"
    )


def ls_lines(*paths: Path) -> str:
    """A listing of *paths* as a client saves it: each :func:`ls_line` ending in LF."""
    return "".join(f"{ls_line(path)}\n" for path in paths)


def make_listing_tree(home: Path, data: bytes, directory: str) -> None:
    """``a.txt``, ``b.bin`` (*data*) and ``DIRECTORY/inner.txt`` in *home*, all dated MTIME."""
    put(home / "a.txt", b"alpha\n")
    put(home / "b.bin", data)
    (home / directory).mkdir()
    put(home / directory / "inner.txt", b"inner")
    os.utime(home / directory, (MTIME, MTIME))


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under *root*: file contents, or None for a directory."""
    tree: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        tree[relative] = None if path.is_dir() else path.read_bytes()
    return tree


def make_mirror_tree(root: Path) -> dict[str, bytes | None]:
    """A tree to mirror (nested, empty and non-ASCII names, an empty directory); its snapshot."""
    put(root / "top.txt", b"top level\n")
    put(root / "empty.bin", b"")
    put(root / "big.bin", TREE_DATA)
    put(root / "one" / "a.txt", b"in one\r\nwith CRLF\r\n")
    put(root / "one" / "two" / "b.bin", TREE_DATA[:70000])
    put(root / "one" / "two" / "three" / "c.txt", b"deep")
    put(root / "caf\u00e9" / "\u00fcber.txt", "contenu \u00e9t\u00e9".encode())
    (root / "void").mkdir()
    return snapshot(root)

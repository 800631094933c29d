"""Session tests: navigation and file commands, and the session's settings and information."""

from __future__ import annotations

import calendar
import errno
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from trioftp.filesystems import AbstractedFS, FilesystemError
from trioftp.session.runner import InlineRunner

from ..support.ftpclient import FTPClient, Reply
from ..support.servers import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

# 2009-02-13 23:31:30 UTC
MTIME = 1234567890
MTIME_TEXT = "20090213233130"

FEATURES = ["EPRT", "EPSV", "HOST", "MDTM", "MFMT", "REST STREAM", "SIZE", "TVFS", "UTF8"]
ALL_FACTS_FEAT = "MLST type*;perm*;size*;modify*;unique*;unix.mode;unix.uid;unix.gid;"


def no_server_path(reply: Reply, server: RunningServer) -> None:
    """A reply never shows where the user's home really is."""
    text = "\n".join(reply.lines)
    assert str(server.home) not in text, reply
    assert str(server.home.parent) not in text, reply


@pytest.fixture
def tree(server: RunningServer) -> Path:
    """home/f.txt (10 bytes, MTIME), home/sub/inner/, home/sub/g.txt."""
    home = server.home
    (home / "f.txt").write_bytes(b"0123456789")
    os.utime(home / "f.txt", (MTIME, MTIME))
    (home / "sub" / "inner").mkdir(parents=True)
    (home / "sub" / "g.txt").write_bytes(b"g")
    return home


# --- PWD, CWD, CDUP


async def test_pwd_at_login(client: FTPClient) -> None:
    assert (await client.cmd("PWD")).lines == ('257 "/" is the current directory.',)
    assert (await client.cmd("XPWD")).lines == ('257 "/" is the current directory.',)


async def test_cwd_and_cdup(client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("CWD sub")).lines == ('250 "/sub" is the current directory.',)
    assert (await client.cmd("CWD inner")).lines == ('250 "/sub/inner" is the current directory.',)
    assert (await client.cmd("PWD")).lines == ('257 "/sub/inner" is the current directory.',)
    assert (await client.cmd("CDUP")).lines == ('250 "/sub" is the current directory.',)
    assert (await client.cmd("CDUP")).lines == ('250 "/" is the current directory.',)
    # At the root, CDUP stays there.
    assert (await client.cmd("CDUP")).lines == ('250 "/" is the current directory.',)
    assert (await client.cmd("PWD")).lines == ('257 "/" is the current directory.',)
    # Absolute paths, and CWD without argument (back to the root).
    assert (await client.cmd("CWD /sub/inner")).code == 250
    assert (await client.cmd("CWD")).lines == ('250 "/" is the current directory.',)
    assert (await client.cmd("CWD /sub/inner/")).code == 250
    assert (await client.cmd("CWD ..")).lines == ('250 "/sub" is the current directory.',)


async def test_x_variants_of_navigation(client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("XCWD sub")).lines == ('250 "/sub" is the current directory.',)
    assert (await client.cmd("XPWD")).lines == ('257 "/sub" is the current directory.',)
    assert (await client.cmd("XMKD new")).lines == ('257 "/sub/new" directory created.',)
    assert (tree / "sub" / "new").is_dir()
    assert (await client.cmd("XRMD new")).lines == ("250 Directory removed.",)
    assert not (tree / "sub" / "new").exists()
    assert (await client.cmd("XCUP")).lines == ('250 "/" is the current directory.',)
    assert (await client.cmd("XCUP")).lines == ('250 "/" is the current directory.',)


async def test_cwd_errors(server: RunningServer, client: FTPClient, tree: Path) -> None:
    missing = await client.cmd("CWD nope")
    assert missing.lines == ("550 No such file or directory.",)
    not_dir = await client.cmd("CWD f.txt")
    assert not_dir.lines == ("550 Not a directory.",)
    for reply in (missing, not_dir):
        no_server_path(reply, server)
    assert (await client.cmd("PWD")).lines == ('257 "/" is the current directory.',)


async def test_directory_name_with_double_quote(client: FTPClient, server: RunningServer) -> None:
    assert (await client.cmd('MKD a"b')).lines == ('257 "/a""b" directory created.',)
    assert (server.home / 'a"b').is_dir()
    assert (await client.cmd('CWD a"b')).lines == ('250 "/a""b" is the current directory.',)
    assert (await client.cmd("PWD")).lines == ('257 "/a""b" is the current directory.',)
    assert (await client.cmd('MKD c""d')).lines == ('257 "/a""b/c""""d" directory created.',)


# --- MKD, RMD, DELE


async def test_mkd(client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("MKD newdir")).lines == ('257 "/newdir" directory created.',)
    assert (tree / "newdir").is_dir()
    assert (await client.cmd("CWD sub")).code == 250
    assert (await client.cmd("MKD x")).lines == ('257 "/sub/x" directory created.',)
    assert (tree / "sub" / "x").is_dir()
    assert (await client.cmd("MKD /abs")).lines == ('257 "/abs" directory created.',)
    assert (tree / "abs").is_dir()


async def test_mkd_errors(server: RunningServer, client: FTPClient, tree: Path) -> None:
    exists = await client.cmd("MKD sub")
    assert exists.lines == ("550 File exists.",)
    no_parent = await client.cmd("MKD missing/child")
    assert no_parent.lines == ("550 No such file or directory.",)
    for reply in (exists, no_parent):
        no_server_path(reply, server)


async def test_rmd(server: RunningServer, client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("RMD sub/inner")).lines == ("250 Directory removed.",)
    assert not (tree / "sub" / "inner").exists()
    not_empty = await client.cmd("RMD sub")
    assert not_empty.lines == ("550 Directory not empty.",)
    assert (tree / "sub").is_dir()
    not_dir = await client.cmd("RMD f.txt")
    assert not_dir.lines == ("550 Not a directory.",)
    missing = await client.cmd("RMD nope")
    assert missing.lines == ("550 No such file or directory.",)
    root = await client.cmd("RMD /")
    assert root.lines == ("550 Can't remove root directory.",)
    assert tree.is_dir()
    for reply in (not_empty, not_dir, missing, root):
        no_server_path(reply, server)


async def test_dele(server: RunningServer, client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("DELE f.txt")).lines == ("250 File removed.",)
    assert not (tree / "f.txt").exists()
    missing = await client.cmd("DELE f.txt")
    assert missing.lines == ("550 No such file or directory.",)
    directory = await client.cmd("DELE sub")
    assert directory.code == 550
    assert (tree / "sub").is_dir()
    for reply in (missing, directory):
        no_server_path(reply, server)


# --- RNFR / RNTO


async def test_rename_file(client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("RNFR f.txt")).lines == ("350 Ready for destination name.",)
    assert (await client.cmd("RNTO sub/renamed.txt")).lines == ("250 Renaming ok.",)
    assert not (tree / "f.txt").exists()
    assert (tree / "sub" / "renamed.txt").read_bytes() == b"0123456789"
    # The RNFR is used up.
    assert (await client.cmd("RNTO again.txt")).code == 503


async def test_rename_directory(client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("CWD sub")).code == 250
    assert (await client.cmd("RNFR inner")).code == 350
    assert (await client.cmd("RNTO /moved")).code == 250
    assert (tree / "moved").is_dir()
    assert not (tree / "sub" / "inner").exists()


async def test_rnto_without_rnfr(client: FTPClient, tree: Path) -> None:
    reply = await client.cmd("RNTO x")
    assert reply.code == 503
    assert reply.text.startswith("Bad sequence of commands")
    assert not (tree / "x").exists()


async def test_rnfr_of_missing_file(server: RunningServer, client: FTPClient) -> None:
    reply = await client.cmd("RNFR nope")
    assert reply.lines == ("550 No such file or directory.",)
    no_server_path(reply, server)
    # A failed RNFR leaves nothing to rename.
    assert (await client.cmd("RNTO x")).code == 503


async def test_rnfr_of_root(client: FTPClient) -> None:
    assert (await client.cmd("RNFR /")).code == 550


async def test_rnto_into_missing_directory(
    server: RunningServer, client: FTPClient, tree: Path
) -> None:
    assert (await client.cmd("RNFR f.txt")).code == 350
    reply = await client.cmd("RNTO nope/f.txt")
    assert reply.lines == ("550 No such file or directory.",)
    no_server_path(reply, server)
    assert (tree / "f.txt").exists()


# --- SIZE, MDTM, MFMT, SITE CHMOD


async def test_size(server: RunningServer, client: FTPClient, tree: Path) -> None:
    (tree / "big.bin").write_bytes(b"\n" * 123457)
    # ASCII mode (the default) refuses: the size would not match a download.
    assert (await client.cmd("SIZE f.txt")).lines == ("550 SIZE not allowed in ASCII mode.",)
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("SIZE f.txt")).lines == ("213 10",)
    assert (await client.cmd("SIZE /big.bin")).lines == ("213 123457",)
    assert (await client.cmd("SIZE sub/g.txt")).lines == ("213 1",)
    directory = await client.cmd("SIZE sub")
    assert directory.lines == ('550 "/sub" is not retrievable.',)
    missing = await client.cmd("SIZE nope")
    assert missing.lines == ("550 No such file or directory.",)
    for reply in (directory, missing):
        no_server_path(reply, server)
    assert (await client.cmd("TYPE A")).code == 200
    assert (await client.cmd("SIZE f.txt")).code == 550


async def test_mdtm(server: RunningServer, client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("MDTM f.txt")).lines == (f"213 {MTIME_TEXT}",)
    os.utime(tree / "sub" / "g.txt", (0, 951782400))  # 2000-02-29 00:00:00 UTC
    assert (await client.cmd("MDTM /sub/g.txt")).lines == ("213 20000229000000",)
    directory = await client.cmd("MDTM sub")
    assert directory.code == 550
    missing = await client.cmd("MDTM nope")
    assert missing.lines == ('550 "/nope" is not retrievable: no such file or directory.',)
    for reply in (directory, missing):
        no_server_path(reply, server)


async def test_mfmt(client: FTPClient, tree: Path) -> None:
    reply = await client.cmd("MFMT 20200102030405 f.txt")
    assert reply.lines == ("213 Modify=20200102030405; /f.txt.",)
    expected = calendar.timegm((2020, 1, 2, 3, 4, 5, 0, 0, 0))
    assert os.stat(tree / "f.txt").st_mtime == expected
    assert (await client.cmd("MDTM f.txt")).lines == ("213 20200102030405",)
    # A name with spaces: the time is the first word, the rest is the path.
    (tree / "a b.txt").write_bytes(b"")
    assert (await client.cmd("MFMT 19991231235959 a b.txt")).code == 213
    assert os.stat(tree / "a b.txt").st_mtime == calendar.timegm((1999, 12, 31, 23, 59, 59))


@pytest.mark.parametrize(
    "timeval", ["2020", "202001020304050", "20201301000000", "20200230000000", "abcdefghijklmn"]
)
async def test_mfmt_bad_time(client: FTPClient, tree: Path, timeval: str) -> None:
    reply = await client.cmd(f"MFMT {timeval} f.txt")
    assert reply.code == 501
    assert os.stat(tree / "f.txt").st_mtime == MTIME


async def test_mfmt_needs_a_path(client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("MFMT 20200102030405")).code == 501
    assert (await client.cmd("MFMT 20200102030405 nope")).lines == (
        "550 No such file or directory.",
    )


async def test_site_chmod(client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("SITE CHMOD 600 f.txt")).lines == ("200 SITE CHMOD successful.",)
    assert stat.S_IMODE(os.stat(tree / "f.txt").st_mode) == 0o600
    assert (await client.cmd("site chmod 0741 f.txt")).code == 200
    assert stat.S_IMODE(os.stat(tree / "f.txt").st_mode) == 0o741
    assert (await client.cmd("SITE CHMOD 750 sub")).code == 200
    assert stat.S_IMODE(os.stat(tree / "sub").st_mode) == 0o750


@pytest.mark.parametrize("mode", ["999", "8", "abc", "12345", "-1", "+x"])
async def test_site_chmod_bad_mode(client: FTPClient, tree: Path, mode: str) -> None:
    os.chmod(tree / "f.txt", 0o644)
    assert (await client.cmd(f"SITE CHMOD {mode} f.txt")).code == 501
    assert stat.S_IMODE(os.stat(tree / "f.txt").st_mode) == 0o644


async def test_site_chmod_errors(server: RunningServer, client: FTPClient) -> None:
    assert (await client.cmd("SITE CHMOD 755")).code == 501
    missing = await client.cmd("SITE CHMOD 755 nope")
    assert missing.lines == ("550 No such file or directory.",)
    no_server_path(missing, server)


async def test_site_help(client: FTPClient) -> None:
    reply = await client.cmd("SITE HELP")
    assert reply.code == 214
    assert reply.first == "214-The following SITE commands are recognized:"
    assert reply.lines[-1] == "214 Help SITE command successful."
    names = " ".join(reply.lines[1:-1]).split()
    assert names == ["CHMOD", "HELP"]
    assert (await client.cmd("SITE HELP CHMOD")).lines == (
        "214 Syntax: SITE CHMOD <SP> mode path (change file mode).",
    )
    assert (await client.cmd("SITE HELP NOPE")).code == 501


async def test_unknown_site_command(client: FTPClient) -> None:
    assert (await client.cmd("SITE NOPE")).code == 500
    assert (await client.cmd("SITE")).code == 501


async def test_error_replies_never_show_server_paths(
    server: RunningServer, client: FTPClient, tree: Path
) -> None:
    (tree / "full").mkdir()
    (tree / "full" / "x").write_bytes(b"")
    commands = [
        "CWD nope",
        "CWD f.txt",
        "MKD sub",
        "MKD a/b/c",
        "RMD full",
        "RMD f.txt",
        "DELE sub",
        "DELE nope",
        "RNFR nope",
        "MDTM nope",
        "MDTM sub",
        "MFMT 20200101000000 nope",
        "SITE CHMOD 755 nope",
        "STAT nope",
        "MLST nope",
        "TYPE I",
        "SIZE nope",
        "SIZE sub",
    ]
    for command in commands:
        reply = await client.cmd(command)
        assert reply.code in (200, 550), (command, reply)
        no_server_path(reply, server)
    for command in ("RETR nope", "RETR sub", "LIST nope", "NLST nope", "MLSD f.txt"):
        _, reply = await client.retr(command.split()[1], command=command.split()[0])
        assert reply.code in (501, 550), (command, reply)
        no_server_path(reply, server)
    for command in ("STOR sub", "STOR nope/x", "APPE nope/x"):
        verb, path = command.split()
        reply = await client.stor(path, b"data", command=verb)
        assert reply.code == 550, (command, reply)
        no_server_path(reply, server)


class FailingFS(AbstractedFS):
    """A filesystem whose errors carry real server paths in their text."""

    def mkdir(self, path: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    def rmdir(self, path: str) -> None:
        raise OSError(f"rmdir failed for {path}")

    def remove(self, path: str) -> None:
        raise FilesystemError("Deleting is switched off here")


async def test_filesystem_errors_become_clear_550_replies(start_server: StartServer) -> None:
    server = await start_server(abstracted_fs=FailingFS)
    (server.home / "d").mkdir()
    (server.home / "f").write_bytes(b"")
    client = await server.client()
    async with client.stream:
        mkd = await client.cmd("MKD new")
        assert mkd.lines == ("550 Permission denied.",)
        rmd = await client.cmd("RMD d")
        assert rmd.code == 550
        dele = await client.cmd("DELE f")
        assert dele.lines == ("550 Deleting is switched off here.",)
        for reply in (mkd, rmd, dele):
            no_server_path(reply, server)
        assert (await client.cmd("NOOP")).code == 200


# --- TYPE, MODE, STRU


@pytest.mark.parametrize(
    ("argument", "reply"),
    [
        ("A", "200 Type set to: ASCII."),
        ("A N", "200 Type set to: ASCII."),
        ("a", "200 Type set to: ASCII."),
        ("I", "200 Type set to: Binary."),
        ("i", "200 Type set to: Binary."),
        ("L 8", "200 Type set to: Binary."),
    ],
)
async def test_type_accepted(client: FTPClient, argument: str, reply: str) -> None:
    assert (await client.cmd(f"TYPE {argument}")).lines == (reply,)
    status = await client.cmd("STAT")
    kind = "ASCII" if "ASCII" in reply else "Binary"
    assert f" TYPE: {kind}; STRUcture: File; MODE: Stream" in status.lines


@pytest.mark.parametrize("argument", ["E", "L 7", "X", "A T", "A C", "E N"])
async def test_type_refused(client: FTPClient, argument: str) -> None:
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd(f"TYPE {argument}")).code == 504
    # The type is unchanged.
    assert " TYPE: Binary; STRUcture: File; MODE: Stream" in (await client.cmd("STAT")).lines


async def test_mode(client: FTPClient) -> None:
    assert (await client.cmd("MODE S")).lines == ("200 Transfer mode set to: S",)
    assert (await client.cmd("MODE s")).code == 200
    assert (await client.cmd("MODE B")).code == 504
    assert (await client.cmd("MODE C")).code == 504


async def test_stru(client: FTPClient) -> None:
    assert (await client.cmd("STRU F")).lines == ("200 File transfer structure set to: F.",)
    assert (await client.cmd("STRU R")).code == 504
    assert (await client.cmd("STRU P")).code == 504


# --- NOOP, SYST, ALLO, STAT


async def test_noop_syst_allo(client: FTPClient) -> None:
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.cmd("SYST")).lines == ("215 UNIX Type: L8",)
    assert (await client.cmd("ALLO 1000")).code == 202
    assert (await client.cmd("ALLO 1000 R 10")).code == 202


async def test_syst_and_noop_before_login(server: RunningServer) -> None:
    client, _ = await FTPClient.connect(server.host, server.port)
    async with client.stream:
        assert (await client.cmd("SYST")).lines == ("215 UNIX Type: L8",)
        assert (await client.cmd("NOOP")).code == 200


async def test_stat_without_argument(server: RunningServer) -> None:
    client, _ = await FTPClient.connect(server.host, server.port)
    async with client.stream:
        before = await client.cmd("STAT")
        assert before.code == 211
        assert len(before.lines) > 2
        assert before.first.startswith("211-")
        assert before.lines[-1].startswith("211 ")
        assert " Waiting for username." in before.lines
        local_port = client.stream.socket.getsockname()[1]
        assert f" Connected to: 127.0.0.1:{local_port}" in before.lines
        assert (await client.cmd("USER user")).code == 331
        assert " Waiting for password." in (await client.cmd("STAT")).lines
        assert (await client.cmd("PASS pass")).code == 230
        after = await client.cmd("STAT")
        assert after.code == 211
        assert after.first.startswith("211-")
        assert after.lines[-1].startswith("211 ")
        assert " Logged in as: user" in after.lines
        # No line in the middle can pass for the end of the reply.
        assert all(not line.startswith("211") for line in after.lines[1:-1])


async def test_stat_with_path_lists_over_control(client: FTPClient, tree: Path) -> None:
    reply = await client.cmd("STAT /")
    assert reply.code == 213
    assert reply.first == '213-Status of "/":'
    assert reply.lines[-1] == "213 End of status."
    body = reply.lines[1:-1]
    assert len(body) == 2
    assert body[0].startswith("-rw")
    assert body[0].endswith(" f.txt")
    assert " 10 Feb 13  2009 f.txt" in body[0]
    assert body[1].startswith("d")
    assert body[1].endswith(" sub")
    one = await client.cmd("STAT sub/g.txt")
    assert one.first == '213-Status of "/sub/g.txt":'
    assert len(one.lines) == 3
    assert one.lines[1].endswith(" g.txt")
    directory = await client.cmd("STAT sub")
    assert [line.split()[-1] for line in directory.lines[1:-1]] == ["g.txt", "inner"]


async def test_stat_with_missing_path(server: RunningServer, client: FTPClient) -> None:
    reply = await client.cmd("STAT nope")
    assert reply.lines == ("550 No such file or directory.",)
    no_server_path(reply, server)


# --- HELP


async def test_help(server: RunningServer) -> None:
    client, _ = await FTPClient.connect(server.host, server.port)
    async with client.stream:
        reply = await client.cmd("HELP")
        assert reply.code == 214
        assert reply.first.startswith("214-")
        assert reply.lines[-1].startswith("214 ")
        names = set(" ".join(reply.lines[1:-1]).split())
        assert {"USER", "PASS", "RETR", "STOR", "MLSD", "FEAT", "HELP", "QUIT"} <= names
        assert (await client.cmd("HELP USER")).lines == (
            "214 Syntax: USER <SP> user-name (set username).",
        )
        assert (await client.cmd("help retr")).code == 214
        assert (await client.cmd("HELP NOPE")).lines == ("501 Unrecognized command.",)
        assert (await client.cmd("USER user")).code == 331
        assert (await client.cmd("PASS pass")).code == 230
        assert (await client.cmd("HELP")).code == 214
        assert (await client.cmd("HELP MLSD")).code == 214


# --- FEAT and OPTS


async def test_feat_before_login(server: RunningServer) -> None:
    client, _ = await FTPClient.connect(server.host, server.port)
    async with client.stream:
        reply = await client.cmd("FEAT")
        assert reply.code == 211
        assert reply.first.startswith("211-")
        assert reply.lines[-1].startswith("211 ")
        body = reply.lines[1:-1]
        assert all(line.startswith(" ") for line in body)
        features = [line[1:] for line in body]
        for feature in FEATURES:
            assert feature in features, feature
        assert ALL_FACTS_FEAT in features


async def test_opts_utf8(client: FTPClient) -> None:
    assert (await client.cmd("OPTS UTF8 ON")).code == 200
    assert (await client.cmd("opts utf8 on")).code == 200


async def test_no_utf8_claimed_for_another_encoding(start_server: StartServer) -> None:
    server = await start_server(encoding="latin-1")
    client = await server.client()
    features = [line[1:] for line in (await client.cmd("FEAT")).lines[1:-1]]
    assert "UTF8" not in features
    assert "MDTM" in features
    assert (await client.cmd("OPTS UTF8 ON")).first == ("504 This server speaks latin-1, not UTF8.")
    await client.aclose()


async def test_opts_mlst_chooses_facts(client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("OPTS MLST type;size;")).lines == ("200 MLST OPTS type;size;",)
    features = [line[1:] for line in (await client.cmd("FEAT")).lines[1:-1]]
    mlst = [feature for feature in features if feature.startswith("MLST ")]
    assert mlst == ["MLST type*;perm;size*;modify;unique;unix.mode;unix.uid;unix.gid;"]
    reply = await client.cmd("MLST f.txt")
    assert reply.code == 250
    assert reply.lines[1:-1] == (" type=file;size=10; /f.txt",)
    listing, done = await client.listing("MLSD", "sub")
    assert done.code == 226
    lines = listing.splitlines()
    assert "type=file;size=1; g.txt" in lines
    assert sorted(line.split(" ", 1)[1] for line in lines) == ["g.txt", "inner"]
    for line in listing.splitlines():
        facts = line.split(" ", 1)[0]
        assert [fact.split("=")[0] for fact in facts.split(";") if fact] == ["type", "size"]


async def test_opts_mlst_other_facts(client: FTPClient, tree: Path) -> None:
    reply = await client.cmd("OPTS MLST modify;UNIX.mode;bogus;")
    assert reply.lines == ("200 MLST OPTS modify;unix.mode;",)
    os.chmod(tree / "f.txt", 0o640)
    mlst = await client.cmd("MLST f.txt")
    assert mlst.lines[1:-1] == (f" modify={MTIME_TEXT};unix.mode=0640; /f.txt",)


@pytest.mark.parametrize(
    ("argument", "reply"),
    [
        ("bogus", "501 Invalid argument: OPTS MLST takes fact;fact;... (RFC 3659)."),
        ("type ;", "501 Invalid number of arguments."),
        ("fish;cakes;", "200 MLST OPTS "),
        ("", "200 MLST OPTS "),
    ],
)
async def test_opts_mlst_fact_list_syntax(
    client: FTPClient, tree: Path, argument: str, reply: str
) -> None:
    # RFC 3659 7.9: a fact list ends each fact with ";"; unknown facts are ignored.
    assert (await client.cmd(f"OPTS MLST {argument}".rstrip())).lines == (reply,)


async def test_opts_of_an_unknown_command(client: FTPClient, tree: Path) -> None:
    assert (await client.cmd("OPTS FOO bar")).lines == ("501 Unsupported command 'FOO' for OPTS.",)


async def test_mlst_default_facts(client: FTPClient, tree: Path) -> None:
    reply = await client.cmd("MLST f.txt")
    assert reply.code == 250
    assert reply.lines[-1] == "250 End MLST."
    facts = dict(
        fact.split("=", 1) for fact in reply.lines[1].strip().split(" ", 1)[0].split(";") if fact
    )
    assert list(facts) == ["type", "size", "modify", "perm", "unique"]
    assert facts["type"] == "file"
    assert facts["size"] == "10"
    assert facts["modify"] == MTIME_TEXT


# --- HOST


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[127.0.0.1]"])
async def test_host_known_name(server: RunningServer, name: str) -> None:
    client, _ = await FTPClient.connect(server.host, server.port)
    async with client.stream:
        reply = await client.cmd(f"HOST {name}")
        assert reply.code == 220
        assert (await client.login("user", "pass")).code == 230


async def test_host_configured_name(start_server: StartServer) -> None:
    server = await start_server(host_names=["ftp.example.org"])
    client, _ = await FTPClient.connect(server.host, server.port)
    async with client.stream:
        assert (await client.cmd("HOST ftp.example.org")).code == 220


@pytest.mark.parametrize("name", ["unknown.invalid", "10.1.2.3", "example.org"])
async def test_host_unknown_name(server: RunningServer, name: str) -> None:
    client, _ = await FTPClient.connect(server.host, server.port)
    async with client.stream:
        assert (await client.cmd(f"HOST {name}")).code == 504
        # Still usable.
        assert (await client.cmd("HOST 127.0.0.1")).code == 220


async def test_host_after_user_or_login(server: RunningServer) -> None:
    client, _ = await FTPClient.connect(server.host, server.port)
    async with client.stream:
        assert (await client.cmd("USER user")).code == 331
        assert (await client.cmd("HOST 127.0.0.1")).code == 503
        assert (await client.cmd("PASS pass")).code == 230
        assert (await client.cmd("HOST 127.0.0.1")).code == 503
        assert (await client.cmd("HOST localhost")).code == 503


async def test_host_needs_an_argument(server: RunningServer) -> None:
    client, _ = await FTPClient.connect(server.host, server.port)
    async with client.stream:
        assert (await client.cmd("HOST")).code == 501


# --- unknown, unimplemented and malformed commands


@pytest.mark.parametrize("login", [False, True])
async def test_unknown_command(server: RunningServer, login: bool) -> None:
    client = await server.client(login=login)
    async with client.stream:
        reply = await client.cmd("FOOBAR x")
        assert reply.code == 500
        assert "FOOBAR" in reply.text
        assert (await client.cmd("NOOP")).code == 200


@pytest.mark.parametrize("command", ["SMNT /x", "ACCT acct", "LPRT 4,4,127,0,0,1,2,7,208", "LPSV"])
async def test_known_but_unimplemented_command(client: FTPClient, command: str) -> None:
    reply = await client.cmd(command)
    assert reply.code == 502
    assert (await client.cmd("NOOP")).code == 200


@pytest.mark.parametrize(
    "command", ["PWD x", "RETR", "NOOP x", "CDUP x", "MKD", "DELE", "SYST x", "TYPE", "QUIT now"]
)
async def test_wrong_argument_count(client: FTPClient, command: str) -> None:
    assert (await client.cmd(command)).code == 501
    assert (await client.cmd("NOOP")).code == 200


async def test_wrong_argument_count_before_login(server: RunningServer) -> None:
    client, _ = await FTPClient.connect(server.host, server.port)
    async with client.stream:
        assert (await client.cmd("USER")).code == 501
        assert (await client.cmd("FEAT x")).code == 501


@pytest.mark.parametrize("login", [False, True])
async def test_empty_line_gets_one_500(server: RunningServer, login: bool) -> None:
    client = await server.client(login=login)
    async with client.stream:
        await client.send_raw(b"\r\n")
        assert (await client.reply()).code == 500
        # Exactly one reply: the next command's answer is the next reply.
        assert (await client.cmd("NOOP")).code == 200
        await client.send_raw(b"\n")
        assert (await client.reply()).code == 500
        assert (await client.cmd("SYST")).code == 215


async def test_commands_are_case_insensitive(client: FTPClient) -> None:
    assert (await client.cmd("noop")).code == 200
    assert (await client.cmd("Pwd")).code == 257
    assert (await client.cmd("syst")).lines == ("215 UNIX Type: L8",)


async def test_stray_telnet_subnegotiation_costs_one_line(server: RunningServer) -> None:
    """An IAC SB never closed by IAC SE ends at its line end; later commands are answered."""
    client = await server.client()
    async with client.stream:
        await client.send_raw(b"NOOP\xff\xfa\x18 never closed\r\n")
        assert (await client.reply()).first == "200 I successfully did nothing."
        assert (await client.cmd("PWD")).first == '257 "/" is the current directory.'


async def test_stat_of_a_big_directory_streams(start_server: StartServer) -> None:
    """STAT <dir> makes its lines a chunk at a time, as the client reads them."""
    made: list[str] = []
    entries = 100_000

    class Counting(AbstractedFS):
        def listdir(self, path: str) -> list[str]:
            return [f"file{i:06d}" for i in range(entries)]

        def format_list(
            self, basedir: str, listing: Iterable[str], ignore_err: bool = True
        ) -> Iterator[bytes]:
            for name in listing:
                made.append(name)
                yield f"-rw-r--r--   1 owner group 0 Jan 01  2020 {name}\r\n".encode()

    server = await start_server(abstracted_fs=Counting, runner=InlineRunner())
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads slowly
    await sock.connect((server.host, server.port))
    client = FTPClient(trio.SocketStream(sock))
    assert (await client.reply()).code == 220
    assert (await client.login()).code == 230
    await client.send("STAT /")
    # One Trio loop runs both ends (an inline runner): once every task waits,
    # the server is blocked writing to the client that does not read.
    await trio.testing.wait_all_tasks_blocked(cushion=0.05)
    # The client reads nothing: the session waits with a bounded part made.
    assert 0 < len(made) < entries // 2
    reply = await client.reply()
    assert reply.first == '213-Status of "/":'
    assert reply.lines[-1] == "213 End of status."
    names = [line.split()[-1] for line in reply.lines[1:-1]]
    assert names == [f"file{i:06d}" for i in range(entries)]
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()


async def test_stat_names_cannot_forge_reply_lines(
    server: RunningServer, client: FTPClient
) -> None:
    (server.home / "x\r\n213 forged").write_bytes(b"")
    (server.home / "213 looks like a reply").write_bytes(b"")
    reply = await client.cmd("STAT /")
    assert reply.lines[-1] == "213 End of status."
    assert all(not line.startswith("213 ") for line in reply.lines[:-1])
    assert (await client.cmd("NOOP")).code == 200

"""Property fuzzing of whole sessions: arbitrary command sequences and bytes.

Each example runs one session of the handler on memory streams (the
``SessionHarness``, ``InlineRunner``, Trio's autojumping ``MockClock``), sends
it hypothesis-made input — real commands with hostile arguments, out of
order; Telnet IAC sequences, bare CR and LF, NUL, invalid UTF-8, lines past
``max_line_length`` — then a sentinel ``NOOP``, and checks that:

* the bytes the server sent parse as well-formed replies (a three-digit code,
  ``NNN-`` ... ``NNN `` multi-line form, no bare LF and no CR but Telnet's
  ``CR NUL``, and no line inside
  a multi-line reply that a client would take for its end);
* the session answered everything (the sentinel got its ``200`` before the
  idle timeout's ``421``: the client never closes) or the server closed it
  deliberately (``221``/``421``, an HTTP request, a failed TLS handshake);
* nothing was logged at ERROR (no "unhandled error", no traceback);
* nobody logged in without the password, the working directory stayed inside
  the home, and nothing outside the home was created or changed.

``TRIOFTP_FUZZ_EXAMPLES=N`` raises the number of examples for a long run.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trioftp.handlers import FTPHandler, TLS_FTPHandler
from trioftp.protocol.commands import COMMANDS, NOT_IMPLEMENTED, TLS_COMMANDS
from trioftp.protocol.framing import DEFAULT_MAX_LINE

from ..support.harness import SessionHarness
from ..support.servers import PASSWORD
from ..support.tls_fixtures import write_tls_files


def fuzz_settings(examples: int) -> settings:
    """*examples* per test in CI; ``TRIOFTP_FUZZ_EXAMPLES`` overrides it."""
    override = int(os.environ.get("TRIOFTP_FUZZ_EXAMPLES", "0"))
    return settings(
        max_examples=override or examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- the input

#: Names a user could see in listings; some carry line breaks and fake replies.
HOSTILE_NAMES = ("evil\r\n226 injected", "lf\n230 logged in", "cr\r250 done", "tab\there")

PATHS = (
    "a.txt", "sub", "sub/inner.txt", "/", ".", "..", "../..", "/../../..", "../outside",
    "../outside/planted", "/../outside", "sub/../../outside", "//etc/passwd", "~", "~root",
    "a\x00b", "\x00", "new.txt", "new dir", "sub/new.bin", "*", "-la", "-la sub", "é.txt",
    *HOSTILE_NAMES,
)  # fmt: skip

#: Arguments that make sense for some commands, to get past the syntax checks.
SPECIFIC = {
    "PORT": ("127,0,0,1,19,136", "127,0,0,1,0,0", "10,0,0,1,1,1", "1,2,3", "999,0,0,1,1,1"),
    "EPRT": ("|1|127.0.0.1|5000|", "|2|::1|5000|", "|1|10.0.0.1|21|", "|||", "|9|x|1|"),
    "EPSV": ("", "1", "2", "ALL", "3"),
    "REST": ("0", "5", "-1", "99999999999999999999", "x"),
    "TYPE": ("I", "A", "A N", "L 8", "E", "X"),
    "MODE": ("S", "B", "Z"),
    "STRU": ("F", "R", "P"),
    "OPTS": ("UTF8 ON", "UTF8 OFF", "MLST type;size;", "MLST", "HASH SHA-256", "X Y"),
    "USER": ("user", "anonymous", "nobody", ""),
    "PASS": ("wrong", "", PASSWORD),
    "AUTH": ("TLS", "SSL", "XYZ"),
    "PBSZ": ("0", "1", "x"),
    "PROT": ("P", "C", "S", "E"),
    "SITE": ("CHMOD 777 a.txt", "CHMOD 999 a.txt", "HELP", "HELP CHMOD", "FOO"),
    "MFMT": ("20200101000000 a.txt", "2020 a.txt", "99999999999999 ../outside/x"),
    "ALLO": ("100", "R 10", "x"),
    "HELP": ("", "RETR", "XYZ"),
    "HASH": ("", "SHA-1", "MD5"),
    "HOST": ("localhost", "a\x00b"),
    "XCRC": ("a.txt", "a.txt 0 1", "a.txt x y"),
}

_ALL_NAMES = sorted({*COMMANDS, *TLS_COMMANDS, *NOT_IMPLEMENTED})
command_names = st.one_of(
    st.sampled_from(_ALL_NAMES),
    st.sampled_from(_ALL_NAMES).map(str.lower),
    st.sampled_from(["GET", "POST", "HTTP/1.1", "", " ", "NOOP NOOP", "X" * 10]),
)

text_arguments = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40
)
#: Just past the line limit, and far past it.
huge_arguments = st.integers(DEFAULT_MAX_LINE - 8, DEFAULT_MAX_LINE * 3).map(lambda n: "A" * n)


@st.composite
def command_lines(draw: st.DrawFn) -> bytes:
    """A command with a plausible or hostile argument and some line ending."""
    name = draw(command_names)
    candidates = [st.sampled_from(PATHS), text_arguments, st.just("")]
    if name.upper() in SPECIFIC:
        candidates.insert(0, st.sampled_from(SPECIFIC[name.upper()]))
    argument = draw(st.one_of(*candidates) | huge_arguments) if draw(st.booleans()) else ""
    line = f"{name} {argument}" if argument else name
    ending = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n", b"\r\x00\r\n"]))
    return line.encode("utf-8", "surrogatepass") + ending


#: Telnet commands (IP, DM, SB without SE, SE, WILL/DO, escaped 0xFF), bare CR,
#: NUL and byte sequences that are not UTF-8.
raw_bytes = st.one_of(
    st.sampled_from(
        [
            b"\xff\xf4\xff\xf2",  # IAC IP, IAC DM: the Telnet Synch before ABOR
            b"\xff\xfa",  # IAC SB left open
            b"\xff\xfa\x18\x01\xff\xf0",  # a whole subnegotiation
            b"\xff\xf0",  # a stray IAC SE
            b"\xff\xfb\x01",  # IAC WILL ECHO
            b"\xff\xfd\x03",  # IAC DO SUPPRESS-GO-AHEAD
            b"\xff\xff",  # an escaped 0xFF
            b"\xff",  # a lone IAC
            b"\r",
            b"\x00",
            b"\xc3\x28",
            b"\x80\xfe\xff",
            b"\xed\xa0\x80",  # an encoded surrogate
        ]
    ),
    st.binary(max_size=20),
)

pieces = st.one_of(
    command_lines(),
    command_lines(),
    raw_bytes,
    st.tuples(raw_bytes, command_lines()).map(b"".join),
)


@attrs.frozen
class Script:
    """What one example sends: optional login, then the pieces in chunks."""

    login: bool
    pieces: tuple[bytes, ...]
    splits: tuple[int, ...]  #: where the byte stream is cut into send_all() calls

    def payload(self) -> bytes:
        prefix = f"USER user\r\nPASS {PASSWORD}\r\n".encode() if self.login else b""
        # A CRLF ends whatever line the fuzz left open; the NOOP must then be answered.
        return prefix + b"".join(self.pieces) + b"\r\nNOOP\r\n"

    def chunks(self) -> Iterator[bytes]:
        payload = self.payload()
        start = 0
        for cut in sorted({split % (len(payload) + 1) for split in self.splits}):
            yield payload[start:cut]
            start = cut
        yield payload[start:]


scripts = st.builds(
    Script,
    login=st.booleans(),
    pieces=st.lists(pieces, max_size=25).map(tuple),
    splits=st.lists(st.integers(0, 1 << 16), max_size=4).map(tuple),
)


# --- running one session


class Records(logging.Handler):
    """The records of the ``trioftp`` loggers while it is installed."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def log_records() -> Iterator[list[logging.LogRecord]]:
    handler = Records()
    logger = logging.getLogger("trioftp")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)


@attrs.frozen
class Outcome:
    sent: bytes  #: all the server sent on the control connection
    authenticated: bool  #: whether the session was logged in at its end
    cwd_on_disk: str | None  #: the session's working directory as a local path


async def drain_data_connections(session_peers: trio.MemoryReceiveChannel[trio.abc.Stream]) -> None:
    """Play the client of every active data connection: send nothing, read all."""

    async def play(stream: trio.abc.Stream) -> None:
        try:
            await stream.send_eof()  # type: ignore[attr-defined]
            while await stream.receive_some(65536):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    async with trio.open_nursery() as nursery:
        async for stream in session_peers:
            nursery.start_soon(play, stream)


def run_session(root: Path, script: Script, base: type[FTPHandler], **attributes: Any) -> Outcome:
    """Run one session on *script*'s bytes (home: *root*/home) to its end."""

    async def main() -> Outcome:
        received = bytearray()
        async with trio.open_nursery() as nursery:
            session = SessionHarness(nursery, root / "home")(base, **attributes)
            nursery.start_soon(drain_data_connections, session.data_peers)
            with trio.fail_after(24 * 3600):  # mock seconds: only a hang gets here
                # No EOF: the server must answer everything, then time out idle.
                try:
                    for chunk in script.chunks():
                        await session.stream.send_all(chunk)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass  # the server closed first
                while data := await session.stream.receive_some(65536):
                    received += data
                await session.ended.wait()
            nursery.cancel_scope.cancel()
        handler = session.handler
        fs = handler.fs
        cwd = fs.ftp2fs(fs.cwd) if fs is not None else None
        return Outcome(bytes(received), handler.session_state.authenticated, cwd)

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# --- the checks

IDLE = b"421 Control connection timed out."
NOOP_DONE = b"200 I successfully did nothing."
_REPLY_LINE = re.compile(rb"([1-5][0-9][0-9])([ -])(.*)", re.DOTALL)
_ANY_END = re.compile(rb"[0-9]{3} ")


@attrs.frozen
class Reply:
    code: int
    lines: tuple[bytes, ...]


def parse_replies(sent: bytes) -> list[Reply]:
    """Split the server's bytes into replies, asserting the RFC 959 form."""
    assert sent == b"" or sent.endswith(b"\r\n"), sent[-200:]
    lines = sent.split(b"\r\n")[:-1]
    for line in lines:
        # CR NUL is Telnet's bare CR (RFC 959 for a CR in a pathname); nothing else.
        unescaped = line.replace(b"\r\x00", b"")
        assert b"\r" not in unescaped, line
        assert b"\n" not in unescaped, line
    replies: list[Reply] = []
    index = 0
    while index < len(lines):
        first = _REPLY_LINE.fullmatch(lines[index])
        assert first, f"not a reply line: {lines[index]!r} after {replies[-1:]}"
        code, separator = first.group(1), first.group(2)
        end = index
        if separator == b"-":
            end = index + 1
            # The first line a client could take for an end must be the real end.
            while end < len(lines) and not _ANY_END.match(lines[end]):
                end += 1
            assert end < len(lines), f"unterminated multi-line reply {lines[index]!r}"
            assert lines[end].startswith(code + b" "), lines[index : end + 1]
        replies.append(Reply(int(code), tuple(lines[index : end + 1])))
        index = end + 1
    return replies


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Everything under *root* except the home: path -> content (None: a directory)."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] == "home":
            continue
        found[str(relative)] = None if path.is_dir() else path.read_bytes()
    return found


@contextmanager
def served_tree() -> Iterator[Path]:
    """A root with the home (files, a subdirectory, hostile names) and a bait outside."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        home = root / "home"
        (home / "sub").mkdir(parents=True)
        (home / "a.txt").write_bytes(b"a" * 100)
        (home / "sub" / "inner.txt").write_bytes(b"inner")
        for name in HOSTILE_NAMES:
            (home / name).write_bytes(b"hostile")
        (root / "outside").mkdir()
        (root / "outside" / "secret.txt").write_bytes(b"secret")
        yield root


def can_log_in(script: Script) -> bool:
    payload = script.payload().lower()
    return (
        script.login
        or f"pass {PASSWORD}".encode() in payload
        or b"user anonymous" in payload
        or b"user ftp" in payload
    )


def closes_on_purpose(script: Script, logged: list[str]) -> bool:
    """Whether the server ended the session without a reply on purpose: an
    HTTP request (the ALPACA pattern) or AUTH followed by no TLS handshake."""
    return any("HTTP on the FTP port" in message for message in logged) or (
        b"AUTH" in script.payload().upper()
    )


def check(root: Path, script: Script, outcome: Outcome, records: list[logging.LogRecord]) -> None:
    assert [r.getMessage() for r in records if r.levelno >= logging.ERROR] == []
    logged = [record.getMessage() for record in records]
    replies = parse_replies(outcome.sent)
    assert replies, "no greeting"
    assert replies[0].code == 220
    last = replies[-1]
    if last.lines == (IDLE,):
        # The server waited for more: it must have answered the sentinel NOOP.
        assert replies[-2].lines == (NOOP_DONE,), replies[-3:]
    else:  # The server ended the session itself.
        assert last.code in (221, 421) or closes_on_purpose(script, logged), last
    if not can_log_in(script):
        assert not outcome.authenticated
        assert 230 not in [reply.code for reply in replies]
    if outcome.cwd_on_disk is not None:
        home = os.path.realpath(root / "home")
        cwd = os.path.realpath(outcome.cwd_on_disk)
        assert cwd == home or cwd.startswith(home + os.sep), cwd


def fuzz(script: Script, base: type[FTPHandler] = FTPHandler, **attributes: Any) -> None:
    with served_tree() as root:
        outside = snapshot(root)
        with log_records() as records:
            outcome = run_session(root, script, base, **attributes)
        check(root, script, outcome, records)
        assert snapshot(root) == outside


# --- the properties


@fuzz_settings(400)
@given(scripts)
def test_any_input_gets_well_formed_replies_and_keeps_the_jail(script: Script) -> None:
    fuzz(script)


@fuzz_settings(120)
@given(scripts)
def test_ftps_handler_with_any_input(script: Script) -> None:
    with tempfile.TemporaryDirectory() as certs:
        files = write_tls_files(Path(certs))
        fuzz(script, TLS_FTPHandler, certfile=str(files.certfile), keyfile=str(files.keyfile))


@fuzz_settings(120)
@given(scripts)
def test_a_small_line_limit_with_any_input(script: Script) -> None:
    """Lines past a small limit are everywhere: each must get a reply or a clean close."""
    fuzz(script, max_line_length=64)


def test_the_reply_checker_catches_injected_and_broken_lines() -> None:
    """The oracle itself: what a reply injection or a bare line break looks like."""
    assert [r.code for r in parse_replies(b"213-Status:\r\n evil\r\n 226 x\r\n213 End.\r\n")] == [
        213
    ]
    for broken in (
        b"213-Status:\r\nevil\r\n226 injected\r\n213 End.\r\n",  # ends early, then junk
        b"213-Status:\r\n226 injected\r\n",  # another code's end inside
        b'257 "/a\nb" created.\r\n',  # a bare LF
        b'257 "/a\rb" created.\r\n',  # a bare CR
        b"200 ok",  # no CRLF at the end
        b"20 ok\r\n",
    ):
        try:
            parse_replies(broken)
        except AssertionError:
            continue
        raise AssertionError(f"accepted {broken!r}")

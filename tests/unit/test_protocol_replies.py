"""Unit and property tests for trioftp.protocol.replies."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from trioftp.protocol.replies import (
    Reply,
    format_reply,
    multiline_reply,
    one_line_code,
    quote_path,
    sanitize,
)


def wire_lines(reply: str) -> list[str]:
    """Split a formatted reply into lines, checking the framing on the way."""
    assert reply.endswith("\r\n")
    lines = reply[:-2].split("\r\n")
    for line in lines:
        assert "\n" not in line
        # The only CR left inside a line is RFC 2640's CR NUL.
        assert re.search(r"\r(?!\x00)", line) is None
    return lines


def check_well_formed(reply: str, code: str) -> list[str]:
    """Parse *reply* as RFC 959 does and check it is exactly one reply with *code*."""
    lines = wire_lines(reply)
    final = [i for i, line in enumerate(lines) if line.startswith(code + " ")]
    assert final == [len(lines) - 1]
    if len(lines) > 1:
        assert lines[0].startswith(code + "-")
        # No inner line looks like the end of any reply to a lenient client either.
        for line in lines[1:-1]:
            assert re.match(r"\d{3} ", line) is None
    return lines


# --- format_reply examples ----------------------------------------------------------------


def test_single_line() -> None:
    assert format_reply("200 Command okay.") == "200 Command okay.\r\n"


def test_single_line_with_trailing_break() -> None:
    assert format_reply("200 ok\r\n") == "200 ok\r\n"
    assert format_reply("200 ok\n") == "200 ok\r\n"


def test_embedded_newline_cannot_forge_a_reply() -> None:
    reply = format_reply("550 No such file: a\r\n230 Login successful.")
    assert reply == "550-No such file: a\r\n 230 Login successful.\r\n550 End.\r\n"


def test_bare_cr_is_a_break() -> None:
    assert format_reply("550 a\rb") == "550-a\r\nb\r\n550 End.\r\n"


def test_cr_nul_is_not_a_break() -> None:
    assert format_reply('257 "a\r\x00b" created.') == '257 "a\r\x00b" created.\r\n'


def test_existing_multiline_kept() -> None:
    text = "211-Features supported:\n MDTM\n SIZE\n211 End FEAT."
    assert format_reply(text) == "211-Features supported:\r\n MDTM\r\n SIZE\r\n211 End FEAT.\r\n"


def test_existing_multiline_inner_reply_lookalike_indented() -> None:
    text = "214-Help:\n214 fake end\n226-also fake\n214 Done."
    assert format_reply(text) == "214-Help:\r\n 214 fake end\r\n 226-also fake\r\n214 Done.\r\n"


def test_multiline_without_end_gets_one() -> None:
    assert format_reply("250-a\nb") == "250-a\r\nb\r\n250 End.\r\n"


def test_lone_dash_line_gets_an_end() -> None:
    assert format_reply("250-abc") == "250-abc\r\n250 End.\r\n"
    assert format_reply("250-abc\r\n") == "250-abc\r\n250 End.\r\n"


def test_empty_inner_lines_kept() -> None:
    assert format_reply("250 a\n\nb") == "250-a\r\n\r\nb\r\n250 End.\r\n"


# --- multiline_reply / quote_path / sanitize ----------------------------------------------


def test_multiline_reply_layout() -> None:
    assert multiline_reply("211", "Features:", [" MDTM", "SIZE", "200 x", "200-y"], "End.") == (
        "211-Features:\r\n MDTM\r\nSIZE\r\n 200 x\r\n 200-y\r\n211 End.\r\n"
    )


def test_multiline_reply_no_middle() -> None:
    assert multiline_reply("214", "a", [], "b") == "214-a\r\n214 b\r\n"


def test_quote_path() -> None:
    assert quote_path("/home/ftp") == '"/home/ftp"'
    assert quote_path('/a "b" c') == '"/a ""b"" c"'
    assert quote_path("/a\rb") == '"/a\r\x00b"'
    assert quote_path("") == '""'


def test_quote_path_in_reply_stays_one_line() -> None:
    path = "/x\ry"
    reply = format_reply(f"257 {quote_path(path)} is the current directory.")
    assert reply == '257 "/x\r\x00y" is the current directory.\r\n'


def test_sanitize() -> None:
    assert sanitize("a\r\nb\x00c\x1bd\x7fe") == "a??b?c?d?e"
    assert sanitize("tab\tkept é ü") == "tab\tkept é ü"
    assert sanitize("") == ""


# --- properties ---------------------------------------------------------------------------

codes = st.integers(min_value=100, max_value=599).map(str)
reply_text = st.text(
    alphabet=st.sampled_from(["\r", "\n", "\x00", " ", "-", "a", "Z", "1", "2", "5", "0", "é"]),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(code=codes, separator=st.sampled_from([" ", "-"]), body=reply_text)
def test_any_text_becomes_exactly_one_reply(code: str, separator: str, body: str) -> None:
    check_well_formed(format_reply(code + separator + body), code)


@settings(max_examples=300, deadline=None)
@given(code=codes, body=st.text(max_size=40), names=st.lists(reply_text, max_size=4))
def test_client_names_cannot_forge_a_reply(code: str, body: str, names: list[str]) -> None:
    text = f"{code} {body} " + " ".join(names)
    check_well_formed(format_reply(text), code)


@settings(max_examples=200, deadline=None)
@given(
    code=codes,
    first=st.text(alphabet="abc 1", max_size=8),
    middle=st.lists(st.text(alphabet="abc 0123-", max_size=8), max_size=4),
    last=st.text(alphabet="abc 1", max_size=8),
)
def test_multiline_reply_is_well_formed(
    code: str, first: str, middle: list[str], last: str
) -> None:
    lines = check_well_formed(multiline_reply(code, first, middle, last), code)
    assert lines[0] == f"{code}-{first}"
    assert lines[-1] == f"{code} {last}"
    assert lines[1:-1] == [" " + m if re.match(r"\d{3}[ -]", m) else m for m in middle]


@settings(max_examples=200, deadline=None)
@given(code=codes, body=st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=40))
def test_text_without_breaks_is_unchanged(code: str, body: str) -> None:
    assert format_reply(f"{code} {body}") == f"{code} {body}\r\n"


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=40))
def test_sanitize_removes_every_control_but_tab(text: str) -> None:
    cleaned = sanitize(text)
    assert len(cleaned) == len(text)
    assert all(ch == "\t" or (ord(ch) >= 0x20 and ord(ch) != 0x7F) for ch in cleaned)


@settings(max_examples=200, deadline=None)
@given(path=st.text(max_size=30))
def test_quote_path_round_trips(path: str) -> None:
    quoted = quote_path(path)
    assert quoted[0] == quoted[-1] == '"'
    inner = quoted[1:-1]
    assert re.search(r"\r(?!\x00)", inner) is None
    assert inner.replace('""', '"').replace("\r\x00", "\r") == path


# --- Reply: the typed form ------------------------------------------------------------------


def test_reply_of_one_line() -> None:
    reply = Reply.of(226, "Transfer complete.")
    assert (reply.code, reply.lines, reply.wire()) == (
        226,
        ("Transfer complete.",),
        "226 Transfer complete.\r\n",
    )
    assert str(reply) == "226 Transfer complete."


def test_reply_parse_multiline() -> None:
    reply = Reply.parse("211-Features:\r\n MDTM\r\n211 End")
    assert (reply.code, reply.lines) == (211, ("Features:", " MDTM", "End"))
    assert reply.wire() == "211-Features:\r\n MDTM\r\n211 End\r\n"


def test_reply_parse_needs_a_code() -> None:
    for text in ("Hello", "", "12", "abc def", "2x0 ok"):
        try:
            Reply.parse(text)
        except ValueError:
            continue
        raise AssertionError(f"{text!r} parsed")


@given(st.sampled_from(["200", "226", "550"]), st.sampled_from([" ", "-"]), st.text())
@settings(max_examples=300)
def test_reply_wire_is_format_reply(code: str, separator: str, text: str) -> None:
    whole = code + separator + text
    reply = Reply.parse(whole)
    assert reply.wire() == format_reply(whole)
    check_well_formed(reply.wire(), code)
    assert Reply.parse(str(reply)).wire() == reply.wire()


def test_one_line_code() -> None:
    assert one_line_code("200 I successfully did nothing.") == 200
    assert one_line_code('257 "/a\r\x00b" is the current directory.') is None
    for text in ("200-Hello", "200 a\nb", "200", "2000 x", "099 x", "abc def", ""):
        assert one_line_code(text) is None, text


@given(codes.map(lambda c: "0" + c[1:]) | codes, st.sampled_from([" ", "-", ""]), reply_text)
@settings(max_examples=400)
def test_one_line_code_is_what_parse_and_wire_make(code: str, separator: str, text: str) -> None:
    """A text with a one-line code goes out as it is: what Reply.parse then wire would send."""
    whole = code + separator + text
    number = one_line_code(whole)
    if number is not None:
        reply = Reply.parse(whole)
        assert (reply.code, reply.lines[0]) == (number, whole[4:])
        assert reply.wire() == whole + "\r\n"

"""``trioftp passwd``: hashes printed, users added and updated in a users file."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from trioftp.authorizers import AuthorizerError
from trioftp.cli import main
from trioftp.passwd import set_user, toml_string
from trioftp.passwords import verify_password
from trioftp.userfile import UsersFileAuthorizer, parse_users

EXISTING = """\
# The FTP users.
[users.bob]   # Bob from accounting
password = "$scrypt$ln=4,r=1,p=1$YWJjZA$YWJjZA"  # old
home = "/srv/bob"

[users.bob.limits]
quota_bytes = 10
"""


def test_set_user_replaces_only_the_password_line() -> None:
    new = set_user(EXISTING, "bob", "$scrypt$ln=4,r=1,p=1$ZQ$ZQ", home=None, perm=None)
    assert new == EXISTING.replace(
        '"$scrypt$ln=4,r=1,p=1$YWJjZA$YWJjZA"  # old', '"$scrypt$ln=4,r=1,p=1$ZQ$ZQ"'
    )


def test_set_user_updates_home_and_adds_perm() -> None:
    new = set_user(EXISTING, "bob", "$scrypt$ln=4,r=1,p=1$ZQ$ZQ", home="/srv/b2", perm="elrw")
    (bob,) = parse_users(new)
    assert (bob.password, bob.home, bob.perm) == ("$scrypt$ln=4,r=1,p=1$ZQ$ZQ", "/srv/b2", "elrw")
    assert bob.limits.quota_bytes == 10
    assert new.startswith('# The FTP users.\n[users.bob]   # Bob from accounting\nperm = "elrw"\n')


def test_set_user_appends_a_new_user_with_a_quoted_name() -> None:
    new = set_user(EXISTING, 'é "x"', "$scrypt$ln=4,r=1,p=1$ZQ$ZQ", home="/srv/x", perm=None)
    assert new == EXISTING + (
        '\n[users."é \\"x\\""]\npassword = "$scrypt$ln=4,r=1,p=1$ZQ$ZQ"\nhome = "/srv/x"\n'
    )
    assert [user.name for user in parse_users(new)] == ["bob", 'é "x"']


def test_set_user_refuses_a_new_user_without_home() -> None:
    with pytest.raises(AuthorizerError, match=r"^user 'carol' is new: give its home \(--home\)$"):
        set_user(EXISTING, "carol", "$scrypt$ln=4,r=1,p=1$ZQ$ZQ", home=None, perm=None)


def test_set_user_refuses_an_inline_table() -> None:
    text = '[users]\nbob = { password = "$scrypt$ln=4,r=1,p=1$ZQ$ZQ", home = "/x" }\n'
    with pytest.raises(AuthorizerError, match=r"is not written as a \[users.bob\] table"):
        set_user(text, "bob", "$scrypt$ln=4,r=1,p=1$ZQ$ZQ", home=None, perm=None)


def test_toml_string_escapes_controls() -> None:
    assert toml_string('a\\b"c\x00\x7f\n') == '"a\\\\b\\"c\\u0000\\u007F\\u000A"'


def test_passwd_prints_a_hash_of_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\nignored\n"))
    assert main(["passwd", "--scheme", "scrypt"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("$scrypt$ln=15,r=8,p=1$")
    assert verify_password(out.strip(), "s3cret")


def test_passwd_adds_a_user_to_a_new_file_with_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "users.toml"
    monkeypatch.setattr("sys.stdin", io.StringIO("pw1\n"))
    assert (
        main(["passwd", "--users-file", str(path), "--user", "ann", "--home", str(tmp_path)]) == 0
    )
    assert capsys.readouterr().err == f"trioftp passwd: user 'ann' set in {path}\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    UsersFileAuthorizer(path).validate_authentication("ann", "pw1", None)
    # Again: the password changes, nothing else.
    monkeypatch.setattr("sys.stdin", io.StringIO("pw2\n"))
    assert main(["passwd", "--users-file", str(path), "--user", "ann"]) == 0
    authorizer = UsersFileAuthorizer(path)
    authorizer.validate_authentication("ann", "pw2", None)
    assert authorizer.get_home_dir("ann") == str(tmp_path)


@pytest.mark.parametrize(
    ("args", "stdin", "error"),
    [
        (["--user", "x"], "pw\n", "--users-file and --user go together"),
        (["--home", "/x"], "pw\n", "--home and --perm need --users-file and --user"),
    ],
)
def test_passwd_usage_errors(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    stdin: str,
    error: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exited:
        main(["passwd", *args])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(f"trioftp passwd: error: {error}\n")


def test_passwd_refuses_an_empty_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["passwd"]) == 1
    assert capsys.readouterr().err == "trioftp passwd: empty password\n"


def test_passwd_leaves_a_file_it_can_not_update_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "users.toml"
    path.write_text("[users\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    assert main(["passwd", "--users-file", str(path), "--user", "x", "--home", "/"]) == 1
    assert capsys.readouterr().err.startswith("trioftp passwd: not valid TOML: ")
    assert path.read_text() == "[users\n"
    assert os.listdir(tmp_path) == ["users.toml"]

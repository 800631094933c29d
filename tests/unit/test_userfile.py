"""The users file: loading, permissions and overrides, limits, errors, reload."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from trioftp.authorizers import AuthenticationFailed, AuthorizerError
from trioftp.limits import UserLimits
from trioftp.userfile import UsersFileAuthorizer, parse_users

from ..support.users import cheap_hash, user_table, users_file


@pytest.fixture
def homes(tmp_path: Path) -> Path:
    for name in ("alice", "bob", "pub", "alice/incoming", "alice/incoming/deep", "alice/pub"):
        (tmp_path / name).mkdir()
    return tmp_path


def test_a_complete_file(homes: Path) -> None:
    path = users_file(
        homes / "users.toml",
        f"""
# Alice may write; her pub directory is read-only, incoming is write-only.
[users.alice]
password = "{cheap_hash("alice-pw", "argon2id")}"
home = "alice"
perm = "elradfmwMT"
msg_login = "Welcome, Alice."
msg_quit = "Bye, Alice."

[users.alice.overrides]
"pub" = {{ perm = "elr" }}
"{homes / "alice/incoming"}" = {{ perm = "ew", recursive = true }}

[users.alice.limits]
max_download_rate = 1000
max_upload_rate = 2000
quota_bytes = 3000
quota_files = 4
max_sessions = 5

[users.bob]
password = "{cheap_hash("bob-pw", "bcrypt")}"
home = "{homes / "bob"}"

[users.anonymous]
home = "pub"
""",
    )
    authorizer = UsersFileAuthorizer(path)
    assert sorted(authorizer.user_table) == ["alice", "anonymous", "bob"]
    # Relative homes are the file's directory's; the default letters are elr.
    assert authorizer.get_home_dir("alice") == str(homes / "alice")
    assert authorizer.get_home_dir("anonymous") == str(homes / "pub")
    assert authorizer.get_perms("bob") == "elr"
    assert authorizer.get_msg_login("alice") == "Welcome, Alice."
    assert authorizer.get_msg_quit("alice") == "Bye, Alice."
    assert authorizer.get_msg_login("bob") == "Login successful."
    # Overrides, relative to the home or absolute, with pyftpdlib's semantics.
    assert authorizer.has_perm("alice", "w", str(homes / "alice/file"))
    assert not authorizer.has_perm("alice", "w", str(homes / "alice/pub/file"))
    assert not authorizer.has_perm("alice", "r", str(homes / "alice/incoming/deep/file"))
    assert authorizer.has_perm("alice", "w", str(homes / "alice/incoming/deep/file"))
    assert authorizer.get_user_limits("alice") == UserLimits(
        max_download_rate=1000,
        max_upload_rate=2000,
        quota_bytes=3000,
        quota_files=4,
        max_sessions=5,
    )
    assert authorizer.get_user_limits("bob") == UserLimits()
    # Passwords: argon2id, bcrypt; anonymous takes any.
    authorizer.validate_authentication("alice", "alice-pw", None)
    authorizer.validate_authentication("bob", "bob-pw", None)
    authorizer.validate_authentication("anonymous", "whatever@example.org", None)
    for user, password in [("alice", "bob-pw"), ("bob", ""), ("carol", "alice-pw")]:
        with pytest.raises(AuthenticationFailed, match=r"^Authentication failed\.$"):
            authorizer.validate_authentication(user, password, None)


def test_without_anonymous_anonymous_is_refused(homes: Path) -> None:
    authorizer = UsersFileAuthorizer(users_file(homes / "u.toml", user_table("bob", homes / "bob")))
    with pytest.raises(AuthenticationFailed, match=r"^Anonymous access not allowed\.$"):
        authorizer.validate_authentication("anonymous", "x", None)


def test_a_plain_password_added_by_a_program_never_matches(
    homes: Path, caplog: pytest.LogCaptureFixture
) -> None:
    authorizer = UsersFileAuthorizer(users_file(homes / "u.toml", ""))
    authorizer.add_user("carol", "plain", str(homes / "bob"))
    with pytest.raises(AuthenticationFailed):
        authorizer.validate_authentication("carol", "plain", None)
    assert caplog.messages == [
        "user 'carol' has an unusable password hash: not a password hash this server "
        "understands (argon2id, bcrypt, scrypt)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[users.a\n", "not valid TOML: "),
        ("[groups.a]\n", "unknown top-level key 'groups' (users go in [users.NAME])"),
        ('[users.a]\nhome = "x"\n', "user 'a': no password (make one with: trioftp passwd)"),
        ('[users.a]\npassword = "nohash"\nhome = "x"\n', "user 'a': not a password hash"),
        (f'[users.a]\npassword = "{cheap_hash("p")}"\n', "user 'a': no home"),
        (
            f'[users.a]\npassword = "{cheap_hash("p")}"\nhome = "x"\nperms = "elr"\n',
            "user 'a': unknown key 'perms'",
        ),
        (
            f'[users.a]\npassword = "{cheap_hash("p")}"\nhome = "x"\n[users.a.limits]\nquota = 1\n',
            "user 'a': limits: ",
        ),
        (
            f'[users.a]\npassword = "{cheap_hash("p")}"\nhome = "x"\n'
            "[users.a.limits]\nquota_bytes = -1\n",
            "user 'a': limits: quota_bytes must be a non-negative integer, not -1",
        ),
        (
            f'[users.a]\npassword = "{cheap_hash("p")}"\nhome = "x"\n'
            '[users.a.overrides]\nx = "elr"\n',
            "user 'a': override 'x' must be { perm = ..., recursive = ... }",
        ),
        (
            '[users.anonymous]\npassword = "x"\nhome = "x"\n',
            "user 'anonymous' logs in with any password: remove its password",
        ),
    ],
)
def test_file_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(AuthorizerError) as caught:
        parse_users(text)
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"perm": '"elrX"'}, "user 'bob': no such permission 'X'"),
        ({"home": '"missing"'}, "user 'bob': no such directory: "),
    ],
)
def test_directory_and_letter_errors_name_the_user(
    homes: Path, extra: dict[str, str], message: str
) -> None:
    text = f'[users.bob]\npassword = "{cheap_hash("p")}"\n'
    text += "\n".join(f"{key} = {value}" for key, value in {"home": '"bob"', **extra}.items())
    with pytest.raises(AuthorizerError) as caught:
        UsersFileAuthorizer(users_file(homes / "u.toml", text))
    assert str(caught.value).startswith(message), str(caught.value)


def test_override_outside_the_home_is_refused(homes: Path) -> None:
    text = (
        user_table("bob", homes / "bob") + '[users.bob.overrides]\n"../alice" = { perm = "elr" }\n'
    )
    with pytest.raises(AuthorizerError, match=r"^user 'bob': path escapes user home directory"):
        UsersFileAuthorizer(users_file(homes / "u.toml", text))


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(AuthorizerError, match=r"^can't read users file '.*/missing\.toml': "):
        UsersFileAuthorizer(tmp_path / "missing.toml")


def test_reload_applies_a_new_file(homes: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = users_file(homes / "u.toml", user_table("bob", homes / "bob", "old"))
    authorizer = UsersFileAuthorizer(path)
    users_file(path, user_table("bob", homes / "bob", "new") + user_table("alice", homes / "alice"))
    caplog.set_level(logging.INFO, "trioftp")
    assert authorizer.reload() is True
    assert caplog.messages == [f"users file {path} reloaded: 2 users"]
    authorizer.validate_authentication("bob", "new", None)
    with pytest.raises(AuthenticationFailed):
        authorizer.validate_authentication("bob", "old", None)
    assert authorizer.has_user("alice")


def test_a_broken_file_on_reload_keeps_the_old_users(
    homes: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = users_file(homes / "u.toml", user_table("bob", homes / "bob", "old"))
    authorizer = UsersFileAuthorizer(path)
    users_file(path, user_table("bob", homes / "missing-home", "new"))
    assert authorizer.reload() is False
    assert caplog.messages == [
        f"users file {path} not reloaded, keeping the 1 users loaded before: "
        f"user 'bob': no such directory: '{homes / 'missing-home'}'"
    ]
    authorizer.validate_authentication("bob", "old", None)

"""Tests for trioftp.authorizers.DummyAuthorizer."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from trioftp import authorizers, exceptions
from trioftp.authorizers import AuthenticationFailed, AuthorizerError, DummyAuthorizer

ALL = "elradfmwMT"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "user"
    path.mkdir()
    return path


@pytest.fixture
def auth(home: Path) -> DummyAuthorizer:
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "secret", str(home), perm="elr")
    return authorizer


def test_reexports_the_shared_exceptions() -> None:
    assert authorizers.AuthorizerError is exceptions.AuthorizerError
    assert authorizers.AuthenticationFailed is exceptions.AuthenticationFailed
    # pyftpdlib's DummyAuthorizer raises ValueError: keep `except ValueError` working.
    assert issubclass(AuthorizerError, ValueError)


def test_permission_letter_sets() -> None:
    assert DummyAuthorizer.read_perms == "elr"
    assert DummyAuthorizer.write_perms == "adfmwMT"


# --- add_user / add_anonymous / remove_user


def test_add_user_fills_user_table(tmp_path: Path) -> None:
    authorizer = DummyAuthorizer()
    given = str(tmp_path) + "/"
    authorizer.add_user("bob", "pw", given, perm=ALL, msg_login="hi", msg_quit="bye")
    assert authorizer.user_table == {
        "bob": {
            "pwd": "pw",
            "home": given,
            "perm": ALL,
            "operms": {},
            "msg_login": "hi",
            "msg_quit": "bye",
        }
    }
    assert authorizer.has_user("bob")
    assert authorizer.get_home_dir("bob") == given
    assert authorizer.get_perms("bob") == ALL
    assert authorizer.get_msg_login("bob") == "hi"
    assert authorizer.get_msg_quit("bob") == "bye"


def test_add_user_defaults(auth: DummyAuthorizer) -> None:
    assert auth.get_perms("user") == "elr"
    assert auth.get_msg_login("user") == "Login successful."
    assert auth.get_msg_quit("user") == "Goodbye."


def test_add_user_duplicate(auth: DummyAuthorizer, home: Path) -> None:
    with pytest.raises(AuthorizerError, match="already exists"):
        auth.add_user("user", "other", str(home))
    assert auth.user_table["user"]["pwd"] == "secret"


@pytest.mark.parametrize("perm", ["x", "elrX", "e l", "E"])
def test_add_user_unknown_permission(home: Path, perm: str) -> None:
    authorizer = DummyAuthorizer()
    with pytest.raises(AuthorizerError, match="no such permission"):
        authorizer.add_user("bob", "pw", str(home), perm=perm)
    assert not authorizer.has_user("bob")


def test_add_user_missing_home(tmp_path: Path) -> None:
    authorizer = DummyAuthorizer()
    with pytest.raises(AuthorizerError, match="no such directory"):
        authorizer.add_user("bob", "pw", str(tmp_path / "nope"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(AuthorizerError, match="no such directory"):
        authorizer.add_user("bob", "pw", str(tmp_path / "file"))
    assert authorizer.user_table == {}


def test_add_anonymous_read_only_does_not_warn(home: Path) -> None:
    authorizer = DummyAuthorizer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        authorizer.add_anonymous(str(home))
    assert authorizer.get_perms("anonymous") == "elr"
    assert authorizer.get_home_dir("anonymous") == str(home)


def test_add_anonymous_write_warns_at_caller(home: Path) -> None:
    authorizer = DummyAuthorizer()
    with pytest.warns(RuntimeWarning, match="write permissions") as record:
        authorizer.add_anonymous(str(home), perm="elrw", msg_login="welcome")
    assert len(record) == 1
    assert record[0].filename == __file__
    assert authorizer.get_perms("anonymous") == "elrw"
    assert authorizer.get_msg_login("anonymous") == "welcome"


def test_add_user_named_anonymous_with_write_warns(home: Path) -> None:
    with pytest.warns(RuntimeWarning) as record:
        DummyAuthorizer().add_user("anonymous", "", str(home), perm="elrM")
    assert record[0].filename == __file__


def test_add_anonymous_twice(home: Path) -> None:
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(str(home))
    with pytest.raises(AuthorizerError, match="already exists"):
        authorizer.add_anonymous(str(home))


def test_remove_user(auth: DummyAuthorizer) -> None:
    auth.remove_user("user")
    assert not auth.has_user("user")
    assert auth.user_table == {}
    with pytest.raises(KeyError):
        auth.remove_user("user")


def test_unknown_user_queries(auth: DummyAuthorizer) -> None:
    assert not auth.has_user("ghost")
    assert auth.has_perm("ghost", "e") is False
    assert auth.has_perm("ghost", "e", "/") is False
    assert auth.get_msg_quit("ghost") == "Goodbye."
    with pytest.raises(KeyError):
        auth.get_home_dir("ghost")
    with pytest.raises(KeyError):
        auth.get_perms("ghost")


# --- validate_authentication


def test_validate_authentication(auth: DummyAuthorizer) -> None:
    auth.validate_authentication("user", "secret", None)  # no exception
    with pytest.raises(AuthenticationFailed) as wrong:
        auth.validate_authentication("user", "Secret", None)
    with pytest.raises(AuthenticationFailed) as unknown:
        auth.validate_authentication("nobody", "secret", None)
    assert str(wrong.value) == str(unknown.value) == "Authentication failed."
    with pytest.raises(AuthenticationFailed):
        auth.validate_authentication("user", "", None)


def test_validate_authentication_non_ascii(home: Path) -> None:
    authorizer = DummyAuthorizer()
    authorizer.add_user("zoë", "pässwörd", str(home))
    authorizer.validate_authentication("zoë", "pässwörd", None)
    with pytest.raises(AuthenticationFailed):
        authorizer.validate_authentication("zoë", "passwörd", None)
    # A surrogate-escaped password (undecodable bytes) is compared, not crashed on.
    with pytest.raises(AuthenticationFailed):
        authorizer.validate_authentication("zoë", "p\udce4ss", None)


def test_validate_authentication_anonymous(home: Path) -> None:
    authorizer = DummyAuthorizer()
    with pytest.raises(AuthenticationFailed):
        authorizer.validate_authentication("anonymous", "x@example.com", None)
    authorizer.add_anonymous(str(home))
    authorizer.validate_authentication("anonymous", "x@example.com", None)
    authorizer.validate_authentication("anonymous", "", None)


def test_impersonation_hooks_are_noops(auth: DummyAuthorizer) -> None:
    before = os.getcwd(), os.geteuid(), repr(auth.user_table)
    auth.impersonate_user("user", "secret")
    auth.terminate_impersonation("user")
    auth.impersonate_user("ghost", "")  # unknown users too: the base does nothing
    assert (os.getcwd(), os.geteuid(), repr(auth.user_table)) == before


# --- has_perm and override_perm


def test_has_perm_global(auth: DummyAuthorizer, home: Path) -> None:
    assert [auth.has_perm("user", p) for p in ALL] == [p in "elr" for p in ALL]
    assert auth.has_perm("user", "r", str(home / "any" / "file"))
    assert not auth.has_perm("user", "w", str(home))
    assert not auth.has_perm("user", "")
    assert not auth.has_perm("user", "el")
    assert not auth.has_perm("user", "x")


def make_tree(home: Path) -> None:
    for sub in ("a/b/c", "ro/sub", "rw", "user2"):
        (home / sub).mkdir(parents=True)
    for file in ("a/f", "a/b/f", "a/b/c/f", "ro/f", "ro/sub/f", "rw/f", "f"):
        (home / file).write_text(file)


def test_override_recursive(auth: DummyAuthorizer, home: Path) -> None:
    make_tree(home)
    auth.override_perm("user", str(home / "a"), "elrw", recursive=True)
    for path in ("a", "a/f", "a/b", "a/b/f", "a/b/c", "a/b/c/f"):
        assert auth.has_perm("user", "w", str(home / path)), path
    for path in ("", "f", "rw", "rw/f"):
        assert not auth.has_perm("user", "w", str(home / path)), path
    # Global perms are unchanged.
    assert not auth.has_perm("user", "w")


def test_override_non_recursive(auth: DummyAuthorizer, home: Path) -> None:
    make_tree(home)
    auth.override_perm("user", str(home / "a"), "elrw", recursive=False)
    assert auth.has_perm("user", "w", str(home / "a"))
    assert auth.has_perm("user", "w", str(home / "a/f"))
    assert not auth.has_perm("user", "w", str(home / "a/b"))
    assert not auth.has_perm("user", "w", str(home / "a/b/f"))
    assert not auth.has_perm("user", "w", str(home / "f"))


def test_override_can_remove_letters(auth: DummyAuthorizer, home: Path) -> None:
    make_tree(home)
    auth.override_perm("user", str(home / "ro"), "l", recursive=True)
    assert not auth.has_perm("user", "r", str(home / "ro/f"))
    assert auth.has_perm("user", "l", str(home / "ro/sub/f"))
    assert auth.has_perm("user", "r", str(home / "f"))


def test_most_specific_override_wins(auth: DummyAuthorizer, home: Path) -> None:
    make_tree(home)
    # Deepest first, so the answer cannot come from insertion order.
    auth.override_perm("user", str(home / "a/b/c"), "elr", recursive=True)
    auth.override_perm("user", str(home / "a/b"), "elrd", recursive=False)
    auth.override_perm("user", str(home / "a"), "elrw", recursive=True)
    check = {
        "a/f": "elrw",
        "a/b": "elrd",
        "a/b/f": "elrd",
        "a/b/c": "elr",  # non-recursive a/b does not cover its subdirectory...
        "a/b/c/f": "elr",
    }
    for path, letters in check.items():
        got = "".join(p for p in ALL if auth.has_perm("user", p, str(home / path)))
        assert got == letters, path


def test_non_recursive_inside_recursive(auth: DummyAuthorizer, home: Path) -> None:
    make_tree(home)
    auth.override_perm("user", str(home / "a"), "elrw", recursive=True)
    auth.override_perm("user", str(home / "a/b"), "elrd", recursive=False)
    assert auth.has_perm("user", "d", str(home / "a/b/f"))
    assert not auth.has_perm("user", "w", str(home / "a/b/f"))
    # a/b/c is not covered by the non-recursive a/b: the recursive a applies.
    assert auth.has_perm("user", "w", str(home / "a/b/c"))
    assert auth.has_perm("user", "w", str(home / "a/b/c/f"))
    assert not auth.has_perm("user", "d", str(home / "a/b/c/f"))


def test_override_not_bypassed_by_path_tricks(auth: DummyAuthorizer, home: Path) -> None:
    make_tree(home)
    auth.override_perm("user", str(home / "ro"), "el", recursive=True)
    (home / "link").symlink_to(home / "ro")
    (home / "rw" / "filelink").symlink_to(home / "ro" / "f")
    tricks = [
        home / "link" / "f",
        home / "link" / "sub",
        f"{home}/rw/../ro/f",
        f"{home}/rw/../ro/",
        f"{home}//ro//f",
        f"{home}/ro/./sub/",
        home / "rw" / "filelink",  # a link in rw/ pointing into ro/
    ]
    for path in tricks:
        assert not auth.has_perm("user", "r", str(path)), path
    assert auth.has_perm("user", "r", str(home / "rw" / "f"))


def test_symlink_in_restricted_dir_to_free_file(auth: DummyAuthorizer, home: Path) -> None:
    make_tree(home)
    auth.override_perm("user", str(home / "rw"), "elrd", recursive=True)
    (home / "ro" / "tofree").symlink_to(home / "rw" / "f")
    # The link lies in a directory where "d" is not granted: deleting it is refused
    # even though its target is deletable.
    assert auth.has_perm("user", "d", str(home / "rw" / "f"))
    assert not auth.has_perm("user", "d", str(home / "ro" / "tofree"))


def test_override_given_through_symlink(auth: DummyAuthorizer, home: Path) -> None:
    make_tree(home)
    (home / "alias").symlink_to(home / "a")
    auth.override_perm("user", f"{home}/alias/", "elrw", recursive=True)
    assert list(auth.user_table["user"]["operms"]) == [os.path.realpath(home / "a")]
    assert auth.has_perm("user", "w", str(home / "a" / "b" / "f"))


def test_override_through_symlinked_home(tmp_path: Path, home: Path) -> None:
    make_tree(home)
    link = tmp_path / "homelink"
    link.symlink_to(home)
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "pw", str(link))
    authorizer.override_perm("user", str(link / "a"), "elrw", recursive=True)
    assert authorizer.has_perm("user", "w", str(link / "a" / "f"))
    assert authorizer.has_perm("user", "w", str(home / "a" / "f"))
    assert not authorizer.has_perm("user", "w", str(link / "f"))


def test_override_perm_errors(auth: DummyAuthorizer, home: Path, tmp_path: Path) -> None:
    make_tree(home)
    with pytest.raises(AuthorizerError, match="no such user") as raised:
        auth.override_perm("ghost", str(home / "a"), "elr")
    assert isinstance(raised.value, KeyError)  # as pyftpdlib's table lookup raises
    with pytest.raises(AuthorizerError, match="no such permission"):
        auth.override_perm("user", str(home / "a"), "elrz")
    with pytest.raises(AuthorizerError, match="no such directory"):
        auth.override_perm("user", str(home / "missing"), "elr")
    with pytest.raises(AuthorizerError, match="no such directory"):
        auth.override_perm("user", str(home / "f"), "elr")
    with pytest.raises(AuthorizerError, match="home directory"):
        auth.override_perm("user", str(home) + "/", "elr")
    sibling = tmp_path / "user2"  # shares the "user" prefix, outside the home
    sibling.mkdir()
    with pytest.raises(AuthorizerError, match="escapes user home directory"):
        auth.override_perm("user", str(sibling), "elr")
    with pytest.raises(AuthorizerError, match="escapes user home directory"):
        auth.override_perm("user", f"{home}/../user2", "elr")
    escape = home / "escape"
    escape.symlink_to(sibling)
    with pytest.raises(AuthorizerError, match="escapes user home directory"):
        auth.override_perm("user", str(escape), "elr")
    assert auth.user_table["user"]["operms"] == {}


def test_override_perm_anonymous_write_warns(home: Path) -> None:
    (home / "incoming").mkdir()
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(str(home))
    with pytest.warns(RuntimeWarning, match="write permissions") as record:
        authorizer.override_perm("anonymous", str(home / "incoming"), "elrw")
    assert record[0].filename == __file__
    assert authorizer.has_perm("anonymous", "w", str(home / "incoming"))

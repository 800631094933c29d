"""Password hashes: each scheme makes and checks hashes; bad hashes are reported clearly."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys

import pytest

from trioftp.passwords import UnsupportedHash, check_hash, hash_password, verify_password

from ..support.users import cheap_hash


@pytest.mark.parametrize("scheme", ["argon2id", "bcrypt", "scrypt"])
def test_cheap_hashes_of_each_scheme_verify(scheme: str) -> None:
    hashed = cheap_hash("pässword", scheme)
    assert check_hash(hashed) == scheme
    assert verify_password(hashed, "pässword") is True
    assert verify_password(hashed, "password") is False


def test_default_scheme_is_argon2id() -> None:
    hashed = hash_password("secret")
    assert hashed.startswith("$argon2id$v=19$")
    assert verify_password(hashed, "secret")
    assert not verify_password(hashed, "Secret")


def test_scrypt_hash_format_and_default_cost() -> None:
    hashed = hash_password("secret", "scrypt")
    match = re.fullmatch(
        r"\$scrypt\$ln=15,r=8,p=1\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})", hashed
    )
    assert match is not None, hashed
    salt = base64.b64decode(match[1] + "==")
    expected = hashlib.scrypt(b"secret", salt=salt, n=2**15, r=8, p=1, maxmem=64 << 20, dklen=32)
    assert base64.b64decode(match[2] + "=") == expected
    assert verify_password(hashed, "secret")


def test_bcrypt_scheme() -> None:
    hashed = hash_password("secret", "bcrypt")
    assert hashed.startswith("$2b$12$")
    assert verify_password(hashed, "secret")


def test_ab64_scrypt_alphabet_is_accepted() -> None:
    # passlib's ab64 alphabet has '.' where standard base64 has '+'.
    salt = bytes(range(251, 255)) * 4  # base64 of these bytes contains '+'
    digest = hashlib.scrypt(b"pw", salt=salt, n=16, r=1, p=1, dklen=32)
    salt_text = base64.b64encode(salt).decode().rstrip("=")
    assert "+" in salt_text
    hashed = f"$scrypt$ln=4,r=1,p=1${salt_text.replace('+', '.')}$" + base64.b64encode(
        digest
    ).decode().rstrip("=").replace("+", ".")
    assert verify_password(hashed, "pw")
    assert not verify_password(hashed, "px")


@pytest.mark.parametrize(
    ("hashed", "message"),
    [
        ("plain-text", "not a password hash this server understands (argon2id, bcrypt, scrypt)"),
        (
            "$scrypt$ln=4$abc$def",
            "malformed scrypt hash (expected $scrypt$ln=..,r=..,p=..$salt$hash)",
        ),
        ("$scrypt$ln=0,r=1,p=1$YWJj$YWJj", "scrypt hash with impossible parameters"),
        ("$2b$04$short", "malformed bcrypt hash"),
        ("$argon2id$v=19$garbage", "malformed argon2 hash"),
    ],
)
def test_bad_hashes_say_what_is_wrong(hashed: str, message: str) -> None:
    with pytest.raises(UnsupportedHash) as caught:
        check_hash(hashed)
    assert str(caught.value).startswith(message)
    with pytest.raises(UnsupportedHash):
        verify_password(hashed, "x")


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(UnsupportedHash, match="unknown scheme 'md5'"):
        hash_password("x", "md5")


@pytest.mark.parametrize(
    ("module", "scheme", "extra"),
    [("bcrypt", "bcrypt", "bcrypt"), ("argon2", "argon2id", "argon2")],
)
def test_missing_optional_package_gives_a_clear_error(module: str, scheme: str, extra: str) -> None:
    hashed = cheap_hash("pw", scheme)
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from trioftp.passwords import check_hash, UnsupportedHash\n"
        f"try: check_hash({hashed!r})\n"
        "except UnsupportedHash as exc: print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    package = "argon2-cffi" if module == "argon2" else "bcrypt"
    assert result.stdout == (
        f"{scheme} hashes need the {package} package (pip install 'trioftp[{extra}]')\n"
    )


def test_bcrypt_reads_72_bytes_of_a_password() -> None:
    hashed = cheap_hash("p" * 72, "bcrypt")
    assert verify_password(hashed, "p" * 72)
    assert verify_password(hashed, "p" * 72 + "ignored")
    with pytest.raises(UnsupportedHash, match="at most 72 bytes"):
        hash_password("p" * 73, "bcrypt")

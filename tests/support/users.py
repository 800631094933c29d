"""Users files for tests: cheap hashes of each scheme, and a file on disk."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import argon2
import bcrypt


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def cheap_hash(password: str, scheme: str = "scrypt") -> str:
    """A valid hash of *password* at the lowest cost each scheme allows (tests only)."""
    secret = password.encode()
    if scheme == "scrypt":
        salt = b"0123456789abcdef"
        digest = hashlib.scrypt(secret, salt=salt, n=16, r=1, p=1, dklen=32)
        return f"$scrypt$ln=4,r=1,p=1${_b64(salt)}${_b64(digest)}"
    if scheme == "argon2id":
        hasher = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        return hasher.hash(secret)
    if scheme == "bcrypt":
        return bcrypt.hashpw(secret, bcrypt.gensalt(rounds=4)).decode()
    raise ValueError(scheme)


def users_file(path: Path, text: str) -> Path:
    """Write a users file's *text* to *path* and return the path."""
    path.write_text(text, encoding="utf-8")
    return path


def user_table(name: str, home: Path, password: str = "secret", **extra: str) -> str:
    """A ``[users.NAME]`` table with a cheap scrypt hash of *password*."""
    lines = [
        f"[users.{name}]",
        f'password = "{cheap_hash(password)}"',
        f'home = "{home}"',
        *(f"{key} = {value}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"

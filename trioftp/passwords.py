"""Password hashes: make one, check a password against one.

Three schemes are understood, told apart by the hash's prefix:

* ``$argon2id$...`` - Argon2id (RFC 9106) through ``argon2-cffi`` (the
  ``trioftp[argon2]`` extra); the scheme :func:`hash_password` uses by default;
* ``$2b$...`` (and ``$2a$``, ``$2y$``) - bcrypt, through the ``bcrypt``
  package (the ``trioftp[bcrypt]`` extra);
* ``$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>`` - scrypt from the
  standard library (:func:`hashlib.scrypt`), in the PHC string format: salt
  and hash in base64 without padding - the format of passlib's ``scrypt``
  (1.7), whose hashes are accepted as they are; so are those written with
  ``.`` in place of ``+`` (passlib's older "ab64" alphabet).

Checking a hash is slow on purpose (tens of milliseconds and, for Argon2,
tens of megabytes); the session runs it in its runner, a few at a time per
server (``FTPServer.max_login_checks``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from types import ModuleType

__all__ = [
    "SCHEMES",
    "UnsupportedHash",
    "check_hash",
    "hash_password",
    "verify_password",
]

#: The schemes :func:`hash_password` can make.
SCHEMES = ("argon2id", "bcrypt", "scrypt")

#: scrypt's default cost: N = 2**15, r = 8, p = 1 (32 MiB, as OWASP advises).
SCRYPT_LN, SCRYPT_R, SCRYPT_P = 15, 8, 1
_SCRYPT_SALT_BYTES, _SCRYPT_HASH_BYTES = 16, 32
_SCRYPT = re.compile(
    r"\$scrypt\$ln=(?P<ln>\d{1,2}),r=(?P<r>\d{1,3}),p=(?P<p>\d{1,3})"
    r"\$(?P<salt>[A-Za-z0-9+/.]+)\$(?P<hash>[A-Za-z0-9+/.]+)"
)
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


class UnsupportedHash(ValueError):
    """A hash of an unknown scheme, malformed, or needing a package not installed."""


def _encode(password: str) -> bytes:
    return password.encode("utf-8", "surrogatepass")


def _b64decode(text: str) -> bytes:
    text = text.replace(".", "+")  # passlib's ab64 alphabet
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _scrypt_memory(ln: int, r: int) -> int:
    return 128 * r * (1 << ln) + (1 << 20)


def _argon2() -> ModuleType:
    try:
        import argon2  # noqa: PLC0415 - optional: only needed for argon2 hashes
    except ImportError:
        raise UnsupportedHash(
            "argon2id hashes need the argon2-cffi package (pip install 'trioftp[argon2]')"
        ) from None
    return argon2


def _bcrypt() -> ModuleType:
    try:
        import bcrypt  # noqa: PLC0415 - optional: only needed for bcrypt hashes
    except ImportError:
        raise UnsupportedHash(
            "bcrypt hashes need the bcrypt package (pip install 'trioftp[bcrypt]')"
        ) from None
    return bcrypt


def hash_password(password: str, scheme: str = "argon2id") -> str:
    """Return a new salted hash of *password* with *scheme* (one of :data:`SCHEMES`).

    Raises :exc:`UnsupportedHash` if *scheme* is unknown or its package is
    not installed.
    """
    secret = _encode(password)
    if scheme == "argon2id":
        argon2 = _argon2()
        return str(argon2.PasswordHasher().hash(secret))
    if scheme == "bcrypt":
        bcrypt = _bcrypt()
        if len(secret) > 72:
            raise UnsupportedHash("bcrypt uses at most 72 bytes of a password; use argon2id")
        hashed: bytes = bcrypt.hashpw(secret, bcrypt.gensalt())
        return hashed.decode("ascii")
    if scheme == "scrypt":
        salt = os.urandom(_SCRYPT_SALT_BYTES)
        digest = hashlib.scrypt(
            secret,
            salt=salt,
            n=1 << SCRYPT_LN,
            r=SCRYPT_R,
            p=SCRYPT_P,
            maxmem=_scrypt_memory(SCRYPT_LN, SCRYPT_R),
            dklen=_SCRYPT_HASH_BYTES,
        )
        return (
            f"$scrypt$ln={SCRYPT_LN},r={SCRYPT_R},p={SCRYPT_P}"
            f"${_b64encode(salt)}${_b64encode(digest)}"
        )
    raise UnsupportedHash(f"unknown scheme {scheme!r} (choose from {', '.join(SCHEMES)})")


def check_hash(hashed: str) -> str:
    """Return the scheme of *hashed*, or raise :exc:`UnsupportedHash` saying what is wrong.

    Used when a users file is loaded, so that a hash that could never match
    is reported then, not at each login.
    """
    if hashed.startswith("$argon2"):
        argon2 = _argon2()
        try:
            argon2.extract_parameters(hashed)
        except Exception as exc:  # argon2's InvalidHashError, ValueError
            raise UnsupportedHash(f"malformed argon2 hash ({exc})") from None
        return "argon2id"
    if hashed.startswith(_BCRYPT_PREFIXES):
        _bcrypt()
        if not re.fullmatch(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}", hashed):
            raise UnsupportedHash("malformed bcrypt hash")
        return "bcrypt"
    if hashed.startswith("$scrypt$"):
        match = _SCRYPT.fullmatch(hashed)
        if match is None:
            raise UnsupportedHash(
                "malformed scrypt hash (expected $scrypt$ln=..,r=..,p=..$salt$hash)"
            )
        ln, r, p = int(match["ln"]), int(match["r"]), int(match["p"])
        if not (1 <= ln <= 31 and r >= 1 and p >= 1):
            raise UnsupportedHash("scrypt hash with impossible parameters")
        try:
            _b64decode(match["salt"])
            _b64decode(match["hash"])
        except ValueError:
            raise UnsupportedHash("malformed scrypt hash (bad base64)") from None
        return "scrypt"
    raise UnsupportedHash("not a password hash this server understands (argon2id, bcrypt, scrypt)")


def verify_password(hashed: str, password: str) -> bool:
    """Whether *password* matches *hashed* (slow on purpose: call it off the event loop).

    Raises :exc:`UnsupportedHash` for a hash :func:`check_hash` rejects.
    """
    scheme = check_hash(hashed)
    secret = _encode(password)
    if scheme == "argon2id":
        argon2 = _argon2()
        try:
            return bool(argon2.PasswordHasher().verify(hashed, secret))
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            raise UnsupportedHash("malformed argon2 hash") from None
    if scheme == "bcrypt":
        bcrypt = _bcrypt()
        try:
            # bcrypt reads at most 72 bytes of a password; bcrypt 5 refuses more.
            return bool(bcrypt.checkpw(secret[:72], hashed.encode("ascii")))
        except ValueError:
            raise UnsupportedHash("malformed bcrypt hash") from None
    match = _SCRYPT.fullmatch(hashed)
    assert match is not None
    ln, r, p = int(match["ln"]), int(match["r"]), int(match["p"])
    expected = _b64decode(match["hash"])
    digest = hashlib.scrypt(
        secret,
        salt=_b64decode(match["salt"]),
        n=1 << ln,
        r=r,
        p=p,
        maxmem=_scrypt_memory(ln, r),
        dklen=len(expected),
    )
    return hmac.compare_digest(digest, expected)

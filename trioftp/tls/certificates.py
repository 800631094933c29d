"""A self-signed certificate for ``trioftp --tls`` without ``--certfile``.

It is made once with the ``cryptography`` package, kept in a per-user config
directory and reused, so clients that pinned its fingerprint keep trusting it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["SelfSigned", "config_directory", "fingerprint", "self_signed_certificate"]

#: How long a new self-signed certificate is valid.
VALIDITY = datetime.timedelta(days=825)
_RENEW_BEFORE = datetime.timedelta(days=30)


@attrs.frozen
class SelfSigned:
    """Where the certificate and key are, and the certificate's SHA-256 fingerprint."""

    certfile: Path
    keyfile: Path
    fingerprint: str


def config_directory() -> Path:
    """``$XDG_CONFIG_HOME/trioftp`` (``~/.config/trioftp`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "trioftp"


def fingerprint(certificate: x509.Certificate) -> str:
    """The SHA-256 fingerprint as clients show it: ``AB:CD:...``."""
    return ":".join(f"{byte:02X}" for byte in certificate.fingerprint(hashes.SHA256()))


def self_signed_certificate(
    directory: Path | None = None, *, validity: datetime.timedelta = VALIDITY
) -> SelfSigned:
    """Return the stored self-signed certificate, making a new one if needed.

    A new one, valid for *validity*, is made when none exists or the stored
    one expires within 30 days. The key file is readable by its owner only.
    """
    directory = directory or config_directory()
    certfile, keyfile = directory / "selfsigned-cert.pem", directory / "selfsigned-key.pem"
    now = datetime.datetime.now(datetime.UTC)
    if certfile.exists() and keyfile.exists():
        certificate = x509.load_pem_x509_certificate(certfile.read_bytes())
        if certificate.not_valid_after_utc - now > _RENEW_BEFORE:
            return SelfSigned(certfile, keyfile, fingerprint(certificate))
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _certificate_for(key, now, validity)
    descriptor = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # O_CREAT's mode does not apply to an existing file
    with os.fdopen(descriptor, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return SelfSigned(certfile, keyfile, fingerprint(certificate))


def _certificate_for(
    key: ec.EllipticCurvePrivateKey, now: datetime.datetime, validity: datetime.timedelta
) -> x509.Certificate:
    host = socket.gethostname()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    names: list[x509.GeneralName] = [x509.DNSName(host), x509.DNSName("localhost")]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "::1")]
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )

#!/usr/bin/env python3
"""An FTPS server (RFC 4217, explicit ``AUTH TLS``) that refuses plain-text logins and transfers.

``TLS_FTPHandler`` takes a certificate chain and key (``certfile``,
``keyfile``; pyftpdlib's ``ssl_context`` works too); ``tls_control_required``
and ``tls_data_required`` make a client secure the control connection before
``USER`` and every data connection (``PROT P``) before a transfer. Without a
certificate this example makes a self-signed one (as ``trioftp --tls`` does)
and prints its SHA-256 fingerprint (after the address line), for clients
to check.

Usage::

    python examples/tls_ftpd.py [PORT [DIRECTORY]] [--certfile PEM [--keyfile PEM]]

PORT defaults to ``$FTPD_PORT`` or 2121 (``0``: any free port), DIRECTORY to
``$FTPD_DIR`` or the current directory, the certificate to ``$FTPD_CERTFILE``
and ``$FTPD_KEYFILE`` (else a self-signed one in ``~/.config/trioftp``). Log
in as ``user``/``12345``, e.g.
``curl --ssl-reqd --cacert cert.pem ftp://user:12345@localhost:2121/``.
Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import logging
import os

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import TLS_FTPHandler
from trioftp.servers import FTPServer
from trioftp.tls.certificates import self_signed_certificate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=os.environ.get("FTPD_PORT", "2121"))
    parser.add_argument("directory", nargs="?", default=os.environ.get("FTPD_DIR", "."))
    parser.add_argument("--certfile", default=os.environ.get("FTPD_CERTFILE"))
    parser.add_argument("--keyfile", default=os.environ.get("FTPD_KEYFILE"))
    args = parser.parse_args()
    directory = os.path.abspath(args.directory)

    certfile, keyfile, fingerprint = args.certfile, args.keyfile, None
    if certfile is None:
        made = self_signed_certificate()  # kept and reused until it nears its expiry
        certfile, keyfile, fingerprint = str(made.certfile), str(made.keyfile), made.fingerprint

    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", directory, perm="elradfmwMT")
    attributes = {
        "authorizer": authorizer,
        "certfile": certfile,
        "keyfile": keyfile,
        "tls_control_required": True,
        "tls_data_required": True,
    }
    handler = type("Handler", (TLS_FTPHandler,), attributes)

    server = FTPServer(("127.0.0.1", args.port), handler)
    host, port = server.address
    print(f"tls_ftpd: serving {directory} at ftp://{host}:{port}/", flush=True)
    if fingerprint is not None:
        print(f"tls_ftpd: self-signed certificate, SHA-256 fingerprint {fingerprint}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    main()

"""FTPS (FTP over TLS, RFC 4217): explicit ``AUTH TLS``, logins and transfers
encrypted, with a certificate from a file."""

import sys

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import TLS_FTPHandler
from trioftp.servers import FTPServer


def main(port: int, directory: str, certfile: str, keyfile: str | None = None) -> None:
    authorizer = DummyAuthorizer()
    authorizer.add_user("alice", "wonderland", directory, perm="elradfmwMT")

    handler = TLS_FTPHandler
    handler.authorizer = authorizer
    handler.certfile = certfile  # the certificate chain, PEM
    handler.keyfile = keyfile  # the private key, unless it is in certfile
    handler.tls_control_required = True  # no USER/PASS before AUTH TLS
    handler.tls_data_required = True  # no transfer without PROT P

    server = FTPServer(("127.0.0.1", port), handler)
    host, bound_port = server.address
    print(f"serving {directory} on ftp://{host}:{bound_port}/ (explicit FTPS)", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    # python ftps.py PORT DIRECTORY CERTFILE [KEYFILE]
    port, directory, certfile, *keyfile = sys.argv[1:]
    main(int(port), directory, certfile, *keyfile)

"""pyOpenSSL (an optional extra) and cryptography are imported only when they are used.

Each check runs in a fresh interpreter, whose ``sys.modules`` shows what
importing trioftp and serving plain FTP pulled in.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PLAIN_SERVER = """\
import ftplib, sys

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler, TLS_FTPHandler
from trioftp.servers import FTPServer
import trioftp.cli

authorizer = DummyAuthorizer()
authorizer.add_anonymous(sys.argv[1])
FTPHandler.authorizer = authorizer
server = FTPServer(("127.0.0.1", 0), FTPHandler)
server.serve_forever(blocking=False)
with ftplib.FTP() as ftp:
    ftp.connect(*server.address, timeout=10)
    ftp.login()
    listing = ftp.nlst()
server.close_all()
loaded = sorted({name.split(".")[0] for name in sys.modules} & {"OpenSSL", "cryptography"})
print(listing, loaded)
"""


def test_plain_ftp_imports_neither_pyopenssl_nor_cryptography(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a")
    result = subprocess.run(
        [sys.executable, "-c", PLAIN_SERVER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['a.txt'] []\n"

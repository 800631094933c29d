"""trioftp: an FTP server library and command-line server built on Trio.

The public modules mirror pyftpdlib's: :mod:`trioftp.authorizers`,
:mod:`trioftp.handlers`, :mod:`trioftp.filesystems`, :mod:`trioftp.servers`
and :mod:`trioftp.ioloop`. Trio programs use :func:`serve`.
"""

from ._version import __version__
from .servers import FTPServer, serve

__all__ = ["FTPServer", "__version__", "serve"]
__ver__ = __version__

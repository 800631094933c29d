"""The command groups: the ``ftp_<CMD>`` methods, one module per group.

Each group is a class of methods written against
:class:`~trioftp.session.context.CommandContext` only: a group holds no
state and reaches no other group (a command that stands for another, such
as CDUP for CWD, goes through ``call_command`` so a subclass's override
applies). :class:`trioftp.handlers.FTPHandler` assembles them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .dataconn import DataConnectionCommands
from .files import FileCommands
from .hashes import HashCommands
from .info import InfoCommands
from .listings import ListingCommands
from .login import LoginCommands
from .navigation import NavigationCommands
from .tls import TLSCommands

__all__ = [
    "GROUPS",
    "STOCK_METHODS",
    "DataConnectionCommands",
    "FileCommands",
    "HashCommands",
    "InfoCommands",
    "ListingCommands",
    "LoginCommands",
    "NavigationCommands",
    "TLSCommands",
]

#: Every command group, plain FTP first, FTPS last.
GROUPS = (
    LoginCommands,
    InfoCommands,
    NavigationCommands,
    DataConnectionCommands,
    FileCommands,
    ListingCommands,
    HashCommands,
    TLSCommands,
)

#: The built-in ``ftp_<CMD>`` functions by attribute name: a handler whose
#: method is one of these runs trioftp's own implementation (see dispatch).
STOCK_METHODS: Mapping[str, Callable[..., Any]] = {
    name: function
    for group in GROUPS
    for name, function in vars(group).items()
    if name.startswith("ftp_")
}

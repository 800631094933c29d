"""The ``trioftp`` command (also ``python -m trioftp``).

With no options it serves the current directory, read-only, to anonymous
users on 127.0.0.1 port 2121. The options are those of ``python -m pyftpdlib``
and trioftp's own, one module per group: :mod:`.parser` (the core options),
:mod:`.servers`, :mod:`.sites`, :mod:`.files`, :mod:`.users`, :mod:`.logs`;
:mod:`.main` runs the command.
"""

from .main import main
from .parser import build_parser

__all__ = ["build_parser", "main"]

"""``python -m trioftp`` runs the ``trioftp`` command; :func:`main` is pyftpdlib's.

``python -m trioftp [options]`` is the ``trioftp`` command (:func:`trioftp.cli.main`,
which returns an exit status). :func:`main` here is ``pyftpdlib.__main__.main``
for programs that call it: the same options, pyftpdlib's errors (exceptions,
not exit statuses) and its return value. As in pyftpdlib, the module's
``servers`` (the server classes, looked up when ``main`` runs) and
``config_logging`` (called for ``-D``) can be replaced by the caller.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from . import servers
from .cli import main as command_main
from .cli.logs import start_logging, start_metrics
from .cli.main import check_options, make_server
from .cli.parser import build_parser
from .log import config_logging

__all__ = ["config_logging", "main", "servers"]


def main(args: Sequence[str] | None = None) -> servers.FTPServer | None:
    """Serve with the command's *args* (``sys.argv[1:]`` if None) until stopped.

    Where the ``trioftp`` command prints an error and exits, this raises as
    pyftpdlib's ``main`` does: :exc:`argparse.ArgumentTypeError` for
    ``-u`` without ``-P`` and for ``--tls`` without ``--certfile`` (no
    self-signed certificate is made here), :exc:`ValueError` for a ``-d``
    that is not a directory; write permissions for anonymous give
    :exc:`RuntimeWarning`. Malformed options exit with status 2 (argparse).
    Returns the server once it has stopped when *args* were given, else None.
    """
    parser = build_parser()
    options = parser.parse_args(args)
    if options.username and not options.password:
        raise argparse.ArgumentTypeError("if username (-u) is supplied, password (-P) is required")
    if (options.tls or options.tls_implicit) and options.certfile is None:
        raise argparse.ArgumentTypeError(
            "--tls requires --keyfile and --certfile args "
            "(--keyfile may be left out when the certificate file holds the key)"
        )
    if not os.path.isdir(options.directory):
        raise ValueError(f"no such directory: {options.directory!r}")
    server_class, workers = check_options(parser, options)
    if options.log_file is not None or options.log_format != "line":
        start_logging(options, parser)
    elif options.debug:
        config_logging(level=logging.DEBUG)
    server = make_server(options, server_class, warn_anonymous_write=True)
    metrics = start_metrics(options, server)
    try:
        server.serve_forever(worker_processes=workers)
    finally:
        server.close_all()
        if metrics is not None:
            metrics.close()
    return server if args else None


if __name__ == "__main__":
    raise SystemExit(command_main())

"""Exceptions shared by the authorizers, the filesystems and the handlers."""

from __future__ import annotations

__all__ = ["AuthenticationFailed", "AuthorizerError", "FileBusy", "FilesystemError"]


class AuthenticationFailed(Exception):
    """A login was refused: unknown user, wrong password or access denied.

    The handler answers ``530`` with the exception's message, so the message
    must not tell an unknown user apart from a wrong password.
    """


class AuthorizerError(ValueError):
    """An authorizer was configured wrongly (bad user, permission or directory).

    Raised by configuration calls such as
    :meth:`~trioftp.authorizers.DummyAuthorizer.add_user`, never while serving a
    client. It derives from :exc:`ValueError` because pyftpdlib's
    ``DummyAuthorizer`` raises ``ValueError`` in these cases, so code written
    for pyftpdlib that catches ``ValueError`` keeps working.
    """


class FilesystemError(Exception):
    """A filesystem operation failed with a message meant for the client.

    Raise it from an :class:`~trioftp.filesystems.AbstractedFS` method (or a
    subclass's) to refuse an operation: the handler sends ``str(exc)`` to the
    client in a ``550`` reply, so it must not reveal server paths.
    """


class FileBusy(FilesystemError):
    """The file is in use by another transfer (another upload to it): ``450``, try later."""


class _RetryError(Exception):
    """A non-blocking read found nothing to read yet (``AsyncChat.recv``; pyftpdlib's name)."""

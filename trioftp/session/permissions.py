"""The MLSx ``perm`` fact of a logged-in user: the authorizer's letters, per entry.

The filesystem formats MLSD/MLST lines but knows nothing of authorizers; it
asks the session for a function giving each entry's ``perm`` fact, and the
session builds it here with :func:`mlsx_perm_fact`.
"""

from __future__ import annotations

from collections.abc import Callable

from .._util import replaces
from ..authorizers import DummyAuthorizer
from ..protocol.listing import mlsx_perm

__all__ = ["mlsx_perm_fact"]

# The permission letters that feed the MLSx "perm" fact (see mlsx_perm).
_DIR_LETTERS = "elwmdf"
_FILE_LETTERS = "rwadf"


def mlsx_perm_fact(
    authorizer: object, username: str | None, perms: str
) -> Callable[[str, bool], str]:
    """A function ``(path, is_dir) -> fact`` giving the ``perm`` fact of one entry.

    *perms* are the user's letters. When they are the same everywhere (no
    user logged in, or a stock :class:`DummyAuthorizer` with no
    ``override_perm`` for *username*) the two facts are worked out once;
    otherwise ``authorizer.has_perm`` is asked about each letter of each
    entry's real *path*, so that overrides show. The function may block: it
    is called where the listing is made, in the session's runner.
    """
    has_perm = getattr(authorizer, "has_perm", None)
    if not (username and callable(has_perm)) or _same_everywhere(authorizer, username):
        facts = {True: mlsx_perm(perms, is_dir=True), False: mlsx_perm(perms, is_dir=False)}
        return lambda _path, is_dir: facts[is_dir]

    def fact(path: str, is_dir: bool) -> str:
        wanted = _DIR_LETTERS if is_dir else _FILE_LETTERS
        letters = "".join(x for x in wanted if has_perm(username, x, path))
        return mlsx_perm(letters, is_dir=is_dir)

    return fact


def _same_everywhere(authorizer: object, username: str) -> bool:
    """True if *authorizer*'s letters for *username* do not depend on the path."""
    return (
        isinstance(authorizer, DummyAuthorizer)
        and not replaces(type(authorizer), DummyAuthorizer, "has_perm")
        and authorizer.has_user(username)
        and not authorizer.has_overrides(username)
    )

"""Handing a handler class to a fresh process (:class:`~.multiproc.MultiprocessFTPServer`).

A new process imports the handler class by name, so it gets the class as
its module defines it - but pyftpdlib programs configure handlers at run
time, with class attributes (``FTPHandler.authorizer = authorizer``,
``ThrottledDTPHandler.read_limit = 30720``). A :class:`HandlerRecipe`
therefore carries, besides the class's name, every public data attribute
of every class involved: the handler's classes (its MRO) and the classes
its attributes name (``dtp_handler``, ``abstracted_fs``...). The child
imports the classes and sets those attributes again.

What this asks of a handler class, checked when the server is made
(:class:`HandlerNotPortable` otherwise):

* it is importable by its module and name (defined at the top level of a
  module, not inside a function), or it was made with ``type(name, bases,
  attributes)`` from importable bases with data attributes only (the
  ``trioftp`` command's handler is made so);
* its data attributes can be pickled (an ``authorizer`` instance can; an
  open file or a lock can't). Methods are not carried: they come from the
  class's own code.
"""

from __future__ import annotations

import inspect
import pickle
import types
from typing import Any

__all__ = ["HandlerNotPortable", "HandlerRecipe"]

#: Modules whose classes carry no settings.
_SKIPPED_MODULES = frozenset({"builtins", "typing", "typing_extensions", "abc", "collections.abc"})


class HandlerNotPortable(TypeError):
    """A handler class that a fresh process can't rebuild."""


class HandlerRecipe:
    """What a fresh process needs to rebuild a handler class with its run-time settings."""

    def __init__(self, handler: object) -> None:
        if not isinstance(handler, type):
            raise HandlerNotPortable(f"the handler must be a class, not {handler!r}")
        self._made: list[tuple[str, tuple[type, ...], dict[str, object]]] = []
        self.handler = self._portable(handler)
        self.settings = self._settings_of(handler)
        try:
            self.data = pickle.dumps(self)
        except Exception as exc:
            message = f"{handler.__qualname__} can't be sent to a process: {exc}"
            raise HandlerNotPortable(message) from exc

    def __getstate__(self) -> dict[str, object]:
        return {"handler": self.handler, "settings": self.settings, "made": self._made}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.handler = state["handler"]
        self.settings = state["settings"]
        self._made = state["made"]

    @staticmethod
    def load(data: bytes) -> Any:
        """The handler class rebuilt from a recipe's :attr:`data` (in the new process)."""
        recipe = pickle.loads(data)
        if not isinstance(recipe, HandlerRecipe):
            raise TypeError(f"not a handler recipe: {type(recipe).__name__}")
        return recipe.rebuild()

    def rebuild(self) -> type:
        """The handler class, with every carried setting applied (in the new process)."""
        made: dict[str, type] = {}
        for name, bases, attributes in self._made:
            made[name] = type(name, bases, dict(attributes))
        for owner, name, value in self.settings:
            cls = made[owner] if isinstance(owner, str) else owner
            setattr(cls, name, value)
        handler = self.handler
        return made[handler] if isinstance(handler, str) else handler

    # --- in the parent

    def _portable(self, cls: type) -> type | str:
        """*cls* itself if it pickles by name, else a key of a class remade from its parts."""
        if _importable(cls):
            return cls
        attributes = {name: value for name, value in vars(cls).items() if not name.startswith("__")}
        code = [name for name, value in attributes.items() if not _is_data(value)]
        bases_ok = all(_importable(base) for base in cls.__bases__)
        if code or not bases_ok:
            raise HandlerNotPortable(
                f"{cls.__module__}.{cls.__qualname__} can't be rebuilt in a session's process: "
                "define the handler class at the top level of an importable module "
                f"(it has {'methods ' + ', '.join(sorted(code)) if code else 'bases that are not'})"
            )
        key = f"{cls.__module__}.{cls.__qualname__}#{len(self._made)}"
        self._made.append((key, cls.__bases__, {}))
        return key

    def _settings_of(self, handler: type) -> list[tuple[type | str, str, object]]:
        settings: list[tuple[type | str, str, object]] = []
        seen: set[type] = set()
        pending = [handler]
        while pending:
            cls = pending.pop()
            for klass in reversed(cls.__mro__):  # bases first: subclasses override
                if klass in seen or klass.__module__ in _SKIPPED_MODULES:
                    continue
                seen.add(klass)
                owner = klass if klass is not handler else self.handler
                for name, value in vars(klass).items():
                    if name.startswith("_") or not _is_data(value):
                        continue
                    if not _pickles(value):
                        if klass.__module__.startswith("trioftp."):
                            continue  # a default such as a cache: the child makes its own
                        raise HandlerNotPortable(
                            f"{klass.__qualname__}.{name} = {value!r} can't be sent to a "
                            "session's process (it can't be pickled)"
                        )
                    settings.append((owner, name, value))
                    if isinstance(value, type) and value not in seen:
                        pending.append(value)
        return settings


def _is_data(value: object) -> bool:
    if isinstance(value, type):
        return True
    if inspect.isroutine(value) or isinstance(value, (property, staticmethod, classmethod)):
        return False
    return not isinstance(value, (types.MemberDescriptorType, types.GetSetDescriptorType))


def _importable(cls: type) -> bool:
    try:
        return pickle.loads(pickle.dumps(cls)) is cls
    except Exception:
        return False


def _pickles(value: object) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True

"""Choosing a store by URL: ``s3://bucket/prefix``, ``memory://``, ``file:///srv/ftp``.

:func:`storage_from_url` gives the ``abstracted_fs`` class for a URL, the
way ``trioftp --storage`` does. The store is made by fsspec from the URL and
the options, so credentials and endpoints are found as its backend finds
them: for S3 (s3fs, boto), ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, ``~/.aws/config``, or explicit options
(``key``, ``secret``, ``profile``, ``endpoint_url``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .fsspecfs import FsspecFS
from .memory import MemoryFS
from .metadata import is_object_store

__all__ = ["StorageUnavailable", "parse_storage_option", "storage_from_url"]

# Options that are FsspecFS's own settings, not the backend's.
_OWN_SETTINGS = ("user_homes", "object_store", "part_size", "read_block_size")
# The extra that installs each protocol's backend.
_EXTRAS = {"s3": "s3", "s3a": "s3"}


class StorageUnavailable(Exception):
    """The store named cannot be used: a backend is not installed, or it does not answer."""


def parse_storage_option(text: str) -> tuple[str, Any]:
    """Read ``KEY=VALUE``; a VALUE that is JSON (``true``, ``8``, ``{...}``) is decoded.

    >>> parse_storage_option("endpoint_url=http://127.0.0.1:9000")
    ('endpoint_url', 'http://127.0.0.1:9000')
    >>> parse_storage_option("anon=true")
    ('anon', True)
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected KEY=VALUE, not {text!r}")
    try:
        decoded: Any = json.loads(value)
    except ValueError:
        decoded = value
    return key.strip(), decoded


def storage_from_url(
    url: str, options: Mapping[str, Any] | None = None, *, probe: bool = True
) -> type[FsspecFS]:
    """The ``abstracted_fs`` serving the store at *url* with the backend's *options*.

    The options ``user_homes``, ``object_store``, ``part_size`` and
    ``read_block_size`` are :meth:`FsspecFS.configured`'s; the others go to
    the backend.

    ``memory://`` (or ``memory://dir``) is a new, empty :class:`MemoryFS`.
    Anything else is made by ``fsspec.core.url_to_fs``. With *probe*, the
    store is listed once, so that a wrong endpoint, bucket or credential
    shows at startup. Raises :class:`StorageUnavailable`.
    """
    options = dict(options or {})
    own = {key: options.pop(key) for key in _OWN_SETTINGS if key in options}
    protocol = url.partition("://")[0].lower() if "://" in url else "file"
    try:
        if protocol == "memory":
            return MemoryFS.new_store(url.partition("://")[2] or "/", **own, **options)
        from fsspec.core import url_to_fs  # type: ignore[import-untyped]  # noqa: PLC0415

        storage, root = url_to_fs(url, **options)
    except ImportError as exc:
        extra = _EXTRAS.get(protocol, "fsspec")
        raise StorageUnavailable(
            f"{protocol}:// storage needs a package that is not installed ({exc.name or exc}); "
            f"try: pip install 'trioftp[{extra}]'"
        ) from exc
    except (ValueError, TypeError) as exc:
        raise StorageUnavailable(f"{url}: {exc}") from exc
    configured = FsspecFS.configured(storage, root, **own)
    if probe:
        _probe(storage, configured.storage_root, url)
    return configured


def _probe(storage: Any, root: str, url: str) -> None:
    try:
        storage.ls(root, detail=False)
    except FileNotFoundError:
        # An object store's prefix with no key under it yet is fine; its bucket must exist.
        bucket = root.split("/", 1)[0]
        if not (is_object_store(storage) and bucket):
            raise StorageUnavailable(f"{url}: no such directory") from None
        if not storage.exists(bucket):
            raise StorageUnavailable(f"{url}: no such bucket") from None
    except Exception as exc:
        raise StorageUnavailable(f"{url}: {type(exc).__name__}: {exc}") from exc

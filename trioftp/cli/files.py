"""Options for file hashes, atomic uploads and storage backends."""

from __future__ import annotations

import argparse

from ..handlers import FTPHandler
from ..storage import parse_storage_option


def add_hash_options(parser: argparse.ArgumentParser) -> None:
    """The file hash options (HASH, XCRC...: docs/hashes.md)."""
    hashes = parser.add_argument_group("file hashes (HASH, XCRC, XMD5, XSHA1, ...)")
    hashes.add_argument(
        "--hash-uploads",
        action="store_true",
        help="hash uploads as they are written, so HASH of a file just uploaded reads nothing",
    )
    hashes.add_argument(
        "--hash-max-size",
        type=int,
        metavar="BYTES",
        default=FTPHandler.hash_max_size,
        help=f"most bytes one hash command may read, 0 for no limit "
        f"(default: {FTPHandler.hash_max_size})",
    )


def hash_attributes(options: argparse.Namespace) -> dict[str, object]:
    """Handler attributes for the file hash options."""
    return {"hash_uploads": options.hash_uploads, "hash_max_size": options.hash_max_size}


def add_upload_options(parser: argparse.ArgumentParser) -> None:
    """Atomic, resumable uploads (docs/uploads.md)."""
    uploads = parser.add_argument_group("uploads")
    uploads.add_argument(
        "--atomic-uploads",
        action="store_true",
        help="write uploads to a hidden partial file, renamed onto the target when "
        "complete; a broken upload can be resumed",
    )
    uploads.add_argument(
        "--atomic-upload-expiry",
        type=float,
        default=FTPHandler.atomic_upload_expiry,
        metavar="SECONDS",
        help="remove partial files nobody resumed after this long "
        f"(default: {FTPHandler.atomic_upload_expiry:g}; 0: never)",
    )


def upload_attributes(options: argparse.Namespace) -> dict[str, object]:
    return {
        "atomic_uploads": options.atomic_uploads,
        "atomic_upload_expiry": options.atomic_upload_expiry,
    }


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    """``--storage URL`` and ``--storage-option KEY=VALUE`` (see docs/storage.md)."""
    storage = parser.add_argument_group("storage (instead of --directory)")
    storage.add_argument(
        "--storage",
        metavar="URL",
        help="serve a store instead of a directory: s3://bucket/prefix (pip install "
        "'trioftp[s3]'; credentials and endpoint from AWS_* variables or ~/.aws), memory://, "
        "file:///path, or any fsspec URL",
    )
    storage.add_argument(
        "--storage-option",
        action="append",
        default=[],
        type=_storage_option,
        metavar="KEY=VALUE",
        help="an option of the store (s3: endpoint_url=..., profile=..., key=..., secret=...); "
        "JSON values are decoded; repeatable",
    )


def _storage_option(text: str) -> tuple[str, object]:
    try:
        return parse_storage_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None

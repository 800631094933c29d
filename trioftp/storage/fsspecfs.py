"""An :class:`~trioftp.filesystems.AbstractedFS` over any fsspec filesystem.

:class:`FsspecFS` serves S3 (``s3fs``), GCS, Azure, SFTP, memory or local
storage through the filesystem object fsspec gives, configured once per
handler with :meth:`FsspecFS.configured`. The session constructs one per
login, as with every ``abstracted_fs``.

Paths: a *virtual* path (what the client sees) maps to a *store* path
(what fsspec is given: ``bucket/prefix/dir/name`` for S3) by joining it to
the configured root; no server path of the machine is ever involved, so
none can reach a reply or a log line. The jail is lexical (a store has no
symlinks); the authorizer's permissions are asked with store paths.

Object stores (S3, GCS, Azure) have no directories, only key prefixes: a
directory exists while a key lies under it, and MKD writes an empty marker
object ``dir/`` so that an empty directory can exist too. See
``docs/storage.md`` for the command-by-command mapping.
"""

from __future__ import annotations

import errno
import os
import posixpath
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO, ClassVar, cast

from .._fslisting import ListedFilesystem, ls_lines, mlsx_lines
from ..exceptions import FilesystemError
from ..filesystems import AbstractedFS
from .errors import oserror, store_errors
from .files import RangedReader, StagedUpload, StreamedUpload, Upload
from .listing import ListedDirectory
from .metadata import OBJECT_STORE_PROTOCOLS, is_object_store, stat_of, store_norm

__all__ = ["OBJECT_STORE_PROTOCOLS", "FsspecFS", "is_object_store"]


class FsspecFS(AbstractedFS):
    """A user's view of an fsspec store, jailed under the configured root.

    Do not use the class itself as ``abstracted_fs``: make a configured
    subclass with :meth:`configured`::

        import s3fs
        store = s3fs.S3FileSystem()          # credentials as boto finds them
        handler.abstracted_fs = FsspecFS.configured(store, root="bucket/prefix")

    *root* (the first constructor argument, as the session passes it) is
    the user's home from the authorizer; it places the user in the store only
    when :attr:`user_homes` is set.
    """

    #: The fsspec filesystem object (``fsspec.AbstractFileSystem``).
    storage: ClassVar[Any] = None
    #: The store path every user's ``/`` maps to (``bucket/prefix`` for S3).
    storage_root: ClassVar[str] = ""
    #: If True, each user's ``/`` is the home from the authorizer, under :attr:`storage_root`.
    user_homes: ClassVar[bool] = False
    #: Object-store semantics (see the module's docstring); None: from the protocol.
    object_store: ClassVar[bool | None] = None
    #: Bytes per part of a streamed upload, and per block of a staged one kept in memory.
    part_size: ClassVar[int] = 16 << 20
    #: Bytes asked of the store per ranged read of a download.
    read_block_size: ClassVar[int] = 8 << 20
    #: Extra keyword arguments for the store's ``open`` of an upload (an ACL, a storage class).
    upload_options: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def configured(
        cls,
        storage: Any,
        root: str = "",
        *,
        user_homes: bool = False,
        object_store: bool | None = None,
        part_size: int | None = None,
        read_block_size: int | None = None,
        upload_options: Mapping[str, Any] | None = None,
    ) -> type[FsspecFS]:
        """A subclass of this class serving *storage* (an fsspec filesystem) from *root*.

        *root* is a path in the store as fsspec names it (``bucket/prefix`` for
        S3, an absolute path for local storage); the other arguments set the
        class attributes of the same names.
        """
        attributes: dict[str, Any] = {
            "storage": storage,
            "storage_root": store_norm(storage._strip_protocol(root) if root else "/"),
            "user_homes": user_homes,
            "object_store": object_store,
            "upload_options": dict(upload_options or {}),
        }
        if part_size is not None:
            attributes["part_size"] = part_size
        if read_block_size is not None:
            attributes["read_block_size"] = read_block_size
        return type(f"Configured{cls.__name__}", (cls,), attributes)

    def __init__(self, root: str, cmd_channel: object | None) -> None:
        if self.storage is None:
            raise TypeError(f"use {type(self).__name__}.configured(storage, root) as abstracted_fs")
        base = self.storage_root
        if self.user_homes:
            # The home is resolved on its own first, so its ".." can't climb out of base.
            home = posixpath.normpath("/" + root).lstrip("/")
            base = store_norm(posixpath.join(base, home)) if home else base
        super().__init__(base, cmd_channel)
        self._store = self.storage
        self._markers = self._uses_markers()
        # The details of the last directory listed, for the listing lines that follow.
        self._listed: tuple[str, dict[str, os.stat_result]] | None = None
        # The last directory whose metadata was read (MLSD's "." is the one it lists).
        self._checked_directory: tuple[str, dict[str, Any]] | None = None

    def _uses_markers(self) -> bool:
        return self.object_store if self.object_store is not None else is_object_store(self._store)

    # --- virtual and store paths (lexical: a store has no symlinks)

    def ftp2fs(self, ftppath: str) -> str:
        """Return the store path of the virtual path *ftppath*."""
        # Each command's path comes through here: the last listing's details
        # were for the command that made it, never for this one.
        self._listed = None
        virtual = self.ftpnorm(ftppath)
        if virtual == "/":
            return self.root
        return self.root.rstrip("/") + virtual

    def fs2ftp(self, fspath: str) -> str:
        """Return the virtual path of the store path *fspath* (``/`` if outside root)."""
        path, root = store_norm(fspath), self.root
        if path == root:
            return "/"
        prefix = root.rstrip("/") + "/"
        return "/" + path[len(prefix) :] if path.startswith(prefix) else "/"

    def validpath(self, path: str) -> bool:
        """Whether the store path *path* is root or lies inside it."""
        path, root = store_norm(path), self.root
        return path == root or path.startswith(root.rstrip("/") + "/")

    def realpath(self, path: str) -> str:
        """Return *path* normalised (``..`` resolved lexically)."""
        return store_norm(path)

    # --- metadata

    def _info(self, path: str) -> dict[str, Any]:
        path = store_norm(path)
        self._listed = None  # any other look at the store ends the last listing's use
        if path == self.root:
            return {"name": path, "type": "directory", "size": 0}
        with store_errors():
            self._store.invalidate_cache(posixpath.dirname(path))
            info = cast(dict[str, Any], self._store.info(path))
        if info.get("type") == "directory":
            self._checked_directory = (path, info)
        return info

    def stat(self, path: str) -> os.stat_result:
        """Status of *path* from the store's metadata (type, size, modification time)."""
        return stat_of(self._info(path))

    def lstat(self, path: str) -> os.stat_result:
        """Same as :meth:`stat`: a store has no symlinks."""
        return self.stat(path)

    def lexists(self, path: str) -> bool:
        try:
            self._info(path)
        except FileNotFoundError:
            return False
        return True

    def isdir(self, path: str) -> bool:
        try:
            return self._info(path).get("type") == "directory"
        except FileNotFoundError:
            return False

    def isfile(self, path: str) -> bool:
        try:
            return self._info(path).get("type") == "file"
        except FileNotFoundError:
            return False

    def islink(self, path: str) -> bool:
        return False

    def get_user_by_uid(self, uid: int) -> str:
        return "owner"

    def get_group_by_gid(self, gid: int) -> str:
        return "group"

    def readlink(self, path: str) -> str:
        raise FilesystemError("Symbolic links are not supported by this storage")

    def chmod(self, path: str, mode: int) -> None:
        raise FilesystemError("SITE CHMOD is not supported by this storage")

    def utime(self, path: str, timeval: float) -> None:
        raise FilesystemError("Setting modification times is not supported by this storage")

    # --- directories

    def chdir(self, path: str) -> None:
        """Make the store directory *path* the current one (sets :attr:`cwd`)."""
        if not self.validpath(path):
            raise oserror(PermissionError, errno.EACCES)
        if self._info(path).get("type") != "directory":
            raise oserror(NotADirectoryError, errno.ENOTDIR)
        self.cwd = self.fs2ftp(path)

    def listdir(self, path: str) -> list[str]:
        """The names in directory *path*, from one detailed listing of the store.

        The details are kept for :meth:`format_list` and :meth:`format_mlsx`,
        so a listing costs one request however many entries it has.
        """
        path = store_norm(path)
        with store_errors():
            self._store.invalidate_cache(path)
            entries = self._store.ls(path, detail=True)
        details: dict[str, os.stat_result] = {}
        checked = self._checked_directory
        if checked is not None and checked[0] == path:
            details["."] = stat_of(checked[1])
        for entry in entries:
            full = str(entry.get("name", ""))
            name = posixpath.basename(full.rstrip("/"))
            # An object store lists a directory's own marker (``dir/``); skip it.
            if full.endswith("/") or store_norm(full) == path or name in ("", ".", ".."):
                continue
            details[name] = stat_of(entry)
        self._listed = (path, details)
        return [name for name in details if name != "."]

    def mkdir(self, path: str) -> None:
        """Create a directory (on an object store: the marker object ``path/``)."""
        path = store_norm(path)
        if self.lexists(path):
            raise oserror(FileExistsError, errno.EEXIST)
        if not self.isdir(posixpath.dirname(path)):
            raise oserror(FileNotFoundError, errno.ENOENT)
        with store_errors():
            if self._markers:
                self._store.pipe_file(path + "/", b"")
            else:
                self._store.mkdir(path, create_parents=False)

    def rmdir(self, path: str) -> None:
        """Remove an empty directory (on an object store: its marker)."""
        path = store_norm(path)
        if self._info(path).get("type") != "directory":
            raise oserror(NotADirectoryError, errno.ENOTDIR)
        if self.listdir(path):
            raise oserror(OSError, errno.ENOTEMPTY)
        with store_errors():
            if self._markers:
                self._store.rm_file(path + "/")
                self._store.invalidate_cache(path)
            else:
                self._store.rmdir(path)

    # --- files

    def remove(self, path: str) -> None:
        """Delete the file *path*."""
        if self._info(path).get("type") != "file":
            raise oserror(IsADirectoryError, errno.EISDIR)
        path = store_norm(path)
        with store_errors():
            self._store.rm_file(path)
        self._keep_directory(posixpath.dirname(path))

    def _keep_directory(self, path: str) -> None:
        """On an object store, mark *path* a directory if removing its last key emptied it."""
        if self._markers and not self.isdir(path):
            with store_errors():
                self._store.pipe_file(path + "/", b"")

    def rename(self, src: str, dst: str) -> None:
        """Rename *src* to *dst* (on an object store: copy, then delete; files only)."""
        src, dst = store_norm(src), store_norm(dst)
        source_type = self._info(src).get("type")
        if self.isdir(dst):
            raise oserror(IsADirectoryError, errno.EISDIR)
        if not self.isdir(posixpath.dirname(dst)):
            raise oserror(FileNotFoundError, errno.ENOENT)
        if source_type == "directory":
            if self._markers:
                raise FilesystemError(
                    "Renaming a directory is not supported by this storage (no atomic rename)"
                )
            with store_errors():
                self._store.mv(src, dst, recursive=True)
            return
        with store_errors():
            self._store.mv(src, dst)
        self._keep_directory(posixpath.dirname(src))

    def open(self, filename: str, mode: str) -> BinaryIO:
        """Open *filename*: ``rb`` to download; ``wb``, ``ab`` or ``r+b`` (resume) to upload.

        An upload becomes visible only when closed after the last byte; see
        :meth:`close_unfinished_upload`. ``r+b`` may only be positioned at the
        file's end: a store rewrites whole objects.
        """
        path = store_norm(filename)
        if mode == "rb":
            info = self._info(path)
            if info.get("type") != "file":
                raise oserror(IsADirectoryError, errno.EISDIR)
            with store_errors():
                return self._open_download(path, int(info.get("size") or 0))
        if mode not in ("wb", "ab", "r+b"):
            raise ValueError(f"unsupported mode {mode!r}")
        if self.isdir(path):
            raise oserror(IsADirectoryError, errno.EISDIR)
        append = mode != "wb"
        if mode == "r+b" and not self.isfile(path):
            raise oserror(FileNotFoundError, errno.ENOENT)
        return cast(BinaryIO, self._open_upload(path, append=append and self.isfile(path)))

    def _open_download(self, path: str, size: int) -> BinaryIO:
        """A file reading *path* (*size* bytes) in ranges of :attr:`read_block_size`.

        The store's own file, one per download: s3fs reads ranges pinned to
        the ETag seen at open, so an object replaced meanwhile fails the
        download instead of mixing two versions.
        """
        return cast(BinaryIO, self._store.open(path, "rb", block_size=self.read_block_size))

    def _open_upload(self, path: str, *, append: bool) -> Upload:
        """Start an upload to *path*, after the existing content if *append*."""
        from fsspec.spec import AbstractBufferedFile  # type: ignore[import-untyped]  # noqa: PLC0415

        options = {"block_size": self.part_size, **self.upload_options}
        with store_errors():
            if self._markers:
                target = self._store.open(path, "ab" if append else "wb", **options)
                if isinstance(target, AbstractBufferedFile):
                    return StreamedUpload(path, target)
                target.close()
                raise FilesystemError("Uploads are not supported by this storage")
            initial = None
            if append:
                size = self.getsize(path)
                initial = RangedReader(self._store, path, size, self.read_block_size)
            return StagedUpload(path, self._commit_staged, self.part_size, initial)

    def _commit_staged(self, path: str, staged: Any) -> None:
        """Write a staged upload's bytes (*staged*, a file at its start) to *path*."""
        with store_errors(), self._store.open(path, "wb") as target:
            while block := staged.read(self.part_size):
                target.write(block)

    def close_unfinished_upload(self, file: BinaryIO) -> bool:
        """Abandon an unfinished upload: nothing appears under its name (returns False)."""
        if isinstance(file, Upload):
            file.abandon()
            return False
        return super().close_unfinished_upload(file)

    def mkstemp(
        self,
        suffix: str = "",
        prefix: str = "",
        dir: str | None = None,
        mode: str = "wb",
    ) -> BinaryIO:
        """Start an upload under a new unique name in *dir* (STOU); ``name`` is its path.

        The name has 16 random hex digits and is checked not to exist; a
        store has no exclusive create, so this is as safe as the randomness.
        """
        if mode != "wb":
            raise ValueError(f"unsupported mode {mode!r}")
        directory = store_norm(dir or self.root)
        for _ in range(100):
            path = posixpath.join(directory, f"{prefix}{secrets.token_hex(8)}{suffix}")
            if not self.lexists(path):
                return cast(BinaryIO, self._open_upload(path, append=False))
        raise oserror(FileExistsError, errno.EEXIST)

    # --- listings from the details of one listing

    def format_list(
        self, basedir: str, listing: Iterable[str], ignore_err: bool = True
    ) -> Iterator[bytes]:
        """``ls -l`` lines, from the details :meth:`listdir` kept for *basedir*."""
        names = list(listing)
        return ls_lines(self._listing_view(basedir, names), basedir, names, ignore_err)

    def format_mlsx(
        self,
        basedir: str,
        listing: Iterable[str],
        perms: str,
        facts: Iterable[str],
        ignore_err: bool = True,
    ) -> Iterator[bytes]:
        """MLSD/MLST lines, from the details :meth:`listdir` kept for *basedir*."""
        names = list(listing)
        view = self._listing_view(basedir, names)
        return mlsx_lines(view, basedir, names, perms, facts, ignore_err)

    def _listing_view(self, basedir: str, names: list[str]) -> ListedFilesystem:
        """The details of the listing just made, if *names* are that listing's entries.

        A listing's details serve the lines that follow it in the same
        command (LIST, MLSD) and nothing later: they are dropped once used,
        by any other metadata read, at the next command's path
        (:meth:`ftp2fs`), and whenever the names to format are not the ones
        listed.
        """
        listed, self._listed = self._listed, None
        if listed is None or listed[0] != store_norm(basedir):
            return self
        entries = {name for name in listed[1] if name != "."}
        if entries != {name for name in names if name not in (".", "..")}:
            return self
        return ListedDirectory(self, listed[0], listed[1])

"""The listing lines of one directory, from the details of its one store listing."""

from __future__ import annotations

import os

from .._fslisting import ListedFilesystem
from .metadata import store_norm

__all__ = ["ListedDirectory"]


class ListedDirectory:
    """*fs* for the listing lines of *directory*, answering for the entries in *details*.

    *details* maps each name :meth:`~trioftp.storage.FsspecFS.listdir` saw
    (and ``.``, the directory itself, when known) to its status; any other
    path is asked of *fs*.
    """

    def __init__(
        self, fs: ListedFilesystem, directory: str, details: dict[str, os.stat_result]
    ) -> None:
        self._fs = fs
        self._directory = directory
        self._prefix = directory.rstrip("/") + "/"
        self._details = details
        self.cmd_channel = fs.cmd_channel

    def lstat(self, path: str) -> os.stat_result:
        path = store_norm(path)
        known = None
        if path == self._directory:
            known = self._details.get(".")
        elif path.startswith(self._prefix):
            known = self._details.get(path[len(self._prefix) :])
        return known if known is not None else self._fs.lstat(path)

    stat = lstat

    def realpath(self, path: str) -> str:
        return self._fs.realpath(path)

    def validpath(self, path: str) -> bool:
        return self._fs.validpath(path)

    def fs2ftp(self, fspath: str) -> str:
        return self._fs.fs2ftp(fspath)

    def get_user_by_uid(self, uid: int) -> str:
        return self._fs.get_user_by_uid(uid)

    def get_group_by_gid(self, gid: int) -> str:
        return self._fs.get_group_by_gid(gid)

    def listing_now(self) -> float:
        return self._fs.listing_now()

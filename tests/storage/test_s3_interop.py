"""curl and lftp against a trioftp server whose files live in S3 (moto)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trioftp.servers import FTPServer
from trioftp.storage import FsspecFS

from ..support.interop import (
    TREE_DATA,
    assert_ok,
    curl_commands,
    lftp_commands,
    make_mirror_tree,
    put,
    run_curl,
    run_lftp,
    snapshot,
)
from ..support.servers import PASSWORD, USER, ThreadedServer, make_handler, serve_in_thread


@pytest.fixture
def s3_threaded_server(home: Path, s3_fs_class: type[FsspecFS]) -> Iterator[ThreadedServer]:
    server = FTPServer(("127.0.0.1", 0), make_handler(home, abstracted_fs=s3_fs_class))
    with serve_in_thread(server, home) as running:
        yield running


@pytest.fixture
def url(s3_threaded_server: ThreadedServer) -> str:
    return f"ftp://{s3_threaded_server.host}:{s3_threaded_server.port}"


def test_curl_upload_download_and_resume(
    curl_binary: str, url: str, workdir: Path, s3fs_store: Any, data_path: Callable[[str], str]
) -> None:
    source = put(workdir / "source.bin", TREE_DATA)
    auth = f"{USER}:{PASSWORD}"
    assert_ok(run_curl(curl_binary, "-u", auth, "-T", str(source), f"{url}/up.bin", cwd=workdir))
    assert s3fs_store.cat_file(data_path("up.bin")) == TREE_DATA
    # A download cut short, resumed with REST (-C -).
    put(workdir / "down.bin", TREE_DATA[:1000])
    result = run_curl(
        curl_binary, "-u", auth, "-C", "-", "-o", "down.bin", f"{url}/up.bin", cwd=workdir
    )
    assert_ok(result)
    assert "REST 1000" in curl_commands(result)
    assert (workdir / "down.bin").read_bytes() == TREE_DATA
    # An upload cut short, resumed: curl asks SIZE, then APPEs the rest.
    s3fs_store.pipe_file(data_path("part.bin"), TREE_DATA[:70000])
    result = run_curl(
        curl_binary, "-u", auth, "-C", "-", "-T", str(source), f"{url}/part.bin", cwd=workdir
    )
    assert_ok(result)
    assert "APPE part.bin" in curl_commands(result)
    assert s3fs_store.cat_file(data_path("part.bin")) == TREE_DATA


def test_lftp_mirror_both_ways(
    lftp_binary: str, url: str, workdir: Path, s3fs_store: Any, data_path: Callable[[str], str]
) -> None:
    expected = make_mirror_tree(workdir / "local")

    def lftp(script: str) -> Any:
        return run_lftp(
            lftp_binary,
            "set ftp:ssl-allow no",
            f"-u {USER},{PASSWORD} {url}",
            script,
            cwd=workdir,
            timeout=60,
        )

    result = lftp("mirror -R local /uploaded")
    assert_ok(result)
    sent = lftp_commands(result)
    assert "MKD void" in sent
    # lftp tries to copy permissions; the store refuses (550) and the mirror goes on.
    assert any(line.startswith("SITE CHMOD") for line in sent)
    assert s3fs_store.cat_file(data_path("uploaded/big.bin")) == TREE_DATA
    assert s3fs_store.exists(data_path("uploaded/void/"))  # an empty directory's marker
    result = lftp("mirror /uploaded copy; pget -n 4 /uploaded/big.bin -o segmented.bin")
    assert_ok(result)
    assert "MLSD" in [line.split(" ", 1)[0] for line in lftp_commands(result)]
    assert snapshot(workdir / "copy") == expected
    assert (workdir / "segmented.bin").read_bytes() == TREE_DATA

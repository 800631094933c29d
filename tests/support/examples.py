"""The example programs of ``examples/``: their command lines, and a session every example serves.

:func:`example` gives the command that runs one (with this Python);
:func:`load_example` imports one as a module, for the tests that drive its
handler in-process on Trio's MockClock; :func:`round_trip` is the upload,
download and listing every example with a ``user``/``12345`` account serves.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

from .interop import download
from .serverprocess import ServerProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: What the tests upload: every byte value, over a few data blocks.
DATA = bytes(range(256)) * 4099
#: The one file of the shares the examples serve, and its content.
README, README_TEXT = "readme.txt", b"served by an example\n"


def example(name: str, *args: str) -> list[str]:
    """``python examples/NAME ARGS``."""
    script = EXAMPLES / name
    assert script.is_file(), f"missing example {script}"
    return [sys.executable, str(script), *args]


def load_example(name: str) -> ModuleType:
    """Import ``examples/NAME`` as a module (its ``main()`` does not run)."""
    spec = importlib.util.spec_from_file_location(f"example_{Path(name).stem}", EXAMPLES / name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def round_trip(server: ServerProcess, share: Path) -> None:
    """Log in as user/12345, upload, download, list, quit; the upload is on disk."""
    with server.ftp("user", "12345") as ftp:
        ftp.storbinary("STOR up.bin", io.BytesIO(DATA))
        assert download(ftp, "up.bin") == DATA
        assert download(ftp, README) == README_TEXT
        assert ftp.nlst() == [README, "up.bin"]
        assert ftp.quit() == "221 Goodbye."
    assert (share / "up.bin").read_bytes() == DATA

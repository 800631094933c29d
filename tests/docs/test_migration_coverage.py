"""docs/migrating.md names every element of pyftpdlib's API reference.

The reference (``shared/reference/pyftpdlib-api-reference.rst``, beside the
repository) declares its API with ``.. class::``, ``.. function::``,
``.. attribute::``, ``.. method::`` and ``.. data::`` directives; members are
indented under their class. The migration page must name each class as
```trioftp.<module>.<Class>``` and each member as ```<Class>.<member>```, so
an element added to the reference and forgotten here fails this test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIGRATING = ROOT / "docs" / "migrating.md"
DIRECTIVE = re.compile(
    r"^(?P<indent>\s*)\.\. (?P<kind>class|function|attribute|method|data):: (?P<name>[\w.]+)"
)


def _reference_path() -> Path | None:
    """The reference: in ``shared/`` beside the repository, or in the repository's."""
    for base in (ROOT.parent, ROOT):
        path = base / "shared" / "reference" / "pyftpdlib-api-reference.rst"
        if path.is_file():
            return path
    return None


REFERENCE = _reference_path()
needs_reference = pytest.mark.skipif(
    REFERENCE is None,
    reason="pyftpdlib's API reference (shared/reference/) is not beside this checkout",
)


def find_reference() -> Path:
    assert REFERENCE is not None
    return REFERENCE


def reference_elements(text: str) -> list[str]:
    """How the migration page must name each element the reference declares."""
    names: list[str] = []
    current_class: str | None = None
    for line in text.splitlines():
        match = DIRECTIVE.match(line)
        if match is None:
            continue
        kind, name = match.group("kind"), match.group("name")
        top_level = not match.group("indent")
        if kind in ("class", "function") and top_level:
            module, _, short = name.rpartition(".")
            names.append(f"`{module.replace('pyftpdlib', 'trioftp', 1)}.{short}`")
            current_class = short if kind == "class" else None
        elif current_class is not None:
            names.append(f"`{current_class}.{name.rpartition('.')[2]}`")
        else:
            names.append(f"`{name.replace('pyftpdlib', 'trioftp', 1)}`")
    return names


def test_the_parser_reads_classes_and_members() -> None:
    text = (
        ".. class:: pyftpdlib.servers.FTPServer(address, handler)\n\n"
        "  .. data:: max_cons\n\n"
        "  .. method:: close()\n\n"
        ".. function:: pyftpdlib.ioloop.timer()\n"
    )
    assert reference_elements(text) == [
        "`trioftp.servers.FTPServer`",
        "`FTPServer.max_cons`",
        "`FTPServer.close`",
        "`trioftp.ioloop.timer`",
    ]


@needs_reference
def test_migration_page_names_every_reference_element() -> None:
    elements = reference_elements(find_reference().read_text())
    assert len(elements) >= 80  # every directive of the reference was read
    page = MIGRATING.read_text()
    missing = [name for name in elements if name not in page]
    assert missing == [], f"docs/migrating.md does not name: {', '.join(missing)}"


@needs_reference
def test_each_element_has_a_row_saying_what_trioftp_does() -> None:
    """Each element's row says same, changed or new (the table's second column)."""
    page = MIGRATING.read_text()
    for name in reference_elements(find_reference().read_text()):
        rows = [line for line in page.splitlines() if line.startswith(f"| {name} |")]
        assert len(rows) == 1, f"{name}: {len(rows)} table rows"
        status = rows[0].split("|")[2].strip()
        assert status in {"same", "changed"}, f"{name}: {status!r}"

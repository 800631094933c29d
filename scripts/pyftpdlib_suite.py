"""Run pyftpdlib 2.2.0's own test suite against trioftp and print the pass rate.

    .venv/bin/python scripts/pyftpdlib_suite.py [--keep DIR] [--report XML] [-- PYTEST-ARGS]

The suite is fetched at run time (never kept in this repository): pip
downloads pyftpdlib's sdist (pinned) from the package index into a temporary
directory, its ``tests/`` package is copied out, every ``pyftpdlib`` is renamed
``trioftp`` (imports, the logger name, the harness's banner), and the
classes of ``test_ioloop.py`` that test pyftpdlib's pollers (select, poll,
epoll, /dev/poll, kqueue: trioftp has none, Trio is the loop) are removed.
Nothing else of the tests is changed. The tests need psutil: it is installed
into this interpreter's environment when missing.

The pass rate is passed / (collected - skipped): skipped tests are those the
suite itself skips on this system (Windows-only, root-only, "fails with SSL").
The remaining failures, and why each is expected, are listed in
``docs/compatibility.md`` ("pyftpdlib's test suite").
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

PYFTPDLIB = "pyftpdlib==2.2.0"
POLLER_CLASSES = {
    "SelectIOLoopTestCase",
    "PollIOLoopTestCase",
    "EpollIOLoopTestCase",
    "DevPollIOLoopTestCase",
    "KqueueIOLoopTestCase",
}


def download_tests(workdir: Path) -> Path:
    """Download the sdist into *workdir* and return its unpacked ``tests`` directory."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
         "--no-deps", "--no-binary", ":all:", "-d", str(workdir), PYFTPDLIB],
        check=True,
    )  # fmt: skip
    (sdist,) = workdir.glob("pyftpdlib-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(workdir, filter="data")
    return next(workdir.glob("pyftpdlib-*/tests"))


def rename_to_trioftp(tests: Path) -> None:
    """Rename ``pyftpdlib`` to ``trioftp`` in every test file (the sed of the task)."""
    for path in tests.glob("*.py"):
        path.write_text(re.sub("pyftpdlib", "trioftp", path.read_text()))


def remove_poller_classes(test_ioloop: Path) -> None:
    """Delete the poller test classes (with their decorators) from ``test_ioloop.py``."""
    source = test_ioloop.read_text()
    lines = source.splitlines(keepends=True)
    spans = [
        (min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1, node.end_lineno)
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and node.name in POLLER_CLASSES
    ]
    for start, end in sorted(spans, reverse=True):
        del lines[start:end]
    test_ioloop.write_text("".join(lines))


def ensure_psutil() -> None:
    try:
        import psutil  # noqa: F401, PLC0415
    except ImportError:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "psutil"],
            check=True,
        )


def summarize(report: Path) -> int:
    """Print the counts, the pass rate and each failing test; return the failure count."""
    outcomes: Counter[str] = Counter()
    failing: list[str] = []
    for case in ET.parse(report).iter("testcase"):
        module, _, cls = case.get("classname", "").removeprefix("tests.").rpartition(".")
        name = f"{module}.py::{cls}::{case.get('name')}"
        if case.find("skipped") is not None:
            outcomes["skipped"] += 1
        elif case.find("failure") is not None or case.find("error") is not None:
            outcomes["failed"] += 1
            failing.append(name)
        else:
            outcomes["passed"] += 1
    total = sum(outcomes.values())
    run = total - outcomes["skipped"]
    print("\nfailing tests:")
    for name in sorted(failing):
        print(f"  {name}")
    print(
        f"\ntotal {total}, passed {outcomes['passed']}, failed/errors {outcomes['failed']},"
        f" skipped {outcomes['skipped']}"
    )
    if run:
        print(f"pass rate: passed / (total - skipped) = {outcomes['passed'] / run:.1%}")
    return outcomes["failed"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="prepare the suite in this directory and keep it")
    parser.add_argument("--report", type=Path, help="also keep pytest's JUnit XML report here")
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pyftpdlib-suite-"))
    try:
        ensure_psutil()
        root = options.keep.resolve() if options.keep else workdir / "run"
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        shutil.copytree(download_tests(workdir), root / "tests")
        rename_to_trioftp(root / "tests")
        remove_poller_classes(root / "tests" / "test_ioloop.py")
        report = options.report.resolve() if options.report else workdir / "report.xml"
        # Outside the repository, so trioftp's own pytest settings and
        # conftest do not apply; pytest-timeout stops a test that hangs.
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "60",
             f"--junitxml={report}", "tests", *options.pytest_args],
            cwd=root, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, check=False,
        )  # fmt: skip
        summarize(report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

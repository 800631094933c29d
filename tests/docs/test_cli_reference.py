"""The command-line reference (docs/_ext/trioftp_cli.py) lists every option of the parsers."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

from trioftp.cli.parser import build_parser
from trioftp.passwd import build_passwd_parser

EXTENSION = Path(__file__).resolve().parents[2] / "docs" / "_ext" / "trioftp_cli.py"


def load_extension() -> ModuleType:
    spec = importlib.util.spec_from_file_location("trioftp_cli", EXTENSION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documented_options(lines: list[str]) -> list[str]:
    return [line.removeprefix(".. option:: ") for line in lines if line.startswith(".. option::")]


def test_every_option_of_trioftp_is_documented() -> None:
    extension = load_extension()
    parser = build_parser()
    signatures = documented_options(extension.parser_lines(parser))
    flags = {flag for signature in signatures for flag in signature.replace(",", " ").split()}
    every_flag = {flag for action in parser._actions for flag in action.option_strings}
    assert every_flag - flags == set()
    assert "-p PORT, --port PORT" in signatures
    assert "--concurrency {async,pre-fork,multi-thread,multi-proc}" in signatures


def test_groups_become_sections_with_help_and_defaults() -> None:
    extension = load_extension()
    lines = extension.parser_lines(build_parser())
    assert "FTPS (FTP over TLS)" in lines
    banner = lines.index(".. option:: --banner BANNER")
    assert lines[banner + 2] == "   greeting text"
    assert lines[banner + 4].startswith("   Default: ``'trioftp ")
    # Help text is shown literally: reST markup characters are escaped.
    storage = lines.index(".. option:: --storage URL")
    assert "AWS\\_\\* variables" in lines[storage + 2]


def test_passwd_options_are_documented() -> None:
    extension = load_extension()
    parser = build_passwd_parser()
    signatures = documented_options(extension.parser_lines(parser, "~"))
    assert "--scheme {argon2id,bcrypt,scrypt}" in signatures
    assert len(signatures) == len(parser._actions)


def test_help_fields_are_filled_in() -> None:
    extension = load_extension()
    parser = argparse.ArgumentParser(prog="demo")
    parser.add_argument("--size", type=int, default=5, help="a size (default: %(default)s)")
    lines = extension.parser_lines(parser)
    assert "   a size (default: 5)" in lines

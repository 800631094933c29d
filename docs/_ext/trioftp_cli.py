"""The ``trioftp-options`` directive: the command-line options, read from the parser.

``.. trioftp-options:: trioftp.cli.parser:build_parser`` writes one section per
argument group and one ``.. option::`` per option (its flags, metavar, help
and default), so the reference can never disagree with ``trioftp --help``.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def load_parser(spec: str) -> argparse.ArgumentParser:
    """Call ``module:function`` and return the parser it builds."""
    module_name, _, function_name = spec.partition(":")
    parser = getattr(importlib.import_module(module_name), function_name)()
    if not isinstance(parser, argparse.ArgumentParser):
        raise TypeError(f"{spec} did not return an argparse.ArgumentParser")
    return parser


def option_signature(action: argparse.Action) -> str:
    """``-p PORT, --port PORT`` (the flags as ``--help`` shows them)."""
    if not action.option_strings:
        return action.metavar if isinstance(action.metavar, str) else action.dest
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    if action.choices is not None and action.metavar is None:
        metavar = "{" + ",".join(str(choice) for choice in action.choices) + "}"
    return ", ".join(f"{flag} {metavar}" for flag in action.option_strings)


def option_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text with its ``%(default)s``-style fields filled in, as ``--help`` does."""
    text = action.help or ""
    if "%" in text:
        fields: dict[str, Any] = {**vars(action), "prog": parser.prog}
        text = text % fields
    return text


def _escape(text: str) -> str:
    """Text as reST shows it literally (``*`` and backquotes are not markup)."""
    return (
        text.replace("\\", "\\\\")
        .replace("*", "\\*")
        .replace("`", "\\`")
        .replace("|", "\\|")
        .replace("_", "\\_")
    )


def parser_lines(parser: argparse.ArgumentParser, title_char: str = "-") -> list[str]:
    """reST for every option of ``parser``, grouped as ``--help`` groups them."""
    lines: list[str] = []
    for group in parser._action_groups:  # argparse keeps its groups there, in order
        actions = [action for action in group._group_actions if action.help != argparse.SUPPRESS]
        if not actions:
            continue
        title = group.title or "options"
        lines += [title[:1].upper() + title[1:], title_char * len(title), ""]
        for action in actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            lines += [f".. option:: {option_signature(action)}", ""]
            lines += ["   " + _escape(option_help(parser, action)), ""]
            default = action.default
            if (
                action.option_strings
                and action.nargs != 0
                and default not in (None, argparse.SUPPRESS)
                and default not in ([], ())
                and "default" not in (action.help or "")
            ):
                lines += [f"   Default: ``{default!r}``.", ""]
    return lines


class TrioftpOptions(SphinxDirective):
    """Document a parser's options: ``.. trioftp-options:: module:function``.

    ``:title-char:`` is the underline of the group titles (``-`` unless given).
    """

    required_arguments = 1
    has_content = False
    option_spec = {"title-char": str}

    def run(self) -> list[nodes.Node]:
        parser = load_parser(self.arguments[0])
        container = nodes.section()
        title_char = self.options.get("title-char", "-")
        lines = StringList(parser_lines(parser, title_char), source=self.arguments[0])
        nested_parse_with_titles(self.state, lines, container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive."""
    app.add_directive("trioftp-options", TrioftpOptions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

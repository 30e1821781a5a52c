"""Every option of the commands a newcomer runs first says what it does in --help."""

from __future__ import annotations

import argparse

import pytest

from barcodefm.cli import build_parser

FIRST_HOUR_COMMANDS = ("classify", "embed")


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("name", FIRST_HOUR_COMMANDS)
def test_every_option_has_a_help_text(name):
    missing = [
        "/".join(a.option_strings) or a.dest
        for a in _subparser(name)._actions
        if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()
    ]
    assert not missing, f"barcodefm {name}: options without help: {', '.join(missing)}"


def test_classify_usage_names_one_input_and_the_model():
    usage = _subparser("classify").format_usage()
    assert "INPUT --model MODEL -o OUTPUT" in usage and "[[MODEL]" not in usage

"""``barcodefm`` command line: one sub-command per module in ``barcodefm.commands``.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args)``;
adding a command means adding a module and one line to ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = [
    # filled as commands land; order is the order of `barcodefm --help`
    "split",
    "train-tokenizer",
    "embed",
    "classify",
    "serve",
    "index",
    "probe",
    "pretrain",
    "finetune",
    "demo",
    "convert",
    "release",
    "recipe",
]


class UserError(Exception):
    """An error caused by the user's input: printed as one line, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="barcodefm", description="DNA-barcode foundation models")
    parser.add_argument("--version", action="version", version=f"barcodefm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"barcodefm.commands.{name.replace('-', '_')}")
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (UserError, ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        # Input problems (a wrong path among them) get one clear line, not a traceback (use -v for the trace).
        if args.verbose:
            raise
        print(f"barcodefm {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        # Ctrl-C: one line, saying what was written and how to continue when the command knows
        # (barcodefm.outputs.Interrupted), and the exit status of a process ended by SIGINT.
        if args.verbose:
            raise
        print(f"barcodefm {args.command}: {exc or 'interrupted'}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

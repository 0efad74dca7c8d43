"""The ``xraycls`` command line: argument parsing only; every command calls the public API.

Each command lives in its own module ``xraycls.cli._<name>`` exposing ``register(subparsers)``,
which adds a sub-parser whose ``func`` default takes the parsed arguments and returns an exit
code.

Examples:
    >>> from xraycls.cli import main
    >>> main(["--version"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from xraycls.errors import XrayclsError

__all__ = ["main"]

# Order is the order shown by ``xraycls --help``.
_COMMANDS = ("models", "data", "train", "evaluate", "predict", "reproduce", "cam", "report")


def _build_parser() -> argparse.ArgumentParser:
    from xraycls import __version__

    parser = argparse.ArgumentParser(
        prog="xraycls",
        description="Train, evaluate and explain CNN classifiers for chest X-rays.",
    )
    parser.add_argument("--version", action="version", version=f"xraycls {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"xraycls.cli._{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xraycls`` command line.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The process exit code: 0 on success, 2 on a usage error, 1 on an xraycls error.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except XrayclsError as exc:
        print(f"xraycls {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"xraycls {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

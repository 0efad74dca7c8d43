"""The ``xraycls`` command line: argument parsing only; every command calls the public API.

Each command lives in its own module ``xraycls.cli._<name>`` exposing ``register(subparsers)``,
which adds a sub-parser whose ``func`` default takes the parsed arguments and returns an exit
code.

One error path for every command: an :class:`~xraycls.errors.XrayclsError` or ``OSError`` is
printed as one line (with the command-line flag to use, never Python advice) and exits with 2;
``-v`` adds the traceback. TensorFlow's start-up chatter (absl, oneDNN, ``cuInit``...) is
hidden unless ``-v`` is given.

Examples:
    >>> from xraycls.cli import main
    >>> main(["--version"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from xraycls.errors import XrayclsError

__all__ = ["main"]

# Order is the order shown by ``xraycls --help``.
_COMMANDS = (
    "models",
    "data",
    "train",
    "evaluate",
    "predict",
    "reproduce",
    "cam",
    "report",
    "robustness",
    "calibrate",
    "export",
    "serve",
    "audit",
)


def _build_parser() -> argparse.ArgumentParser:
    from xraycls import __version__

    parser = argparse.ArgumentParser(
        prog="xraycls",
        description="Train, evaluate and explain CNN classifiers for chest X-rays.",
    )
    parser.add_argument("--version", action="version", version=f"xraycls {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        dest="cli_verbose",
        action="store_true",
        help="show TensorFlow's log lines and the traceback of an error (give it before COMMAND)",
    )
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
    from xraycls.cli._common import discard_unused_outputs

    verbose = bool(getattr(args, "cli_verbose", False))
    _safe_streams()
    try:
        if not verbose and args.command not in _LIGHT_COMMANDS:
            _quiet_tensorflow()
        code = int(args.func(args) or 0)
    except ModuleNotFoundError as exc:
        # TensorFlow is an extra (docs/decisions.md D11): a bare install has no Keras backend.
        if exc.name not in _BACKENDS:
            raise
        discard_unused_outputs()
        if verbose:
            traceback.print_exc()
        print(
            f"xraycls {args.command}: error: no Keras backend is installed ({exc.name!r} is "
            "missing); install one: pip install 'xraycls[tensorflow]' (or '[jax]' / '[torch]' "
            "with KERAS_BACKEND=jax|torch)",
            file=sys.stderr,
        )
        return 2
    except (XrayclsError, OSError) as exc:
        discard_unused_outputs()
        if verbose:
            traceback.print_exc()
        name = " ".join(str(n) for n in (args.command, getattr(args, "data_command", None)) if n)
        print(f"xraycls {name}: error: {_message(exc, parser, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        discard_unused_outputs()
        print(f"xraycls {args.command}: interrupted", file=sys.stderr)
        return 130
    discard_unused_outputs()  # a command that wrote nothing (every file skipped) leaves nothing
    return code


# Commands that never import TensorFlow; every other one (new ones too) gets the quiet import.
_LIGHT_COMMANDS = frozenset({"models", "data"})
_BACKENDS = frozenset({"tensorflow", "jax", "torch"})
_QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "3"}


def _safe_streams() -> None:
    # A file name that is not valid UTF-8 is a str with lone surrogates; printing it would raise
    # UnicodeEncodeError after the work is done. Write its original bytes instead.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "") == "strict":
            reconfigure(errors="surrogateescape")


def _quiet_tensorflow() -> None:
    """Import Keras (and so TensorFlow) with its C++ start-up lines hidden.

    ``TF_CPP_MIN_LOG_LEVEL`` hides most of them, but absl prints some before it reads any
    setting ("All log messages before absl::InitializeLog()...", ``cuInit`` on a machine
    without a GPU), straight to file descriptor 2. So descriptor 2 points at a temporary file
    while Keras is imported and the first tensor made; that text is replayed only if the
    import fails.
    """
    import logging
    import tempfile

    if "keras" in sys.modules:  # imported already (a test, an embedding program): too late
        return
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras

            keras.ops.convert_to_tensor(0.0)  # device discovery: where cuInit complains
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
    for name in ("absl", "tensorflow", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _option_names(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """``dest -> "--flag"`` (or the positional's METAVAR) of one command's parser."""
    names: dict[str, str] = {}
    sub = next(
        (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
        None,
    )
    command_parser = sub.choices.get(command) if sub is not None else None
    for action in command_parser._actions if command_parser is not None else []:
        longs = [o for o in action.option_strings if o.startswith("--")]
        names[action.dest] = longs[0] if longs else str(action.metavar or action.dest).upper()
    return names


def _flag_of(parser: argparse.ArgumentParser, args: argparse.Namespace, path: str) -> str | None:
    """The option whose value is ``path`` or a folder above it (``--out`` for run/x.json)."""
    target = os.path.abspath(path)
    names = _option_names(parser, args.command)
    best: tuple[int, str] | None = None
    for dest, value in vars(args).items():
        if dest not in names:
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str) or not item:
                continue
            root = os.path.abspath(item)
            inside = target == root or target.startswith(root.rstrip(os.sep) + os.sep)
            if inside and (best is None or len(root) > best[0]):
                best = (len(root), names[dest])
    return best[1] if best else None


def _message(exc: BaseException, parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    if isinstance(exc, XrayclsError):
        return exc.cli_message()
    assert isinstance(exc, OSError)
    reason = exc.strerror or str(exc)
    filename = os.fsdecode(exc.filename) if exc.filename is not None else None
    if filename is None:
        return reason
    flag = _flag_of(parser, args, filename)
    if exc.errno == errno.ENOSPC:  # not a wrong path: say what to do about a full disk
        where = f"give {flag} a path on another disk" if flag else "write elsewhere"
        return f"{filename}: the disk is full ({reason}); free some space or {where}"
    advice = f"; check the path given to {flag}" if flag else ""
    return f"{filename}: {reason}{advice}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

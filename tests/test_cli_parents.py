"""The options every model command shares come from one declaration (xraycls.cli._parents)."""

from __future__ import annotations

import argparse

import pytest

from xraycls.cli import _build_parser
from xraycls.cli._parents import MODEL_HELP, UNSAFE_HELP

#: Shared option -> (its words on the command line, the parsed value).
SHARED = {
    "data": (["--data", "d"], "d"),
    "batch_size": (["--batch-size", "7"], 7),
    "seed": (["--seed", "3"], 3),
    "unsafe": (["--unsafe"], True),
    "quiet": (["--quiet"], True),
    "on_error": (["--on-error", "skip"], "skip"),
}

#: Command -> (the other words it needs, the shared options it takes).
COMMANDS = {
    "evaluate": ([], ("data", "batch_size", "seed", "unsafe", "on_error")),
    "robustness": (["--out", "o"], ("data", "batch_size", "seed", "unsafe", "quiet", "on_error")),
    "audit": (["--out", "o"], ("data", "batch_size", "seed", "unsafe", "quiet")),
    "calibrate": ([], ("data", "batch_size")),
    "predict": (["a.png"], ("batch_size", "unsafe", "quiet", "on_error")),
    "cam": (["a.png", "--out", "o"], ("batch_size", "unsafe", "on_error")),
    "serve": ([], ("unsafe",)),
    "export": (["--out", "o"], ()),
}


def _command_parser(name: str) -> argparse.ArgumentParser:
    parser = _build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_model_commands_take_the_shared_options(command: str) -> None:
    extra, shared = COMMANDS[command]
    words = [command, "m.keras", *extra]
    for name in shared:
        words += SHARED[name][0]
    args = _build_parser().parse_args(words)
    assert args.model == "m.keras"
    for name in shared:
        assert getattr(args, name) == SHARED[name][1], name
    # One declaration: the same help text wherever the option appears.
    helps = {a.dest: a.help for a in _command_parser(command)._actions}
    if "unsafe" in shared:
        assert helps["unsafe"] == UNSAFE_HELP
    if command != "cam":  # cam names its model MODEL, as it always did
        assert helps["model"] == MODEL_HELP


def test_unsafe_is_refused_where_the_model_is_always_loaded_safely() -> None:
    for command, extra in (("calibrate", ["--data", "d"]), ("export", ["--out", "o"])):
        with pytest.raises(SystemExit):
            _build_parser().parse_args([command, "m.keras", *extra, "--unsafe"])

"""The options several commands share, declared once as argparse parent parsers, and the one
step that loads the model a command names.

A command lists the parents it takes (``subparsers.add_parser(..., parents=[...])``); argparse
copies their arguments into its parser, so ``--help`` and error messages are the command's own.
Where commands word an option differently (the seed of the bootstrap, of the shifts...), the
parent takes that wording as an argument; the flag, its type and its default stay one
declaration.

Examples:
    >>> import argparse
    >>> from xraycls.cli._parents import batch_size_parent, model_parent
    >>> parser = argparse.ArgumentParser(parents=[model_parent(), batch_size_parent()])
    >>> args = parser.parse_args(["best.keras", "--unsafe"])
    >>> (args.model, args.unsafe, args.batch_size)
    ('best.keras', True, 32)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xraycls.cli._common import add_on_error, report_skipped, warn_unsafe

if TYPE_CHECKING:
    from xraycls.data import Dataset
    from xraycls.predict import Classifier

MODEL_HELP = "model file written by xraycls"
UNSAFE_HELP = "load a model with Python code (trusted files only)"


def _parent() -> argparse.ArgumentParser:
    # A parent holds arguments only: the command's parser adds -h itself.
    return argparse.ArgumentParser(add_help=False)


def model_parent(
    *, unsafe: bool = True, metavar: str = "MODEL.keras", help: str = MODEL_HELP
) -> argparse.ArgumentParser:
    """The ``MODEL`` positional (first of the command's positionals) and ``--unsafe``.

    Args:
        unsafe: Also add ``--unsafe`` (Keras safe mode off); commands that hand the path to an
            API that always loads safely leave it out.
        metavar: How ``--help`` names the model.
        help: Its help text.
    """
    parser = _parent()
    parser.add_argument("model", metavar=metavar, help=help)
    if unsafe:
        parser.add_argument("--unsafe", action="store_true", help=UNSAFE_HELP)
    return parser


def data_parent(
    *, metavar: str = "DIR", help: str = "dataset folder or CSV"
) -> argparse.ArgumentParser:
    """``--data DIR`` (required): the one dataset a model is run on (see :func:`load_data`).

    ``train``, ``reproduce`` and ``data inspect`` take several datasets instead
    (:func:`xraycls.cli._datasets.add_data_arguments`).
    """
    parser = _parent()
    parser.add_argument("--data", required=True, metavar=metavar, help=help)
    return parser


def batch_size_parent(
    default: int = 32, help: str = "batch size (default: 32)"
) -> argparse.ArgumentParser:
    """``--batch-size N``."""
    parser = _parent()
    parser.add_argument("--batch-size", type=int, default=default, help=help)
    return parser


def seed_parent(help: str) -> argparse.ArgumentParser:
    """``--seed N`` (default 0); ``help`` says what the seed decides."""
    parser = _parent()
    parser.add_argument("--seed", type=int, default=0, help=help)
    return parser


def quiet_parent() -> argparse.ArgumentParser:
    """``--quiet``: no progress bar."""
    parser = _parent()
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def on_error_parent(default: str = "raise") -> argparse.ArgumentParser:
    """``--on-error raise|skip`` (:func:`xraycls.cli._common.add_on_error`)."""
    parser = _parent()
    add_on_error(parser, default=default)
    return parser


def model_on_data_parents(seed_help: str) -> list[argparse.ArgumentParser]:
    """``MODEL --data DIR --batch-size N --seed N --unsafe``: a model run on a dataset
    (``evaluate``, ``robustness``, ``audit``)."""
    return [model_parent(), data_parent(), batch_size_parent(), seed_parent(seed_help)]


def same_named(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The flags ``names`` as keyword arguments of an API function whose parameters have the
    same names (``--batch-size`` -> ``batch_size=``)."""
    return {name: getattr(args, name) for name in names}


def load_classifier(args: argparse.Namespace) -> Classifier:
    """The one load step: the model given as ``MODEL``, safe unless ``--unsafe`` (said loudly)."""
    from xraycls.predict import Classifier

    unsafe = bool(getattr(args, "unsafe", False))
    if unsafe:
        warn_unsafe(args.model)
    return Classifier.load(args.model, safe_mode=not unsafe)


def load_data(
    args: argparse.Namespace, clf: Classifier, *, skipped: Path | None, command: str
) -> Dataset:
    """The ``--data`` dataset, in the model's classes; its skipped files listed in ``skipped``
    (on stderr when ``None``). ``--on-error`` and ``--source-column`` apply where the command
    has them."""
    from xraycls.data import load_dataset

    dataset = load_dataset(
        args.data,
        classes=clf.class_names,
        on_error=getattr(args, "on_error", "raise"),
        source_column=getattr(args, "source_column", None),
    )
    assert dataset.report is not None
    report_skipped(dataset.report.skipped, skipped, command)
    return dataset


def run_on_data(
    args: argparse.Namespace,
    command: str,
    step: Callable[..., Any],
    *,
    skipped: Path | None = None,
    **options: Any,
) -> tuple[Classifier, Dataset, Any]:
    """What ``evaluate``, ``robustness`` and ``audit`` share: load MODEL, load ``--data`` in
    its classes, run ``step(clf, dataset, batch_size=..., seed=..., **options)`` (the API
    function) and print its report as Markdown.

    Returns:
        The classifier, the dataset and the report, for what the command prints or writes next.
    """
    clf = load_classifier(args)
    dataset = load_data(args, clf, skipped=skipped, command=command)
    report = step(clf, dataset, batch_size=args.batch_size, seed=args.seed, **options)
    print(report.to_markdown())
    return clf, dataset, report

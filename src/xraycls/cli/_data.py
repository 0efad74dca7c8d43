"""``xraycls data inspect DIR``: layout, counts, groups, bad files, duplicates, split sizes."""

from __future__ import annotations

import argparse
from typing import Any

from xraycls.cli._common import SKIPPED_NAME, add_on_error, report_skipped
from xraycls.cli._datasets import add_data_arguments, data_specs, out_dir_outside_data


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command (sub-command ``inspect``)."""
    parser = subparsers.add_parser(
        "data",
        help="inspect a dataset folder or manifest",
        description="Inspect a dataset: layout, class counts, patient groups, bad files, "
        "duplicate clusters and split sizes.",
    )
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    inspect = sub.add_parser(
        "inspect",
        help="print what load_dataset finds in a folder or CSV manifest",
        description="Print the layout, class counts, patient groups, skipped files, duplicate "
        "clusters, the class x source table with confounding warnings and (with --split) the "
        "split sizes of a dataset.",
    )
    add_data_arguments(inspect, required=True, positional=True)
    inspect.add_argument(
        "--classes", nargs="+", metavar="NAME", help="classes to keep, in this order"
    )
    inspect.add_argument(
        "--verify",
        default="quick",
        choices=["quick", "full", "none"],
        help="file check: structure only (quick), full decode, or none (default: quick)",
    )
    inspect.add_argument(
        "--no-duplicates", action="store_true", help="skip the duplicate search (faster)"
    )
    inspect.add_argument(
        "--split",
        nargs=2,
        type=float,
        metavar=("TEST", "VAL"),
        help="also show split sizes; VAL is a fraction of the train-val part",
    )
    inspect.add_argument("--seed", type=int, default=0, help="split seed (default: 0)")
    inspect.add_argument(
        "--by",
        default="source",
        metavar="COLUMN",
        help="per-image column for the class x column table and confounding warnings "
        "(default: source)",
    )
    inspect.add_argument(
        "--source-column",
        metavar="NAME",
        help="the CSV / MANIFEST.csv column naming each image's source (default: source, "
        "else source_repo)",
    )
    inspect.add_argument(
        "--hold-out-source",
        action="append",
        metavar="NAME",
        help="with --split: put every image of this source in the test split (repeatable)",
    )
    inspect.add_argument(
        "--max-list", type=int, default=20, help="most files listed per section (default: 20)"
    )
    add_on_error(inspect, default="skip")
    inspect.add_argument(
        "--out",
        metavar="DIR",
        help=f"also write the full list of skipped files to DIR/{SKIPPED_NAME}",
    )
    inspect.set_defaults(func=_inspect)
    parser.set_defaults(func=lambda args: parser.print_help() or 0)


def _inspect(args: argparse.Namespace) -> int:
    import warnings

    from xraycls.data import load_dataset
    from xraycls.errors import ConfigError

    specs = data_specs(args)
    if not specs:
        raise ConfigError("data inspect: name a dataset folder (DIR or --data DIR)")
    out = out_dir_outside_data(args, data_flag="DIR") if args.out else None
    if len(specs) > 1:
        return _inspect_merged(specs, args)
    spec = specs[0]
    with warnings.catch_warnings():
        # The report printed below lists the skipped files; the warning would repeat it.
        warnings.simplefilter("ignore", UserWarning)
        ds = load_dataset(
            spec.path,
            classes=args.classes,
            on_error=args.on_error,
            layout=spec.layout,
            label_map=spec.label_map,
            verify=args.verify,
            source_column=args.source_column,
        )
    assert ds.report is not None
    if out is not None:
        report_skipped(ds.report.skipped, out / SKIPPED_NAME, "data inspect")
    _print_summary(ds)
    print(ds.describe(by=args.by).to_text())
    _print_problems(ds.report, args.max_list)
    clusters = None if args.no_duplicates else _print_duplicates(ds, args.max_list)
    if args.split:
        test, val = args.split
        parts = ds.split(
            test=test,
            val=val,
            seed=args.seed,
            dedupe=not args.no_duplicates,
            duplicates=clusters,
            hold_out_sources=args.hold_out_source,
        )
        held = f", held out: {', '.join(args.hold_out_source)}" if args.hold_out_source else ""
        print(f"split (test={test}, val={val} of train-val, seed={args.seed}{held}):")
        _print_split(parts)
    print(f"loaded in {ds.report.seconds:.2f} s")
    return 0


def _print_summary(ds: Any) -> None:
    """Where the dataset came from, its class counts, patient groups and metadata columns."""
    report = ds.report
    print(f"path:    {report.path}")
    print(f"root:    {report.root}")
    print(f"layout:  {report.layout}")
    print(f"images:  {len(ds)} in {ds.num_classes} classes")
    width = max(len(c) for c in ds.class_names)
    for name, n in ds.counts().items():
        print(f"  {name:<{width}}  {n:>6}")
    if ds.groups is None:
        print("groups:  unknown (no manifest with patient_id, no Kermany file names)")
    else:
        sizes: dict[str, int] = {}
        for g in ds.groups:
            sizes[g] = sizes.get(g, 0) + 1
        print(
            f"groups:  {len(sizes)} patients (largest {max(sizes.values())} images) "
            f"from {report.groups_source}"
        )
    if report.meta_source:
        print(f"columns: {', '.join(sorted(ds.meta))} from {report.meta_source}")
    else:
        print("columns: none (no source, view... column in a CSV or MANIFEST.csv)")


def _print_problems(report: Any, max_list: int) -> None:
    """Dropped classes, empty class folders, skipped and ignored files."""
    if report.dropped_classes:
        print(
            "dropped by --classes: "
            + ", ".join(f"{k} ({v})" for k, v in report.dropped_classes.items())
        )
    for title, rows in (
        ("empty class folders", [f"{c}: {f}" for c, f in report.empty_classes]),
        ("skipped files", [f"{p}: {r}" for p, r in report.skipped]),
    ):
        print(f"{title}: {len(rows)}")
        _print_list(rows, max_list)
    print(f"ignored non-image files/folders: {len(report.ignored)}")


def _print_duplicates(ds: Any, max_list: int) -> list[list[int]]:
    """Find the duplicate clusters and list them; they are returned for the split."""
    from xraycls.data import find_duplicates

    clusters = find_duplicates(ds)
    print(f"duplicate clusters: {len(clusters)} ({sum(len(c) for c in clusters)} images)")
    _print_list(
        [", ".join(f"{ds.files[i]} [{ds.class_names[ds.labels[i]]}]" for i in c) for c in clusters],
        max_list,
    )
    return clusters


def _print_list(rows: list[str], max_list: int) -> None:
    for row in rows[:max_list]:
        print(f"  {row}")
    if len(rows) > max_list:
        print(f"  ... {len(rows) - max_list} more")


def _print_split(parts: Any) -> None:
    """One line per split: its size and class counts."""
    names = ("train", "val", "test") if len(parts) == 3 else ("train", "test")
    for name, part in zip(names, parts, strict=True):
        counts = ", ".join(f"{k} {v}" for k, v in part.counts().items())
        print(f"  {name:<5}  {len(part):>6}  ({counts})")


def _inspect_merged(specs: list[Any], args: argparse.Namespace) -> int:
    """Several ``--data``: each dataset's class x source table, then the merged one."""
    import warnings

    from xraycls.data import merge

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        parts = [spec.load(classes=args.classes, on_error=args.on_error) for spec in specs]
    for spec, part in zip(specs, parts, strict=True):
        print(f"== {spec.dataset_name} ({spec.path}): {len(part)} images")
        print(part.describe(by=args.by).to_text())
        if part.report is not None and part.report.dropped_classes:
            dropped = ", ".join(f"{k} ({v})" for k, v in part.report.dropped_classes.items())
            print(f"dropped: {dropped}")
    ds = merge(parts, names=[spec.dataset_name for spec in specs])
    print(f"== merged: {len(ds)} images from {len(specs)} datasets")
    print(ds.describe(by=args.by).to_text())
    if args.split:
        test, val = args.split
        _print_split(
            ds.split(test=test, val=val, seed=args.seed, hold_out_sources=args.hold_out_source)
        )
    return 0

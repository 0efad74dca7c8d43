"""The paper's protocol on one GPU with the JAX or PyTorch Keras backend.

Runs the ``paper`` profile (six backbones, 128 px, 20 epochs, COVID oversampled x5, SGD) with
``--weights none`` (no ImageNet file can be fetched on the GPU machine) through the real
``xraycls.reproduce`` -> ``Trainer`` -> ``evaluate`` path, one backbone after another, and
prints per backbone: training images/s, minutes (training and evaluation) and test accuracy.

It needs no TensorFlow: with ``--backend jax`` or ``torch`` the input pipeline is the
``keras.utils.PyDataset`` one and gradients/distribution use the backend's own seams.

Usage:
    python benchmarks/gpu_paper.py --backend torch --data ../shared/data/cxr3
    python benchmarks/gpu_paper.py --backend jax --epochs 1 --limit 40   # a CPU smoke run

``--budget-minutes`` stops before starting a backbone once that much time has passed (the
table then says which backbones did not run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cxr3"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("jax", "torch", "tensorflow"), default="torch")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/gpu_paper"))
    parser.add_argument("--models", nargs="*", default=None, help="default: the paper's six")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--limit", type=int, default=None, help="images per class (smoke runs)")
    parser.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--budget-minutes", type=float, default=None)
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="train this many backbones at once, one process each, sharing the GPU",
    )
    return parser.parse_args(argv)


def device_text(backend: str) -> str:
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
        return f"CPU (torch {torch.__version__})"
    if backend == "jax":
        import jax

        dev = jax.devices()[0]
        return f"{getattr(dev, 'device_kind', dev.platform)} (jax {jax.__version__})"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"{'GPU' if gpus else 'CPU'} (tensorflow {tf.__version__})"


def run_parallel(args: argparse.Namespace, argv: list[str]) -> int:
    """One child process per backbone, ``args.parallel`` at a time, then one table."""
    import subprocess

    from_models = args.models or list(_paper_models())
    n = max(1, min(args.parallel, len(from_models)))
    env = dict(os.environ)
    if args.backend == "jax":
        # Each process takes a share of the GPU's memory instead of JAX's default 75%.
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / n:.3f}"
    base = _drop_option(_drop_option(_drop_option(argv, "--parallel"), "--models"), "--out")
    started = time.perf_counter()
    pending = list(from_models)
    running: list[tuple[str, subprocess.Popen[bytes]]] = []
    args.out.mkdir(parents=True, exist_ok=True)
    deadline = None if args.budget_minutes is None else started + 60 * args.budget_minutes
    while pending or running:
        if deadline is not None and time.perf_counter() > deadline:
            for name, child in running:
                child.terminate()
                print(f"# {name} stopped at the {args.budget_minutes}-minute budget", flush=True)
            running = []
            break
        while pending and len(running) < n:
            name = pending.pop(0)
            log = open(args.out / f"{name}.log", "wb")  # noqa: SIM115 (closed with the child)
            cmd = [sys.executable, __file__, *base, "--models", name]
            cmd += ["--out", str(args.out)]
            running.append((name, subprocess.Popen(cmd, env=env, stdout=log, stderr=log)))
        time.sleep(2)
        for item in list(running):
            if item[1].poll() is not None:
                running.remove(item)
                print(
                    f"# {item[0]} finished (exit {item[1].returncode}) after "
                    f"{(time.perf_counter() - started) / 60:.2f} min",
                    flush=True,
                )
    print(HEADER)
    print("|---|---|---|---|---|---|---|")
    rows = []
    for name in from_models:
        path = args.out / f"{name}.json"
        if not path.is_file():
            print(f"| {name} | not finished: {_progress(args.out / name)} |")
            continue
        row = json.loads(path.read_text())[0]
        rows.append(row)
        print(_row_text(row))
    total = (time.perf_counter() - started) / 60
    print(
        f"# total {total:.2f} min wall for {len(rows)} of {len(from_models)} backbones, "
        f"{n} at a time on one device"
    )
    (args.out / "gpu_paper.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    return 0


def _progress(workdir: Path) -> str:
    """What an unfinished child got done: epochs and images/s from its history."""
    files = sorted(workdir.glob("*/history.json"))
    if not files:
        return f"no epoch finished (log: {workdir}.log)"
    history = json.loads(files[0].read_text())
    times = [float(r["time"]) for r in history]
    return f"{len(history)} epochs done, {times[0]:.1f} s first, {times[-1]:.1f} s last epoch"


def _paper_models() -> tuple[str, ...]:
    from xraycls.protocols import PAPER_MODELS

    return PAPER_MODELS


def _drop_option(argv: list[str], option: str) -> list[str]:
    """``argv`` without ``option`` and the values that follow it."""
    out, skipping = [], False
    for arg in argv:
        if arg == option or arg.startswith(option + "="):
            skipping = arg == option
            continue
        if skipping and not arg.startswith("--"):
            continue
        skipping = False
        out.append(arg)
    return out


HEADER = (
    "| backbone | train img/s (epochs 2+) | first epoch s | minutes | test acc "
    "| COVID sens | best epoch |"
)


def _row_text(row: dict) -> str:
    acc = "n/a" if row.get("test_accuracy") is None else f"{row['test_accuracy']:.4f}"
    sens = "n/a" if row.get("covid_sensitivity") is None else f"{row['covid_sensitivity']:.4f}"
    return (
        f"| {row['model']} | {row['img_per_s']:.0f} | {row['first_epoch_s']:.1f} | "
        f"{float(row['seconds']) / 60:.2f} | {acc} | {sens} | {row['best_epoch']} |"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.parallel > 1:
        return run_parallel(args, list(sys.argv[1:] if argv is None else argv))
    # The backend is read once, when Keras is first imported.
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    import xraycls
    from xraycls.protocols import PAPER_MODELS
    from xraycls.train._strategy import mixed_precision_policy

    if args.backend == "torch":
        import torch

        # Fixed input shapes: let cuDNN pick the fastest convolution algorithm once per shape.
        torch.backends.cudnn.benchmark = True

    models = args.models or list(PAPER_MODELS)
    policy = mixed_precision_policy(args.mixed_precision) or "float32"
    print(
        f"# gpu_paper: backend={keras.backend.backend()} device={device_text(args.backend)} "
        f"keras={keras.__version__} xraycls={xraycls.__version__} "
        f"python={platform.python_version()}"
    )
    print(
        f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, data={args.data}, "
        f"epochs={args.epochs}, limit={args.limit}, dtype policy={policy}, "
        f"command: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}"
    )
    print(HEADER)
    print("|---|---|---|---|---|---|---|")
    started = time.perf_counter()
    rows = []
    for name in models:
        elapsed = (time.perf_counter() - started) / 60
        if args.budget_minutes is not None and elapsed > args.budget_minutes:
            print(
                f"| {name} | not run: {elapsed:.1f} min used of the {args.budget_minutes} budget |"
            )
            continue
        result = xraycls.reproduce(
            args.data,
            profile="paper",
            models=[name],
            out=args.out / name,
            verbose=args.verbose,
            weights=None,
            limit_per_class=args.limit,
            train={"epochs": args.epochs, "mixed_precision": args.mixed_precision},
        )
        row = result.rows[0]
        n_train = sum(result.splits["train (balanced)"].values())
        history = json.loads((Path(row.workdir) / "history.json").read_text())
        times = [float(r["time"]) for r in history]
        steady = times[1:] or times
        rate = n_train * len(steady) / sum(steady)
        record = {"img_per_s": rate, "first_epoch_s": times[0], **vars(row), "model": name}
        print(_row_text(record), flush=True)
        rows.append(record)
        if len(models) == 1:
            # Read by a --parallel parent.
            (args.out / f"{name}.json").write_text(json.dumps([record], default=str) + "\n")
    total = (time.perf_counter() - started) / 60
    print(f"# total {total:.2f} min for {len(rows)} of {len(models)} backbones")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_paper.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
    header = (
        "| backbone | train img/s (epochs 2+) | first epoch s | minutes | test acc "
        "| COVID sens | best epoch |"
    )
    print(header)
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
        acc = "n/a" if row.test_accuracy is None else f"{row.test_accuracy:.4f}"
        sens = "n/a" if row.covid_sensitivity is None else f"{row.covid_sensitivity:.4f}"
        print(
            f"| {name} | {rate:.0f} | {times[0]:.1f} | {row.seconds / 60:.2f} | {acc} | {sens} "
            f"| {row.best_epoch} |",
            flush=True,
        )
        rows.append({"model": name, "img_per_s": rate, "first_epoch_s": times[0], **vars(row)})
    total = (time.perf_counter() - started) / 60
    print(f"# total {total:.2f} min for {len(rows)} of {len(models)} backbones")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_paper.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compile time against step time per backbone: first (compiling) and steady steps (issue #20).

For each backbone one fresh process builds the model (``weights=None``), compiles it as
:class:`xraycls.Trainer` does (the paper's SGD, label smoothing, metrics) and times, on random
``[0, 255]`` images of ``--size`` px in batches of ``--batch``:

* the first training step (``train_on_batch``: tracing + compiling + one step) and the median
  of ``--steps`` more (steady),
* the first prediction step (the evaluation program) and the first BatchNorm re-estimation
  pass (``train/_batchnorm.py``), the other two programs a training compiles.

On JAX it runs each backbone twice: "cold" with an empty persistent compilation cache folder
(:func:`xraycls.train._compile.enable_jax_cache`) and "warm", a second process with the
folder the first one filled (a rerun or a resume of ``reproduce``). TensorFlow has no such
cache (and compiles no XLA program on a CPU): one run, "none".

Usage:
    KERAS_BACKEND=jax python benchmarks/compile.py --models resnet50 densenet201
    python benchmarks/compile.py --backend tensorflow --models resnet50 --repeat 3

``--repeat N`` runs every process N times and reports the median of each column.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

PAPER = ("vgg16", "xception", "resnet50", "resnet101", "inception_resnet_v2", "densenet201")
COLUMNS = ("build_s", "train_first_s", "train_steady_s", "predict_first_s", "bn_first_s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend",
        choices=("jax", "tensorflow", "torch"),
        default=os.environ.get("KERAS_BACKEND", "jax"),
    )
    parser.add_argument("--models", nargs="*", default=list(PAPER))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="steady steps timed after the first")
    parser.add_argument("--repeat", type=int, default=1, help="processes per measurement")
    parser.add_argument("--cache", type=Path, default=None, help="default: a new temp folder")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--child", choices=("cold", "warm", "none"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def child(args: argparse.Namespace) -> dict[str, float]:
    """One measurement in this process (the backend is already chosen by the environment)."""
    import keras
    import numpy as np

    import xraycls
    from xraycls.train import TrainConfig, Trainer
    from xraycls.train._batchnorm import batch_statistics
    from xraycls.train._compile import enable_jax_cache

    if args.child in ("cold", "warm"):
        enable_jax_cache(args.cache)
    name = args.models[0]
    started = time.perf_counter()
    model = xraycls.build_model(
        name, num_classes=3, input_shape=(args.size, args.size, 3), weights=None, seed=0
    )
    with tempfile.TemporaryDirectory() as run:
        model = Trainer(model, TrainConfig(batch_size=args.batch), workdir=run)._setup()
    row: dict[str, float] = {"build_s": time.perf_counter() - started}
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (args.batch, args.size, args.size, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, args.batch)]

    def timed(call: object) -> float:
        t = time.perf_counter()
        out = call()  # type: ignore[operator]
        np.asarray(keras.tree.flatten(out)[0])  # wait for the result
        return time.perf_counter() - t

    row["train_first_s"] = timed(lambda: model.train_on_batch(x, y))
    steady = [timed(lambda: model.train_on_batch(x, y)) for _ in range(args.steps)]
    row["train_steady_s"] = statistics.median(steady) if steady else float("nan")
    row["predict_first_s"] = timed(lambda: model.predict_on_batch(x))
    bn = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]
    if bn:
        forward = batch_statistics(model, bn)
        row["bn_first_s"] = timed(lambda: forward(x))
    else:
        row["bn_first_s"] = float("nan")
    return row


def run_child(args: argparse.Namespace, name: str, mode: str, cache: Path) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--backend",
        args.backend,
        "--models",
        name,
        "--size",
        str(args.size),
        "--batch",
        str(args.batch),
        "--steps",
        str(args.steps),
        "--cache",
        str(cache),
        "--child",
        mode,
    ]
    env = {**os.environ, "KERAS_BACKEND": args.backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{name} ({mode}) failed with exit code {done.returncode}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["process_s"] = time.perf_counter() - started
    return row


def median_row(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def fmt(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}"  # NaN: no BatchNorm layer


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    modes = ("cold", "warm") if args.backend == "jax" else ("none",)
    print(
        f"# compile.py: backend={args.backend}, {args.size} px, batch {args.batch}, "
        f"{args.steps} steady steps, repeat {args.repeat}, python {platform.python_version()}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs"
    )
    print(
        "| backbone | cache | build s | train first step s | train steady step s "
        "| predict first s | BN pass first s | process s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for name in args.models:
        found: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="xraycls-jax-cache-") as fresh:
                cache = Path(fresh) if args.cache is None else args.cache / name
                for mode in modes:  # cold fills the folder, warm (a new process) reads it
                    found[mode].append(run_child(args, name, mode, cache))
        for mode in modes:
            row = median_row(found[mode])
            print(
                f"| {name} | {mode} | "
                + " | ".join(fmt(row[c]) for c in (*COLUMNS, "process_s"))
                + " |",
                flush=True,
            )
            rows.append({"model": name, "cache": mode, "backend": args.backend, **row})
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

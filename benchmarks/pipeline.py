"""Input-pipeline throughput: a plain per-image Python loop vs ``make_tf_dataset`` vs ``PyDataset``.

Measures images/s for one pass over a dataset folder (default ``../shared/data/cxr3`` beside
the repository) at 128x128, batch 32:

* ``loop``: the notebook way, one image at a time: ``cv2.imread``, ``cv2.resize``, optionally
  ``imgaug`` per image, then ``np.stack`` per batch and ``float32``.
* ``xraycls``: :func:`xraycls.pipeline._tf.make_tf_dataset` (parallel decode + resize, batched
  augmentation, prefetch), cold (decodes every file) and cached (epoch 2+ with ``cache=True``).
* ``pydataset``: :func:`xraycls.data.make_py_dataset`, the backend-neutral path (JAX, PyTorch),
  read the way ``model.fit`` reads it (Keras's ``PyDataset`` adapter with its worker threads),
  cold and cached, side by side with the ``tf.data`` path in the same run.
* ``tf-decode``: a reference pipeline decoding with ``tf.io.decode_image`` + ``tf.image`` ops
  (no augmentation), the alternative to decoding through ``load_image`` that was measured.

Variants are interleaved and repeated; the table shows the median (and min-max) of the repeats
and the ratio to the loop with the same augmentation setting.

Usage:
    python benchmarks/pipeline.py [--data DIR] [--repeats 5] [--size 128] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
import tensorflow as tf

from xraycls.augment import Augmenter
from xraycls.data import make_py_dataset
from xraycls.pipeline._tf import make_tf_dataset

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cxr3"
EXTENSIONS = {".png", ".jpg", ".jpeg"}


def find_images(root: Path) -> tuple[list[str], list[int]]:
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS)
    classes = sorted({p.parent.name for p in files})
    return [str(p) for p in files], [classes.index(p.parent.name) for p in files]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_text() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def loop_pass(files: list[str], size: int, batch: int, augment: bool) -> int:
    """The notebook way: per-image decode, resize and (optionally) imgaug, then np.stack."""
    aug = Augmenter.paper(seed=0).imgaug
    seen = 0
    for start in range(0, len(files), batch):
        images = []
        for path in files[start : start + batch]:
            img = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            if augment:
                img = aug.augment_image(img)
            images.append(img)
        x = np.stack(images).astype(np.float32)
        seen += x.shape[0]
    return seen


def xraycls_pass(ds: tf.data.Dataset) -> int:
    seen = 0
    for element in ds:
        x = element[0] if isinstance(element, tuple) else element
        seen += int(x.shape[0])
    return seen


def pydataset_pass(ds: object) -> int:
    """One epoch the way ``model.fit`` reads a PyDataset: Keras's adapter and worker threads."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(ds, shuffle=False)
    adapter.on_epoch_begin()
    seen = sum(int(x.shape[0]) for x, _ in adapter.get_numpy_iterator())
    adapter.on_epoch_end()
    return seen


def tf_decode_dataset(files: list[str], size: int, batch: int) -> tf.data.Dataset:
    def load(path: tf.Tensor) -> tf.Tensor:
        img = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return tf.image.resize_with_pad(tf.cast(img, tf.float32), size, size, antialias=True)

    return (
        tf.data.Dataset.from_tensor_slices(files)
        .map(load, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch)
        .prefetch(tf.data.AUTOTUNE)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset folder")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per variant (>= 3)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N files")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="PyDataset")
    parser.add_argument(
        "--only", default="", help="comma-separated variant name prefixes to run (default all)"
    )
    args = parser.parse_args(argv)

    if not args.data.is_dir():
        print(f"error: dataset folder not found: {args.data} (pass --data)", file=sys.stderr)
        return 2
    files, labels = find_images(args.data)
    if args.limit:
        files, labels = files[: args.limit], labels[: args.limit]
    if not files:
        print(f"error: no PNG/JPEG images under {args.data}", file=sys.stderr)
        return 2
    size, batch = args.size, args.batch
    n_classes = max(labels) + 1

    def pipeline(augment: bool, cache: bool = False) -> tf.data.Dataset:
        return make_tf_dataset(
            files,
            labels,
            n_classes,
            batch_size=batch,
            image_size=size,
            augmenter=Augmenter.paper(seed=0) if augment else None,
            shuffle=True,
            seed=0,
            cache=cache,
        )

    def py_pipeline(augment: bool, cache: bool = False) -> object:
        return make_py_dataset(
            files,
            labels,
            n_classes,
            batch_size=batch,
            image_size=size,
            augmenter=Augmenter.paper(seed=0) if augment else None,
            shuffle=True,
            seed=0,
            cache=cache,
            workers=args.workers,
        )

    cached = pipeline(True, cache=True)
    xraycls_pass(cached)  # fill the cache once; timed passes below are epochs 2+
    py_cached = py_pipeline(True, cache=True)
    pydataset_pass(py_cached)

    variants: dict[str, tuple[str, Callable[[], int]]] = {
        "loop, no aug": ("loop, no aug", lambda: loop_pass(files, size, batch, False)),
        "loop, aug": ("loop, aug", lambda: loop_pass(files, size, batch, True)),
        "xraycls, no aug": ("loop, no aug", lambda: xraycls_pass(pipeline(False))),
        "xraycls, aug": ("loop, aug", lambda: xraycls_pass(pipeline(True))),
        "xraycls, aug, cached (epoch 2+)": ("loop, aug", lambda: xraycls_pass(cached)),
        "pydataset, no aug": ("loop, no aug", lambda: pydataset_pass(py_pipeline(False))),
        "pydataset, aug": ("loop, aug", lambda: pydataset_pass(py_pipeline(True))),
        "pydataset, aug, cached (epoch 2+)": ("loop, aug", lambda: pydataset_pass(py_cached)),
        "tf-decode ref, no aug": (
            "loop, no aug",
            lambda: xraycls_pass(tf_decode_dataset(files, size, batch)),
        ),
    }
    if args.only:
        keep = tuple(p.strip() for p in args.only.split(","))
        variants = {k: v for k, v in variants.items() if k.startswith(keep) or k.startswith("loop")}
    # Warm-up: imports, graph tracing, thread pools, page cache.
    for _, run in variants.values():
        run()

    load_before = load_text()
    rates: dict[str, list[float]] = {name: [] for name in variants}
    cpu_ms: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(max(3, args.repeats)):
        for name, (_, run) in variants.items():  # interleaved: drifting load hits all alike
            start, cpu = time.perf_counter(), time.process_time()
            seen = run()
            rates[name].append(seen / (time.perf_counter() - start))
            # CPU time of all our threads per image: what the input costs a training process,
            # and much less sensitive to other processes than wall-clock rates.
            cpu_ms[name].append((time.process_time() - cpu) * 1e3 / seen)
    load_after = load_text()

    medians = {name: statistics.median(r) for name, r in rates.items()}
    print(f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    print(f"machine: nproc={os.cpu_count()}, CPU: {cpu_model()}")
    print(f"python {platform.python_version()}, tensorflow {tf.__version__}")
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_after}")
    print(f"data: {args.data} ({len(files)} images), {size}x{size}, batch {batch}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"repeats: {max(3, args.repeats)} (interleaved); images/s median and min-max; "
        "CPU ms/img median (all threads)\n"
    )
    print(
        f"| {'variant':<33} | {'img/s (median)':>14} | {'min-max':>11} | {'vs loop':>7} "
        f"| {'CPU ms/img':>10} |"
    )
    print(f"|{'-' * 35}|{'-' * 15}:|{'-' * 12}:|{'-' * 8}:|{'-' * 11}:|")
    for name, (base, _) in variants.items():
        lo, hi = min(rates[name]), max(rates[name])
        ratio = medians[name] / medians[base]
        print(
            f"| {name:<33} | {medians[name]:>14.0f} | {f'{lo:.0f}-{hi:.0f}':>11} "
            f"| {ratio:>6.2f}x | {statistics.median(cpu_ms[name]):>10.2f} |"
        )
    if "pydataset, aug" in medians and "xraycls, aug" in medians:
        print(
            f"\npydataset / tf.data: {medians['pydataset, aug'] / medians['xraycls, aug']:.2f}x "
            f"with augmentation, "
            f"{medians['pydataset, no aug'] / medians['xraycls, no aug']:.2f}x without"
        )
    if "xraycls, aug" not in medians:
        return 0
    print(
        f"\n(b)/(a) with augmentation: {medians['xraycls, aug'] / medians['loop, aug']:.2f}x cold, "
        f"{medians['xraycls, aug, cached (epoch 2+)'] / medians['loop, aug']:.2f}x cached; "
        f"without: {medians['xraycls, no aug'] / medians['loop, no aug']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

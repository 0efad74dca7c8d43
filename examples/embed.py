"""Embed a classifier in other tools: calibrate, decide, batch-predict, export, serve.

Run from the repository root (CI runs it on generated images; on a CPU it takes a minute or
two, most of it the ONNX conversion):

    python examples/embed.py                      # ../shared/data/cxr3, 30 images per class
    python examples/embed.py --data DIR --out work/embed

It trains a small CNN for a few epochs (a stand-in for your real model), then:

1. ``xraycls.calibrate``: temperature scaling and the COVID operating point on the
   validation split, stored in ``best.keras``;
2. ``Classifier.predict(..., details=True)``: class, calibrated probabilities, decision
   (COVID / not COVID / refer), test-time-augmentation spread and Grad-CAM;
3. ``xraycls.predict_files``: the test split to a resumable CSV;
4. ``xraycls.export_model``: ONNX, checked against Keras with onnxruntime;
5. ``xraycls.serve.create_app``: the HTTP service, called in-process.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import xraycls

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cxr3"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset folder or CSV")
    parser.add_argument("--limit", type=int, default=30, help="images per class")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: temporary)")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"data folder not found: {args.data} (pass --data DIR)", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="xraycls-embed-"))

    # A small model to embed (use your own best.keras instead).
    data = xraycls.load_dataset(args.data)
    rng = np.random.default_rng(0)
    keep = [
        i
        for k in range(len(data.class_names))
        for i in rng.permutation(np.flatnonzero(data.labels == k))[: args.limit]
    ]
    train, val, test = data.subset(sorted(keep)).split(test=0.25, val=0.25, seed=0)
    model = xraycls.build_model(
        "simple_cnn", num_classes=len(data.class_names), input_shape=(48, 48, 3), width=8, seed=0
    )
    config = xraycls.TrainConfig(epochs=args.epochs, batch_size=16, seed=0, verbose=0)
    xraycls.Trainer(model, config, workdir=out / "run", model_name="simple_cnn").fit(train, val)
    model_path = out / "run" / "best.keras"

    # 1. Calibrate on validation images; stored inside best.keras.
    # This demo may run on a handful of images, so it lowers the minimum (20 images, 5 per
    # class by default); a real operating point needs far more, and says so in cal.warnings.
    cal = xraycls.calibrate(model_path, val, target_sensitivity=0.95, min_images=3, min_per_class=1)
    low, high = cal.sensitivity_ci or (0.0, 1.0)
    print(
        f"temperature {cal.temperature:.2f}, ECE {cal.ece_before:.3f} -> {cal.ece_after:.3f}, "
        f"COVID threshold {cal.threshold:.3f} (sensitivity {cal.sensitivity:.2f}, 95% CI "
        f"{low:.2f}-{high:.2f}, specificity {cal.specificity:.2f} on {cal.n_images} "
        "validation images)"
    )
    for warning in cal.warnings:
        print(f"  warning: {warning}")

    # 2. Decisions with uncertainty and Grad-CAM.
    clf = xraycls.Classifier.load(model_path)
    files = [str(f) for f in test.files]
    for p in clf.predict(files[:3], details=True, explain=True, tta=True):
        assert p.cam is not None
        print(
            f"{Path(p.source or '').name}: {p.label}, decision {p.decision}, "
            f"uncertainty {p.uncertainty:.3f}, heat map {p.cam.shape}"
        )

    # 3. Batch inference to a resumable CSV (run it again and it skips what is done).
    summary = xraycls.predict_files(clf, files, out / "predictions.csv", progress=False)
    print(f"{summary.predicted} rows, {summary.errors} errors: {summary.out}")

    # 4. Export to ONNX and check it against Keras.
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("tf2onnx"):
        import onnxruntime

        onnx_path = xraycls.export_model(model_path, out / "model.onnx", format="onnx")
        session = onnxruntime.InferenceSession(str(onnx_path))
        batch = np.stack([clf.prepare(f) for f in files[:8]])
        got = session.run(None, {session.get_inputs()[0].name: batch})[0]
        diff = float(np.abs(got - clf.model.predict(batch, verbose=0)).max())
        print(f"ONNX export {onnx_path.name}: max difference to Keras {diff:.1e}")
    else:
        print('ONNX export skipped: pip install "xraycls[export]"')

    # 5. The HTTP service, called in-process (``xraycls serve`` runs the same app).
    if importlib.util.find_spec("starlette") and importlib.util.find_spec("httpx"):
        from starlette.testclient import TestClient

        from xraycls.serve import create_app

        # The service answers only requests addressed to localhost (DNS rebinding protection).
        with TestClient(create_app(clf), base_url="http://localhost") as client:
            reply = client.post("/predict", content=Path(files[0]).read_bytes()).json()
        print(f"POST /predict: class {reply['class']}, decision {reply['decision']}")
    else:
        print('service skipped: pip install "xraycls[serve]"')
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train the lung-field segmenter shipped in ``xraycls.lungs`` (reproducible with a seed).

Usage::

    nice -n 10 python scripts/train_lungs.py --data ../shared/data/cxr-lungmask \
        --out src/xraycls/lungs/lung_unet.weights.h5

Holds out 20% of each source's pairs (``xraycls.lungs._pairs.split_ids``, seed 0), trains a small
U-Net on the rest with robustness augmentation (the pairs are adult films; the images it is used
on include children and hospital films with borders and burned-in text), and prints the Dice on
the held-out pairs, measured through ``xraycls.lungs.segment``'s own prediction path at the
images' original size. Then put the printed sha256 into ``xraycls/lungs/_weights.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import string
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import imgaug as ia
import imgaug.augmenters as iaa
import keras
import numpy as np
from imgaug.augmentables.segmaps import SegmentationMapsOnImage

from xraycls.lungs._model import INPUT_SIZE, build_segmenter
from xraycls.lungs._pairs import load_pairs, split_ids
from xraycls.lungs._predict import predict_masks
from xraycls.lungs._prepare import letterbox_gray, standardise

_WORDS = ["L", "R", "AP", "PA", "PORTABLE", "SUPINE", "ERECT", "ICU", "12", "3:45", "ABC", "X"]


def _augmenter() -> iaa.Augmenter:
    """Geometry (shared with the mask) then photometry (image only)."""
    return iaa.Sequential(
        [
            iaa.Fliplr(0.2),
            # Borders: pad with a random grey (mask padded with background) or crop a little.
            iaa.Sometimes(
                0.5,
                iaa.CropAndPad(
                    percent=(-0.06, 0.22),
                    pad_mode="constant",
                    pad_cval=(0, 255),
                    sample_independently=True,
                    keep_size=True,
                ),
            ),
            # Aspect squash, zoom out (children: small chest, much body), shift, tilt.
            iaa.Affine(
                scale={"x": (0.65, 1.2), "y": (0.65, 1.2)},
                translate_percent={"x": (-0.12, 0.12), "y": (-0.12, 0.12)},
                rotate=(-15, 15),
                shear=(-6, 6),
                order=1,
                cval=(0, 40),
                mode="constant",
            ),
            iaa.Sometimes(0.5, iaa.GammaContrast((0.5, 2.0))),
            iaa.Sometimes(0.5, iaa.LinearContrast((0.5, 1.6))),
            iaa.Sometimes(0.2, iaa.OneOf([iaa.CLAHE(), iaa.HistogramEqualization()])),
            iaa.Sometimes(0.3, iaa.GaussianBlur((0.0, 1.5))),
            iaa.Sometimes(0.3, iaa.AdditiveGaussianNoise(scale=(0, 0.06 * 255))),
        ]
    )


def _plant_text(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Burned-in letters, markers and arrows as hospital films carry them (image only)."""
    out = image.copy()
    size = out.shape[0]
    for _ in range(rng.integers(1, 5)):
        value = int(rng.integers(170, 256))
        x, y = int(rng.integers(0, size - 8)), int(rng.integers(8, size))
        kind = rng.random()
        if kind < 0.7:
            word = (
                str(rng.choice(_WORDS))
                if rng.random() < 0.7
                else "".join(
                    rng.choice(
                        list(string.ascii_uppercase + string.digits), int(rng.integers(1, 8))
                    )
                )
            )
            scale = float(rng.uniform(0.2, 0.6))
            cv2.putText(out, word, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, value, 1, cv2.LINE_AA)
        elif kind < 0.85:
            w, h = int(rng.integers(3, 12)), int(rng.integers(3, 12))
            cv2.rectangle(out, (x, y - h), (x + w, y), value, -1)
        else:
            dx, dy = int(rng.integers(-15, 16)), int(rng.integers(-15, 16))
            cv2.arrowedLine(out, (x, y), (x + dx, y + dy), value, 1, tipLength=0.4)
    return out


class _Batches(keras.utils.PyDataset):
    """Seeded, freshly augmented batches every epoch."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, batch: int, seed: int) -> None:
        super().__init__()
        self.images, self.masks, self.batch, self.seed = images, masks, batch, seed
        self.aug = _augmenter()
        self.epoch = 0
        self.order = np.arange(len(images))

    def __len__(self) -> int:
        return int(np.ceil(len(self.images) / self.batch))

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if index == 0:
            self.order = np.random.default_rng([self.seed, self.epoch]).permutation(
                len(self.images)
            )
        idx = self.order[index * self.batch : (index + 1) * self.batch]
        aug = self.aug.to_deterministic()
        aug.seed_(int(rng.integers(2**31)))
        segmaps = [
            SegmentationMapsOnImage(m.astype(np.int32), shape=m.shape) for m in self.masks[idx]
        ]
        images, segs = aug(images=list(self.images[idx]), segmentation_maps=segmaps)
        xs, ys = [], []
        full = (0, 0, INPUT_SIZE, INPUT_SIZE)
        for image, seg in zip(images, segs, strict=True):
            if rng.random() < 0.5:
                image = _plant_text(image, rng)
            xs.append(standardise(image, full))
            ys.append(seg.get_arr() > 0)
        return np.stack(xs)[..., None], np.stack(ys)[..., None].astype(np.float32)


def _dice_loss(y_true, y_pred):  # type: ignore[no-untyped-def]
    ops = keras.ops
    inter = ops.sum(y_true * y_pred, axis=(1, 2, 3))
    total = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
    return 1.0 - (2.0 * inter + 1.0) / (total + 1.0)


def _loss(y_true, y_pred):  # type: ignore[no-untyped-def]
    bce = keras.ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))
    return bce + _dice_loss(y_true, y_pred)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two bool masks (1.0 when both are empty)."""
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2.0 * np.logical_and(a, b).sum() / total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/cxr-lungmask")
    parser.add_argument("--out", default="src/xraycls/lungs/lung_unet.weights.h5")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    ia.seed(args.seed)
    pairs = {pid: (img, mask) for pid, img, mask in load_pairs(args.data)}
    train_ids, held_ids = split_ids(list(pairs))
    print(f"pairs: {len(pairs)}  train: {len(train_ids)}  held out: {len(held_ids)}", flush=True)

    images, masks = [], []
    for pid in train_ids:
        img, mask = pairs[pid]
        sq, _ = letterbox_gray(img, INPUT_SIZE)
        msq, _ = letterbox_gray(mask.astype(np.uint8) * 255, INPUT_SIZE)
        images.append(sq)
        masks.append(msq > 127)
    data = _Batches(np.stack(images), np.stack(masks), args.batch, args.seed)

    model = build_segmenter(INPUT_SIZE)
    print(f"parameters: {model.count_params()}", flush=True)
    steps = args.epochs * len(data)
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=_loss)
    start = time.perf_counter()
    model.fit(data, epochs=args.epochs, verbose=2, shuffle=False)
    print(f"training took {time.perf_counter() - start:.0f} s", flush=True)

    held_images = [pairs[p][0] for p in held_ids]
    start = time.perf_counter()
    predicted = predict_masks(model, held_images)
    per_image = (time.perf_counter() - start) / len(held_images) * 1000
    scores = {p: dice(m, pairs[p][1]) for p, m in zip(held_ids, predicted, strict=True)}
    for source in sorted({p.split("_", 1)[0] for p in held_ids}):
        vals = [v for p, v in scores.items() if p.startswith(source + "_")]
        mean, low = np.mean(vals), np.min(vals)
        print(f"held-out Dice {source}: mean {mean:.4f} min {low:.4f} (n={len(vals)})")
    print(f"held-out Dice all: mean {np.mean(list(scores.values())):.4f} (n={len(scores)})")
    print(f"prediction: {per_image:.1f} ms per image (batch of {len(held_images)})")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size} bytes) sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time the lung segmenter and the input transforms on cxr3 images (CPU).

Usage: python benchmarks/lungs.py [--data ../shared/data/cxr3] [--n 48]

Prints milliseconds per image for ``segment`` one at a time and in one batch, and for each
``InputTransform`` step, measured side by side in one run on the same images.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from xraycls.io import load_image
from xraycls.lungs import load_segmenter, segment
from xraycls.transforms import InputTransform, clahe, detect_text, equalize, remove_text


def _ms(fn, items) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/cxr3")
    parser.add_argument("--n", type=int, default=48)
    args = parser.parse_args()
    files = sorted(Path(args.data).rglob("*.png"))[:: max(1, 700 // args.n)][: args.n]
    images = [load_image(f) for f in files]
    load_segmenter()
    segment(images[:1]), segment(images[:2]), segment(images[:32])  # trace each batch bucket
    rows = [("segment, one image per call", _ms(segment, images))]
    start = time.perf_counter()
    segment(images)
    rows.append(("segment, one batch of all", (time.perf_counter() - start) / len(images) * 1000))
    rows += [
        ("clahe", _ms(clahe, images)),
        ("equalize", _ms(equalize, images)),
        ("detect_text", _ms(detect_text, images)),
        ("remove_text", _ms(remove_text, images)),
        ("InputTransform(lung_crop)", _ms(InputTransform(lung_crop=True).apply, images)),
        (
            "InputTransform(all steps)",
            _ms(
                InputTransform(
                    lung_crop=True, soft_mask=0.3, contrast="clahe", remove_text=True
                ).apply,
                images,
            ),
        ),
    ]
    sizes = sorted({im.shape[:2] for im in images})
    print(f"{len(images)} cxr3 images, sizes {sizes[0]}..{sizes[-1]}")
    print("| step | ms per image |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()

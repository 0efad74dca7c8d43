"""Generated chest phantoms whose lung field is known, and tiny models trained on them.

Two data sets for the shortcut audit's tests:

* ``"shortcut"``: the class is coded by a bright bar in a top corner (outside the lungs) and
  nothing else; the lungs hold random content unrelated to the class (dark, blobs or stripes).
* ``"shortcut-bright"``: the same, but the lungs are never dark, so a model trained on it never
  saw black lungs and is thrown off by the ``border_only`` input (issue #17).
* ``"lungs"``: the class lives only inside the lung field (blobs vs stripes); bright bars
  appear in corners at random, unrelated to the class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xraycls.data import Dataset

SIZE = 32
_YY, _XX = np.mgrid[0:SIZE, 0:SIZE]


def lung_field(size: int = SIZE) -> np.ndarray:
    """The phantoms' lung field: two upright ellipses, about a third of the image."""
    yy, xx = np.mgrid[0:size, 0:size]
    mask = np.zeros((size, size), bool)
    for cx in (0.31, 0.69):
        mask |= ((yy - 0.52 * size) / (0.37 * size)) ** 2 + (
            (xx - cx * size) / (0.17 * size)
        ) ** 2 <= 1
    return mask


LUNGS = lung_field()
_CORNER = 6  # side of the corner square the inpainter paints over (plus 2 pixels)
_MARK_H, _MARK_W = 3, 7  # the planted mark: a bar in a top corner


def known_lungs(images: list[np.ndarray]) -> list[np.ndarray]:
    """A ``lung_masks`` function that knows where the generator put the lungs."""
    return [lung_field(img.shape[0]) if img.shape[0] != SIZE else LUNGS.copy() for img in images]


def corner_inpainter(image: np.ndarray) -> np.ndarray:
    """A ``text_remover`` that paints the corners (where the marks sit) with the background."""
    out = image.copy()
    far = SIZE - _CORNER - 2
    for r in (0, far):
        for c in (0, far):
            out[r : r + _CORNER + 2, c : c + _CORNER + 2] = 30
    return out


def _base(rng: np.random.Generator, lungs: str) -> np.ndarray:
    """Background, body and lung field with noise; the lungs dark, plain, blobs or stripes."""
    img = np.full((SIZE, SIZE), 30.0)
    body = ((_YY - 0.55 * SIZE) / (0.5 * SIZE)) ** 2 + (
        (_XX - 0.5 * SIZE) / (0.46 * SIZE)
    ) ** 2 <= 1
    img[body] = 140
    img[LUNGS] = 5 if lungs == "dark" else 70
    img += rng.normal(0, 8, img.shape)
    _paint_lungs(img, rng, lungs)
    return img


def _paint_lungs(img: np.ndarray, rng: np.random.Generator, lungs: str) -> None:
    """Draw the lung pattern in place; it never leaves the lung field."""
    if lungs == "blobs":
        ys, xs = np.nonzero(LUNGS)
        for _ in range(3):
            k = rng.integers(len(ys))
            img[((_YY - ys[k]) ** 2 + (_XX - xs[k]) ** 2 <= 4) & LUNGS] = 170
    elif lungs == "stripes":
        img[LUNGS & (((_YY + rng.integers(4)) % 4) == 0)] = 170


def _mark(img: np.ndarray, corner: int) -> None:
    """A bright bar in a top corner, at least three pixels from the lung field.

    (So the audit's ``lung_only`` input, the lungs plus a 2-pixel margin at this size, never
    shows any of it.)
    """
    c = 0 if corner == 0 else SIZE - _MARK_W
    img[0:_MARK_H, c : c + _MARK_W] = 255


def _rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def phantoms(kind: str, n: int, seed: int) -> Dataset:
    """``n`` phantoms (classes alternate) of the ``"shortcut"``, ``"shortcut-bright"`` or
    ``"lungs"`` kind.

    Images come in pairs, one of each class, identical but for the class signal: a
    ``"shortcut"`` pair shares its lungs (random content) and everything else except the mark;
    a ``"lungs"`` pair shares everything outside the lung field (marks included). So the other
    region carries no signal at all, and its masked input (``lung_only`` for ``"shortcut"``,
    ``border_only`` for ``"lungs"``) is the same image for both classes: accuracy exactly 0.5
    on any machine, whatever the trained weights.
    """
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for start in range(0, n, 2):
        if kind.startswith("shortcut"):
            lungs = (
                ["blobs", "stripes"] if kind == "shortcut-bright" else ["dark", "blobs", "stripes"]
            )
            base = _base(rng, str(rng.choice(lungs)))
            marked = base.copy()
            _mark(marked, int(rng.integers(2)))
            pair = [marked, base]
        else:
            base = _base(rng, "plain")
            if rng.integers(2):
                _mark(base, int(rng.integers(2)))
            pair = []
            for pattern in ("blobs", "stripes"):
                img = base.copy()
                _paint_lungs(img, rng, pattern)
                pair.append(img)
        for y in range(min(2, n - start)):
            images.append(_rgb(pair[y]))
            labels.append(y)
    return Dataset(
        files=tuple(f"{kind}-{seed}-{i}.png" for i in range(n)),
        labels=np.array(labels),
        class_names=("COVID", "Normal"),
        images=images,
    )


def trained_phantom_model(train: Dataset, *, epochs: int = 15, seed: int = 0) -> Any:
    """A three-conv classifier with the zoo's layer names (``head_pool``, ``predictions``)."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inp)
    for i, filters in enumerate((8, 16, 16)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        if i < 1:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dense(16, activation="relu", name="head_dense")(x)
    out = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="categorical_crossentropy")
    x_train = np.stack(train.images).astype("float32")
    y_train = keras.utils.to_categorical(train.labels, 2)
    model.fit(x_train, y_train, epochs=epochs, batch_size=8, verbose=0, shuffle=True)
    return model

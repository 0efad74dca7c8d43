"""Generated chest phantoms whose lung field is known, and tiny models trained on them.

Two data sets for the shortcut audit's tests:

* ``"shortcut"``: the class is coded by a bright square in a corner (outside the lungs) and
  nothing else; the lungs hold random content unrelated to the class (dark, blobs or stripes).
* ``"lungs"``: the class lives only inside the lung field (blobs vs stripes); bright squares
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
_CORNER = 6  # side of the planted mark, in pixels


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


def _phantom(rng: np.random.Generator, lungs: str, mark: bool) -> np.ndarray:
    img = np.full((SIZE, SIZE), 30.0)
    body = ((_YY - 0.55 * SIZE) / (0.5 * SIZE)) ** 2 + (
        (_XX - 0.5 * SIZE) / (0.46 * SIZE)
    ) ** 2 <= 1
    img[body] = 140
    img[LUNGS] = 5 if lungs == "dark" else 70
    img += rng.normal(0, 8, img.shape)
    if lungs == "blobs":
        ys, xs = np.nonzero(LUNGS)
        for _ in range(3):
            k = rng.integers(len(ys))
            img[((_YY - ys[k]) ** 2 + (_XX - xs[k]) ** 2 <= 4) & LUNGS] = 170
    elif lungs == "stripes":
        img[LUNGS & (((_YY + rng.integers(4)) % 4) == 0)] = 170
    if mark:
        corner = int(rng.integers(4))
        r = 1 if corner < 2 else SIZE - _CORNER - 1
        c = 1 if corner % 2 == 0 else SIZE - _CORNER - 1
        img[r : r + _CORNER, c : c + _CORNER] = 255
    return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def phantoms(kind: str, n: int, seed: int) -> Dataset:
    """``n`` phantoms (classes alternate) of the ``"shortcut"`` or ``"lungs"`` kind."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        y = i % 2
        if kind == "shortcut":
            images.append(_phantom(rng, str(rng.choice(["dark", "blobs", "stripes"])), y == 0))
        else:
            images.append(_phantom(rng, ("blobs", "stripes")[y], bool(rng.integers(2))))
        labels.append(y)
    return Dataset(
        files=tuple(f"{kind}-{seed}-{i}.png" for i in range(n)),
        labels=np.array(labels),
        class_names=("COVID", "Normal"),
        images=images,
    )


def tiny_model(train: Dataset, *, epochs: int = 15, seed: int = 0) -> Any:
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

"""``InputTransform``: the input mitigations a model was trained with, as data stored with it."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from cachetools import LRUCache

from xraycls._serial import Serial, from_data
from xraycls.errors import ConfigError
from xraycls.transforms._image import check_image

__all__ = ["CONTRAST_MODES", "InputTransform", "as_transform"]

# ``apply`` is a pure function of (transform, image) and training meets the same images every
# epoch: remembering recent results turns the segmenter and inpainting cost of a lung-crop or
# text-removal model into a one-off per image instead of one per image and epoch.
# Bounded by bytes (not entries): full-size films are 100 times larger than cxr3's.
_MEMO_BYTES = 1 << 30
_memo: LRUCache[tuple[str, bytes], np.ndarray] = LRUCache(_MEMO_BYTES, getsizeof=lambda a: a.nbytes)
_memo_lock = threading.Lock()


def _digest(image: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((image.shape, image.dtype.str)).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.digest()


#: Contrast normalisations understood by :class:`InputTransform`.
CONTRAST_MODES = ("none", "clahe", "equalize")


@dataclass(frozen=True)
class InputTransform(Serial):
    """Preprocessing applied to every image as read, before it is resized for the model.

    Saved inside the model file (``save_model(..., input_transform=...)``) so that training,
    ``evaluate``, ``Classifier.predict`` and ``cam`` all apply exactly the same steps. The steps
    run in a fixed order: text removal, lung segmentation (once, when a lung step is on), soft
    mask, lung crop, contrast.

    Attributes:
        lung_crop: Crop to the lung box (:func:`xraycls.lungs.lung_box`) plus ``crop_margin``.
        crop_margin: Growth of the lung box on each side, as a share of its size (``>= 0``).
        soft_mask: Brightness factor in ``[0, 1]`` outside the lung field, or ``None`` for no
            masking.
        contrast: ``"none"``, ``"clahe"`` or ``"equalize"``.
        remove_text: Find burned-in text and markers and inpaint them.

    Examples:
        >>> from xraycls.transforms import InputTransform
        >>> t = InputTransform(lung_crop=True, contrast="clahe")
        >>> InputTransform.from_json(t.to_json()) == t
        True
        >>> InputTransform().is_identity, t.is_identity
        (True, False)
        >>> from xraycls.errors import ConfigError
        >>> try:
        ...     InputTransform(contrast="gamma")
        ... except ConfigError as exc:
        ...     print(exc)
        InputTransform.contrast must be one of ('none', 'clahe', 'equalize'); got 'gamma'
    """

    lung_crop: bool = False
    crop_margin: float = 0.1
    soft_mask: float | None = None
    contrast: str = "none"
    remove_text: bool = False

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(
                f"InputTransform.{name} must be {expected}; got {getattr(self, name)!r}"
            )

        for name in ("lung_crop", "remove_text"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, "True or False")
        margin = self.crop_margin
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 1:
            raise bad("crop_margin", "a number in [0, 1]")
        sm = self.soft_mask
        if sm is not None and (
            isinstance(sm, bool) or not isinstance(sm, (int, float)) or not 0 <= sm <= 1
        ):
            raise bad("soft_mask", "None or a number in [0, 1]")
        if self.contrast not in CONTRAST_MODES:
            raise bad("contrast", f"one of {CONTRAST_MODES}")
        object.__setattr__(self, "crop_margin", float(margin))
        if sm is not None:
            object.__setattr__(self, "soft_mask", float(sm))

    @property
    def is_identity(self) -> bool:
        """True when every step is off (``apply`` returns the image unchanged)."""
        return (
            not (self.lung_crop or self.soft_mask is not None or self.remove_text)
            and self.contrast == "none"
        )

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Transform one uint8 image (gray or RGB, any size); a pure function of the image.

        Args:
            image: uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.

        Returns:
            A uint8 image with the same number of channels (smaller when cropped).

        Examples:
            >>> import numpy as np
            >>> from xraycls.transforms import InputTransform
            >>> img = np.tile(np.arange(64, dtype=np.uint8), (32, 1))
            >>> InputTransform(contrast="equalize").apply(img).max()
            np.uint8(255)
        """
        return self.apply_many([image])[0]

    def apply_many(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """`apply` to several images at once: one batched segmenter call for all of them.

        Results are remembered (up to 1 GiB, least recently used first out), so the images a
        training run meets every epoch are transformed once.

        Examples:
            >>> import numpy as np
            >>> from xraycls.transforms import InputTransform
            >>> imgs = [np.zeros((20, 30), np.uint8), np.zeros((40, 40, 3), np.uint8)]
            >>> [im.shape for im in InputTransform(contrast="clahe").apply_many(imgs)]
            [(20, 30), (40, 40, 3)]
        """
        for image in images:
            check_image(image)
        if self.is_identity:
            return list(images)
        name = self.to_json()
        keys = [(name, _digest(image)) for image in images]
        out: list[np.ndarray | None] = [None] * len(images)
        with _memo_lock:
            for j, key in enumerate(keys):
                out[j] = _memo.get(key)  # a hit becomes the most recently used
        todo = [j for j, o in enumerate(out) if o is None]
        if todo:
            done = self._apply([images[j] for j in todo])
            with _memo_lock:
                for j, result in zip(todo, done, strict=True):
                    out[j] = result
                    if result.nbytes <= _MEMO_BYTES:  # LRUCache refuses a larger value
                        _memo[keys[j]] = result
        return [o.copy() for o in out if o is not None]

    def _apply(self, images: list[np.ndarray]) -> list[np.ndarray]:
        from xraycls.transforms._contrast import clahe, equalize
        from xraycls.transforms._lung import lung_crop, soft_mask
        from xraycls.transforms._text import remove_text

        outs = [remove_text(img) if self.remove_text else img for img in images]
        if self.lung_crop or self.soft_mask is not None:
            from xraycls.lungs import segment

            masks = segment(outs)  # a list: one batched forward pass
            for j, mask in enumerate(masks):
                if self.soft_mask is not None:
                    outs[j] = soft_mask(outs[j], mask, self.soft_mask)
                if self.lung_crop:
                    outs[j] = lung_crop(outs[j], mask, self.crop_margin)
        if self.contrast == "clahe":
            outs = [clahe(o) for o in outs]
        elif self.contrast == "equalize":
            outs = [equalize(o) for o in outs]
        return outs

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> InputTransform:
        """Build from :meth:`to_dict` output (``None`` or ``{}`` give the identity).

        Raises:
            ConfigError: Not a mapping, an unknown key (named), or invalid values.
        """
        return cls() if data is None else from_data(cls, data)


def as_transform(value: InputTransform | Mapping[str, Any] | None) -> InputTransform:
    """Accept an ``InputTransform``, its dict, or ``None`` (identity)."""
    if isinstance(value, InputTransform):
        return value
    return InputTransform.from_dict(value)

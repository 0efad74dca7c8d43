"""`Augmenter`: a seeded, thread-safe wrapper around an imgaug pipeline, and the paper preset."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import imgaug.augmenters as iaa
import numpy as np

from xraycls._serial import Serial, from_data
from xraycls.errors import ConfigError

__all__ = ["Augmenter", "PaperAugmentation"]


def _as_pair(name: str, value: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a pair (low, high), got {value!r}") from None
    if not lo <= hi:
        raise ConfigError(f"{name}: low must be <= high, got ({lo}, {hi})")
    return lo, hi


@dataclass(frozen=True)
class PaperAugmentation(Serial):
    """Magnitudes of the paper's augmentation (rotation, noise, crop, flip, rescale).

    The paper (Lacruz & Lorenzo 2020, Section 3) names the five operations but gives no
    magnitudes; these defaults are mild, anatomy-preserving values for chest X-rays. Every
    operation is applied to every image with a random magnitude drawn uniformly from its range.

    Attributes:
        rotate: Maximum rotation in degrees; the angle is drawn from ``[-rotate, rotate]``.
        noise: Maximum standard deviation of additive Gaussian noise, as a fraction of 255; the
            std is drawn from ``[0, noise * 255]``. The same noise is added to all channels, so
            a gray X-ray stays gray.
        crop: Maximum fraction cropped from each side independently (drawn from
            ``[0, crop]``); the image is resized back to its original size afterwards.
        flip: Probability of a horizontal (left-right) flip. Set 0 to keep the heart on the
            patient's left.
        scale: Range of the zoom factor (``< 1`` zooms out, padding with black).

    Examples:
        >>> from xraycls.augment import PaperAugmentation
        >>> cfg = PaperAugmentation(rotate=10.0)
        >>> PaperAugmentation.from_dict(cfg.to_dict()) == cfg
        True
    """

    rotate: float = 15.0
    noise: float = 0.03
    crop: float = 0.10
    flip: float = 0.5
    scale: tuple[float, float] = field(default=(0.9, 1.1))

    def __post_init__(self) -> None:
        for name in ("rotate", "noise", "crop", "flip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name}: expected a number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not 0.0 <= self.rotate <= 180.0:
            raise ConfigError(f"rotate: expected 0..180 degrees, got {self.rotate}")
        if not 0.0 <= self.noise <= 1.0:
            raise ConfigError(f"noise: expected a fraction of 255 in 0..1, got {self.noise}")
        if not 0.0 <= self.crop < 0.5:
            raise ConfigError(f"crop: expected a fraction per side in [0, 0.5), got {self.crop}")
        if not 0.0 <= self.flip <= 1.0:
            raise ConfigError(f"flip: expected a probability in 0..1, got {self.flip}")
        scale = _as_pair("scale", self.scale)
        if scale[0] <= 0:
            raise ConfigError(f"scale: factors must be > 0, got {scale}")
        object.__setattr__(self, "scale", scale)

    def build(self) -> iaa.Augmenter:
        """Return the imgaug pipeline for these magnitudes (unseeded)."""
        return iaa.Sequential(
            [
                iaa.Fliplr(self.flip),
                iaa.Crop(percent=(0.0, self.crop), keep_size=True),
                iaa.Affine(
                    rotate=(-self.rotate, self.rotate),
                    scale=self.scale,
                    order=1,
                    mode="constant",
                    cval=0,
                ),
                iaa.AdditiveGaussianNoise(scale=(0.0, self.noise * 255.0), per_channel=False),
            ],
            name="paper",
        )


def _check_seed(name: str, seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"{name}: expected an int, got {seed!r}")
    if seed < 0:
        raise ConfigError(f"{name}: expected an int >= 0, got {seed}")
    return int(seed)


def _mix(*values: int) -> int:
    # SeedSequence hashes the tuple, so (1, 2) and (2, 1) or neighbouring seeds are unrelated.
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1)[0])


def _as_batch(images: Any) -> tuple[np.ndarray, tuple[int, ...]]:
    """Return ``images`` as NHWC plus the shape to restore, validating dtype and rank."""
    if not isinstance(images, np.ndarray):
        raise ConfigError(
            f"images: expected a numpy uint8 array (HW, HWC or NHWC), got {type(images).__name__}"
        )
    if images.dtype != np.uint8:
        raise ConfigError(
            f"images: expected dtype uint8, got {images.dtype}; convert with "
            "np.clip(x, 0, 255).astype(np.uint8)"
        )
    shape = images.shape
    if images.ndim == 2:
        batch = images[None, :, :, None]
    elif images.ndim == 3:
        batch = images[None]
    elif images.ndim == 4:
        batch = images
    else:
        raise ConfigError(
            f"images: expected 2 (HW), 3 (HWC) or 4 (NHWC) dimensions, got shape {shape}"
        )
    if batch.shape[-1] not in (1, 3):
        raise ConfigError(f"images: expected 1 or 3 channels (last axis), got shape {shape}")
    if batch.shape[1] < 1 or batch.shape[2] < 1:
        raise ConfigError(f"images: height and width must be >= 1, got shape {shape}")
    return batch, shape


class Augmenter(Serial):  # to_json / from_json from Serial
    """A seeded image augmenter over an imgaug pipeline.

    Calling the augmenter works like a random stream: two calls on the same instance give
    different augmentations, and two instances built with the same seed give the same stream.
    Passing ``seed=`` to a call makes that call a pure function of ``(augmenter seed, call
    seed, images)``, independent of earlier calls and of other threads; the input pipeline uses
    this so parallel batches are reproducible. Calls are thread-safe.

    Accepted inputs are ``uint8`` arrays: one image ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``,
    or a batch ``(N, H, W, C)`` with ``C`` 1 or 3. The result has the input's shape and dtype.

    Args:
        augmenter: Any imgaug augmenter (for example ``iaa.Fliplr(0.5)``). It is copied, so the
            caller's object is never re-seeded or advanced. It must keep the image size.
        seed: Seed of the random stream (int >= 0).

    Examples:
        >>> import numpy as np
        >>> import imgaug.augmenters as iaa
        >>> from xraycls.augment import Augmenter
        >>> images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
        >>> a, b = Augmenter.paper(seed=7), Augmenter.paper(seed=7)
        >>> bool((a(images) == b(images)).all())
        True
        >>> flip = Augmenter(iaa.Fliplr(1.0), seed=1)
        >>> bool((flip(images) == images[:, :, ::-1]).all())
        True
    """

    def __init__(self, augmenter: iaa.Augmenter, *, seed: int = 0) -> None:
        if not isinstance(augmenter, iaa.Augmenter):
            raise ConfigError(
                f"augmenter: expected an imgaug augmenter (imgaug.augmenters.Augmenter), "
                f"got {type(augmenter).__name__}"
            )
        self.seed = _check_seed("seed", seed)
        self._template = augmenter.deepcopy()
        self._template.seed_(self.seed)
        self._stream = self._template.deepcopy()
        self._lock = threading.Lock()
        self._paper: PaperAugmentation | None = None

    @classmethod
    def paper(
        cls,
        seed: int = 0,
        *,
        rotate: float = 15.0,
        noise: float = 0.03,
        crop: float = 0.10,
        flip: float = 0.5,
        scale: tuple[float, float] = (0.9, 1.1),
    ) -> Augmenter:
        """The paper's augmentation: flip, crop, rotation + rescale, then additive noise.

        The defaults are documented on :class:`PaperAugmentation` (the paper gives none):
        rotate within +-15 degrees, Gaussian noise with std up to 3% of 255 (same on every
        channel), crop up to 10% from each side (resized back), horizontal flip with
        probability 0.5, zoom 0.9-1.1 with black fill.

        Args:
            seed: Seed of the random stream.
            rotate: Maximum absolute rotation in degrees.
            noise: Maximum noise std as a fraction of 255.
            crop: Maximum fraction cropped from each side.
            flip: Probability of a horizontal flip.
            scale: Zoom range ``(low, high)``.

        Returns:
            An augmenter whose parameters round-trip through :meth:`to_dict`.

        Examples:
            >>> from xraycls.augment import Augmenter
            >>> aug = Augmenter.paper(seed=3, rotate=10)
            >>> Augmenter.from_dict(aug.to_dict()).to_dict() == aug.to_dict()
            True
        """
        config = PaperAugmentation(rotate=rotate, noise=noise, crop=crop, flip=flip, scale=scale)
        out = cls(config.build(), seed=seed)
        out._paper = config
        return out

    def __getstate__(self) -> dict[str, Any]:
        # Locks cannot be pickled or deep-copied; the copy gets a fresh one and the same stream
        # position.
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def imgaug(self) -> iaa.Augmenter:
        """A copy of the wrapped imgaug pipeline, seeded with this augmenter's seed."""
        return self._template.deepcopy()

    def __call__(self, images: np.ndarray, *, seed: int | None = None) -> np.ndarray:
        """Augment one image or a batch.

        Args:
            images: ``uint8`` array ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``, C in {1, 3}.
            seed: Optional per-call seed. Without it the call draws from this instance's stream.

        Returns:
            The augmented images, same shape and dtype as ``images``.

        Raises:
            ConfigError: ``images`` has the wrong type, dtype or rank, or the wrapped imgaug
                pipeline changed the image size.
        """
        batch, shape = _as_batch(images)
        if batch.shape[0] == 0:
            return images.copy()
        if seed is None:
            with self._lock:
                out = self._stream.augment_images(batch)
        else:
            local = self._template.deepcopy()
            local.seed_(_mix(self.seed, _check_seed("seed", seed)))
            out = local.augment_images(batch)
        out = np.asarray(out)
        if out.shape != batch.shape or out.dtype != np.uint8:
            raise ConfigError(
                f"augmenter: the imgaug pipeline changed the images from {batch.shape} "
                f"{batch.dtype} to {out.shape} {out.dtype}; use size-preserving augmenters "
                "(for example iaa.Crop(..., keep_size=True))"
            )
        return np.ascontiguousarray(out.reshape(shape))

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-ready dict (paper preset only).

        Raises:
            ConfigError: The augmenter wraps an arbitrary imgaug pipeline, which has no data
                representation.
        """
        if self._paper is None:
            raise ConfigError(
                "Augmenter.to_dict: only Augmenter.paper(...) can be saved as data; this one "
                f"wraps an arbitrary imgaug pipeline ({type(self._template).__name__}). Keep the "
                "code that builds it, or use Augmenter.paper(...) with custom magnitudes."
            )
        return {"kind": "paper", "seed": self.seed, **self._paper.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Augmenter:
        """Rebuild an augmenter from :meth:`to_dict` output."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"Augmenter: expected a dict, got {type(data).__name__}")
        params = dict(data)
        kind = params.pop("kind", None)
        if kind != "paper":
            raise ConfigError(f"Augmenter.from_dict: kind must be 'paper', got {kind!r}")
        seed = params.pop("seed", 0)
        config: PaperAugmentation = from_data(PaperAugmentation, params, "Augmenter")
        return cls.paper(
            seed,
            rotate=config.rotate,
            noise=config.noise,
            crop=config.crop,
            flip=config.flip,
            scale=config.scale,
        )

    def __repr__(self) -> str:
        if self._paper is not None:
            return f"Augmenter.paper(seed={self.seed}, {self._paper})"
        return f"Augmenter({type(self._template).__name__}, seed={self.seed})"

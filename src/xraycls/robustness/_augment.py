"""`ShiftAugment`: the suite's shifts as a training-time imgaug augmenter.

Training on the shifts a model will be tested on is the obvious mitigation (issue #9); making
it an imgaug augmenter means it goes wherever xraycls takes one (``balance``, the input
pipeline's ``augmenter=``, inside :class:`xraycls.augment.Augmenter`) and composes with the
paper's preset through ``iaa.Sequential``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import imgaug.augmenters.meta as iaa_meta
import numpy as np

from xraycls._serial import Serial, reject_unknown
from xraycls.errors import ConfigError
from xraycls.robustness._shifts import MAX_SEVERITY, apply_shift, check_kinds, check_severity

__all__ = ["ShiftAugment"]


class ShiftAugment(iaa_meta.Augmenter, Serial):  # to_json / from_json from Serial
    """Apply one random shift of the catalogue, at a random severity, to some images.

    Each image, with probability ``p``, gets one kind drawn uniformly from ``kinds`` at a
    severity drawn uniformly from ``1..max_severity``, with its own shift seed; the draws come
    from imgaug's random state, so seeding the augmenter (or wrapping it in
    :class:`xraycls.augment.Augmenter`) makes it reproducible. Images only: geometric kinds
    would move keypoints and masks, so other augmentables are refused.

    Args:
        kinds: Kinds to draw from (names or a comma-separated string); ``None`` for all.
        max_severity: Strongest severity drawn (1..5).
        p: Probability that an image is shifted at all.
        seed: Seed of the augmenter's random state (as imgaug's ``seed=``).
        name: imgaug name of the augmenter.

    Examples:
        >>> import numpy as np
        >>> import imgaug.augmenters as iaa
        >>> from xraycls.augment import Augmenter
        >>> from xraycls.robustness import ShiftAugment
        >>> shift = ShiftAugment(kinds=["noise", "jpeg"], max_severity=3, p=1.0)
        >>> ShiftAugment.from_dict(shift.to_dict()).to_dict() == shift.to_dict()
        True
        >>> both = Augmenter(iaa.Sequential([Augmenter.paper().imgaug, shift]), seed=0)
        >>> images = np.full((2, 32, 32, 3), 128, np.uint8)
        >>> out = both(images)
        >>> out.shape, out.dtype, bool((out != images).any())
        ((2, 32, 32, 3), dtype('uint8'), True)
    """

    def __init__(
        self,
        kinds: Sequence[str] | str | None = None,
        max_severity: int = 3,
        p: float = 0.5,
        seed: int | None = 0,
        name: str | None = None,
    ) -> None:
        super().__init__(seed=seed, name=name)
        self.kinds = check_kinds(kinds)
        self.max_severity = check_severity(max_severity, "max_severity")
        if self.max_severity < 1:
            raise ConfigError(f"max_severity: expected 1..{MAX_SEVERITY}, got {max_severity}")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ConfigError(f"p: expected a probability in 0..1, got {p!r}")
        self.p = float(p)
        self.seed = seed

    def _augment_batch_(self, batch: Any, random_state: Any, parents: Any, hooks: Any) -> Any:
        others = [
            name
            for name in ("heatmaps", "segmentation_maps", "keypoints", "bounding_boxes",
                         "polygons", "line_strings")
            if getattr(batch, name, None) is not None
        ]  # fmt: skip
        if others:
            raise ConfigError(
                f"ShiftAugment: augments images only, got {', '.join(others)}; apply it to "
                "the images alone"
            )
        if batch.images is None:
            return batch
        n = len(batch.images)
        shifted = random_state.random(n) < self.p
        kind_ids = random_state.integers(0, len(self.kinds), size=n)
        severities = random_state.integers(1, self.max_severity + 1, size=n)
        seeds = random_state.integers(0, 2**31 - 1, size=n)
        images = batch.images
        for i in range(n):
            if not shifted[i]:
                continue
            image = np.asarray(images[i])
            if image.dtype not in (np.uint8, np.uint16):
                raise ConfigError(
                    f"ShiftAugment: image {i} has dtype {image.dtype}; expected uint8 or uint16"
                )
            images[i] = apply_shift(
                image, self.kinds[int(kind_ids[i])], int(severities[i]), seed=int(seeds[i])
            )
        batch.images = images
        return batch

    def get_parameters(self) -> list[Any]:
        """imgaug's parameter listing: ``[kinds, max_severity, p]``."""
        return [list(self.kinds), self.max_severity, self.p]

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready data (``kind`` names the augmenter).

        Examples:
            >>> ShiftAugment(kinds="blur", p=0.25).to_dict()
            {'kind': 'shifts', 'kinds': ['blur'], 'max_severity': 3, 'p': 0.25, 'seed': 0}
        """
        return {
            "kind": "shifts",
            "kinds": list(self.kinds),
            "max_severity": self.max_severity,
            "p": self.p,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShiftAugment:
        """Rebuild from :meth:`to_dict` output; unknown keys raise :class:`ConfigError`."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"ShiftAugment: expected a dict, got {type(data).__name__}")
        params = dict(data)
        kind = params.pop("kind", "shifts")
        if kind != "shifts":
            raise ConfigError(f"ShiftAugment.from_dict: kind must be 'shifts', got {kind!r}")
        reject_unknown("ShiftAugment", params, ("kinds", "max_severity", "p", "seed"))
        return cls(**params)

    def __repr__(self) -> str:
        return (
            f"ShiftAugment(kinds={self.kinds}, max_severity={self.max_severity}, p={self.p}, "
            f"seed={self.seed})"
        )

"""Drawing class activation maps over images."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from xraycls.errors import ConfigError
from xraycls.explain._images import as_batch

_COLORMAPS = {
    name.removeprefix("COLORMAP_").lower(): getattr(cv2, name)
    for name in dir(cv2)
    if name.startswith("COLORMAP_")
}


def overlay(images: Any, heat: Any, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """Blend heat maps over images with a colour map.

    Args:
        images: ``(N, H, W, 3)`` or one ``(H, W, 3)`` RGB image, uint8 or float in ``[0, 255]``.
        heat: ``(N, h, w)`` or one ``(h, w)`` map in ``[0, 1]`` (as :func:`xraycls.cam`
            returns). A map of another size is stretched to its image, so maps computed at the
            model's input size can be drawn on the original full-size image.
        alpha: Weight of the colour map, in ``[0, 1]``.
        colormap: An OpenCV colour map name: ``"jet"``, ``"turbo"``, ``"inferno"``,
            ``"viridis"``, ``"hot"``, ...

    Returns:
        uint8 RGB ``(N, H, W, 3)`` (``(H, W, 3)`` when given one image).

    Raises:
        ConfigError: Unknown colour map, ``alpha`` outside ``[0, 1]``, or mismatched counts.

    Examples:
        >>> import numpy as np, xraycls
        >>> img = np.zeros((64, 64, 3), np.uint8)
        >>> heat = np.zeros((64, 64), np.float32); heat[:32, :32] = 1.0
        >>> xraycls.overlay(img, heat).shape
        (64, 64, 3)
    """
    cmap = _COLORMAPS.get(colormap.lower())
    if cmap is None:
        raise ConfigError(f"colormap={colormap!r} is unknown; use one of {sorted(_COLORMAPS)}.")
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha={alpha} must be in [0, 1].")
    single = np.asarray(images).ndim == 3
    batch = as_batch(images)
    maps = np.asarray(heat, dtype=np.float32)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or maps.shape[0] != batch.shape[0]:
        raise ConfigError(
            f"heat has shape {maps.shape}; expected one (h, w) map per image "
            f"({batch.shape[0]} images)."
        )
    out = np.empty(batch.shape, dtype=np.uint8)
    h, w = batch.shape[1:3]
    for i in range(batch.shape[0]):
        m = np.nan_to_num(maps[i], nan=0.0)
        if m.shape != (h, w):
            m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
        m8 = np.clip(m * 255.0 + 0.5, 0, 255).astype(np.uint8)
        colour = cv2.cvtColor(cv2.applyColorMap(m8, cmap), cv2.COLOR_BGR2RGB).astype(np.float32)
        img = np.clip(batch[i], 0, 255)
        out[i] = np.clip((1.0 - alpha) * img + alpha * colour + 0.5, 0, 255).astype(np.uint8)
    return out[0] if single else out

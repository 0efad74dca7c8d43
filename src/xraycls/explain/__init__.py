"""Class activation maps (CAM, Grad-CAM, Grad-CAM++) for any zoo model, and overlays.

Examples:
    >>> import numpy as np, xraycls
    >>> model = xraycls.build_model("simple_cnn", input_shape=(32, 32, 3), width=4)
    >>> images = np.zeros((2, 32, 32, 3), np.uint8)
    >>> heat = xraycls.cam(model, images, method="gradcam")
    >>> xraycls.overlay(images, heat).shape
    (2, 32, 32, 3)
"""

from __future__ import annotations

from xraycls.explain._cam import METHODS, cam
from xraycls.explain._files import write_overlays
from xraycls.explain._images import load_images
from xraycls.explain._overlay import overlay
from xraycls.explain._target import find_target_layer

__all__ = ["METHODS", "cam", "find_target_layer", "load_images", "overlay", "write_overlays"]

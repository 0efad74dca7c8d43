"""Tiny synthetic images and dataset trees for the io/data tests."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np


def fake_xray(seed: int, size: tuple[int, int] = (48, 40)) -> np.ndarray:
    """A random gray image with 1/f-like texture; different seeds look different.

    Several octaves of upsampled noise, so that (like a radiograph) the image has structure at
    every scale and its perceptual hash is stable under resizing and JPEG re-encoding.
    """
    rng = np.random.default_rng(seed)
    img = np.zeros(size, np.float32)
    for cells, amp in ((4, 1.0), (8, 0.5), (16, 0.25), (32, 0.12)):
        noise = rng.random((cells, cells)).astype(np.float32)
        img += amp * cv2.resize(noise, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    img = (img - img.min()) / max(float(img.max() - img.min()), 1e-6)
    return (img * 255).astype(np.uint8)


def write_image(path: str | os.PathLike[str], image: np.ndarray, **params: int) -> Path:
    """Write with cv2.imencode + open() so unicode paths work; format from the extension."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    flags: list[int] = []
    for k, v in params.items():
        flags += [getattr(cv2, k), v]
    ok, buf = cv2.imencode(p.suffix, image, flags)
    assert ok, p
    p.write_bytes(buf.tobytes())
    return p


def make_tree(
    root: Path,
    spec: Mapping[str, int],
    *,
    ext: str = ".png",
    sub: str | None = None,
    name: str = "{cls} ({i})",
    seed: int = 0,
) -> list[Path]:
    """``root/<class>[/<sub>]/<name><ext>`` with ``n`` distinct images per class."""
    paths = []
    k = seed * 1000
    for cls, n in spec.items():
        folder = root / cls / sub if sub else root / cls
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            k += 1
            paths.append(write_image(folder / (name.format(cls=cls, i=i) + ext), fake_xray(k)))
    return paths


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to a fraction of its bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def write_dicom(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    **tags: object,
) -> Path:
    """A minimal 12-bit DICOM file of ``pixels`` (2-D, up to 4095) with extra ``tags``
    (``PatientAge="058Y"``, ``WindowWidth=0``...); skips the test without pydicom."""
    import pytest

    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    path = Path(path)
    pixels = np.asarray(pixels)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if pydicom.__version__ >= "3":
        ds.save_as(str(path), enforce_file_format=True)
    else:
        ds.save_as(str(path), write_like_original=False)
    return path

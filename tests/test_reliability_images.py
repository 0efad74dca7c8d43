"""Hostile images and model files: pixel bombs are refused from the header, before decoding.

Every bomb here is a crafted header of a few hundred bytes; nothing large is ever allocated.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from _helpers_data import fake_xray, write_image
from xraycls.errors import ConfigError, ImageReadError, ModelFileError
from xraycls.io import DEFAULT_MAX_PIXELS, check_image, check_images, load_image, pixel_limit

BOMB = (30000, 30000)  # 900 megapixels: the size of the 109 KB PNG


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_bytes(
    width: int, height: int, idat: bytes | None = None, depth: int = 8, color: int = 0
) -> bytes:
    """A structurally valid PNG (good CRCs, IEND) that declares ``width x height``."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    data = zlib.compress(b"\x00" * 64) if idat is None else idat
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
    )


def jpeg_bytes(width: int, height: int) -> bytes:
    """SOI, a baseline SOF0 declaring the size, a start of scan, a little data, EOI."""
    sof = struct.pack(">HBHHB", 11, 8, height, width, 1) + bytes([1, 0x11, 0])
    sos = struct.pack(">HB", 8, 1) + bytes([1, 0, 0, 63, 0])
    return b"\xff\xd8" + b"\xff\xc0" + sof + b"\xff\xda" + sos + b"\x00" * 16 + b"\xff\xd9"


def bmp_bytes(width: int, height: int) -> bytes:
    dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 64, 0, 0, 54) + dib + b"\0" * 64


def tiff_bytes(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (262, 3, 1, 1)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + b"\0" * 64


def webp_bytes(width: int, height: int) -> bytes:
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\0" * 4
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pnm_bytes(width: int, height: int) -> bytes:
    return f"P5\n# a comment\n{width} {height}\n255\n".encode() + b"\0" * 64


BOMBS = {
    "bomb.png": png_bytes,
    "bomb.jpg": jpeg_bytes,
    "bomb.bmp": bmp_bytes,
    "bomb.tif": tiff_bytes,
    "bomb.webp": webp_bytes,
    "bomb.pgm": pnm_bytes,
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_pixel_bomb_is_refused_from_the_header(tmp_path: Path, name: str) -> None:
    # WebP's VP8 sizes stop at 16383, but VP8X canvases go to 2**24: the same bomb fits.
    width, height = BOMB
    path = tmp_path / name
    path.write_bytes(BOMBS[name](width, height))
    for call in (load_image, check_image):
        with pytest.raises(ImageReadError, match="too large") as info:
            call(path)
        assert info.value.path == str(path)
        assert (
            f"{width}x{height}" in info.value.reason and "XRAYCLS_MAX_PIXELS" in info.value.reason
        )


def test_the_limit_is_configurable_by_argument_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_image(tmp_path / "x.png", fake_xray(1))  # 64x64 or so: small
    h, w = load_image(path).shape[:2]
    with pytest.raises(ImageReadError, match="too large"):
        load_image(path, max_pixels=h * w - 1)
    assert load_image(path, max_pixels=h * w).shape[:2] == (h, w)
    monkeypatch.setenv("XRAYCLS_MAX_PIXELS", str(h * w - 1))
    with pytest.raises(ImageReadError, match="too large"):
        check_image(path)
    assert pixel_limit() == h * w - 1
    load_image(path, max_pixels=0)  # 0: no limit, whatever the environment says
    monkeypatch.setenv("XRAYCLS_MAX_PIXELS", "lots")
    with pytest.raises(ConfigError, match="XRAYCLS_MAX_PIXELS"):
        load_image(path)
    monkeypatch.delenv("XRAYCLS_MAX_PIXELS")
    assert pixel_limit() == DEFAULT_MAX_PIXELS == 100_000_000


def test_a_file_too_large_for_any_image_within_the_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with open(path, "wb") as fh:
        fh.write(png_bytes(10, 10))
        fh.truncate(100 << 20)  # sparse: 100 MB on paper, nothing written to disk
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(ImageReadError, match="file too large"):
        check_image(path, max_pixels=1000)  # at most 8 bytes a pixel + 64 MB of headers
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20


def test_zero_size_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "zero.png"
    path.write_bytes(png_bytes(0, 10))
    with pytest.raises(ImageReadError, match="0x10"):
        check_image(path)


def test_dicom_rows_columns_are_checked_before_decoding(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(tmp_path / "b.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 20000, 20000, 4
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 16, 16, 15
    ds.PixelRepresentation, ds.PhotometricInterpretation = 0, "MONOCHROME2"
    ds.PixelData = b"\0" * 64  # 64 bytes that claim to be 3.2 GB of pixels
    path = tmp_path / "b.dcm"
    if pydicom.__version__ >= "3":
        ds.save_as(str(path), enforce_file_format=True)
    else:  # pragma: no cover
        ds.save_as(str(path), write_like_original=False)
    with pytest.raises(
        ImageReadError, match=r"20000x20000x4 frames.*too large|too large.*20000x20000x4"
    ):
        load_image(path)


def test_bombs_are_reported_by_load_dataset_skip(tmp_path: Path) -> None:
    from xraycls.data import load_dataset

    for cls in ("COVID", "Normal"):
        for i in range(2):
            write_image(tmp_path / cls / f"{i}.png", fake_xray(i))
    (tmp_path / "COVID" / "bomb.png").write_bytes(png_bytes(*BOMB))
    with pytest.warns(UserWarning, match="bomb.png"):
        ds = load_dataset(tmp_path, on_error="skip")
    assert len(ds) == 4
    assert ds.report is not None
    [(path, reason)] = ds.report.skipped
    assert path.endswith("bomb.png") and "too large" in reason


def test_check_images_names_every_bad_file(tmp_path: Path) -> None:
    good = write_image(tmp_path / "good.png", fake_xray(0))
    bad = []
    for i in range(3):
        p = tmp_path / f"bad{i}.png"
        p.write_bytes(b"nope" * i)
        bad.append(str(p))
    ok, skipped = check_images([good, *bad], on_error="skip")
    assert ok == [str(good)] and [p for p, _ in skipped] == bad
    with pytest.raises(ImageReadError) as info:
        check_images([good, *bad])
    text = str(info.value)
    assert all(p in text for p in bad) and "on_error='skip'" in text
    assert "--on-error skip" in info.value.cli_message()


# ------------------------------------------------------------------ model file metadata


def test_model_info_member_over_the_limit_is_not_read(tmp_path: Path) -> None:
    from xraycls.zoo import load_model_info
    from xraycls.zoo._saving import MAX_INFO_BYTES

    path = tmp_path / "bomb.keras"
    # A member that inflates to 64 MB (a 1 GB one behaves the same; this keeps the test cheap).
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("xraycls.json", b" " * (64 << 20))
    assert path.stat().st_size < 200_000
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(ModelFileError, match=f"{MAX_INFO_BYTES:,}-byte limit"):
        load_model_info(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 << 20


def test_model_info_within_the_limit_reads(tmp_path: Path) -> None:
    from xraycls.zoo import load_model_info

    path = tmp_path / "ok.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xraycls.json", json.dumps({"class_names": ["a", "b"]}))
    assert load_model_info(path).to_dict()["class_names"] == ["a", "b"]


# ------------------------------------------------------------------ hypothesis: only ImageReadError

_FUZZ = textwrap.dedent(
    """
    import os, resource, struct, sys, tempfile, zlib
    from hypothesis import given, settings, strategies as st, HealthCheck
    from xraycls.errors import ImageReadError
    from xraycls.io import load_image

    sys.path.insert(0, {tests!r})
    import numpy as np
    from test_reliability_images import png_bytes
    from test_reliability_hostile import dicom_bytes, progressive_jpeg

    folder = tempfile.mkdtemp()

    def feed(data, name):
        path = os.path.join(folder, name)
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            load_image(path)
        except ImageReadError:
            pass

    common = dict(max_examples={n}, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))

    @settings(**common)
    @given(st.binary(max_size=2048), st.sampled_from([".png", ".jpg", ".bmp", ".dcm", ".bin"]))
    def random_bytes(data, ext):
        feed(data, "x" + ext)

    @settings(**common)
    @given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 4, 8, 16]),
           st.sampled_from([0, 2, 3, 4, 6]), st.binary(max_size=256), st.booleans())
    def random_png_headers(width, height, depth, color, idat, compress):
        feed(png_bytes(width, height, zlib.compress(idat) if compress else idat, depth, color),
             "h.png")

    def mutate(data, flips, cut):
        data = bytearray(data)
        for pos, value in flips:
            data[pos % len(data)] = value
        return bytes(data[: max(1, len(data) - cut)])

    px = np.arange(64, dtype=np.uint16).reshape(8, 8) * 50
    windowed = dicom_bytes(px, WindowCenter=7777, WindowWidth=9999)
    dicoms = [dicom_bytes(px), dicom_bytes(px, deflated=True), windowed]
    flips = st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), max_size=8)

    @settings(**common)
    @given(st.sampled_from(range(len(dicoms))), flips, st.integers(0, 64))
    def random_dicom(which, flips, cut):
        feed(mutate(dicoms[which], flips, cut), "d.dcm")

    @settings(**common)
    @given(st.binary(min_size=6, max_size=6), st.binary(min_size=6, max_size=6))
    def random_dicom_window(center, width):
        feed(windowed.replace(b"7777.0", center).replace(b"9999.0", width), "w.dcm")

    progressive = progressive_jpeg(48)

    @settings(**common)
    @given(flips, st.integers(0, 32), st.integers(0, len(progressive)),
           st.integers(0, 300), st.integers(0, 3))
    def random_progressive_jpeg(flips, cut, start, span, repeats):
        # Repeat an arbitrary slice (scans, tables, entropy data) before mutating.
        piece = progressive[start : start + span] * repeats
        data = progressive[:start] + piece + progressive[start:]
        feed(mutate(data, flips, cut), "p.jpg")

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    random_bytes()
    random_png_headers()
    random_dicom()
    random_dicom_window()
    random_progressive_jpeg()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("MAXRSS_KB", before, after)
    """
)


def test_hypothesis_only_image_read_errors_and_bounded_memory(tmp_path: Path) -> None:
    pytest.importorskip("hypothesis")
    script = tmp_path / "fuzz.py"
    script.write_text(_FUZZ.format(tests=str(Path(__file__).parent), n=150))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600
    )
    # Any exception other than ImageReadError fails hypothesis and so the script.
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("MAXRSS_KB"))
    before, after = (int(v) for v in line.split()[1:])
    # ru_maxrss is in KB on Linux: decoding all those headers grew the peak by < 200 MB.
    assert after - before < 200 * 1024, (before, after)
    assert np.isfinite(after)

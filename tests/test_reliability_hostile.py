"""Hostile files of issue #19: decodes whose cost is out of proportion to the file.

Every hostile file is generated here, small on disk; the memory-hungry ones run in a
subprocess under an address-space cap so a regression cannot take the machine down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from test_reliability_images import png_bytes
from xraycls.errors import ImageReadError
from xraycls.io import DEFAULT_MAX_DECODE_BYTES, check_image, load_image

_TESTS = str(Path(__file__).parent)


def _run_capped(code: str, tmp_path: Path, cap_gb: float = 4.0) -> dict[str, float]:
    """Run ``code`` in a subprocess capped at ``cap_gb`` of address space; return its
    ``KEY value`` lines (peak RSS growth ``RSS_MB`` and ``SECONDS`` by convention)."""
    script = tmp_path / "capped.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import resource, sys, time
            cap = int({cap_gb} * (1 << 30))
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            sys.path.insert(0, {_TESTS!r})
            """
        )
        + textwrap.dedent(code)
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key.isupper():
            out[key] = float(value)
    return out


# ------------------------------------------------------------------ 16-bit RGBA: bytes, not pixels


_RGBA16 = """
    import numpy as np, cv2, resource, time
    from xraycls.io import load_image
    path = {path!r}
    cv2.imwrite(path, np.zeros(({h}, {w}, 4), np.uint16))
    import gc; gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    img = load_image(path, max_pixels=0, max_decode_bytes=0)
    print("SECONDS", time.perf_counter() - start)
    print("RSS_MB", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    print("SHAPE", img.shape[0])
"""


def test_16bit_rgba_decode_memory_is_bounded(tmp_path: Path) -> None:
    # 3000x3000 16-bit RGBA: 72 MB decoded by OpenCV, 27 MB of uint8 RGB out. The float64
    # copies of the alpha compositing and 8-bit scaling used to add about 1 GB on top.
    # The test image is written first so its own buffer is in the baseline of ru_maxrss.
    out = _run_capped(_RGBA16.format(path=str(tmp_path / "z.png"), h=3000, w=3000), tmp_path)
    assert out["SHAPE"] == 3000
    assert out["RSS_MB"] < 300, out


def test_16bit_rgba_is_composited_and_scaled_as_before(tmp_path: Path) -> None:
    import cv2

    rng = np.random.default_rng(0)
    bgra = rng.integers(0, 65536, (37, 53, 4), dtype=np.uint16)
    path = tmp_path / "c.png"
    cv2.imwrite(str(path), bgra)
    color = bgra[..., :3].astype(np.float64) * (bgra[..., 3:].astype(np.float64) / 65535)
    expected = np.rint((color - color.min()) * (255 / (color.max() - color.min())))
    got = load_image(path)
    np.testing.assert_array_equal(got, expected[..., ::-1].astype(np.uint8))


def test_decode_over_the_byte_budget_is_refused_before_decoding(tmp_path: Path) -> None:
    # 10000x9999 16-bit RGBA is under the 100-megapixel limit but decodes to 800 MB.
    path = tmp_path / "deep.png"
    path.write_bytes(png_bytes(10000, 9999, depth=16, color=6))
    for call in (load_image, check_image):
        with pytest.raises(ImageReadError, match="decoded size") as info:
            call(path)
        assert info.value.path == str(path)
        reason = info.value.reason
        assert f"{DEFAULT_MAX_DECODE_BYTES:,}" in reason and "XRAYCLS_MAX_DECODE_BYTES" in reason
        assert "10000x9999" in reason
    # The limit is per call or per process; 0 turns it off (the pixel check still runs).
    with pytest.raises(ImageReadError, match="decoded size"):
        check_image(tmp_path / "deep.png", max_decode_bytes=10_000 * 9_999 * 8 - 1)


def test_decode_byte_limit_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xraycls.io import decode_byte_limit

    path = tmp_path / "small.png"
    path.write_bytes(png_bytes(100, 100, depth=8, color=2))  # 30,000 bytes decoded
    monkeypatch.setenv("XRAYCLS_MAX_DECODE_BYTES", "29999")
    assert decode_byte_limit() == 29_999
    with pytest.raises(ImageReadError, match="30,000 bytes"):
        check_image(path)
    monkeypatch.setenv("XRAYCLS_MAX_DECODE_BYTES", "0")
    assert decode_byte_limit() is None
    monkeypatch.delenv("XRAYCLS_MAX_DECODE_BYTES")
    assert decode_byte_limit() == DEFAULT_MAX_DECODE_BYTES


def test_serve_decodes_at_most_a_few_uploads_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from xraycls.serve import _upload

    running, peak = 0, 0
    lock = threading.Lock()

    def slow_decode(data: bytes, **kwargs: object) -> np.ndarray:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return np.zeros((4, 4, 3), np.uint8)

    monkeypatch.setattr(_upload, "decode_image", slow_decode)
    png = png_bytes(4, 4)
    threads = [
        threading.Thread(target=_upload.decode_upload, args=(png, f"u{i}.png", lambda im: im))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == _upload.MAX_CONCURRENT_DECODES == 2


def test_serve_decodes_uploads_in_memory_and_never_quotes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tempfile

    from xraycls.serve import _upload

    def no_temp_files(*args: object, **kwargs: object) -> None:
        raise AssertionError("an upload went through a temporary file")

    monkeypatch.setattr(tempfile, "mkstemp", no_temp_files)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_temp_files)
    good = png_bytes(4, 4)
    assert _upload.decode_upload(good, "a.png", lambda im: im).shape == (4, 4, 3)
    for data, reason in (
        (b"user=admin password=hunter2", "looks like text"),
        (b"\x00\x01secret\xfe" * 8, "no PNG, JPEG, DICOM"),
        (b"BM" + b"password" * 10, "looks like text"),  # a BMP signature: not served
    ):
        with pytest.raises(ImageReadError, match=reason) as info:
            _upload.decode_upload(data, "upload x.png", lambda im: im)
        assert info.value.path == "upload x.png"
        assert "not a PNG, JPEG or DICOM image" in info.value.reason
        assert not [w for w in ("password", "hunter2", "secret", "admin") if w in str(info.value)]


# ------------------------------------------------------------------ DICOM


def dicom_bytes(
    pixels: np.ndarray, *, deflated: bool = False, private: int = 0, **extra: object
) -> bytes:
    """A DICOM file of ``pixels`` (16-bit MONOCHROME2) with ``extra`` elements set; with
    ``deflated`` its dataset is raw-deflated (transfer syntax 1.2.840.10008.1.2.1.99), with a
    private OB element of ``private`` zero bytes appended, compressed without ever holding it."""
    import io
    import zlib

    pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("x.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for key, value in extra.items():
        setattr(ds, key, value)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    plain = io.BytesIO()
    ds.save_as(plain, enforce_file_format=True)
    if not deflated:
        return plain.getvalue()
    # The same meta with the deflated transfer syntax, then the dataset deflated by hand.
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    head = io.BytesIO()
    ds.save_as(head, enforce_file_format=True)
    group = int.from_bytes(head.getvalue()[140:144], "little")  # (0002,0000) UL
    meta_end = 144 + group
    body = plain.getvalue()[144 + int.from_bytes(plain.getvalue()[140:144], "little") :]
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    out = [head.getvalue()[:meta_end], comp.compress(body)]
    if private:
        # (7FE1,1010) OB: explicit VR with a 4-byte length, after the pixel data.
        out.append(comp.compress(b"\xe1\x7f\x10\x10OB\0\0" + private.to_bytes(4, "little")))
        zeros = b"\0" * (1 << 20)
        for _ in range(private >> 20):
            out.append(comp.compress(zeros))
    out.append(comp.flush())
    return b"".join(out)


def test_deflated_dicom_decodes(tmp_path: Path) -> None:
    px = np.array([[0, 1000], [2000, 4000]], np.uint16)
    path = tmp_path / "d.dcm"
    path.write_bytes(dicom_bytes(px, deflated=True))
    assert load_image(path, channels=1)[..., 0].tolist() == [[0, 64], [128, 255]]
    check_image(path)


_DEFLATED_BOMB = """
    from xraycls.errors import ImageReadError
    from xraycls.io import check_image, load_image
    import pydicom  # imported before the baseline: only the inflation is measured
    path = {path!r}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for call in (load_image, check_image):
        try:
            call(path, max_decode_bytes=16 << 20)
        except ImageReadError as exc:
            assert exc.path == path and "deflated" in exc.reason, exc
            assert "XRAYCLS_MAX_DECODE_BYTES" in exc.reason, exc
        else:
            raise AssertionError("not refused")
    print("RSS_MB", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_deflated_dicom_bomb_is_refused_while_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.dcm"
    path.write_bytes(dicom_bytes(np.zeros((4, 4)), deflated=True, private=256 << 20))
    assert path.stat().st_size < 400_000  # 256 MB once inflated
    # Measured in a subprocess: tracemalloc would also count threads other tests left running.
    out = _run_capped(_DEFLATED_BOMB.format(path=str(path)), tmp_path)
    assert out["RSS_MB"] < 100, out  # 32 MiB inflated at most; pydicom alone took 2x 256 MB


# ------------------------------------------------------------------ progressive JPEG


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """``(marker, start, end)`` of every marker segment, a scan including its entropy data."""
    out, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF, pos
        marker = data[pos + 1]
        if marker == 0xD9:
            out.append((marker, pos, pos + 2))
            break
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # entropy data runs to the next marker that is not RSTn or stuffing
            while not (data[end] == 0xFF and data[end + 1] not in (0, *range(0xD0, 0xD8))):
                end += 1
        out.append((marker, pos, end))
        pos = end
    return out


def progressive_jpeg(size: int = 64, repeats: int = 0, seed: int = 0) -> bytes:
    """A progressive JPEG from Pillow; with ``repeats``, its last scan is repeated that many
    more times before the end-of-image marker (libjpeg decodes every one over the image)."""
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(
        buf, "JPEG", progressive=True, quality=90
    )
    data = buf.getvalue()
    if not repeats:
        return data
    segments = _jpeg_segments(data)
    _, start, end = [s for s in segments if s[0] == 0xDA][-1]
    eoi = segments[-1][1]
    return data[:eoi] + data[start:end] * repeats + data[eoi:]


def test_normal_progressive_jpeg_reads(tmp_path: Path) -> None:
    from xraycls.io import MAX_JPEG_SCANS

    data = progressive_jpeg()
    scans = sum(1 for s in _jpeg_segments(data) if s[0] == 0xDA)
    assert 4 <= scans <= 16 < MAX_JPEG_SCANS == 64
    path = tmp_path / "p.jpg"
    path.write_bytes(data)
    check_image(path)
    assert load_image(path).shape == (64, 64, 3)


def test_progressive_jpeg_with_repeated_scans_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scans.jpg"
    path.write_bytes(progressive_jpeg(repeats=200))
    for call in (load_image, check_image):
        with pytest.raises(ImageReadError, match="scans") as info:
            call(path)
        assert info.value.path == str(path) and "limit of 64" in info.value.reason


def _voi_lut(descriptor: list[int], values: list[int]) -> object:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    item = Dataset()
    item.LUTDescriptor = descriptor
    item.LUTData = np.array(values, np.uint16).tobytes()
    return Sequence([item])


@pytest.mark.parametrize("width", [0, -5])
def test_dicom_window_width_below_one_scales_the_full_range(tmp_path: Path, width: int) -> None:
    px = np.array([[0, 1000, 2000, 3000]], np.uint16)
    path = tmp_path / "w0.dcm"
    path.write_bytes(dicom_bytes(px, WindowCenter=1500, WindowWidth=width))
    with pytest.warns(UserWarning, match=r"w0\.dcm: DICOM WindowWidth"):
        out = load_image(path, channels=1)[0, :, 0]
    assert out.tolist() == [0, 85, 170, 255]


@pytest.mark.parametrize(
    ("name", "extra", "swap", "match"),
    [
        ("width", {"WindowCenter": 1500, "WindowWidth": 9999}, (b"9999", b"abc!"), "window"),
        ("center", {"WindowCenter": 7777, "WindowWidth": 100}, (b"7777", b"x7y!"), "window"),
        ("slope", {"RescaleSlope": 5555, "RescaleIntercept": 0}, (b"5555", b"zz!!"), "rescale"),
        ("lut_short", {"VOILUTSequence": ([4, 0, 16], [1, 2])}, None, "VOI LUT"),
        ("lut_descriptor", {"VOILUTSequence": ([4, 0], [1, 2, 3, 4])}, None, "VOI LUT"),
    ],
)
def test_malformed_dicom_window_or_lut_is_an_image_read_error(
    tmp_path: Path,
    name: str,
    extra: dict[str, object],
    swap: tuple[bytes, bytes] | None,
    match: str,
) -> None:
    if "VOILUTSequence" in extra:
        extra = {"VOILUTSequence": _voi_lut(*extra["VOILUTSequence"])}  # type: ignore[misc]
    data = dicom_bytes(np.array([[0, 1000, 2000, 3000]], np.uint16), **extra)
    if swap:
        assert data.count(swap[0]) == 1
        data = data.replace(*swap)  # pydicom will not write a non-numeric DS
    path = tmp_path / f"{name}.dcm"
    path.write_bytes(data)
    for call in (load_image, check_image):
        with pytest.raises(ImageReadError, match=match) as info:
            call(path)
        assert info.value.path == str(path)
    from xraycls.io import check_images

    assert check_images([path], on_error="skip")[1][0][0] == str(path)


# ------------------------------------------------------------------ model files


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory: pytest.TempPathFactory, tiny_cnn) -> Path:  # type: ignore[no-untyped-def]
    from xraycls.zoo import save_model

    path = tmp_path_factory.mktemp("model") / "m.keras"
    return save_model(tiny_cnn, path, class_names=["COVID", "Normal", "Viral Pneumonia"])


@pytest.mark.parametrize("member", ["model.weights.h5", "assets/extra.bin"])
def test_model_file_zip_bomb_member_is_refused_before_loading(
    tiny_keras: Path, tmp_path: Path, member: str
) -> None:
    import tracemalloc
    import zipfile

    from xraycls.errors import ModelFileError
    from xraycls.zoo import load_model, load_model_info

    path = tmp_path / "bomb.keras"
    # Written deflated: 256 MB of zeros in about 250 KB (the file: 1.96 GB in 5.9 MB).
    with (
        zipfile.ZipFile(tiny_keras) as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            if info.filename != member:
                dst.writestr(info.filename, src.read(info))
        with dst.open(member, "w", force_zip64=True) as out:
            zeros = b"\0" * (1 << 20)
            for _ in range(256):
                out.write(zeros)
    assert path.stat().st_size < 2_000_000
    tracemalloc.start()
    for call in (load_model, load_model_info):
        with pytest.raises(ModelFileError, match="member") as info:
            call(path)
        text = str(info.value)
        assert str(path) in text and member in text and "268,435,456" in text
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 32 << 20, peak


def test_model_file_member_over_the_size_limit_is_refused(
    tiny_keras: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xraycls.errors import ModelFileError
    from xraycls.zoo import _saving, load_model

    load_model(tiny_keras)  # within the limits
    monkeypatch.setattr(_saving, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(
        ModelFileError, match=r"member '[^']+' declares [0-9,]+ bytes, above the 1,000-byte limit"
    ):
        load_model(tiny_keras)


# ------------------------------------------------------------------ class names


def test_canonical_class_normalises_fullwidth_and_compatibility_forms() -> None:
    from xraycls.data import canonical_class

    assert canonical_class("ＣＯＶＩＤ") == "COVID"
    assert canonical_class("ｎｏｒｍａｌ") == "Normal"
    assert canonical_class("Ｖｉｒａｌ　Ｐｎｅｕｍｏｎｉａ") == "Viral Pneumonia"
    assert canonical_class("ﬁbrosis") == "fibrosis"  # the "fi" ligature


def test_fullwidth_class_folder_joins_its_class(tmp_path: Path) -> None:
    from _helpers_data import fake_xray, write_image
    from xraycls.data import load_dataset

    for folder, n in (("COVID", 2), ("ＣＯＶＩＤ", 1), ("Normal", 2)):
        for i in range(n):
            write_image(tmp_path / folder / f"{i}.png", fake_xray(i + len(folder)))
    ds = load_dataset(tmp_path)
    assert list(ds.class_names) == ["COVID", "Normal"]
    assert len(ds) == 5


def test_save_model_refuses_class_names_equal_after_nfkc(tmp_path: Path) -> None:
    import xraycls
    from xraycls.errors import ConfigError
    from xraycls.zoo import save_model

    model = xraycls.build_model("simple_cnn", input_shape=(16, 16, 3), width=2, seed=0)
    with pytest.raises(ConfigError, match="'COVID' and 'ＣＯＶＩＤ'"):
        save_model(model, tmp_path / "m.keras", class_names=["COVID", "ＣＯＶＩＤ", "Normal"])
    assert not (tmp_path / "m.keras").exists()


@pytest.mark.parametrize("names", [["a", "a"], ["COVID", "ＣＯＶＩＤ"], ["x", 3], []])
def test_model_info_with_duplicate_or_bad_class_names_is_refused(
    tmp_path: Path, names: list[object]
) -> None:
    import json
    import zipfile

    from xraycls.errors import ModelFileError
    from xraycls.zoo import load_model_info

    path = tmp_path / "dup.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xraycls.json", json.dumps({"class_names": names}))
    with pytest.raises(ModelFileError, match="class_names") as info:
        load_model_info(path)
    assert str(path) in str(info.value)

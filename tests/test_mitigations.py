"""Shortcut mitigations as profile switches: source balancing, shifted copies, stored transforms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import xraycls
from _helpers_audit import corner_inpainter, known_lungs, phantoms, trained_phantom_model
from xraycls.augment import balance_sources
from xraycls.data import Dataset
from xraycls.errors import ConfigError
from xraycls.protocols import Profile, get_profile
from xraycls.transforms import InputTransform, attach_transform


def _sourced(counts: dict[tuple[int, str], int]) -> Dataset:
    files, labels, sources, images = [], [], [], []
    for (label, source), n in counts.items():
        for i in range(n):
            files.append(f"{source}-{label}-{i}.png")
            labels.append(label)
            sources.append(source)
            images.append(np.full((24, 24, 3), 10 * len(files), np.uint8))
    groups = [f"patient-{i // 2}" for i in range(len(files))]
    return Dataset(
        tuple(files), np.array(labels), ("COVID", "Normal"), groups=groups, images=images
    ).with_sources(sources)


def test_balance_sources_evens_out_the_sources_of_each_class() -> None:
    train = _sourced({(0, "a"): 6, (0, "b"): 2, (1, "kids"): 5})
    out = balance_sources(train, seed=0)
    pairs = list(zip(out.labels.tolist(), out.sources, strict=True))
    assert pairs.count((0, "a")) == pairs.count((0, "b")) == 6
    assert pairs.count((1, "kids")) == 5  # one source: nothing to balance
    # Copies keep their original's source, patient and origin, and come after the originals.
    assert out.files[: len(train)] == train.files
    for j in range(len(train), len(out)):
        origin = out.origins[j]
        i = train.files.index(origin)
        assert out.sources[j] == train.sources[i] and out.groups[j] == train.groups[i]
        assert out.images[j].shape == (24, 24, 3)
    again = balance_sources(train, seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(out.images, again.images, strict=True))
    assert balance_sources(_sourced({(0, "a"): 3, (1, "b"): 3}), seed=0).files == tuple(
        _sourced({(0, "a"): 3, (1, "b"): 3}).files
    )


def test_mitigation_fields_are_profile_data() -> None:
    robust = get_profile("robust")
    assert robust.shift_augment is not None and robust.balance_sources
    assert Profile.from_json(robust.to_json()) == robust
    custom = get_profile("quick").replace(
        input_transform={"contrast": "clahe"}, balance_sources=True, shift_copies=2,
        shift_augment={"max_severity": 2, "kinds": ["noise", "blur"]},
    )  # fmt: skip
    assert Profile.from_dict(custom.to_dict()) == custom
    with pytest.raises(ConfigError, match="shift_copies"):
        get_profile("quick").replace(shift_copies=0)


def test_apply_many_is_apply_for_each_image() -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (30 + 5 * i, 40, 3), dtype=np.uint8) for i in range(3)]
    transform = InputTransform(contrast="clahe")
    many = transform.apply_many(images)
    assert all(np.array_equal(m, transform.apply(x)) for m, x in zip(many, images, strict=True))
    many[0][:] = 0  # a caller's writes never reach the remembered result
    assert np.array_equal(transform.apply(images[0]), transform.apply_many(images[:1])[0])
    assert transform.apply(images[0]).any()


def test_the_audit_sees_what_the_model_sees(tmp_path: Path) -> None:
    model = trained_phantom_model(phantoms("lungs", 40, seed=0), epochs=1)
    attach_transform(model, {"contrast": "equalize"})
    data = phantoms("lungs", 8, seed=5)
    rep = xraycls.audit(model, data, lung_masks=known_lungs, text_remover=corner_inpainter)
    assert rep.settings["input_transform"]["contrast"] == "equalize"
    first = rep.examples[0]
    expected = InputTransform(contrast="equalize").apply(data.images[0])
    assert np.array_equal(first["images"]["full"], expected)


def test_reproduce_with_every_mitigation(tmp_path: Path, monkeypatch) -> None:
    from _helpers_train import make_image_folder

    data = make_image_folder(tmp_path / "data", per_class=6, size=32)
    sources = ["site-a", "site-b"] * 9
    manifest = tmp_path / "data.csv"
    ds = xraycls.load_dataset(data)
    rows = ["file,label,source"] + [
        f"{f},{ds.class_names[y]},{s}" for f, y, s in zip(ds.files, ds.labels, sources, strict=True)
    ]
    manifest.write_text("\n".join(rows) + "\n")
    result = xraycls.reproduce(
        manifest, profile="quick", out=tmp_path / "out", verbose=0, train={"epochs": 1},
        image_size=32, model_kwargs={"simple_cnn": {"width": 4, "head_width": 8}},
        input_transform={"contrast": "clahe"}, shift_augment={"max_severity": 2},
        balance_sources=True,
    )  # fmt: skip
    plain = xraycls.reproduce(
        manifest, profile="quick", out=tmp_path / "plain", verbose=0, train={"epochs": 1},
        image_size=32, model_kwargs={"simple_cnn": {"width": 4, "head_width": 8}},
    )  # fmt: skip
    shifted = result.splits["train (balanced)"]
    assert sum(shifted.values()) >= 2 * sum(plain.splits["train (balanced)"].values())
    info = xraycls.load_model_info(tmp_path / "out" / "simple_cnn" / "best.keras").to_dict()
    assert info["input_transform"]["contrast"] == "clahe"
    saved = json.loads((tmp_path / "out" / "profile.json").read_text())
    assert saved["shift_augment"] == {"max_severity": 2} and saved["balance_sources"] is True

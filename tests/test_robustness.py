"""The robustness suite: the shift catalogue's properties, the evaluation, its files and CLI."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import xraycls
from _helpers_data import fake_xray
from _helpers_train import CLASSES, make_image_folder, tiny_model
from xraycls.cli import main
from xraycls.errors import ConfigError
from xraycls.robustness import (
    MAX_SEVERITY,
    RobustnessReport,
    ShiftAugment,
    ShiftResult,
    apply_shift,
    evaluate_robustness,
    list_shifts,
    save_robustness,
    shift_catalogue,
)

KINDS = list_shifts()


def _image(seed: int, h: int, w: int, dtype: str, channels: int, textured: bool) -> np.ndarray:
    """A radiograph-like texture (or white noise), 8/16-bit, gray, (H, W, 1) or RGB."""
    rng = np.random.default_rng(seed)
    base = fake_xray(seed, (h, w)) / 255.0 if textured else rng.random((h, w))
    if channels == 3:
        # Mostly gray stored as RGB (as load_image gives), sometimes truly coloured.
        tint = rng.uniform(0.6, 1.0, 3) if rng.random() < 0.5 else np.ones(3)
        base = np.clip(base[:, :, None] * tint, 0, 1)
    elif channels == 1:
        base = base[:, :, None]
    top = 255 if dtype == "uint8" else 65535
    return np.rint(base * top).astype(dtype)


images = st.builds(
    _image,
    seed=st.integers(0, 10_000),
    h=st.integers(1, 70),
    w=st.integers(1, 70),
    dtype=st.sampled_from(["uint8", "uint16"]),
    channels=st.sampled_from([0, 1, 3]),
    textured=st.booleans(),
)


# ---------------------------------------------------------------------------- the catalogue


def test_catalogue_has_the_issue_s_kinds_documented() -> None:
    assert len(KINDS) >= 10
    for kind in ("jpeg", "resolution", "squash", "gamma", "contrast", "noise", "blur", "text",
                 "border", "crop", "rotation", "invert"):  # fmt: skip
        assert kind in KINDS
    specs = shift_catalogue()
    assert [s.name for s in specs] == KINDS
    for spec in specs:
        assert spec.title and spec.models and len(spec.levels) == MAX_SEVERITY
    # The docs page documents every kind (catalogue table) and embeds the sample sheet.
    page = (Path(__file__).resolve().parents[1] / "docs" / "robustness.md").read_text()
    for spec in specs:
        assert f"`{spec.name}`" in page, spec.name
    assert "robustness_samples.png" in page


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=images, seed=st.integers(0, 2**31 - 1), severity=st.integers(0, MAX_SEVERITY))
def test_every_kind_keeps_shape_dtype_and_is_deterministic(image, seed, severity) -> None:
    before = image.copy()
    for kind in KINDS:
        out = apply_shift(image, kind, severity, seed=seed)
        assert out.shape == image.shape and out.dtype == image.dtype, kind
        assert np.array_equal(out, apply_shift(image, kind, severity, seed=seed)), kind
        assert np.array_equal(image, before), f"{kind} modified its input"
        if severity == 0:
            assert np.array_equal(out, image) and out is not image


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    h=st.integers(16, 90),
    w=st.integers(16, 90),
    dtype=st.sampled_from(["uint8", "uint16"]),
    channels=st.sampled_from([0, 3]),
)
@example(seed=1275, h=20, w=59, dtype="uint8", channels=0)
def test_distance_from_the_original_grows_with_severity(seed, h, w, dtype, channels) -> None:
    image = _image(seed, h, w, dtype, channels, textured=True)
    top = float(np.iinfo(image.dtype).max)
    for kind in KINDS:
        distance = [
            np.mean(
                [
                    np.abs(apply_shift(image, kind, s, seed=k).astype(np.float64) - image).mean()
                    for k in range(3)
                ]
            )
            / top
            for s in range(MAX_SEVERITY + 1)
        ]
        assert distance[0] == 0.0
        # Non-decreasing, up to integer rounding (1e-6 of the range). On a short side under
        # 48 px the resolution shift's neighbouring severities round to small sizes one pixel
        # apart (20 px: 5 and 4 rows) whose aliasing differs: there 1% relative slack
        # (hypothesis found seed=1275, 20x59 gray: 0.07176 then 0.07162).
        slack = 0.01 if kind == "resolution" and min(h, w) < 48 else 0.0
        assert all(b >= a * (1 - slack) - 1e-6 for a, b in itertools.pairwise(distance)), (
            kind,
            distance,
        )
        if kind != "invert" and min(h, w) >= 48 and image.std() > 0.05 * top:
            # Strictly stronger at 5 than at 1 (on tiny images blur and resolution loss of a
            # fraction of the short side can round to nothing).
            assert distance[-1] > distance[1], (kind, distance)


def test_gray_stored_as_rgb_stays_gray_and_matches_the_gray_result() -> None:
    gray = fake_xray(3, (50, 64))
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    for kind in KINDS:
        out = apply_shift(rgb, kind, 4, seed=9)
        assert np.array_equal(out[:, :, 0], out[:, :, 1]) and np.array_equal(
            out[:, :, 0], out[:, :, 2]
        ), kind
        assert np.array_equal(out[:, :, 0], apply_shift(gray, kind, 4, seed=9)), kind


def test_seeds_change_the_random_choices() -> None:
    image = fake_xray(5, (64, 64))
    for kind in ("noise", "text", "border", "crop"):
        one, two = apply_shift(image, kind, 3, seed=1), apply_shift(image, kind, 3, seed=2)
        assert not np.array_equal(one, two), kind


def test_shifts_do_what_they_say() -> None:
    image = fake_xray(7, (80, 96))
    assert np.array_equal(apply_shift(image, "invert", 1), 255 - image)
    white = np.full((60, 80), 0, np.uint8)
    marked = apply_shift(white, "text", 5, seed=0)
    assert marked.max() == 255 and 0.005 < (marked > 0).mean() < 0.2  # burned-in white marks
    framed = apply_shift(image, "border", 5, seed=0)
    edge = np.concatenate([framed[0], framed[-1], framed[:, 0], framed[:, -1]])
    assert len(set(edge.tolist())) == 1 and edge[0] in (0, 255)  # a uniform frame
    coarse = apply_shift(image, "jpeg", 5)
    assert 0 < np.abs(coarse.astype(int) - image).mean() < 20


def test_apply_shift_rejects_bad_arguments() -> None:
    image = np.zeros((8, 8), np.uint8)
    with pytest.raises(ConfigError, match=r"unknown shift 'fog'.*jpeg"):
        apply_shift(image, "fog", 1)
    with pytest.raises(ConfigError, match=r"0\.\.5"):
        apply_shift(image, "blur", 6)
    with pytest.raises(ConfigError, match="int"):
        apply_shift(image, "blur", 1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="seed"):
        apply_shift(image, "blur", 1, seed=-1)
    with pytest.raises(ConfigError, match="uint8 or uint16"):
        apply_shift(image.astype(np.float32), "blur", 1)
    with pytest.raises(ConfigError, match="RGB"):
        apply_shift(np.zeros((8, 8, 4), np.uint8), "blur", 1)
    with pytest.raises(ConfigError, match="numpy array"):
        apply_shift([[0]], "blur", 1)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- the report


def test_report_round_trips_and_summarises() -> None:
    rep = RobustnessReport(
        class_names=["COVID", "Normal"],
        n=20,
        seed=3,
        clean={"accuracy": 0.9, "covid_sensitivity": 1.0, "covid_specificity": 0.8},
        corruptions={
            "blur": ShiftResult([1, 3, 5], [0.9, 0.8, 0.7], [1.0, 0.9, None], [0.8, 0.7, 0.6]),
            "invert": ShiftResult([1, 3, 5], [0.3, 0.3, 0.3], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]),
        },
    )
    assert rep.mean_corruption_accuracy == pytest.approx(0.55)
    assert rep.relative_drop == pytest.approx(1 - 0.55 / 0.9)
    assert RobustnessReport.from_json(rep.to_json()) == rep
    data = json.loads(rep.to_json())
    assert data["corruptions"]["blur"]["covid_sensitivity"] == [1.0, 0.9, None]
    assert "| blur | 0.900 | 0.800 | 0.700 | 0.800 |" in rep.to_markdown()
    with pytest.raises(ConfigError, match="one value per severity"):
        ShiftResult([1, 2], [0.5], [None], [None])
    with pytest.raises(ConfigError, match="RobustnessReport: missing key 'class_names'"):
        RobustnessReport.from_dict({"clean": {}})


# ---------------------------------------------------------------------------- evaluation


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny model that learned the generated classes (a bright band per class), saved."""
    import keras

    root = tmp_path_factory.mktemp("robust")
    data = make_image_folder(root / "data", per_class=12, size=32)
    ds = xraycls.load_dataset(data)
    x = np.concatenate([x for x, _ in ds.to_tf_dataset(batch_size=64, image_size=32)])
    y = np.asarray(ds.labels)
    model = tiny_model(32, num_classes=len(ds.class_names))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    model.fit(x, y, epochs=40, batch_size=12, verbose=0, shuffle=True)
    path = root / "model.keras"
    xraycls.save_model(model, path, class_names=ds.class_names)
    return path, data


def test_tiny_model_loses_accuracy_under_strong_shifts(trained: tuple[Path, Path]) -> None:
    path, data = trained
    clf = xraycls.Classifier.load(path)
    ds = xraycls.load_dataset(data, classes=clf.class_names)
    rep = evaluate_robustness(
        clf, ds, kinds=["invert", "noise", "border"], severities=(1, 5), progress=False
    )
    assert rep.n == len(ds) and rep.class_names == list(ds.class_names)
    assert rep.clean["accuracy"] >= 0.9  # it learned the bands
    assert list(rep.corruptions) == ["invert", "noise", "border"]
    # Inverting turns the bright band dark: the model falls apart.
    assert rep.corruptions["invert"].accuracy[-1] <= rep.clean["accuracy"] - 0.3
    assert rep.mean_corruption_accuracy is not None
    assert rep.mean_corruption_accuracy < rep.clean["accuracy"]
    assert rep.relative_drop is not None and rep.relative_drop > 0.1
    for result in rep.corruptions.values():
        assert result.severities == [1, 5]
        assert all(v is None or 0.0 <= v <= 1.0 for v in result.covid_sensitivity)
    # The same numbers from a path, a Classifier or the bare model, and a rerun.
    again = evaluate_robustness(
        str(path), ds, kinds="invert,noise,border", severities=[5, 1], progress=False
    )
    assert again.corruptions == rep.corruptions and again.clean == rep.clean


def test_evaluate_robustness_decodes_each_file_once(
    trained: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import xraycls.io

    path, data = trained
    ds = xraycls.load_dataset(data).limit_per_class(2, seed=0)
    calls: list[str] = []
    real = xraycls.io.load_image

    def counting(p, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(os.fspath(p))
        return real(p, *args, **kwargs)

    monkeypatch.setattr(xraycls.io, "load_image", counting)
    rep = evaluate_robustness(path, ds, severities=(2, 4), batch_size=5, progress=False)
    assert sorted(calls) == sorted(ds.files)
    assert len(rep.corruptions) == len(KINDS)


def test_evaluate_robustness_rejects_bad_input(trained: tuple[Path, Path]) -> None:
    path, data = trained
    ds = xraycls.load_dataset(data)
    with pytest.raises(ConfigError, match="unknown shift"):
        evaluate_robustness(path, ds, kinds=["fog"], progress=False)
    with pytest.raises(ConfigError, match="severity 0 is the clean image"):
        evaluate_robustness(path, ds, severities=(0, 1), progress=False)
    with pytest.raises(ConfigError, match="batch_size"):
        evaluate_robustness(path, ds, batch_size=0, progress=False)
    reordered = xraycls.load_dataset(data, classes=list(reversed(CLASSES)))
    with pytest.raises(ConfigError, match="differ from the dataset"):
        evaluate_robustness(path, reordered, progress=False)
    with pytest.raises(ConfigError, match="empty"):
        evaluate_robustness(path, ds.subset([]), progress=False)


def test_cli_writes_the_exact_json_shape_and_both_figures(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = trained
    out = tmp_path / "rob"
    code = main(["robustness", str(path), "--data", str(data), "--out", str(out),
                 "--kinds", "jpeg,text,invert", "--severities", "1,3,5", "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "| text |" in printed and "mean corruption accuracy" in printed
    saved = json.loads((out / "robustness.json").read_text())
    assert isinstance(saved["clean"]["accuracy"], float)
    assert set(saved["corruptions"]) == {"jpeg", "text", "invert"}
    for entry in saved["corruptions"].values():
        assert entry["severities"] == [1, 3, 5]
        assert len(entry["accuracy"]) == 3 and all(isinstance(a, float) for a in entry["accuracy"])
        assert len(entry["covid_sensitivity"]) == 3 and len(entry["covid_specificity"]) == 3
    assert isinstance(saved["mean_corruption_accuracy"], float)
    assert saved["mean_corruption_accuracy"] == pytest.approx(
        np.mean([a for e in saved["corruptions"].values() for a in e["accuracy"]])
    )
    for name in ("robustness_heatmap.png", "robustness_samples.png"):
        image = cv2.imread(os.fspath(out / name))
        assert image is not None and min(image.shape[:2]) > 200, name
    # Default severities are 1..5; an unknown kind is one error line naming the choices.
    assert main(["robustness", str(path), "--data", str(data), "--out", str(tmp_path / "bad"),
                 "--kinds", "fog", "--quiet"]) == 2  # fmt: skip
    assert "unknown shift 'fog'" in capsys.readouterr().err


def test_cli_help_names_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["robustness", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for kind in KINDS:
        assert kind in text


def test_report_gains_a_robustness_section(trained: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    rep = RobustnessReport(
        ["COVID", "NORMAL"], 10, 0, {"accuracy": 0.9, "covid_sensitivity": 1.0},
        {"noise": ShiftResult([1, 5], [0.8, 0.6], [1.0, 0.5], [0.9, 0.8])},
    )  # fmt: skip
    # An empty folder is no run: an error, not an empty page (issue #17).
    with pytest.raises(ConfigError, match="neither a training run folder"):
        xraycls.report(run, n_cam=0)
    save_robustness(rep, run, sample=fake_xray(1, (60, 50)))
    page = xraycls.report(run, n_cam=0).read_text()
    assert "Robustness to acquisition shifts" in page
    assert "0.700" in page  # the mean corruption accuracy
    assert page.count("data:image/png;base64") >= 2
    assert (run / "report" / "robustness_heatmap.png").is_file()


# ---------------------------------------------------------------------------- augmentation


def test_shift_augment_composes_with_the_paper_preset_and_round_trips() -> None:
    import imgaug.augmenters as iaa

    images = np.stack([fake_xray(i, (40, 40)) for i in range(6)])[:, :, :, None].repeat(3, 3)
    shift = ShiftAugment(kinds=["invert"], max_severity=2, p=1.0)
    assert np.array_equal(shift.augment_images(images), 255 - images)
    assert np.array_equal(ShiftAugment(p=0.0).augment_images(images), images)
    both = xraycls.Augmenter(iaa.Sequential([xraycls.Augmenter.paper().imgaug, ShiftAugment()]),
                             seed=4)  # fmt: skip
    a, b = both(images, seed=1), both(images, seed=1)
    assert np.array_equal(a, b) and a.shape == images.shape and a.dtype == np.uint8
    assert ShiftAugment.from_json(shift.to_json()).to_dict() == shift.to_dict()
    assert shift.to_dict() == {
        "kind": "shifts", "kinds": ["invert"], "max_severity": 2, "p": 1.0, "seed": 0
    }  # fmt: skip
    with pytest.raises(ConfigError, match="ShiftAugment: unknown key 'strength'"):
        ShiftAugment.from_dict({"kinds": None, "strength": 2})
    with pytest.raises(ConfigError, match="probability"):
        ShiftAugment(p=2.0)
    with pytest.raises(ConfigError, match="images only"):
        shift(image=images[0], keypoints=[[(1, 1)]])


def test_shift_augment_trains_one_step_of_a_tiny_model(tmp_path: Path) -> None:
    import imgaug.augmenters as iaa

    from xraycls.augment import balance

    data = make_image_folder(tmp_path / "data", per_class=4, size=32)
    ds = xraycls.load_dataset(data)
    augmenter = xraycls.Augmenter(
        iaa.Sequential([xraycls.Augmenter.paper().imgaug, ShiftAugment(max_severity=3, p=0.8)]),
        seed=0,
    )
    balanced = balance(ds, factor=2, augmenter=augmenter, classes=["COVID"], seed=0)
    assert len(balanced) == len(ds) + 4
    model = tiny_model(32)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    stream = balanced.to_tf_dataset(batch_size=8, image_size=32, augmenter=augmenter, seed=0)
    history = model.fit(stream, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_reproduce_runs_the_suite_into_each_run_folder(tmp_path: Path) -> None:
    from xraycls.protocols import reproduce

    data = make_image_folder(tmp_path / "data", per_class=8, size=32)
    result = reproduce(
        data,
        profile="quick",
        out=tmp_path / "out",
        verbose=0,
        robustness=True,
        train={"epochs": 1},
        image_size=32,
        model_kwargs={"simple_cnn": {"width": 4, "head_width": 8}},
    )
    (row,) = result.rows
    run = tmp_path / "out" / "simple_cnn"
    saved = json.loads((run / "robustness.json").read_text())
    assert set(saved["corruptions"]) == set(KINDS)
    assert saved["n"] == sum(result.splits["test"].values())
    assert row.mean_corruption_accuracy == pytest.approx(saved["mean_corruption_accuracy"])
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["results"][0]["mean_corruption_accuracy"] == row.mean_corruption_accuracy
    for name in ("robustness_heatmap.png", "robustness_samples.png"):
        assert (run / name).is_file()


def test_the_model_s_input_transform_runs_after_the_shift(trained: tuple[Path, Path]) -> None:
    from xraycls.transforms import InputTransform

    path, data = trained
    ds = xraycls.load_dataset(data).limit_per_class(3, seed=0)
    plain = xraycls.Classifier.load(path)
    clahe = xraycls.Classifier(plain.model, plain.class_names,
                               input_transform=InputTransform(contrast="clahe"))  # fmt: skip
    rep = evaluate_robustness(clahe, ds, kinds="invert", severities=(1,), progress=False)
    ev = xraycls.evaluate(clahe, ds, n_bootstrap=0)
    # The clean predictions are evaluate's: same transform, same letterbox.
    assert rep.clean["accuracy"] == pytest.approx(ev.accuracy.value)

"""One round-trip test for every class that xraycls writes as data (configs and reports).

Every class with a ``to_dict`` is listed here: ``EXAMPLES`` builds a non-default instance of
each, which must survive ``to_dict`` -> ``from_dict`` and ``to_json`` -> ``from_json`` unchanged
and whose ``from_dict`` must refuse an unknown key, naming it. ``test_every_serialisable_class_
is_listed`` scans ``src/`` so that a new class cannot skip this test.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from xraycls._serial import from_data, to_data
from xraycls.errors import ConfigError

SRC = Path(__file__).resolve().parents[1] / "src" / "xraycls"


def _train_config() -> Any:
    from xraycls.train import TrainConfig

    return TrainConfig(
        epochs=3,
        optimizer="adam",
        optimizer_kwargs={"beta_1": 0.8},
        lr_schedule="step",
        lr_schedule_kwargs={"gamma": 0.5, "step_size": 2},
        early_stopping_patience=2,
        class_weights={0: 1.0, 1: 2.5},
        augmentation={"kind": "paper", "rotate": 5.0},
        mixed_precision="off",
        seed=7,
        monitor="val_loss",
        input_transform={"contrast": "clahe", "soft_mask": 0.3},
        sampling="balanced",
        group_dro=0.1,
    )


def _evaluation_report() -> Any:
    from xraycls.evaluation import compute_metrics

    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]])
    rep = compute_metrics([0, 1, 1, 1], probs, ["a", "b"], files=list("wxyz"), n_bootstrap=20)
    part = compute_metrics([0, 1], probs[:2], ["a", "b"], n_bootstrap=20)
    return dataclasses.replace(rep, by={"source": {"s1": part}}, notes=["a note"])


def _shift_result() -> Any:
    from xraycls.robustness import ShiftResult

    return ShiftResult([1, 3], [0.9, 0.5], [1.0, None], [0.8, 0.6], {"COVID": [1.0, None]})


def _robustness_report() -> Any:
    from xraycls.robustness import RobustnessReport

    return RobustnessReport(
        class_names=["COVID", "Normal"],
        n=10,
        seed=3,
        clean={"accuracy": 0.9, "covid_sensitivity": 1.0, "sensitivity": {"COVID": 1.0}},
        corruptions={"blur": _shift_result()},
        model="m.keras",
        seconds=1.5,
    )


def _flag() -> Any:
    from xraycls.auditing import Flag

    return Flag("cam_outside_lungs", "CAM outside", 0.3, 0.5, "value < 0.5")


def _audit_report() -> Any:
    from xraycls.auditing import AuditReport

    return AuditReport(
        class_names=["a", "b"],
        n=4,
        chance=0.5,
        full={"accuracy": 1.0, "accuracy_ci": [0.5, 1.0]},
        border_only={"accuracy": 0.5},
        lung_only={"accuracy": 0.75},
        cam_lung_share=0.8,
        text_inpainted={"accuracy": 1.0, "flip_share": 0.0},
        source_probe_auc=0.6,
        source_probe={"a": {"auc": 0.6, "n": 4}},
        lung_area_share=0.4,
        lung_swap={"follows_border": 0.2, "pairs": 4},
        flags=[_flag()],
        notes=["n"],
        settings={"margin": 0.05},
    )


def _thresholds() -> Any:
    from xraycls.auditing import Thresholds

    return Thresholds(probe_auc=0.8, cam_lung_share=0.6)


def _paper_augmentation() -> Any:
    from xraycls.augment import PaperAugmentation

    return PaperAugmentation(rotate=5.0, flip=0.0, scale=(0.8, 1.2))


def _augmenter() -> Any:
    from xraycls.augment import Augmenter

    return Augmenter.paper(3, rotate=5.0, scale=(0.95, 1.05))


def _shift_augment() -> Any:
    from xraycls.robustness import ShiftAugment

    return ShiftAugment(kinds=["blur", "jpeg"], max_severity=2, p=0.25, seed=4)


def _input_transform() -> Any:
    from xraycls.transforms import InputTransform

    return InputTransform(lung_crop=True, crop_margin=0.2, soft_mask=0.5, contrast="equalize")


def _profile() -> Any:
    from xraycls.protocols import get_profile

    return get_profile("quick").replace(
        seed=3,
        hold_out_sources=("x",),
        shift_augment={"kinds": ["blur"], "p": 0.5},
        data=({"path": "a", "label_map": "paper"},),
        label_map={"Pneumonia": "Viral Pneumonia", "Other": None},
    )


def _data_spec() -> Any:
    from xraycls.data import DataSpec

    return DataSpec("data/x", layout="folders", label_map={"a": "b", "c": None}, name="x")


def _label_map() -> Any:
    from xraycls.data import LabelMap

    return LabelMap({"a": "A", "b*": None}, name="m", priority=("A",), keep_unmapped=True)


def _dataset() -> Any:
    from xraycls.data import Dataset

    return Dataset(
        ("a.png", "b.png"),
        np.array([1, 0]),
        ("COVID", "Normal"),
        groups=("p1", "p2"),
        root="data",
        meta={"source": ("h1", "h2")},
    )


def _dataset_description() -> Any:
    return _dataset().describe()


def _load_report() -> Any:
    from xraycls.data import LoadReport

    return LoadReport(
        path="data",
        root="data",
        layout="folders",
        counts={"COVID": 2},
        skipped=[("data/COVID/x.png", "file is empty (0 bytes)")],
        empty_classes=[("Normal", "data/Normal")],
        groups_source="MANIFEST.csv",
        seconds=0.5,
    )


def _reproduction_result() -> Any:
    from xraycls.protocols import ReproductionResult, get_profile
    from xraycls.protocols._runner import ModelResult

    row = ModelResult(
        "simple_cnn", 0.5, 0.8, 0.6, 0.7, 0.6, 0.75, 0.9, 0.95, 0.88, 3, 12.5, "runs/a"
    )
    return ReproductionResult(
        get_profile("quick"),
        rows=[row],
        splits={"train": {"COVID": 3}},
        external="shift",
        data_warnings=["a warning"],
    )


def _calibration() -> Any:
    from xraycls.decision import Calibration

    return Calibration(
        temperature=1.5,
        threshold=0.3,
        refer_below=0.4,
        sensitivity=0.95,
        n_images=40,
        n_positive=10,
        sensitivity_ci=[0.8, 0.99],
        warnings=["wide interval"],
        roc={"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]},
    )


def _image_prediction() -> Any:
    from xraycls.classifier import ImagePrediction

    return ImagePrediction("a.png", "COVID", {"COVID": 0.9, "Normal": 0.1}, "COVID", 0.02)


#: "module:Class" -> a non-default instance.
EXAMPLES: dict[str, Callable[[], Any]] = {
    "xraycls.train._config:TrainConfig": _train_config,
    "xraycls.evaluation._report:EvaluationReport": _evaluation_report,
    "xraycls.evaluation._report:Estimate": lambda: _evaluation_report().accuracy,
    "xraycls.evaluation._report:ClassMetrics": lambda: _evaluation_report().per_class["b"],
    "xraycls.evaluation._report:Prediction": lambda: _evaluation_report().predictions[0],
    "xraycls.robustness._report:ShiftResult": _shift_result,
    "xraycls.robustness._report:RobustnessReport": _robustness_report,
    "xraycls.auditing._report:Flag": _flag,
    "xraycls.auditing._report:AuditReport": _audit_report,
    "xraycls.auditing._flags:Thresholds": _thresholds,
    "xraycls.augment._augmenter:PaperAugmentation": _paper_augmentation,
    "xraycls.augment._augmenter:Augmenter": _augmenter,
    "xraycls.robustness._augment:ShiftAugment": _shift_augment,
    "xraycls.transforms._input:InputTransform": _input_transform,
    "xraycls.protocols._profile:Profile": _profile,
    "xraycls.data._spec:DataSpec": _data_spec,
    "xraycls.data._labelmap:LabelMap": _label_map,
    "xraycls.decision._calibration:Calibration": _calibration,
    "xraycls.classifier._classifier:ImagePrediction": _image_prediction,
    "xraycls.data._dataset:Dataset": _dataset,
    "xraycls.data._describe:DatasetDescription": _dataset_description,
    "xraycls.data._report:LoadReport": _load_report,
    "xraycls.protocols._runner:ReproductionResult": _reproduction_result,
}

#: Records shared with other tools, whose unknown keys are kept (in ``extra``) and written back
#: instead of refused: the model file's ``xraycls.json`` holds the trainer's resume state and
#: users' ``extra=`` keys beside xraycls's own (docs/zoo.md).
KEEPS_UNKNOWN = {
    "xraycls.zoo._info:ModelInfo": "a model file's xraycls.json, shared with other tools",
}

#: Classes whose ``to_dict`` is output for people and never read back.
WRITE_ONLY = {
    "xraycls.train._compile:CacheStats": "a live view of the JAX compilation cache",
}


def _serialisable_classes() -> set[str]:
    """Every class in src/ that defines to_dict/from_dict or derives from Serial."""
    found = set()
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(path.with_suffix("").relative_to(SRC.parent).parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or node.name == "Serial":
                continue
            methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            bases = {ast.unparse(b) for b in node.bases}
            if methods & {"to_dict", "from_dict"} or "Serial" in bases:
                found.add(f"{module}:{node.name}")
    return found


def test_every_serialisable_class_is_listed() -> None:
    found = _serialisable_classes()
    listed = set(EXAMPLES) | set(KEEPS_UNKNOWN) | set(WRITE_ONLY)
    assert found - listed == set(), "add an example of each new class to EXAMPLES"
    assert listed - found == set(), "a listed class no longer exists"


def _same(a: Any, b: Any) -> None:
    if dataclasses.is_dataclass(a):
        assert a == b
    else:  # Augmenter and ShiftAugment wrap imgaug pipelines, which have no equality
        assert type(a) is type(b) and a.to_dict() == b.to_dict()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_round_trip(name: str) -> None:
    obj = EXAMPLES[name]()
    cls = type(obj)
    assert f"{cls.__module__}:{cls.__name__}" == name
    data = obj.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data, "to_dict is not plain JSON data"
    _same(cls.from_dict(data), obj)
    _same(cls.from_dict(json.loads(json.dumps(data))), obj)
    text = obj.to_json()
    _same(cls.from_json(text), obj)
    assert cls.from_json(text).to_json() == text
    if dataclasses.is_dataclass(obj) and not any(
        f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        for f in dataclasses.fields(obj)
    ):
        assert obj != cls(), "the example should not be the default instance"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_unknown_key_is_refused_and_named(name: str) -> None:
    obj = EXAMPLES[name]()
    cls = type(obj)
    data = {**obj.to_dict(), "no_such_key": 1}
    with pytest.raises(ConfigError, match=rf"{cls.__name__}: unknown key 'no_such_key'"):
        cls.from_dict(data)
    with pytest.raises(ConfigError, match="not valid JSON"):
        cls.from_json("{not json")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_not_a_dict_is_refused(name: str) -> None:
    cls = type(EXAMPLES[name]())
    with pytest.raises(ConfigError, match=cls.__name__):
        cls.from_dict([1, 2])  # type: ignore[arg-type]


def test_nested_report_errors_name_the_path() -> None:
    from xraycls.robustness import RobustnessReport

    data = _robustness_report().to_dict()
    data["corruptions"]["blur"]["bogus"] = 1
    with pytest.raises(ConfigError, match=r"corruptions\['blur'\]: unknown key 'bogus'"):
        RobustnessReport.from_dict(data)


def test_derived_keys_are_written_and_recomputed() -> None:
    from xraycls.robustness import RobustnessReport

    rep = _robustness_report()
    data = rep.to_dict()
    assert data["relative_drop"] == pytest.approx(rep.relative_drop)
    data["relative_drop"] = 0.0  # a stale reader value is not believed
    assert RobustnessReport.from_dict(data).relative_drop == pytest.approx(rep.relative_drop)


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass(frozen=True)
class Thing:
    where: Path
    colour: Colour
    mode: Literal["a", "b"] = "a"
    ratio: float | None = None
    pairs: tuple[tuple[int, str], ...] = ()


def test_rule_handles_paths_enums_literals_and_nan() -> None:
    thing = Thing(Path("a/b"), Colour.RED, "b", float("nan"), ((1, "x"),))
    data = to_data(thing)
    assert data == {
        "where": "a/b",
        "colour": "red",
        "mode": "b",
        "ratio": None,
        "pairs": [[1, "x"]],
    }
    back = from_data(Thing, data)
    assert back == Thing(Path("a/b"), Colour.RED, "b", None, ((1, "x"),))
    with pytest.raises(ConfigError, match=r"Thing\.colour: .blue. is not one of"):
        from_data(Thing, {**data, "colour": "blue"})
    with pytest.raises(ConfigError, match="Thing: missing key 'where'"):
        from_data(Thing, {"colour": "red"})


def test_model_info_round_trips_and_keeps_other_tools_keys() -> None:
    from xraycls.decision import Calibration
    from xraycls.transforms import InputTransform
    from xraycls.zoo import ModelInfo

    info = ModelInfo(
        class_names=("COVID", "Normal"),
        backbone="simple_cnn",
        input_shape=(64, 64, 3),
        resize="stretch",
        input_transform=InputTransform(contrast="clahe"),
        calibration=Calibration(temperature=1.5),
        training_data={"n_images": 3},
        xraycls_version="0.1.0",
        extra={"state": {"epoch": 2}},
    )
    data = info.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert ModelInfo.from_dict(data) == info
    assert ModelInfo.from_dict({**data, "other_tool": 1}).extra == {
        "state": {"epoch": 2},
        "other_tool": 1,
    }
    with pytest.raises(ConfigError, match="newer xraycls"):
        ModelInfo.from_dict({**data, "schema_version": 99})

"""The paper's protocol as data, and `reproduce` end to end on tiny and real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xraycls
from _helpers_train import make_image_folder
from xraycls.cli import main
from xraycls.errors import ConfigError, UnknownModelError
from xraycls.protocols import PAPER_MODELS, PROFILES, Profile, get_profile, reproduce
from xraycls.train import TrainConfig

TINY = {"model_kwargs": {"simple_cnn": {"width": 4, "head_width": 8}}, "image_size": 32}


def test_paper_profile_is_the_published_protocol() -> None:
    paper = get_profile("paper")
    assert paper.models == PAPER_MODELS == (
        "vgg16", "xception", "resnet50", "resnet101", "inception_resnet_v2", "densenet201"
    )  # fmt: skip
    assert paper.image_size == 128 and paper.balance_factor == 5
    assert paper.balance_classes == ("COVID",) and paper.weights == "imagenet"
    cfg = TrainConfig.from_dict(paper.train)
    assert (cfg.epochs, cfg.batch_size, cfg.optimizer, cfg.learning_rate) == (20, 32, "sgd", 0.003)
    assert cfg.monitor == "val_accuracy"
    for name in paper.models:
        xraycls.get_backbone(name)


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(16, 512),
    seed=st.integers(0, 2**31 - 1),
    limit=st.none() | st.integers(1, 10_000),
    test=st.floats(0.05, 0.5),
    epochs=st.integers(1, 50),
)
def test_profile_round_trips_through_json(size, seed, limit, test, epochs) -> None:
    prof = PROFILES["quick"].replace(
        image_size=size, seed=seed, limit_per_class=limit, test=test, train={"epochs": epochs}
    )
    assert Profile.from_json(prof.to_json()) == prof
    assert Profile.from_dict(json.loads(prof.to_json())) == prof


def test_profile_rejects_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Profile: unknown key 'epochs'"):
        Profile.from_dict({"name": "x", "epochs": 3})
    with pytest.raises(ConfigError, match="test \\+ val < 1"):
        Profile(name="x", test=0.6, val=0.5)
    with pytest.raises(ConfigError, match="unknown profile 'fast'"):
        get_profile("fast")
    path = tmp_path / "mine.json"
    path.write_text(PROFILES["quick"].replace(name="mine").to_json())
    assert get_profile(str(path)).name == "mine"


def test_unknown_model_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="xceptoin"):
        reproduce(tmp_path / "nowhere", models=["xceptoin"], out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_reproduce_end_to_end_on_generated_images(tmp_path: Path) -> None:
    data = make_image_folder(tmp_path / "data", per_class=10, size=32)
    result = reproduce(
        data, profile="quick", out=tmp_path / "out", verbose=0, train={"epochs": 2}, **TINY
    )
    out = tmp_path / "out"
    (row,) = result.rows
    assert row.model == "simple_cnn" and row.best_epoch in (1, 2)
    for value in (row.train_accuracy, row.val_accuracy, row.test_accuracy, row.macro_auc):
        assert value is not None and 0.0 <= value <= 1.0
    # COVID is oversampled x5 in the training split only.
    counts = result.splits
    covid_train = 10 - counts["test"]["COVID"] - counts["val"]["COVID"]
    assert counts["train (balanced)"]["COVID"] == 5 * covid_train
    saved = json.loads((out / "results.json").read_text())
    assert saved["results"][0]["test_accuracy"] == row.test_accuracy
    assert Profile.from_dict(json.loads((out / "profile.json").read_text())).train == {"epochs": 2}
    assert (out / "results.md").read_text().startswith("| model |")
    for name in ("train.csv", "val.csv", "test.csv"):
        assert (out / name).is_file()
    run = out / "simple_cnn"
    for name in ("best.keras", "last.keras", "history.json", "evaluation.json", "config.json"):
        assert (run / name).is_file(), name
    # The test manifest and the evaluated files agree: nothing from test leaked into training.
    test_files = {line.split(",")[0] for line in (out / "test.csv").read_text().splitlines()[1:]}
    train_files = {line.split(",")[0] for line in (out / "train.csv").read_text().splitlines()[1:]}
    assert test_files and not test_files & train_files


@pytest.mark.slow
@pytest.mark.data
def test_reproduce_cli_quick_profile_on_real_data(cxr3_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "quick"
    code = main(
        ["reproduce", "--profile", "quick", "--data", str(cxr3_dir), "--out", str(out),
         "--limit", "25", "--epochs", "1", "--verbose", "0"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "| simple_cnn |" in printed and "results.md" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["splits"]["test"] == {"COVID": 5, "Normal": 5, "Viral Pneumonia": 5}
    assert results["results"][0]["covid_sensitivity"] is not None


def test_cli_help_lists_every_command(capsys) -> None:
    assert main([]) == 0
    text = capsys.readouterr().out
    for command in ("models", "data", "train", "evaluate", "predict", "reproduce", "cam", "report"):
        assert command in text
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert xraycls.__version__ in capsys.readouterr().out


def test_cli_reports_xraycls_errors_without_traceback(tmp_path: Path, capsys) -> None:
    code = main(["reproduce", "--data", str(tmp_path), "--models", "nope", "--out", str(tmp_path)])
    assert code == 2
    assert "error:" in capsys.readouterr().err


def test_cli_names_the_extra_when_no_keras_backend_is_installed(monkeypatch, capsys) -> None:
    import xraycls.cli._models as models_cli

    def no_backend(args):  # what `import keras` raises on a bare `pip install xraycls`
        raise ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")

    monkeypatch.setattr(models_cli, "_models", no_backend)
    code = main(["models"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no Keras backend is installed" in err and "xraycls[tensorflow]" in err
    assert "Traceback" not in err


def test_public_functions_survive_importing_their_subpackages() -> None:
    import xraycls.evaluation
    import xraycls.reporting

    assert callable(xraycls.evaluate) and callable(xraycls.report)
    model = xraycls.build_model("simple_cnn", input_shape=(32, 32, 3), width=4)
    rep = xraycls.evaluate(model, (np.zeros((3, 32, 32, 3)), [0, 1, 2]), n_bootstrap=0)
    assert rep.n == 3


@pytest.mark.slow
def test_subpackages_are_reachable_as_attributes() -> None:
    import subprocess
    import sys

    code = (
        "import xraycls, sys; assert 'tensorflow' not in sys.modules; "
        "assert callable(xraycls.explain.load_images); "
        "assert xraycls.protocols.get_profile('quick').name == 'quick'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
@pytest.mark.data
def test_example_reproduce_paper_runs(cxr3_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "examples" / "reproduce_paper.py"
    args = ["--data", str(cxr3_dir), "--out", str(tmp_path / "out"), "--limit", "15"]
    done = subprocess.run(
        [sys.executable, str(script), *args, "--epochs", "1"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| simple_cnn |" in done.stdout and "best test accuracy" in done.stdout


def test_public_functions_are_plain_functions_not_modules() -> None:
    import inspect
    import types

    import xraycls

    for name in ("evaluate", "report"):
        obj = getattr(xraycls, name)
        assert isinstance(obj, types.FunctionType), name
        assert not isinstance(obj, types.ModuleType), name
        assert "model" in inspect.signature(xraycls.evaluate).parameters

"""CLI smoke tests: ``xraycls train``, ``xraycls evaluate`` and ``xraycls predict``."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from _helpers_train import make_image_folder
from xraycls.cli import _evaluate, _predict, _train
from xraycls.errors import ConfigError, XrayclsError


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="xraycls")
    sub = parser.add_subparsers(dest="command")
    for module in (_train, _evaluate, _predict):
        module.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("cli")
    data = make_image_folder(root / "data", per_class=6)
    config = root / "cfg.json"
    config.write_text(json.dumps({"epochs": 5, "optimizer": "adam", "learning_rate": 0.001}))
    out = root / "run"
    code = _run(
        [
            "train",
            "--data",
            str(data),
            "--model",
            "simple_cnn",
            "--image-size",
            "32",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--seed",
            "3",
            "--config",
            str(config),
            "--verbose",
            "0",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return data, out


def test_train_writes_a_complete_run(trained, capsys) -> None:  # type: ignore[no-untyped-def]
    _, out = trained
    for name in (
        "config.json",
        "history.csv",
        "best.keras",
        "last.keras",
        "state.json",
        "evaluation.json",
        "train.csv",
        "val.csv",
    ):
        assert (out / name).is_file(), name
    cfg = json.loads((out / "config.json").read_text())
    # flags override the --config file, which overrides the defaults
    assert cfg["train_config"]["epochs"] == 1 and cfg["train_config"]["seed"] == 3
    assert cfg["train_config"]["optimizer"] == "adam"
    assert cfg["model"] == "simple_cnn" and cfg["image_size"] == [32, 32]
    assert json.loads((out / "evaluation.json").read_text())["n"] > 0


def test_evaluate_prints_the_table_and_writes_json(trained, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data, out = trained
    report = tmp_path / "sub" / "report.json"
    code = _run(
        [
            "evaluate",
            str(out / "best.keras"),
            "--data",
            str(data),
            "--out",
            str(report),
            "--bootstrap",
            "50",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "| Class | n | Sensitivity" in text and "| COVID | 6 |" in text
    saved = json.loads(report.read_text())
    assert saved["n"] == 18 and len(saved["predictions"]) == 18


def test_predict_csv_json_and_stdout(trained, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data, out = trained
    model = str(out / "best.keras")
    assert _run(["predict", model, str(data), "--out", str(tmp_path / "p.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert len(rows) == 18
    # The first columns are stable; streaming (docs/deploy.md) added the ones after the classes.
    names = ["COVID", "Normal", "Viral Pneumonia"]
    assert list(rows[0]) == [
        "file",
        "label",
        "probability",
        *names,
        "decision",
        "uncertainty",
        "error",
    ]
    assert (
        _run(
            [
                "predict",
                model,
                rows[0]["file"],
                rows[1]["file"],
                "--out",
                str(tmp_path / "p.json"),
                "--batch-size",
                "1",
            ]
        )
        == 0
    )
    js = json.loads((tmp_path / "p.json").read_text())
    assert [r["file"] for r in js] == [rows[0]["file"], rows[1]["file"]]
    assert js[0]["label"] == rows[0]["label"]
    capsys.readouterr()
    assert _run(["predict", model, rows[0]["file"], "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("file,label,probability,")


def test_cli_errors_are_xraycls_errors(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data, out = trained
    with pytest.raises(ConfigError, match=r"\.csv, \.jsonl or \.json"):
        _run(["predict", str(out / "best.keras"), str(data), "--out", str(tmp_path / "p.txt")])
    with pytest.raises(XrayclsError, match="resume"):
        _run(
            [
                "train",
                "--data",
                str(data),
                "--model",
                "simple_cnn",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--verbose",
                "0",
                "--out",
                str(out),
            ]
        )
    (tmp_path / "bad.json").write_text('{"epochz": 1}')
    with pytest.raises(ConfigError, match="epochz"):
        _run(
            [
                "train",
                "--data",
                str(data),
                "--model",
                "simple_cnn",
                "--config",
                str(tmp_path / "bad.json"),
                "--out",
                str(tmp_path / "r"),
            ]
        )


def test_example_train_your_own_runs(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "train_your_own.py"
    spec = importlib.util.spec_from_file_location("train_your_own", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = make_image_folder(tmp_path / "data", per_class=5)
    argv = [
        "--data",
        str(data),
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--limit",
        "4",
        "--out",
        str(tmp_path / "run"),
    ]
    assert module.main(argv) == 0
    out = capsys.readouterr().out
    assert "| **macro** |" in out and (tmp_path / "run" / "evaluation.json").is_file()
    assert module.main(["--data", str(tmp_path / "nowhere")]) == 2

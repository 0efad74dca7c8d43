"""Sources are data: per-image columns, leave-one-source-out, per-source metrics, confounding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _helpers_data import fake_xray, write_image
from xraycls.data import Dataset, DatasetDescription, load_dataset
from xraycls.errors import ConfigError

CLASSES = ("COVID", "Normal", "Viral Pneumonia")


def _ds(n: int = 9, **kwargs: object) -> Dataset:
    return Dataset(tuple(f"/d/{i}.png" for i in range(n)), np.arange(n) % 3, CLASSES, **kwargs)  # type: ignore[arg-type]


def _tree(root: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """Class folders with images, and a MANIFEST.csv with source and view columns one level up."""
    data = root / "data"
    lines = ["file,label,source_repo,view,patient_id"]
    for k, (cls, name, source, view) in enumerate(rows):
        write_image(data / cls / name, fake_xray(k, (24, 24)))
        lines.append(f"data/{cls}/{name},{cls},{source},{view},p{k}")
    (root / "MANIFEST.csv").write_text("\n".join(lines) + "\n")
    return data


# ------------------------------------------------------------------ carried through operations


def test_sources_default_unknown_and_set_by_hand() -> None:
    ds = _ds(3)
    assert ds.sources == ("unknown",) * 3
    assert ds.meta == {}
    ds2 = ds.with_sources(["a", "b", "c"]).with_meta("view", "PA")
    assert ds2.sources == ("a", "b", "c")
    assert ds2.column("view") == ("PA",) * 3
    assert ds2.column("sex") == ("unknown",) * 3
    assert ds.sources == ("unknown",) * 3  # immutable
    with pytest.raises(ConfigError, match="2 entries but there are 3 files"):
        ds.with_sources(["a", "b"])
    with pytest.raises(ConfigError, match="reserved"):
        ds.with_meta("label", "x")


def test_meta_carried_through_subset_concat_split_limit_and_dict() -> None:
    n = 30
    ds = (
        _ds(n)
        .with_sources([f"s{i % 4}" for i in range(n)])
        .with_meta("view", [str(i) for i in range(n)])
    )
    sub = ds.subset([5, 2])
    assert sub.sources == ("s1", "s2") and sub.column("view") == ("5", "2")
    other = _ds(2)  # no meta: its images are 'unknown'
    both = sub + other
    assert both.sources == ("s1", "s2", "unknown", "unknown")
    assert both.column("view") == ("5", "2", "unknown", "unknown")
    for part in ds.split(test=0.2, val=0.2, seed=3, dedupe=False):
        for f, s, v in zip(part.files, part.sources, part.column("view"), strict=True):
            i = int(Path(f).stem)
            assert s == f"s{i % 4}" and v == str(i)
    lim = ds.limit_per_class(3, seed=1)
    assert all(
        s == f"s{int(Path(f).stem) % 4}" for f, s in zip(lim.files, lim.sources, strict=True)
    )
    back = Dataset.from_dict(json.loads(json.dumps(ds.to_dict())))
    assert back == ds and back.meta == ds.meta
    assert ds != ds.with_sources("x")


def test_to_csv_round_trip_keeps_sources_and_columns(tmp_path: Path) -> None:
    files = []
    for i in range(6):
        files.append(str(write_image(tmp_path / "img" / f"{i}.png", fake_xray(i, (16, 16)))))
    ds = Dataset(tuple(files), np.arange(6) % 3, CLASSES).with_sources(list("aabbcc"))
    ds = ds.with_meta("sex", list("MFMFMF"))
    ds.to_csv(tmp_path / "split.csv")
    header = (tmp_path / "split.csv").read_text().splitlines()[0]
    assert header == "file,label,source,sex"
    back = load_dataset(tmp_path / "split.csv")
    assert back.sources == ds.sources and back.column("sex") == ds.column("sex")
    # Another column named as the source.
    text = (tmp_path / "split.csv").read_text().replace(",source,", ",site,")
    (tmp_path / "other.csv").write_text(text)
    assert load_dataset(tmp_path / "other.csv").sources == ("unknown",) * 6
    assert load_dataset(tmp_path / "other.csv", source_column="site").sources == ds.sources
    with pytest.raises(ConfigError, match="columns found"):
        load_dataset(tmp_path / "other.csv", source_column="hospital")


def test_balance_copies_keep_their_origins_source() -> None:
    from xraycls.augment import Augmenter, balance

    images = [fake_xray(i, (16, 16)) for i in range(6)]
    ds = Dataset(
        tuple(f"m{i}" for i in range(6)), np.array([0, 0, 1, 1, 2, 2]), CLASSES, images=images
    ).with_sources(["c1", "c2", "n", "n", "v", "v"])
    out = balance(ds, factor=3, augmenter=Augmenter.paper(seed=0), classes=["COVID"], seed=0)
    assert len(out) == 10
    for origin, source in zip(out.origins, out.sources, strict=True):
        assert source == ds.sources[ds.files.index(origin)]


def test_manifest_above_the_data_gives_sources_and_view(tmp_path: Path) -> None:
    data = _tree(
        tmp_path,
        [
            ("COVID", "c1.png", "hosp-a", "AP"),
            ("COVID", "c2.png", "hosp-b", "PA"),
            ("Normal", "n1.png", "kids", "PA"),
            ("Normal", "n2.png", "kids", "AP"),
        ],
    )
    write_image(data / "Normal" / "n3.png", fake_xray(99, (24, 24)))  # not in the manifest
    ds = load_dataset(data)
    got = dict(zip((Path(f).name for f in ds.files), ds.sources, strict=True))
    assert got == {
        "c1.png": "hosp-a",
        "c2.png": "hosp-b",
        "n1.png": "kids",
        "n2.png": "kids",
        "n3.png": "unknown",
    }
    assert "view" in ds.meta and "source_repo" not in ds.meta
    assert ds.report is not None and "MANIFEST.csv" in (ds.report.meta_source or "")


# ------------------------------------------------------------------ leave-one-source-out


def test_hold_out_unknown_source_lists_known_ones() -> None:
    ds = _ds(6).with_sources(list("aabbcc"))
    with pytest.raises(ConfigError, match=r"known sources: \['a', 'b', 'c'\]"):
        ds.split(hold_out_sources=["z"], dedupe=False)
    with pytest.raises(ConfigError, match="no image to train on"):
        ds.split(hold_out_sources=["a", "b", "c"], dedupe=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 7), st.integers(0, 3)), min_size=8, max_size=60
    ),
    held=st.sets(st.integers(0, 3), min_size=1, max_size=2),
    seed=st.integers(0, 5),
    test=st.sampled_from([0.0, 0.2, 0.3]),
)
def test_leave_one_source_out_never_leaks_a_source_or_a_patient(
    data: list[tuple[int, int, int]], held: set[int], seed: int, test: float
) -> None:
    labels = np.array([d[0] for d in data])
    groups = [f"p{d[1]}" for d in data]
    sources = [f"s{d[2]}" for d in data]
    ds = Dataset(tuple(f"{i}.png" for i in range(len(data))), labels, CLASSES, groups=groups)
    ds = ds.with_sources(sources)
    names = [f"s{h}" for h in held]
    present = set(sources)
    if not set(names) <= present:
        with pytest.raises(ConfigError, match="known sources"):
            ds.split(test=test, val=0.2, seed=seed, hold_out_sources=names, dedupe=False)
        return
    held_groups = {g for g, s in zip(groups, sources, strict=True) if s in names}
    if set(groups) <= held_groups:
        with pytest.raises(ConfigError, match="no image to train on"):
            ds.split(test=test, val=0.2, seed=seed, hold_out_sources=names, dedupe=False)
        return
    train, val, tst = ds.split(test=test, val=0.2, seed=seed, hold_out_sources=names, dedupe=False)
    assert len(train) + len(val) + len(tst) == len(ds)
    # Every image of a held-out source is in test; no held-out source in train or val.
    assert not set(names) & set(train.sources + val.sources)
    assert sum(s in names for s in tst.sources) == sum(s in names for s in sources)
    # A patient never spans two parts.
    parts = [set(p.groups or ()) for p in (train, val, tst)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    if test == 0.0:  # only the held-out units are tested
        assert set(tst.groups or ()) == held_groups


# ------------------------------------------------------------------ describe


def test_describe_synthetic_confound() -> None:
    sources = ["h1"] * 3 + ["h2"] * 2 + ["kids"] * 8
    labels = np.array([0] * 5 + [1] * 4 + [2] * 4)
    ds = Dataset(tuple(f"{i}.png" for i in range(13)), labels, CLASSES).with_sources(sources)
    d = ds.describe()
    assert isinstance(d, DatasetDescription)
    assert d.table == {
        "kids": {"Normal": 4, "Viral Pneumonia": 4},
        "h1": {"COVID": 3},
        "h2": {"COVID": 2},
    }
    assert d.source_only_accuracy == pytest.approx(9 / 13)
    assert d.majority_accuracy == pytest.approx(5 / 13)
    assert d.separable["COVID"] == 1.0
    text = d.to_text()
    assert "Normal and Viral Pneumonia share one source (kids) and come from no other" in text
    assert "COVID comes from 2 other sources (h1 and h2)" in text
    assert "what preprocessing cannot fix" in text
    assert "right on 9 of 13 images" in text
    assert DatasetDescription.from_dict(json.loads(d.to_json())) == d


def test_describe_without_sources_says_it_cannot_check() -> None:
    d = _ds(6).describe()
    assert d.source_only_accuracy is None
    assert "cannot be checked" in d.warnings[0]
    with pytest.raises(ConfigError, match="no such column"):
        _ds(6).describe(by="view")


def test_describe_single_class_source_and_single_source_class() -> None:
    ds = _ds(6).with_sources(["a", "a", "a", "b", "a", "a"])  # labels 0,1,2,0,1,2
    text = "\n".join(ds.describe().warnings)
    assert "source b: all 1 images are COVID" in text
    assert "Normal: all 2 images come from one source (a)" in text


@pytest.mark.data
def test_cxr3_describe_states_the_paediatric_confound(cxr3_dir: Path) -> None:
    ds = load_dataset(cxr3_dir, verify=False)
    assert set(ds.sources) == {
        "armiro/COVID-CXNet",
        "s-mostafa-a/covid-chestxray-dataset",
        "lecuong1502/BTL_Machine_Learning",
    }
    d = ds.describe()
    text = d.to_text()
    assert "Normal and Viral Pneumonia share one source (lecuong1502/BTL_Machine_Learning" in text
    assert "paediatric" in text and "Guangzhou" in text
    assert "COVID comes from 2 other sources" in text
    assert d.source_only_accuracy == pytest.approx((128 + 116 + 403) / 1041)
    assert d.separable["COVID"] == 1.0
    train, val, test = ds.split(seed=0, hold_out_sources=["armiro/COVID-CXNet"], dedupe=False)
    assert "armiro/COVID-CXNet" not in set(train.sources) | set(val.sources)
    assert test.sources.count("armiro/COVID-CXNet") == 128


# ------------------------------------------------------------------ per-source metrics


def _tiny_model(size: int = 16):  # type: ignore[no-untyped-def]
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp))
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))


def test_per_source_confusion_matrices_add_up(tmp_path: Path) -> None:
    from xraycls.evaluation import EvaluationReport, evaluate

    files = [str(write_image(tmp_path / f"{i}.png", fake_xray(i, (20, 20)))) for i in range(24)]
    rng = np.random.default_rng(0)
    ds = Dataset(tuple(files), rng.integers(0, 3, 24), CLASSES)
    ds = ds.with_sources([f"s{k}" for k in rng.integers(0, 4, 24)])
    ds = ds.with_meta("view", [("AP", "PA")[k] for k in rng.integers(0, 2, 24)])
    rep = evaluate(_tiny_model(), ds, by=["source", "view"], n_bootstrap=20)
    for column in ("source", "view"):
        parts = rep.by[column]
        assert sum(r.n for r in parts.values()) == rep.n
        total = sum(np.array(r.confusion_matrix) for r in parts.values())
        assert total.tolist() == rep.confusion_matrix
        assert list(parts) == sorted(parts, key=lambda v: (-parts[v].n, v))
    data = rep.to_dict()
    assert set(data["by_source"]) == set(ds.sources)
    assert "accuracy" in data["by_view"]["AP"] and "low" in data["by_view"]["AP"]["accuracy"]
    assert EvaluationReport.from_json(rep.to_json()) == rep
    assert "**By source**" in rep.to_markdown()
    with pytest.raises(ConfigError, match=r"no column \['sex'\]; it has \['source', 'view'\]"):
        evaluate(_tiny_model(), ds, by=["view", "sex"], n_bootstrap=0)
    with pytest.raises(ConfigError, match="needs an xraycls Dataset"):
        evaluate(_tiny_model(), (np.zeros((2, 16, 16, 3)), np.array([0, 1])), by="source")


def test_cli_evaluate_by_source_writes_by_source(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xraycls.cli import main
    from xraycls.zoo import save_model

    data = _tree(
        tmp_path,
        [(c, f"{c[0]}{k}.png", f"src-{c[0]}{k % 2}", "PA") for c in CLASSES for k in range(3)],
    )
    model_path = tmp_path / "m.keras"
    save_model(_tiny_model(), model_path, class_names=list(CLASSES))
    out = tmp_path / "rep.json"
    code = main(
        [
            "evaluate",
            str(model_path),
            "--data",
            str(data),
            "--by",
            "source",
            "--by",
            "view",
            "--bootstrap",
            "10",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["by_source"]) == {"src-C0", "src-C1", "src-N0", "src-N1", "src-V0", "src-V1"}
    assert report["by_view"]["PA"]["n"] == 9
    assert "By source" in capsys.readouterr().out


def test_cli_data_inspect_shows_the_class_by_source_table(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from xraycls.cli import main

    data = _tree(
        tmp_path,
        [
            ("COVID", "c1.png", "adults", "PA"),
            ("Normal", "n1.png", "kids", "PA"),
            ("Normal", "n2.png", "kids", "AP"),
        ],
    )
    assert main(["data", "inspect", str(data), "--no-duplicates"]) == 0
    out = capsys.readouterr().out
    assert "class x source" in out and "source adults: all 1 images are COVID" in out
    assert main(["data", "inspect", str(data), "--by", "view", "--no-duplicates"]) == 0
    assert "class x view" in capsys.readouterr().out


# ------------------------------------------------------------------ reproduce


def _with_manifest(root: Path, source_of: dict[str, str]) -> Path:
    """A MANIFEST.csv beside the Kaggle-like folder, naming each image's source by class."""
    lines = ["file,label,source"]
    for png in sorted(root.rglob("*.png")):
        cls = png.parent.name
        n = int(png.stem.split("(")[1].rstrip(")"))
        source = source_of[cls] if cls != "COVID" else ("hosp-a" if n % 2 else "hosp-b")
        lines.append(f"{png.relative_to(root).as_posix()},{cls},{source}")
    (root / "MANIFEST.csv").write_text("\n".join(lines) + "\n")
    return root


def test_reproduce_hold_out_source_and_external_set(tmp_path: Path) -> None:
    from _helpers_train import make_image_folder
    from xraycls.protocols import reproduce

    kids = {"NORMAL": "kids", "Viral Pneumonia": "kids"}
    data = _with_manifest(make_image_folder(tmp_path / "data", per_class=10, size=32), kids)
    ext = _with_manifest(
        make_image_folder(tmp_path / "ext", per_class=4, size=32),
        {"NORMAL": "adults", "Viral Pneumonia": "adults"},
    )
    out = tmp_path / "out"
    result = reproduce(
        data,
        profile="quick",
        out=out,
        verbose=0,
        external=ext,
        hold_out_sources=["hosp-b"],
        train={"epochs": 1},
        image_size=32,
        model_kwargs={"simple_cnn": {"width": 4, "head_width": 8}},
    )
    assert result.profile.hold_out_sources == ("hosp-b",)
    train_csv = (out / "train.csv").read_text()
    assert "hosp-b" not in train_csv and "hosp-b" not in (out / "val.csv").read_text()
    assert (out / "test.csv").read_text().count("hosp-b") == 5
    (row,) = result.rows
    assert row.external_accuracy is not None
    parts = result.by_source["simple_cnn"]
    assert parts["test"]["by_source"]["hosp-b"]["n"] == 5
    assert parts["test"]["by_source"]["hosp-b"]["in_training"] is False
    assert parts["external"]["overall"]["n"] == 12
    assert set(parts["external"]["by_source"]) == {"hosp-a", "hosp-b", "adults"}
    external = json.loads((out / "simple_cnn" / "external.json").read_text())
    assert external["n"] == 12 and set(external["by_source"]) == {"hosp-a", "hosp-b", "adults"}
    assert json.loads((out / "simple_cnn" / "test_by_source.json").read_text())["by_source"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["external"] == str(ext) and saved["results"][0]["external_accuracy"] is not None
    assert "| simple_cnn | external | adults | no | 8 |" in (out / "results.md").read_text()

"""One runner for every profile: it composes the layers and holds no model or data logic."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xraycls._atomic import write_text_atomic
from xraycls._serial import Serial
from xraycls.protocols._profile import Profile, get_profile

if TYPE_CHECKING:
    from typing import TypeAlias

    from xraycls.data import DataSpec
    from xraycls.train import TrainConfig

    #: One dataset (a folder, a manifest or a DataSpec) or several.
    DataArg: TypeAlias = (
        "str | os.PathLike[str] | DataSpec | Sequence[str | os.PathLike[str] | DataSpec]"
    )

__all__ = ["ModelResult", "ReproductionResult", "reproduce"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelResult:
    """One row of the Table-2-style results: a backbone's loss and accuracy on each split.

    Attributes:
        model: Zoo name.
        train_loss: Loss on the (balanced) training set, as the paper reports it.
        train_accuracy: Accuracy on the (balanced) training set.
        val_loss: Loss on the validation set.
        val_accuracy: Accuracy on the validation set.
        test_loss: Loss on the test set.
        test_accuracy: Accuracy on the test set.
        covid_sensitivity: Recall of the COVID class on the test set (``None`` without one).
        covid_specificity: Specificity of the COVID class on the test set.
        macro_auc: Macro one-vs-rest ROC AUC on the test set.
        best_epoch: Epoch (1-based) whose checkpoint was kept.
        seconds: Wall time of training and evaluation (the audit and the robustness suite
            included).
        workdir: The model's run folder (``xraycls report`` reads it).
        mean_corruption_accuracy: Test accuracy averaged over the robustness suite's shifts
            and severities (``reproduce(..., robustness=True)``), else ``None``.
        external_accuracy: Accuracy on the external set (``reproduce(external=...)``), else
            ``None``.
    """

    model: str
    train_loss: float | None
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    test_loss: float | None
    test_accuracy: float | None
    covid_sensitivity: float | None
    covid_specificity: float | None
    macro_auc: float | None
    best_epoch: int | None
    seconds: float
    workdir: str
    mean_corruption_accuracy: float | None = None
    external_accuracy: float | None = None


@dataclass
class ReproductionResult(Serial):
    """What `reproduce` measured, with its profile and split sizes.

    Examples:
        >>> from xraycls.protocols import ReproductionResult, get_profile
        >>> res = ReproductionResult(get_profile("quick"), rows=[], splits={})
        >>> res.to_markdown().splitlines()[0].startswith("| model |")
        True
    """

    profile: Profile
    rows: list[ModelResult] = field(default_factory=list)
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Model -> ``"test"`` / ``"external"`` -> ``{"overall": summary, "by_source": {source:
    #: summary}}``; a summary is ``{"n", "accuracy", "sensitivity": {class: value},
    #: "macro_auc"}`` (per source also ``"in_training"``: the source gave training images).
    #: Full reports are in each run folder.
    by_source: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: The external folder evaluated (never trained or tuned on), or ``None``.
    external: str | None = None
    #: The datasets trained on (`xraycls.data.DataSpec` dicts).
    data: list[dict[str, Any]] = field(default_factory=list)
    #: The confounding warnings of the merged data (`Dataset.describe`), most important first.
    data_warnings: list[str] = field(default_factory=list)

    # results.json names the rows "results" (files written since the first release).
    def _to_data(self, data: dict[str, Any]) -> dict[str, Any]:
        return {("results" if k == "rows" else k): v for k, v in data.items()}

    @classmethod
    def _migrate(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {("rows" if k == "results" else k): v for k, v in data.items()}

    def to_markdown(self, digits: int = 4) -> str:
        """Table 2 of the paper, extended with COVID sensitivity/specificity and macro AUC."""

        def cell(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.{digits}f}"

        header = (
            "| model | train loss | train acc | val loss | val acc | test loss | test acc "
            "| COVID sens | COVID spec | macro AUC | best epoch | minutes |"
        )
        lines = [header, "|" + "---|" * 12]
        for r in self.rows:
            values = (
                r.train_loss,
                r.train_accuracy,
                r.val_loss,
                r.val_accuracy,
                r.test_loss,
                r.test_accuracy,
                r.covid_sensitivity,
                r.covid_specificity,
                r.macro_auc,
            )
            lines.append(
                f"| {r.model} | "
                + " | ".join(cell(v) for v in values)
                + f" | {r.best_epoch if r.best_epoch is not None else 'n/a'} "
                + f"| {r.seconds / 60:.1f} |"
            )
        if self.by_source:
            lines += ["", self.by_source_markdown(digits=3)]
        if self.data_warnings:
            lines += ["", "**What the training data lets a model cheat on** (`describe()`):", ""]
            lines += [f"- {w}" for w in self.data_warnings]
        return "\n".join(lines)

    def by_source_markdown(self, digits: int = 3) -> str:
        """Dev test and external metrics, overall and per source, one row each."""
        names = list(self.profile.classes)
        lines = [
            "| model | set | source | in training | n | accuracy | "
            + " | ".join(f"{c} sens." for c in names)
            + " | macro AUC |",
            "|---|---|---|---|---:|---:|" + "---:|" * len(names) + "---:|",
        ]

        def cell(value: float | None) -> str:
            return "-" if value is None else f"{value:.{digits}f}"

        for model, sets in self.by_source.items():
            for set_name, parts in sets.items():
                rows = [("**all**", parts["overall"]), *parts["by_source"].items()]
                for source, m in rows:
                    sens = " | ".join(cell(m["sensitivity"].get(c)) for c in names)
                    seen = {True: "yes", False: "no"}.get(m.get("in_training"), "")
                    lines.append(
                        f"| {model} | {set_name} | {source} | {seen} | {m['n']} | "
                        f"{cell(m['accuracy'])} | {sens} | {cell(m['macro_auc'])} |"
                    )
        note = (
            f"External set: {self.external} (never trained or tuned on). " if self.external else ""
        )
        return (
            "\n".join(lines)
            + f"\n\n{note}A '-' sensitivity: no image of that class. 'in training': the "
            "source gave training images (of any class).\n"
        )


def _value(estimate: Any) -> float | None:
    return None if estimate is None else estimate.value


def _summary(report: Any) -> dict[str, Any]:
    return {
        "n": report.n,
        "accuracy": _value(report.accuracy),
        "sensitivity": {
            c: _value(m.sensitivity) if m.support else None for c, m in report.per_class.items()
        },
        "macro_auc": _value(report.macro.get("auc")),
    }


def _by_source(report: Any, trained_on: set[str]) -> dict[str, Any]:
    parts = {v: _summary(r) for v, r in report.by.get("source", {}).items()}
    for value, summary in parts.items():
        summary["in_training"] = value in trained_on
    return {"overall": _summary(report), "by_source": parts}


def _row(
    name: str, reports: dict[str, Any], best_epoch: int | None, seconds: float, workdir: Path
) -> ModelResult:
    test = reports["test"]
    covid = next((c for c in test.class_names if c.upper().startswith("COVID")), None)
    per_class = test.per_class.get(covid) if covid else None
    macro_auc = test.macro.get("auc")
    return ModelResult(
        model=name,
        train_loss=reports["train"].loss,
        train_accuracy=_value(reports["train"].accuracy),
        val_loss=reports["val"].loss,
        val_accuracy=_value(reports["val"].accuracy),
        test_loss=test.loss,
        test_accuracy=_value(test.accuracy),
        covid_sensitivity=_value(per_class.sensitivity) if per_class else None,
        covid_specificity=_value(per_class.specificity) if per_class else None,
        macro_auc=_value(macro_auc),
        best_epoch=best_epoch,
        seconds=seconds,
        workdir=str(workdir),
    )


def _specs(data: DataArg | None, prof: Profile) -> list[DataSpec]:
    """The datasets to load: ``data`` (one or several), else the profile's; the profile's
    label map applies to each one without a map of its own."""
    from xraycls.data import DataSpec

    if data is None:
        given: list[Any] = [DataSpec.from_dict(d) for d in prof.data]
    elif isinstance(data, (str, os.PathLike, DataSpec)):
        given = [data]
    else:
        given = list(data)
    if not given:
        from xraycls.errors import ConfigError

        raise ConfigError(
            f"no data: pass a dataset folder (--data) or use a profile that names its data "
            f"(profile {prof.name!r} names none)"
        )
    specs = [d if isinstance(d, DataSpec) else DataSpec(path=os.fspath(d)) for d in given]
    if prof.label_map:
        specs = [
            s if s.label_map is not None else replace(s, label_map=dict(prof.label_map))
            for s in specs
        ]
    return specs


def reproduce(
    data: DataArg | None = None,
    *,
    profile: str | Profile = "quick",
    models: Sequence[str] | None = None,
    out: str | os.PathLike[str] = "runs/reproduce",
    resume: bool = False,
    verbose: int = 1,
    on_error: str = "skip",
    robustness: bool = False,
    external: str | os.PathLike[str] | None = None,
    audit: bool = False,
    **overrides: Any,
) -> ReproductionResult:
    """Run a protocol end to end and write a Table-2-style results table.

    The steps are the paper's: load the images, split them (stratified, keeping patients and
    near-duplicate images in one split), oversample COVID in the training split with the paper's
    augmentation, train each backbone with checkpointing on the best validation accuracy,
    evaluate it on the train, validation and test splits, and tabulate.

    ``out`` receives ``profile.json``, the split manifests (``train.csv``, ``val.csv``,
    ``test.csv``), one run folder per model (readable by ``xraycls report``) and
    ``results.md`` / ``results.json``, rewritten after every model. On the JAX backend the
    compiled programs go to a persistent cache folder (``~/.cache/xraycls/jax``; the
    ``XRAYCLS_JAX_CACHE`` variable names another, ``off`` turns it off), and
    ``compile_cache.json`` records its entries, hits and compiles after every model.

    Args:
        data: Dataset folder or CSV manifest (any layout `xraycls.load_dataset` knows), a
            `xraycls.data.DataSpec` (path, layout, label map), or a list of them: several
            datasets are merged (`xraycls.merge`), keeping each image's source and patient,
            and split together. ``None``: the profile's ``data``.
        profile: ``"paper"``, ``"quick"``, a profile JSON file, or a `Profile`.
        models: Zoo names that replace the profile's list.
        out: Output folder.
        resume: Continue interrupted runs found in ``out`` instead of refusing them.
        verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.
        on_error: ``"skip"`` leaves unreadable images out and lists every one of them in
            ``out/skipped.csv``; ``"raise"`` stops with an error naming them all.
        robustness: Also run the robustness suite (`xraycls.robustness`) on the test split and
            write ``robustness.json`` and its figures into each model's run folder.
        external: A dataset folder from other sources (e.g. ``cxr3-shift``) that every trained
            model is evaluated on, overall and per source, next to its test metrics; it is never
            trained or tuned on. Reports go to ``<model>/external.json``.
        audit: Also run the shortcut audit (`xraycls.audit`) of each model on the test split;
            it writes ``audit.json``, ``audit.html`` and figures into the model's run folder,
            where ``xraycls report`` finds them.
        **overrides: Profile fields to change (e.g. ``image_size=96``, ``limit_per_class=50``,
            ``hold_out_sources=("armiro/COVID-CXNet",)`` for leave-one-source-out).

    The test split is also evaluated per source (``<model>/test_by_source.json``).

    Returns:
        The `ReproductionResult` (also written to ``out``).

    Raises:
        ConfigError: A bad profile, model name or override.
        DatasetLayoutError: The data folder has no recognisable layout.

    Examples:
        >>> import xraycls
        >>> result = xraycls.reproduce("../shared/data/cxr3", profile="quick",
        ...                            out="runs/quick")  # doctest: +SKIP
        >>> print(result.to_markdown())  # doctest: +SKIP
    """
    if models:
        overrides["models"] = tuple(models)
    prof = get_profile(profile)
    run = _start(
        prof.replace(**overrides) if overrides else prof,
        out=Path(out),
        verbose=verbose,
        resume=resume,
        on_error=on_error,
        external=external,
    )
    _load(run, data)
    _split(run)
    _balance(run)
    # The flags choose the steps once; every step then does one thing for one model.
    model_steps: list[_ModelStep] = [_train, _evaluate]
    model_steps += [_audit] if audit else []
    model_steps += [_per_source]
    model_steps += [_robustness] if robustness else []
    model_steps += [_report]
    for name in run.prof.models:
        model_run = _ModelRun(name=name, workdir=run.out / name)
        for model_step in model_steps:
            model_step(run, model_run)
    return run.result


@dataclass
class _Run:
    """One `reproduce` call: its settings, and the data its first steps leave for the models."""

    prof: Profile
    out: Path
    config: TrainConfig
    verbose: int
    resume: bool
    on_error: str
    external: str | os.PathLike[str] | None
    result: ReproductionResult
    #: JAX's persistent compile cache (None on other backends) and its state after each model.
    compile_cache: Any = None
    cache_rows: list[dict[str, Any]] = field(default_factory=list)
    specs: list[DataSpec] = field(default_factory=list)
    #: The merged data (after ``limit_per_class``), its splits and the external set.
    dataset: Any = None
    train: Any = None
    val: Any = None
    test: Any = None
    ext: Any = None
    #: What the trainer stores with each model about its training data.
    data_info: dict[str, Any] = field(default_factory=dict)

    def say(self, text: str) -> None:
        if self.verbose:
            print(text)


@dataclass
class _ModelRun:
    """One backbone on its way through the model steps."""

    name: str
    workdir: Path
    started: float = field(default_factory=time.perf_counter)
    trainer: Any = None
    history: dict[str, list[Any]] = field(default_factory=dict)
    #: ``"train"``, ``"val"``, ``"test"`` -> EvaluationReport.
    reports: dict[str, Any] = field(default_factory=dict)
    external_accuracy: float | None = None
    mean_corruption_accuracy: float | None = None


if TYPE_CHECKING:
    from collections.abc import Callable

    _ModelStep: TypeAlias = Callable[[_Run, _ModelRun], None]


def _start(
    prof: Profile,
    *,
    out: Path,
    verbose: int,
    resume: bool,
    on_error: str,
    external: str | os.PathLike[str] | None,
) -> _Run:
    """Check the model names, write ``profile.json``, turn on JAX's compile cache."""
    from xraycls.train import TrainConfig
    from xraycls.train._compile import enable_jax_cache
    from xraycls.zoo import get_backbone

    for name in prof.models:
        get_backbone(name)  # fail on a typo before spending minutes on data and training
    extra = {"input_transform": prof.input_transform} if prof.input_transform else {}
    config = TrainConfig.from_dict({**prof.train, **extra, "seed": prof.seed, "verbose": verbose})
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "profile.json", prof.to_json() + "\n")
    run = _Run(
        prof,
        out,
        config,
        verbose,
        resume,
        on_error,
        external,
        result=ReproductionResult(prof, external=None if external is None else str(external)),
        # JAX only (else None): compiled programs are kept in a user cache folder, so a rerun
        # or a resume loads them instead of compiling again (XRAYCLS_JAX_CACHE=off: off).
        compile_cache=enable_jax_cache(),
    )
    if run.compile_cache is not None:
        run.say(run.compile_cache.to_text())
    return run


def _load(run: _Run, data: DataArg | None) -> None:
    """Load (and merge) the datasets; write ``skipped.csv`` and ``data.json``."""
    from xraycls._outputs import write_skipped
    from xraycls.data import load_sources

    prof = run.prof
    run.specs = _specs(data, prof)
    ds = load_sources(run.specs, classes=list(prof.classes), on_error=run.on_error)
    if ds.report is not None and ds.report.skipped:
        write_skipped(run.out / "skipped.csv", ds.report.skipped)
    # Said up front: what the data lets a model cheat on (a child-only class, a one-source
    # class) decides how far any number below can be trusted.
    description = ds.describe()
    write_text_atomic(run.out / "data.json", description.to_json() + "\n")
    run.say(f"data: {len(ds)} images from {len(set(ds.sources))} sources")
    run.say(description.to_text())
    if prof.limit_per_class is not None:
        ds = ds.limit_per_class(prof.limit_per_class, seed=prof.seed)
    run.dataset = ds
    run.result.data = [spec.to_dict() for spec in run.specs]
    run.result.data_warnings = list(description.warnings)
    run.data_info = {
        "datasets": [spec.to_dict() for spec in run.specs],
        "label_maps": _used_label_maps(run.specs, ds),
        "notes": list(description.warnings),
    }


def _split(run: _Run) -> None:
    """Split into train, val and test (written as CSV manifests); load the external set."""
    from xraycls.data import check_split_classes, load_dataset

    prof = run.prof
    run.train, run.val, run.test = run.dataset.split(
        test=prof.test,
        val=prof.val,
        seed=prof.seed,
        hold_out_sources=list(prof.hold_out_sources) or None,
    )
    if run.external is not None:
        run.ext = load_dataset(run.external, classes=list(prof.classes), on_error=run.on_error)
    check_split_classes({"train": run.train, "val": run.val, "test": run.test})
    for split_name in ("train", "val", "test"):
        getattr(run, split_name).to_csv(run.out / f"{split_name}.csv")


def _balance(run: _Run) -> None:
    """Oversample the training split as the profile says; tabulate the split sizes."""
    from xraycls.augment import Augmenter, balance, balance_sources

    prof = run.prof
    if prof.balance_factor > 1 and prof.balance_classes:
        augmenter = Augmenter.paper(seed=prof.seed, **prof.augmenter)
        run.train = balance(
            run.train,
            factor=prof.balance_factor,
            augmenter=augmenter,
            classes=list(prof.balance_classes),
            seed=prof.seed,
        )
    if prof.balance_sources:
        augmenter = Augmenter.paper(seed=prof.seed, **prof.augmenter)
        run.train = balance_sources(run.train, augmenter=augmenter, seed=prof.seed)
    if prof.shift_augment is not None:
        from xraycls.robustness import ShiftAugment

        # Offline: one fixed shifted copy per image and copy index, so the training set (and a
        # resumed run) is data; the shift comes before the model's input transform, as at a
        # hospital that exports differently.
        shift = ShiftAugment.from_dict({"p": 1.0, **prof.shift_augment, "seed": prof.seed})
        run.train = balance(
            run.train,
            factor=1 + prof.shift_copies,
            augmenter=shift,
            classes=list(run.train.class_names),
            seed=prof.seed,
        )
    run.result.splits = {
        "train (balanced)": run.train.counts(),
        "val": run.val.counts(),
        "test": run.test.counts(),
        **({"external": run.ext.counts()} if run.ext is not None else {}),
    }
    for split_name, counts in run.result.splits.items():
        run.say(f"{split_name}: {counts}")


def _train(run: _Run, model_run: _ModelRun) -> None:
    """Build the backbone and train it in its run folder."""
    from xraycls.train import Trainer
    from xraycls.zoo import build_model

    prof, size = run.prof, run.prof.image_size
    run.say(
        f"== {model_run.name}: {size}x{size}, {run.config.epochs} epochs -> {model_run.workdir}"
    )
    model = build_model(
        model_run.name,
        num_classes=len(run.dataset.class_names),
        input_shape=(size, size, 3),
        weights=prof.weights,
        seed=prof.seed,
        **prof.model_kwargs.get(model_run.name, {}),
    )
    if prof.input_transform:
        _warm_transform(prof.input_transform, (run.train, run.val, run.test))
    model_run.trainer = Trainer(
        model,
        run.config,
        workdir=model_run.workdir,
        class_names=run.dataset.class_names,
        data_info=run.data_info,
    )
    model_run.history = model_run.trainer.fit(run.train, run.val, resume=run.resume)


def _evaluate(run: _Run, model_run: _ModelRun) -> None:
    """Loss and accuracy on every split (the test split with its full report)."""
    from xraycls.evaluation import evaluate

    model, seed = model_run.trainer.model, run.prof.seed
    model_run.reports = {
        "train": evaluate(model, run.train, n_bootstrap=0, seed=seed),
        "val": evaluate(model, run.val, n_bootstrap=0, seed=seed),
        "test": model_run.trainer.evaluate(run.test),
    }


def _audit(run: _Run, model_run: _ModelRun) -> None:
    """The shortcut audit on the test split, into the run folder."""
    from xraycls.auditing import audit

    found = audit(model_run.trainer.model, run.test, seed=run.prof.seed, out=model_run.workdir)
    run.say(found.to_markdown())


def _per_source(run: _Run, model_run: _ModelRun) -> None:
    """Per-source metrics of the test split and of the external set: where the model meets
    sources (hospitals, populations) it was or was not trained on."""
    from xraycls.evaluation import evaluate

    model, seed = model_run.trainer.model, run.prof.seed
    sets = {"test": evaluate(model, run.test, by="source", seed=seed)}
    if run.ext is not None:
        sets["external"] = evaluate(model, run.ext, by="source", seed=seed)
        model_run.external_accuracy = _value(sets["external"].accuracy)
    for set_name, report in sets.items():
        write_text_atomic(model_run.workdir / _BY_SOURCE_FILES[set_name], report.to_json() + "\n")
    trained_on = set(run.train.sources)
    run.result.by_source[model_run.name] = {k: _by_source(v, trained_on) for k, v in sets.items()}


#: Where `_per_source` writes each set's full report, in the model's run folder.
_BY_SOURCE_FILES = {"test": "test_by_source.json", "external": "external.json"}


def _robustness(run: _Run, model_run: _ModelRun) -> None:
    """The robustness suite on the test split, into the run folder."""
    from xraycls.robustness import evaluate_robustness, save_robustness

    report = evaluate_robustness(
        model_run.trainer.model, run.test, seed=run.prof.seed, progress=run.verbose > 0
    )
    save_robustness(report, model_run.workdir, sample=run.test.files[0])
    run.say(report.to_markdown())
    model_run.mean_corruption_accuracy = report.mean_corruption_accuracy


def _report(run: _Run, model_run: _ModelRun) -> None:
    """Add the model's row; rewrite ``results.json`` / ``results.md`` (and the cache log)."""
    row = _row(
        model_run.name,
        model_run.reports,
        _best_epoch(model_run.history, run.config.monitor),
        time.perf_counter() - model_run.started,
        model_run.workdir,
    )
    run.result.rows.append(
        replace(
            row,
            external_accuracy=model_run.external_accuracy,
            mean_corruption_accuracy=model_run.mean_corruption_accuracy,
        )
    )
    if run.compile_cache is not None:
        run.cache_rows.append({"after_model": model_run.name, **run.compile_cache.to_dict()})
        text = json.dumps(run.cache_rows, indent=2) + "\n"
        write_text_atomic(run.out / "compile_cache.json", text)
        run.say(run.compile_cache.to_text())
    write_text_atomic(run.out / "results.json", run.result.to_json() + "\n")
    write_text_atomic(run.out / "results.md", run.result.to_markdown() + "\n")
    run.say(run.result.to_markdown())


def _used_label_maps(specs: Sequence[DataSpec], ds: Any) -> dict[str, Any]:
    """Each dataset's label map, less the entries that matched none of its labels (the
    profile's map reaches every dataset; only where it relabelled something is it a fact
    about the model)."""
    names = ds.column("dataset") if "dataset" in ds.meta else ()
    findings = ds.column("finding") if "finding" in ds.meta else ()
    seen: dict[str, set[str]] = {}
    for name, finding in zip(names, findings, strict=False):
        seen.setdefault(name, set()).update(part.strip() for part in str(finding).split("|"))
    used: dict[str, Any] = {}
    for spec in specs:
        lm = spec.label_map
        if isinstance(lm, str):
            used[spec.dataset_name] = lm  # a preset: always a relabelling
        elif isinstance(lm, dict):
            kept = {k: v for k, v in lm.items() if k in seen.get(spec.dataset_name, set())}
            if kept:
                used[spec.dataset_name] = kept
    return used


def _warm_transform(transform: dict[str, Any], datasets: Sequence[Any]) -> None:
    """Transform every image once, in batches, before training.

    The pipeline applies the input transform per image and per epoch; its results are
    remembered, so computing them here in batches (one segmenter call per 64 images) makes
    every epoch a memory look-up.
    """
    from xraycls.io import load_image
    from xraycls.transforms import as_transform

    warm = as_transform(transform)
    for ds in datasets:
        memory = ds.images
        for start in range(0, len(ds), 64):
            stop = min(len(ds), start + 64)
            warm.apply_many(
                [
                    memory[i]
                    if memory is not None and memory[i] is not None
                    else load_image(ds.files[i])
                    for i in range(start, stop)
                ]
            )


def _best_epoch(history: dict[str, list[Any]], monitor: str) -> int | None:
    values = history.get(monitor)
    if not values:
        return None
    pairs = [(v, i) for i, v in enumerate(values) if v is not None]
    if not pairs:
        return None
    pick = min if "loss" in monitor else max
    return pick(pairs, key=lambda p: p[0])[1] + 1

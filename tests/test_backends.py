"""The backend subset: what must work under every Keras backend (TensorFlow, JAX, PyTorch).

CI runs this file in the TensorFlow venv with the rest of the suite, and again (``-m backend``)
in one venv per other backend, with ``KERAS_BACKEND=jax`` / ``torch`` and TensorFlow not
installed (``.ci/run``). Models are tiny so each backend's run takes seconds.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import xraycls
from _helpers_explain import gap_dense_model, paper_head_model
from _helpers_train import make_image_folder, tiny_model
from xraycls.errors import ConfigError
from xraycls.explain._backend import feature_gradients
from xraycls.explain._target import split_model
from xraycls.train import _strategy

pytestmark = pytest.mark.backend

BACKEND = keras.backend.backend()
HAS_TF = importlib.util.find_spec("tensorflow") is not None
FAST = {"batch_size": 8, "verbose": 0}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("backends"), per_class=6, size=36)


@pytest.fixture(scope="module")
def dataset(folder: Path) -> xraycls.Dataset:
    return xraycls.load_dataset(folder)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (3, 32, 32, 3)).astype("float32")


# ---------------------------------------------------------------- environment


def test_tensorflow_is_absent_off_the_tensorflow_backend() -> None:
    """In the JAX/PyTorch CI venvs TensorFlow is not installed, and nothing here needs it."""
    if BACKEND == "tensorflow":
        pytest.skip("the TensorFlow backend imports TensorFlow by design")
    import xraycls.evaluation
    import xraycls.explain
    import xraycls.predict
    import xraycls.train  # noqa: F401

    assert "tensorflow" not in sys.modules


def test_import_xraycls_train_without_tensorflow_in_a_fresh_process() -> None:
    if BACKEND == "tensorflow":
        pytest.skip("checks a non-TensorFlow backend")
    code = (
        "import sys, xraycls.train, xraycls.evaluation, xraycls.predict, xraycls.explain, "
        "xraycls.data; print('tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == "False", out.stderr


# ---------------------------------------------------------------- zoo


def test_zoo_builds_and_predicts(images: np.ndarray) -> None:
    model = tiny_model()
    probs = keras.ops.convert_to_numpy(model.predict_on_batch(images))
    assert probs.shape == (3, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


# ---------------------------------------------------------------- gradient seam and CAMs


def test_gradcam_equals_cam_on_a_gap_dense_head(images: np.ndarray) -> None:
    # For GAP + Dense, Grad-CAM's weights are the Dense column / (h*w): after scaling each map
    # to a maximum of 1 the two are equal, which checks this backend's gradient seam.
    model = gap_dense_model()
    for klass in (None, 2):
        a = xraycls.cam(model, images, class_index=klass, method="cam")
        b = xraycls.cam(model, images, class_index=klass, method="gradcam")
        np.testing.assert_allclose(a, b, atol=1e-5)
        assert a.max() > 0.99


def test_seam_gradient_matches_finite_differences(images: np.ndarray) -> None:
    """The seam's d score / d features on a non-linear head (Dense-relu-BN) vs central
    differences, at a few feature positions."""
    model = paper_head_model()
    split = split_model(model)
    x = keras.ops.convert_to_tensor(images[:1])
    cls = keras.ops.convert_to_tensor(np.array([1], dtype="int32"))
    features, grads, logits, chosen = feature_gradients(split.features, split.head, x, cls)
    f = keras.ops.convert_to_numpy(features).astype("float64")
    g = keras.ops.convert_to_numpy(grads)
    assert g.shape == f.shape and keras.ops.convert_to_numpy(chosen).tolist() == [1]

    def score(values: np.ndarray) -> float:
        out = split.head(keras.ops.convert_to_tensor(values.astype("float32")))
        return float(keras.ops.convert_to_numpy(out)[0, 1])

    rng = np.random.default_rng(0)
    eps = 1e-2
    for _ in range(6):
        pos = tuple(int(rng.integers(0, s)) for s in f.shape)
        up, down = f.copy(), f.copy()
        up[pos] += eps
        down[pos] -= eps
        numeric = (score(up) - score(down)) / (2 * eps)
        assert abs(numeric - g[pos]) <= 1e-3 + 2e-2 * abs(numeric), (pos, numeric, g[pos])
    assert np.allclose(keras.ops.convert_to_numpy(logits)[0, 1], score(f), atol=1e-4)


@pytest.mark.parametrize("method", ["cam", "gradcam", "gradcam++", "scorecam"])
def test_every_cam_method(method: str, images: np.ndarray) -> None:
    model = gap_dense_model()
    heat = xraycls.cam(model, images, method=method, chunk=4)
    assert heat.shape == (3, 32, 32) and heat.dtype == np.float32
    assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1
    assert (heat.reshape(3, -1).max(axis=1) > 0.99).any()


def test_gradcam_on_the_paper_head_and_zero_gradients(images: np.ndarray) -> None:
    model = paper_head_model()
    for method in ("gradcam", "gradcam++"):
        heat = xraycls.cam(model, images, method=method)
        assert heat.shape == (3, 32, 32) and np.isfinite(heat).all()
    dense = model.get_layer("predictions")
    saved = dense.get_weights()
    dense.set_weights([np.zeros_like(w) for w in saved])
    try:
        assert (xraycls.cam(model, images, method="gradcam") == 0).all()
    finally:
        dense.set_weights(saved)


# ---------------------------------------------------------------- input pipeline


def test_pydataset_is_reproducible_and_reshuffles_per_epoch(dataset: xraycls.Dataset) -> None:
    aug = xraycls.Augmenter.paper(seed=0)

    def epochs(workers: int) -> list[np.ndarray]:
        ds = dataset.batches(
            4, 24, augmenter=aug, shuffle=True, seed=3, pipeline="pydataset", workers=workers
        )
        first = np.concatenate([x for x, _ in ds])
        ds.on_epoch_end()
        second = np.concatenate([x for x, _ in ds])
        return [first, second]

    one, many = epochs(1), epochs(3)
    np.testing.assert_array_equal(one[0], many[0])  # workers never change the result
    np.testing.assert_array_equal(one[1], many[1])
    assert not np.array_equal(one[0], one[1])  # a new order and augmentation each epoch
    assert one[0].shape == (len(dataset), 24, 24, 3) and one[0].dtype == np.float32


@pytest.mark.skipif(not HAS_TF, reason="compares with the tf.data pipeline (TensorFlow absent)")
def test_pydataset_yields_the_tf_data_batches(dataset: xraycls.Dataset) -> None:
    py = list(dataset.batches(5, 24, pipeline="pydataset", cache=True))
    tf_batches = [(np.asarray(x), np.asarray(y)) for x, y in dataset.to_tf_dataset(5, 24)]
    assert len(py) == len(tf_batches)
    for (a, ya), (b, yb) in zip(py, tf_batches, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ya, yb)


def test_pipeline_choice_follows_the_backend() -> None:
    expected = "tf.data" if BACKEND == "tensorflow" else "pydataset"
    assert xraycls.data.resolve_pipeline("auto") == expected
    with pytest.raises(ConfigError, match="pipeline"):
        xraycls.data.resolve_pipeline("grain")


# ---------------------------------------------------------------- training, evaluation, predict


@pytest.mark.slow
def test_trainer_fit_resume_evaluate_and_classifier(
    dataset: xraycls.Dataset, tmp_path: Path
) -> None:
    train, val = dataset, dataset.subset(np.arange(0, len(dataset), 2))
    cfg = xraycls.TrainConfig(epochs=2, **FAST)
    whole = xraycls.Trainer(tiny_model(), cfg, workdir=tmp_path / "whole")
    history = whole.fit(train, val)
    assert len(history["loss"]) == 2 and all(np.isfinite(history["loss"]))

    first = xraycls.Trainer(tiny_model(), cfg.replace(epochs=1), workdir=tmp_path / "split")
    first.fit(train, val)
    resumed = xraycls.Trainer(tiny_model(), cfg, workdir=tmp_path / "split")
    history2 = resumed.fit(train, val, resume=True)
    assert history2["epoch"] == [1, 2]
    # Resuming continues the same run: same data order, augmentation and optimizer state, so
    # the weights are bit-identical. (On JAX/PyTorch, fit's first call peeks at a batch to
    # build the metrics and Keras's enqueuer serves the batches prefetched then first; the
    # trainer's batches start at the resumed epoch, so those are the right ones.)
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    report = resumed.evaluate(val)
    assert 0.0 <= report.accuracy.value <= 1.0
    assert (tmp_path / "split" / "evaluation.json").is_file()

    clf = xraycls.Classifier.load(tmp_path / "split" / "best.keras")
    table = clf.predict_table(list(val.files[:3]))
    assert [row["file"] for row in table] == [str(f) for f in val.files[:3]]
    probs = clf.predict(list(val.files[:3]))
    np.testing.assert_allclose(np.asarray(probs).sum(axis=1), 1.0, rtol=1e-5)


# ---------------------------------------------------------------- compiled programs (issue #20)


def _count_traces(model: keras.Model) -> dict[str, list[tuple[object, ...]]]:
    """The input shapes of every trace of each step: under ``jax.jit`` and ``tf.function`` the
    Python body of a step runs once per trace (compilation), not once per batch."""
    traces: dict[str, list[tuple[object, ...]]] = {"train": [], "test": [], "predict": []}
    for name in traces:
        original = getattr(model, f"{name}_step")

        def step(*args: object, _original: object = original, _name: str = name) -> object:
            shapes = [tuple(getattr(t, "shape", ())) for t in keras.tree.flatten(args[-1])]
            traces[_name].append(tuple(shapes))
            return _original(*args)  # type: ignore[operator]

        setattr(model, f"{name}_step", step)
    return traces


def test_each_step_compiles_once_across_epochs(dataset: xraycls.Dataset, tmp_path: Path) -> None:
    """18 images in batches of 8 (a last batch of 2), 3 epochs, validation, BatchNorm
    re-estimation and two test evaluations: the training and test steps are compiled for one
    input shape; on JAX (one XLA program per shape) the prediction step and the BatchNorm
    forward pass too, each exactly once (the last batches padded or dropped)."""
    from xraycls.train._batchnorm import batch_statistics

    if BACKEND == "torch":
        pytest.skip("Keras runs PyTorch eagerly (no jit_compile here): there is no compiled step")
    assert len(dataset) % FAST["batch_size"] != 0
    model = tiny_model()
    traces = _count_traces(model)
    cfg = xraycls.TrainConfig(epochs=3, **FAST)
    trainer = xraycls.Trainer(model, cfg, workdir=tmp_path / "run")
    history = trainer.fit(dataset, dataset)
    assert len(history["loss"]) == 3
    trainer.evaluate(dataset)
    trainer.evaluate(dataset.subset(np.arange(5)))  # another, smaller test set
    bn = [x for x in model._flatten_layers() if isinstance(x, keras.layers.BatchNormalization)]
    forward = batch_statistics(model, bn)  # the re-estimation pass's function, kept per model
    shapes = {name: set(found) for name, found in traces.items()}
    assert len(shapes["train"]) == 1 and len(shapes["test"]) == 1, shapes
    if BACKEND == "jax":
        assert {name: len(found) for name, found in traces.items()} == {
            "train": 1,
            "test": 1,
            "predict": 1,
        }, shapes
        assert forward.traces() == 1
    elif BACKEND == "tensorflow":
        # tf.function traces a step twice when its first call creates variables (the
        # optimizer's), both for the one unknown-batch signature: one graph, never per epoch.
        assert len(traces["train"]) <= 2 and len(traces["test"]) == 1, traces
        assert forward.traces() <= 2  # the full and the last batch's shape, then any shape


def test_padded_validation_gives_the_unpadded_metrics(dataset: xraycls.Dataset) -> None:
    """Zero-weight padding rows (JAX's fixed shapes) leave val_loss and val_accuracy as they
    are without padding."""
    from xraycls.data import make_py_dataset
    from xraycls.train._compile import padded_validation_loss

    model = tiny_model()
    model.compile("sgd", keras.losses.CategoricalCrossentropy(), weighted_metrics=["accuracy"])
    labels = np.asarray(dataset.labels)
    common = {"batch_size": 8, "image_size": 32, "workers": 1}
    plain = make_py_dataset(dataset.files, labels, 3, **common)
    padded = make_py_dataset(dataset.files, labels, 3, pad_remainder=True, **common)
    assert padded.padding == 6 and len(padded[2][0]) == 8
    assert padded[2][2].tolist() == [1, 1] + [0] * 6
    want = model.evaluate(plain, verbose=0, return_dict=True)
    got = model.evaluate(padded, verbose=0, return_dict=True)
    logs = {"val_loss": got["loss"]}
    for callback in padded_validation_loss(padded):
        callback.on_epoch_end(0, logs)
    assert got["accuracy"] == pytest.approx(want["accuracy"], abs=1e-6)
    assert logs["val_loss"] == pytest.approx(want["loss"], rel=1e-5)


def test_jax_cache_folder_and_switch(tmp_path: Path) -> None:
    from xraycls.train._compile import cache_folder, enable_jax_cache

    assert cache_folder({"XRAYCLS_JAX_CACHE": "off"}) is None
    assert cache_folder({"XRAYCLS_JAX_CACHE": str(tmp_path)}) == tmp_path
    assert cache_folder({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "xraycls" / "jax"
    assert cache_folder({"HOME": "/h"}) == Path.home() / ".cache" / "xraycls" / "jax"
    if BACKEND != "jax":
        assert enable_jax_cache(tmp_path) is None  # a no-op off JAX
        assert not any(tmp_path.iterdir())


@pytest.mark.skipif(BACKEND != "jax", reason="the persistent compilation cache is JAX's")
def test_jax_persistent_cache_serves_a_second_compile(tmp_path: Path) -> None:
    """A program compiled once is loaded from the cache folder after JAX's in-memory caches are
    cleared (what a second process sees): a hit, no compile."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    from xraycls.train._compile import enable_jax_cache

    stats = enable_jax_cache(tmp_path / "cache")
    assert stats is not None and stats.entries_before == 0
    try:

        def f(x: object) -> object:
            return jax.numpy.tanh(x) * 3 + 1

        jax.jit(f)(np.ones(7, "float32")).block_until_ready()
        first = stats.to_dict()
        assert first["misses"] >= 1 and first["entries_after"] >= 1
        jax.clear_caches()
        jax.jit(f)(np.ones(7, "float32")).block_until_ready()
        second = stats.to_dict()
        assert second["hits"] >= first["hits"] + 1
        assert second["entries_after"] == first["entries_after"]
        assert "hits" in stats.to_text()
    finally:
        jax.config.update("jax_compilation_cache_dir", None)
        compilation_cache.reset_cache()


def test_reproduce_records_the_compile_cache(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """reproduce writes compile_cache.json on JAX (a rerun: hits, no new entries), nothing
    elsewhere."""
    monkeypatch.setenv("XRAYCLS_JAX_CACHE", str(tmp_path / "cache"))
    tiny = {"model_kwargs": {"simple_cnn": {"width": 4, "head_width": 8}}, "image_size": 32}
    runs = []
    try:
        for out in ("first", "rerun"):
            xraycls.reproduce(
                folder, profile="quick", out=tmp_path / out, verbose=0, train={"epochs": 1}, **tiny
            )
            runs.append(tmp_path / out / "compile_cache.json")
    finally:
        if BACKEND == "jax":
            import jax
            from jax.experimental.compilation_cache import compilation_cache

            jax.config.update("jax_compilation_cache_dir", None)
            compilation_cache.reset_cache()
    if BACKEND != "jax":
        assert not any(path.exists() for path in runs)
        return
    import json

    first, rerun = (json.loads(path.read_text())[-1] for path in runs)
    assert first["after_model"] == "simple_cnn" and first["misses"] > 0
    assert first["entries_after"] > first["entries_before"] == 0
    assert rerun["entries_before"] == first["entries_after"]
    assert rerun["hits"] > 0


# ---------------------------------------------------------------- distribution and precision


def test_default_strategy_and_mixed_precision_choice() -> None:
    strategy = _strategy.resolve_strategy(None)
    assert _strategy.replicas(strategy) == 1
    assert _strategy.accelerator() in ("cpu", "gpu", "tpu")
    assert _strategy.mixed_precision_policy("off") is None
    assert _strategy.mixed_precision_policy("bfloat16") == "mixed_bfloat16"
    assert _strategy.mixed_precision_policy("float16") == "mixed_float16"
    assert xraycls.TrainConfig(mixed_precision="bfloat16").mixed_precision == "bfloat16"
    with pytest.raises(ConfigError, match="mixed_precision"):
        xraycls.TrainConfig(mixed_precision="bf16")
    if _strategy.accelerator() == "cpu":
        assert _strategy.mixed_precision_policy("auto") is None
        assert _strategy.mixed_precision_policy("on") == "mixed_float16"


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution data parallel is JAX-only")
def test_jax_data_parallel_trains(tmp_path: Path) -> None:
    from _helpers_train import arrays

    strategy = _strategy.resolve_strategy("mirrored")
    assert _strategy.replicas(strategy) == len(keras.distribution.list_devices())
    x, y = arrays(16)
    cfg = xraycls.TrainConfig(epochs=1, monitor="accuracy", **FAST)
    trainer = xraycls.Trainer(tiny_model, cfg, workdir=tmp_path, strategy="mirrored")
    assert np.isfinite(trainer.fit((x, y))["loss"]).all()


@pytest.mark.skipif(BACKEND != "torch", reason="checks the PyTorch refusal")
def test_torch_refuses_distribution_with_a_route() -> None:
    with pytest.raises(ConfigError, match=r"distributed\.md"):
        _strategy.resolve_strategy("mirrored")

"""``Calibration``: temperature, COVID operating threshold and abstain rule, as data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from xraycls._serial import Serial
from xraycls.decision._math import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    operating_point,
)
from xraycls.errors import ConfigError

__all__ = [
    "MIN_IMAGES",
    "MIN_PER_CLASS",
    "REFER",
    "Calibration",
    "check_options",
    "fit_calibration",
    "positive_class_of",
    "wilson_interval",
]

#: The decision when the model is not confident enough to decide: a human reads the image.
REFER = "refer"
#: Fewest calibration images, and fewest per class, accepted by default: below them a
#: temperature and a threshold are fitted to noise (3 images gave T=0.05, threshold 1.0).
MIN_IMAGES = 20
MIN_PER_CLASS = 5
#: An AUC below this is "near chance": the threshold separates almost nothing.
_AUC_WARN = 0.6


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % by default); ``(0, 1)`` when ``n`` is 0.

    Examples:
        >>> [round(v, 3) for v in wilson_interval(8, 8)]
        [0.676, 1.0]
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def _range_error(name: str, flag: str, value: float, what: str) -> ConfigError:
    return ConfigError(f"{name} must be {what}; got {value}", hint_cli=f"(set with {flag}: {what})")


def check_options(
    *,
    target_sensitivity: float = 0.95,
    refer_below: float = 0.5,
    max_spread: float = 0.15,
    min_images: int = MIN_IMAGES,
    min_per_class: int = MIN_PER_CLASS,
    batch_size: int = 1,
) -> None:
    """Check every calibration option's range before any work (clear errors naming the flag).

    Raises:
        ConfigError: A value out of range; ``cli_message()`` names the command-line flag.
    """
    if not 0 < target_sensitivity <= 1:
        raise _range_error("target_sensitivity", "--sensitivity", target_sensitivity, "in (0, 1]")
    if not 0 <= refer_below <= 1:
        raise _range_error("refer_below", "--refer-below", refer_below, "in [0, 1]")
    # the spread is a standard deviation of probabilities: 0 refers everything that varies,
    # a negative value would refer every test-time-augmented prediction
    if not 0 <= max_spread <= 1:
        raise _range_error("max_spread", "--max-spread", max_spread, "in [0, 1]")
    if not min_images >= 1:
        raise _range_error("min_images", "--min-images", min_images, ">= 1")
    if not min_per_class >= 1:
        raise _range_error("min_per_class", "--min-per-class", min_per_class, ">= 1")
    if not batch_size >= 1:
        raise _range_error("batch_size", "--batch-size", batch_size, ">= 1")


def positive_class_of(class_names: Sequence[str], positive_class: str | None = None) -> str:
    """The class the operating threshold is set for: ``positive_class``, else the COVID class.

    Examples:
        >>> positive_class_of(["COVID", "Normal", "Viral Pneumonia"])
        'COVID'
    """
    names = list(class_names)
    if positive_class is not None:
        if positive_class not in names:
            raise ConfigError(f"positive class {positive_class!r} is not one of {names}")
        return positive_class
    found = [n for n in names if n.lower().startswith("covid")]
    if len(found) != 1:
        raise ConfigError(
            f"cannot tell the positive (COVID) class among {names}; name it with "
            "positive_class= (CLI: --positive)"
        )
    return found[0]


@dataclass(frozen=True)
class Calibration(Serial):
    """How raw model probabilities become calibrated probabilities and a decision.

    The decision for one image, in this order: ``"refer"`` when the calibrated probability
    of the top class is below ``refer_below`` (or, with test-time augmentation, when the spread
    across views exceeds ``max_spread``); else ``positive_class`` when its calibrated
    probability is at least ``threshold``; else ``"not <positive_class>"``.

    Attributes:
        temperature: Temperature applied to the model's probabilities (1 = unchanged).
        positive_class: The class the threshold is set for (COVID).
        threshold: Operating threshold on the calibrated positive probability.
        target_sensitivity: The sensitivity the threshold was chosen for.
        refer_below: Abstain (refer) when the top calibrated probability is below this.
        max_spread: Abstain when the test-time-augmentation spread exceeds this.
        sensitivity: Sensitivity at the threshold on the calibration data.
        specificity: Specificity at the threshold on the calibration data.
        auc: ROC AUC of the positive class on the calibration data.
        ece_before: Expected calibration error before temperature scaling.
        ece_after: Expected calibration error after.
        refer_rate: Fraction of calibration images that would be referred.
        n_images: Images the calibration was fitted on.
        n_positive: Images of the positive class among them.
        sensitivity_ci: 95 % Wilson interval ``[low, high]`` of ``sensitivity``.
        warnings: Why this calibration may not be trustworthy (AUC near 0.5, specificity 0,
            a threshold or temperature at the edge of its range, a wide interval); empty when
            none.
        roc: ``{"fpr": [...], "tpr": [...]}`` of the positive class (at most 101 points).

    Examples:
        >>> cal = Calibration(temperature=2.0, threshold=0.3)
        >>> cal.decide(cal.probabilities(np.array([[0.9, 0.05, 0.05]])), ["COVID", "N", "V"])
        ['COVID']
        >>> Calibration.from_dict(cal.to_dict()) == cal
        True
    """

    temperature: float = 1.0
    positive_class: str = "COVID"
    threshold: float = 0.5
    target_sensitivity: float = 0.95
    refer_below: float = 0.0
    max_spread: float = 1.0
    sensitivity: float | None = None
    specificity: float | None = None
    auc: float | None = None
    ece_before: float | None = None
    ece_after: float | None = None
    refer_rate: float | None = None
    n_images: int = 0
    n_positive: int = 0
    sensitivity_ci: list[float] | None = None
    warnings: list[str] = field(default_factory=list, compare=False)
    roc: dict[str, list[float]] = field(default_factory=dict, compare=False)

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (float32) of raw softmax outputs ``(N, C)``."""
        return apply_temperature(raw, self.temperature).astype(np.float32)

    def decide(
        self,
        probabilities: np.ndarray,
        class_names: Sequence[str],
        spread: np.ndarray | None = None,
    ) -> list[str]:
        """One decision per row of *calibrated* probabilities (see the class docstring)."""
        names = list(class_names)
        if self.positive_class not in names:
            raise ConfigError(f"positive class {self.positive_class!r} is not one of {names}")
        p = np.asarray(probabilities, dtype=np.float64)
        k = names.index(self.positive_class)
        out = []
        for i, row in enumerate(p):
            unsure = row.max() < self.refer_below
            if spread is not None and float(spread[i]) > self.max_spread:
                unsure = True
            if unsure:
                out.append(REFER)
            elif row[k] >= self.threshold:
                out.append(self.positive_class)
            else:
                out.append(f"not {self.positive_class}")
        return out


def _downsample_roc(scores: np.ndarray, positive: np.ndarray) -> dict[str, list[float]]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(positive, scores)
    if len(fpr) > 101:
        keep = np.unique(np.linspace(0, len(fpr) - 1, 101).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": [round(float(v), 5) for v in fpr], "tpr": [round(float(v), 5) for v in tpr]}


def fit_calibration(
    probs: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    positive_class: str | None = None,
    target_sensitivity: float = 0.95,
    refer_below: float = 0.5,
    max_spread: float = 0.15,
    min_images: int = MIN_IMAGES,
    min_per_class: int = MIN_PER_CLASS,
) -> Calibration:
    """Fit temperature scaling and choose the operating threshold on validation predictions.

    Args:
        probs: Raw softmax outputs ``(N, C)`` of the model on validation images.
        labels: Class indices (or one-hot rows) of those images.
        class_names: One name per column.
        positive_class: The class to threshold; default the one named ``COVID...``.
        target_sensitivity: Sensitivity the threshold must reach on these images.
        refer_below: Top calibrated probability under which an image is referred.
        max_spread: Test-time-augmentation spread over which an image is referred.
        min_images: Fewest images accepted (default :data:`MIN_IMAGES`, 20).
        min_per_class: Fewest images of each class accepted (default :data:`MIN_PER_CLASS`, 5).

    Returns:
        The :class:`Calibration`, with ECE before/after, the operating point's measures, the
        Wilson interval of the sensitivity and ``warnings`` when it is degenerate.

    Raises:
        ConfigError: An option out of range, or fewer images (per class) than the minimum.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 3, 200)
        >>> p = np.full((200, 3), 0.01); p[np.arange(200), y] = 0.98
        >>> cal = fit_calibration(p, y, ["COVID", "Normal", "Viral Pneumonia"])
        >>> cal.sensitivity >= 0.95
        True
    """
    names = list(class_names)
    raw = np.asarray(probs, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != len(names):
        raise ConfigError(f"probabilities of shape {raw.shape} for {len(names)} classes {names}")
    check_options(
        target_sensitivity=target_sensitivity,
        refer_below=refer_below,
        max_spread=max_spread,
        min_images=min_images,
        min_per_class=min_per_class,
    )
    y = np.asarray(labels)
    y = y.argmax(axis=1) if y.ndim == 2 else y.astype(np.int64)
    positive = positive_class_of(names, positive_class)
    k = names.index(positive)
    counts = {n: int((y == i).sum()) for i, n in enumerate(names)}
    few = {n: c for n, c in counts.items() if c < min_per_class}
    if len(y) < min_images or few:
        raise ConfigError(
            f"calibration needs at least {min_images} images and {min_per_class} of each class; "
            f"got {len(y)} ({', '.join(f'{n}: {c}' for n, c in counts.items())}): a temperature "
            "and a threshold fitted on so few are noise;",
            hint="calibrate on more validation images, or lower min_images / min_per_class",
            hint_cli="calibrate on more validation images, or lower --min-images / --min-per-class",
        )
    temperature = fit_temperature(raw, y)
    cal = apply_temperature(raw, temperature)
    op = operating_point(cal[:, k], y == k, target_sensitivity)
    n_pos = counts[positive]
    low, high = wilson_interval(round(op["sensitivity"] * n_pos), n_pos)
    return Calibration(
        temperature=temperature,
        positive_class=positive,
        threshold=op["threshold"],
        target_sensitivity=float(target_sensitivity),
        refer_below=float(refer_below),
        max_spread=float(max_spread),
        sensitivity=op["sensitivity"],
        specificity=op["specificity"],
        auc=op["auc"],
        ece_before=expected_calibration_error(raw, y),
        ece_after=expected_calibration_error(cal, y),
        refer_rate=float((cal.max(axis=1) < refer_below).mean()),
        n_images=len(y),
        n_positive=n_pos,
        sensitivity_ci=[round(low, 4), round(high, 4)],
        warnings=_warnings(op, temperature, positive, target_sensitivity, (low, high), n_pos),
        roc=_downsample_roc(cal[:, k], y == k),
    )


def _warnings(
    op: Mapping[str, float],
    temperature: float,
    positive: str,
    target: float,
    ci: tuple[float, float],
    n_pos: int,
) -> list[str]:
    """Why a fitted calibration should not be trusted as it is (empty when nothing stands out)."""
    out = []
    if op["auc"] < _AUC_WARN:
        out.append(
            f"AUC {op['auc']:.3f} is near 0.5: the model barely tells {positive} from the other "
            "classes on these images, so the threshold and its decisions are close to chance"
        )
    if op["specificity"] <= 0:
        out.append(f"specificity 0 at the threshold: every image would be called {positive}")
    if op["threshold"] >= 1.0 or op["threshold"] <= 0.0:
        out.append(f"the threshold {op['threshold']:.4f} is at the edge of [0, 1]")
    if temperature <= 0.051 or temperature >= 19.9:
        out.append(f"the temperature {temperature:.3f} is at the limit of its range [0.05, 20]")
    if ci[0] < target:
        out.append(
            f"the 95% interval of the sensitivity, [{ci[0]:.3f}, {ci[1]:.3f}] on {n_pos} "
            f"{positive} images, reaches below the target {target}: the target is not shown to "
            "be met; calibrate on more images"
        )
    return out

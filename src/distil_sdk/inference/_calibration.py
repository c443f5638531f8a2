"""Calibrated probabilities and abstention: temperature scaling, ECE, precision thresholds.

The training job fits the calibration and writes ``calibration.json`` into the model folder;
`LocalClassifier` reads it back and applies it to every probability; the model card and
``evaluate`` report the same figures. The figures and thresholds are plain Python, so the
``EvaluationReport`` that holds them imports without numpy (the plain install has none);
numpy is imported by the functions that work on probability arrays.

Temperature scaling divides a model's logits by one number ``T`` before the softmax: ``T > 1``
makes every prediction less confident, ``T < 1`` more, and the order of each text's labels
never changes (so neither do the predicted labels nor the accuracy). A predictor returns
probabilities, and ``softmax(log p / T)`` equals ``softmax(z / T)`` for its logits ``z``, so
the temperature is applied to them.

The expected calibration error (ECE) here always uses 10 equal-width bins of the top label's
probability, ``[0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]``: the mean over texts of
``|accuracy - mean confidence|`` of each text's bin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CALIBRATION_FILE",
    "COVERAGES",
    "ECE_BINS",
    "Calibration",
    "CoveragePoint",
    "ReliabilityBin",
    "ThresholdChoice",
    "apply_temperature",
    "coverage_points",
    "ece_of_bins",
    "expected_calibration_error",
    "fit_sharpness",
    "fit_temperature",
    "negative_log_likelihood",
    "precision_threshold",
    "reliability_bins",
    "reliability_of",
]

#: The calibration a training writes into the model folder (`LocalClassifier` reads it).
CALIBRATION_FILE = "calibration.json"
#: Equal-width bins of the top label's probability in every ECE and reliability figure.
ECE_BINS = 10
#: The coverages ``evaluate`` reports accuracy at.
COVERAGES = (1.0, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5)
#: Probabilities are floored here before a logarithm (the smallest normal float64).
_TINY = 2.2250738585072014e-308


# -- measuring -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability diagram: the ``count`` texts whose top probability lies in
    ``[lower, upper)`` (the last bin includes 1.0), their ``accuracy`` and their mean top
    probability ``confidence``."""

    lower: float
    upper: float
    count: int
    accuracy: float
    confidence: float


def _flags(confidence: Sequence[float], correct: Sequence[bool]) -> list[tuple[float, bool]]:
    conf = [float(c) for c in confidence]
    ok = [bool(c) for c in correct]
    if len(conf) != len(ok):
        raise ValueError(f"{len(conf)} confidences but {len(ok)} correctness flags")
    return list(zip(conf, ok, strict=True))


def reliability_of(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS
) -> list[ReliabilityBin]:
    """The non-empty reliability bins of predictions, given each one's top probability and
    whether it was right."""
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for conf, ok in _flags(confidence, correct):
        # Left-closed bins; a probability of exactly 1.0 belongs to the last one.
        members[min(max(int(conf * bins), 0), bins - 1)].append((conf, ok))
    return [
        ReliabilityBin(
            lower=b / bins,
            upper=(b + 1) / bins,
            count=len(rows),
            accuracy=sum(ok for _, ok in rows) / len(rows),
            confidence=sum(conf for conf, _ in rows) / len(rows),
        )
        for b, rows in enumerate(members)
        if rows
    ]


def ece_of_bins(bins: Sequence[ReliabilityBin]) -> float | None:
    """The ECE of reliability bins: their count-weighted mean ``|accuracy - confidence|``
    (``None`` for no texts)."""
    total = sum(b.count for b in bins)
    if not total:
        return None
    return sum(b.count * abs(b.accuracy - b.confidence) for b in bins) / total


def _top(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """(top probability, top label is right) per row; ``labels`` are column indices."""
    import numpy as np

    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(
            "probabilities of shape (n_texts, n_labels) and one label per text are needed; "
            f"got shape {p.shape} and {len(y)} labels"
        )
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"labels must be column indices in [0, {p.shape[1]})")
    if not len(y):
        return np.zeros(0), np.zeros(0, dtype=bool)
    return p.max(axis=1), p.argmax(axis=1) == y


def reliability_bins(probs: Any, labels: Any, bins: int = ECE_BINS) -> list[ReliabilityBin]:
    """The reliability diagram's bins that hold texts (empty bins are left out).

    Args:
        probs: ``(n_texts, n_labels)`` probabilities.
        labels: the gold label of each text, as a column index of ``probs``.
        bins: equal-width bins over ``[0, 1]`` (10 everywhere the SDK reports ECE).
    """
    confidence, correct = _top(probs, labels)
    return reliability_of(confidence.tolist(), correct.tolist(), bins)


def expected_calibration_error(probs: Any, labels: Any, bins: int = ECE_BINS) -> float:
    """ECE: the texts' mean gap between accuracy and confidence in their bin (0 is perfect).

    Args:
        probs: ``(n_texts, n_labels)`` probabilities.
        labels: the gold label of each text, as a column index of ``probs``.
        bins: equal-width bins of the top probability (default 10).

    Example:
        >>> # one right at 0.9 (gap 0.1), one wrong at 0.8 (gap 0.8): (0.1 + 0.8) / 2
        >>> round(expected_calibration_error([[0.9, 0.1], [0.8, 0.2]], [0, 1]), 6)
        0.45
    """
    ece = ece_of_bins(reliability_bins(probs, labels, bins))
    return 0.0 if ece is None else ece


def negative_log_likelihood(probs: Any, labels: Any) -> float:
    """Mean ``-log p(gold label)`` (probabilities floored at the smallest normal float)."""
    import numpy as np

    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if not len(y):
        return 0.0
    return float(-np.log(np.maximum(p[np.arange(len(y)), y], _TINY)).mean())


# -- temperature -----------------------------------------------------------------------------------
def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / temperature)`` row by row, in ``probs``' float dtype.

    A temperature of 1 returns ``probs`` unchanged (the same array).
    """
    import numpy as np

    if temperature == 1.0 or not len(probs):
        return probs
    logp = np.log(np.maximum(np.asarray(probs, dtype=np.float64), _TINY)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    out /= out.sum(axis=1, keepdims=True)
    dtype = probs.dtype if np.issubdtype(probs.dtype, np.floating) else np.float64
    return out.astype(dtype, copy=False)


@dataclass(frozen=True)
class Calibration:
    """How a model's probabilities are calibrated: ``calibration.json`` in its folder.

    Attributes:
        method: ``"temperature"`` (the logits are divided by ``temperature``) or
            ``"identity"`` (the probabilities are left as the model gives them).
        temperature: the temperature (1.0 for the identity).
        rows: the labelled rows it was fitted on.
        source: which rows those were and which model scored them, in words.
        ece_before: ECE of those rows before calibration (10 bins); ``None`` when unknown.
        ece_after: ECE of those rows after calibration.
        nll_before: their mean negative log-likelihood before calibration.
        nll_after: their mean negative log-likelihood after calibration.
        reason: why this method and temperature were kept.
        details: the figures the temperature was built from, by name (e.g. the training's
            ``teacher_temperature``, ``sharpness`` and ``likelihood_ratio``).
    """

    method: str = "identity"
    temperature: float = 1.0
    rows: int = 0
    source: str = ""
    ece_before: float | None = None
    ece_after: float | None = None
    nll_before: float | None = None
    nll_after: float | None = None
    reason: str = ""
    details: dict[str, float] = field(default_factory=dict)

    @property
    def is_identity(self) -> bool:
        """True when applying it changes nothing."""
        return self.method == "identity" or self.temperature == 1.0

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """The calibrated probabilities (``probs`` itself for the identity)."""
        return probs if self.is_identity else apply_temperature(probs, self.temperature)

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to ``calibration.json`` (floats rounded to 6 digits)."""
        data = {k: _rounded(v) for k, v in asdict(self).items()}
        return {"version": 1, "bins": ECE_BINS, **data}

    @classmethod
    def from_json(cls, data: Any, where: str = CALIBRATION_FILE) -> Calibration:
        """Read `to_json`'s object back; a malformed one raises ``ValueError`` naming ``where``."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
        method = data.get("method")
        if method not in ("temperature", "identity"):
            raise ValueError(
                f"{where}: 'method' must be 'temperature' or 'identity', got {method!r}"
            )
        temperature = data.get("temperature", 1.0)
        if _number(temperature) is None or not 0 < temperature < math.inf:
            raise ValueError(
                f"{where}: 'temperature' must be a positive number, got {temperature!r}"
            )
        return cls(
            method=method,
            temperature=float(temperature) if method == "temperature" else 1.0,
            rows=int(_number(data.get("rows")) or 0),
            source=str(data.get("source") or ""),
            ece_before=_number(data.get("ece_before")),
            ece_after=_number(data.get("ece_after")),
            nll_before=_number(data.get("nll_before")),
            nll_after=_number(data.get("nll_after")),
            reason=str(data.get("reason") or ""),
            details={
                str(k): number
                for k, v in (data.get("details") or {}).items()
                if (number := _number(v)) is not None
            }
            if isinstance(data.get("details"), dict)
            else {},
        )

    def save(self, folder: Path) -> Path:
        """Write ``calibration.json`` into ``folder``; returns its path."""
        path = Path(folder) / CALIBRATION_FILE
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: Path) -> Calibration | None:
        """``folder``'s ``calibration.json``, or ``None`` when it has none.

        Raises:
            ValueError: the file is not valid JSON or not a calibration (the path is named).
        """
        path = Path(folder) / CALIBRATION_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_json(data, str(path))


def _rounded(value: Any) -> Any:
    """Floats (also inside a dict) to 6 digits, for a readable ``calibration.json``."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a finite JSON number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


#: The temperatures a fit may choose: outside them a few rows would be steering too hard.
TEMPERATURE_BOUNDS = (0.5, 4.0)
#: Fewer held-out rows than this tell too little to fit a temperature on: identity.
MIN_ROWS = 20
#: A temperature is kept only when it raises the held-out rows' log-likelihood by more than
#: chance would: twice the gain in total log-likelihood over the chi-squared (1 degree of
#: freedom) 99% point; below it the rows are as consistent with the raw probabilities. A few
#: dozen rows pin a temperature down to +-30% at best, and a chance fit hurts: on 24 re-splits
#: of banking-routing and ecommerce (48 train rows each), the 95% point lost log-likelihood
#: against never fitting, the 99% point kept both log-likelihood and ECE (checked on 12 of
#: mental-health: log-likelihood better than raw). A large miscalibration (a teacher whose
#: out-of-fold confidence is 0.6 at 0.9 accuracy) still passes it.
LIKELIHOOD_RATIO_GATE = 6.635


def fit_temperature(
    probs: Any,
    labels: Any,
    *,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
    min_rows: int = MIN_ROWS,
    null: float = 1.0,
) -> tuple[float, float, str]:
    """The temperature that maximises the likelihood of held-out rows.

    Args:
        probs: ``(n_rows, n_labels)`` held-out probabilities (never rows the model fitted).
        labels: each row's gold label, as a column index.
        bounds: the temperatures allowed (the fit cannot blow up on a few rows).
        min_rows: below this many rows the answer is ``null``.
        null: the temperature that stands unless the rows say otherwise (1.0: the raw
            probabilities); the fitted one must beat it by more than chance.

    Returns:
        ``(temperature, likelihood-ratio statistic, reason)``; the temperature is ``null``
        when there are too few rows or the gain is within chance (`LIKELIHOOD_RATIO_GATE`).
    """
    import numpy as np

    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(y) < min_rows:
        return null, 0.0, f"{len(y)} held-out rows, fewer than {min_rows}: no temperature fitted"
    logp = np.log(np.maximum(p, _TINY))
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    # The log-likelihood is concave in 1 / temperature, so a golden-section search over
    # log(temperature) finds the bounded optimum.
    best = _golden(lambda u: _nll(logp, y, math.exp(u)), lo, hi)
    temperature = math.exp(best)
    statistic = 2.0 * len(y) * (_nll(logp, y, null) - _nll(logp, y, temperature))
    against = "" if null == 1.0 else f" than {null:.2f} does"
    if statistic < LIKELIHOOD_RATIO_GATE:
        return (
            null,
            statistic,
            (
                f"temperature {temperature:.2f} fits the {len(y)} held-out rows no better{against} "
                f"than chance (likelihood ratio {statistic:.2f} < {LIKELIHOOD_RATIO_GATE})"
            ),
        )
    return (
        temperature,
        statistic,
        (
            f"temperature {temperature:.2f} fits the {len(y)} held-out rows better "
            f"(likelihood ratio {statistic:.2f} >= {LIKELIHOOD_RATIO_GATE})"
        ),
    )


def fit_sharpness(
    student: Any, teacher: Any, *, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
) -> float:
    """The temperature that makes ``student``'s probabilities closest to ``teacher``'s on the
    same texts (least cross-entropy): how much sharper (> 1) or softer the student is."""
    import numpy as np

    q = np.asarray(teacher, dtype=np.float64)
    logp = np.log(np.maximum(np.asarray(student, dtype=np.float64), _TINY))
    if not len(q):
        return 1.0
    q = q / np.maximum(q.sum(axis=1, keepdims=True), _TINY)
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    return math.exp(_golden(lambda u: _cross_entropy(logp, q, math.exp(u)), lo, hi))


def _log_softmax(logp: np.ndarray, temperature: float) -> np.ndarray:
    import numpy as np

    z = logp / temperature
    top = z.max(axis=1, keepdims=True)
    return z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))  # type: ignore[no-any-return]


def _nll(logp: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    import numpy as np

    return float(-_log_softmax(logp, temperature)[np.arange(len(labels)), labels].mean())


def _cross_entropy(logp: np.ndarray, target: np.ndarray, temperature: float) -> float:
    return float(-(target * _log_softmax(logp, temperature)).sum(axis=1).mean())


def _golden(f: Any, lo: float, hi: float, steps: int = 80) -> float:
    """The minimum of a unimodal ``f`` on ``[lo, hi]`` by golden-section search."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(steps):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return (a + b) / 2.0


# -- abstention ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdChoice:
    """What `threshold_for_precision` found on the labelled rows it was given.

    Unpacks as ``threshold, coverage, precision``.

    Attributes:
        threshold: the lowest ``min_confidence`` whose answered rows reach ``target``
            (``math.inf`` when none does: every text would get no answer).
        coverage: the share of rows answered at ``threshold`` (0.0 when unreached).
        precision: the accuracy of the answered rows (1.0 by convention when none are, as
            scikit-learn's ``precision_recall_curve`` has it at zero recall).
        rows: the labelled rows it was chosen on.
        target: the precision asked for.
    """

    threshold: float
    coverage: float
    precision: float
    rows: int
    target: float

    @property
    def reached(self) -> bool:
        """True when some threshold answers rows at the target precision."""
        return math.isfinite(self.threshold)

    def __iter__(self) -> Iterator[float]:
        return iter((self.threshold, self.coverage, self.precision))


def precision_threshold(
    confidence: Sequence[float], correct: Sequence[bool], target: float
) -> ThresholdChoice:
    """The lowest confidence threshold at which the answered rows reach ``target`` precision.

    Rows with ``confidence >= threshold`` are answered. Every distinct confidence is a
    candidate; the lowest that reaches ``target`` answers the most rows.

    Args:
        confidence: each row's top probability.
        correct: whether each row's top label is right.
        target: the precision wanted, in ``(0, 1]``.

    Example:
        >>> precision_threshold([0.9, 0.8, 0.7, 0.6], [True, True, False, True], 0.75)
        ThresholdChoice(threshold=0.6, coverage=1.0, precision=0.75, rows=4, target=0.75)
    """
    if isinstance(target, bool) or not 0.0 < target <= 1.0:
        raise ValueError(f"the target precision must lie in (0, 1], got {target!r}")
    rows = sorted(_flags(confidence, correct), key=lambda r: -r[0])
    if not rows:
        raise ValueError("no labelled rows to choose a threshold on")
    best: ThresholdChoice | None = None
    right = 0
    for k, (conf, ok) in enumerate(rows, start=1):
        right += ok
        # A threshold answers every row of its confidence: only the last of equal values counts.
        if k < len(rows) and rows[k][0] == conf:
            continue
        if right / k >= target - 1e-12:
            best = ThresholdChoice(conf, k / len(rows), right / k, len(rows), target)
    return best or ThresholdChoice(math.inf, 0.0, 1.0, len(rows), target)


@dataclass(frozen=True)
class CoveragePoint:
    """Accuracy when only the most confident texts are answered: the ``answered`` texts whose
    top probability is at least ``threshold``, ``coverage`` of all of them."""

    coverage: float
    threshold: float
    answered: int
    accuracy: float


def coverage_points(
    confidence: Sequence[float], correct: Sequence[bool], coverages: Sequence[float] = COVERAGES
) -> list[CoveragePoint]:
    """Accuracy against coverage: for each share of ``coverages``, the threshold that answers
    at least that share of the texts (most confident first) and the accuracy of those. Shares
    that answer the same texts (ties, or few texts) give one point."""
    rows = sorted(_flags(confidence, correct), key=lambda r: -r[0])
    out: list[CoveragePoint] = []
    for share in coverages:
        if not rows:
            break
        k = min(len(rows), max(1, math.ceil(share * len(rows) - 1e-9)))
        threshold = rows[k - 1][0]
        answered = [ok for conf, ok in rows if conf >= threshold]  # ties answered too
        if out and out[-1].answered == len(answered):
            continue
        out.append(
            CoveragePoint(
                coverage=len(answered) / len(rows),
                threshold=threshold,
                answered=len(answered),
                accuracy=sum(answered) / len(answered),
            )
        )
    return out

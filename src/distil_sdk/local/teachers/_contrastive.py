"""A contrastively tuned encoder for the embedded teacher, chosen per task by cross-validation.

SetFit's idea, at a bounded cost: the sentence encoder is tuned on pairs of gold rows (each row
paired, per iteration, with one row of its class and one of another; cosine similarity regressed
on 1 / 0) before logistic regression is fitted on its vectors. On few rows of short texts this
lifted plain logistic regression by 3 to 9 test rows in 10 (a 7-class task with 7 rows per
class, three seeds), and on the shared tasks it moved them a few rows either way
(`benchmarks/probe_contrastive.py`, docs/benchmark-results.md). So it is a candidate, not a
default:

* it is considered only when its tuning work is small (`tuning_tokens` under `MAX_TOKENS`:
  counted, not timed, so a task always gets the same candidates however busy the machine);
* `cross_validate_tuning` scores it against the frozen encoder on the same stratified folds,
  the tuning repeated inside every fold (tuned on all rows, the held-out rows would leak into
  the encoder), at every plain-logistic-regression strength, the class descriptions joining
  every training fold as they join the teacher's; each encoder's best strength is picked as the
  recipe CV picks (accuracy, then held-out log-loss), and the tuned encoder is kept only when
  its best is strictly more accurate (`keeps_tuned`);
* the folds' held-out probabilities are the tuned teacher's out-of-fold evidence for the
  student's calibration (`TunedEvidence`), with the fold models' probabilities on a sample of
  the unlabelled texts for the fold bias.

Example::

    decision, folds = cross_validate_tuning(encoder, texts, y, descriptions, n_classes, seed=0)
    if decision.tuned:
        encoder = tune(encoder, texts, y.tolist(), seed=0)
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._fs import staged_folder
from ._recipes import predict_proba, single_thread_blas

if TYPE_CHECKING:
    from .._jobs.encoders import Encoder

logger = logging.getLogger("distil_sdk")

__all__ = [
    "MAX_TOKENS",
    "MIN_ROWS",
    "FoldModel",
    "TunedEvidence",
    "TuningDecision",
    "cross_validate_tuning",
    "fold_reference",
    "keeps_tuned",
    "pairs",
    "save_encoder",
    "tune",
    "tuning_tokens",
]

#: Pair iterations: SetFit's default is 20; 5 gave the same lift on short texts at a quarter of
#: the cost, and 20 cost a 24-row task of long texts 4 to 6 test rows in 56.
ITERATIONS = 5
BATCH = 16
LEARNING_RATE = 2e-5
#: Truncation while tuning (embedding keeps the teacher's own): the cost grows with it.
TUNE_MAX_LENGTH = 128
#: Work allowed for one tuning on all rows, in word pieces through the encoder (both sides of
#: every pair). MiniLM tunes at 0.8 to 1.1 thousand word pieces a second on a 2-core CPU, so this
#: is 25 to 40 s; the cross-validation costs about three tunings more, so the candidate adds at
#: most about two minutes to a flow. Few rows of short texts pass (a 64-row task of sentences:
#: about 20,000); a few dozen rows of long texts do not (24 product listings: about 45,000).
MAX_TOKENS = 30_000
FOLDS = 4
#: Fewer gold rows than this are too few to score a tuning on (the recipe's own CV needs 6).
MIN_ROWS = 8
#: The plain logistic-regression strengths scored on both encoders (as in `_recipes`).
STRENGTHS = (1.0, 3.0, 10.0, 30.0, 100.0)


def pairs(
    labels: Sequence[int], iterations: int, rng: random.Random
) -> list[tuple[int, int, float]]:
    """SetFit's pairs: per iteration, every row with one row of its class (1.0) and one of
    another class (0.0); a row alone in its class gets no positive pair."""
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    mates = [[j for j in by_class[y] if j != i] for i, y in enumerate(labels)]
    others = {y: [j for j in range(len(labels)) if labels[j] != y] for y in by_class}
    out: list[tuple[int, int, float]] = []
    for _ in range(iterations):
        for i, y in enumerate(labels):
            same, other = mates[i], others[y]
            if same:
                out.append((i, rng.choice(same), 1.0))
            if other:
                out.append((i, rng.choice(other), 0.0))
    rng.shuffle(out)
    return out


def tuning_tokens(
    tokenizer: Any, texts: Sequence[str], labels: Sequence[int], iterations: int | None = None
) -> int:
    """Word pieces one tuning on ``texts`` passes through the encoder (both sides of a pair)."""
    if not texts:
        return 0
    encoded = tokenizer(list(texts), truncation=True, max_length=TUNE_MAX_LENGTH)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    n_pairs = len(pairs(labels, ITERATIONS if iterations is None else iterations, random.Random(0)))
    return int(n_pairs * 2 * float(np.mean(lengths)))


def tune(
    encoder: Encoder,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    seed: int,
    iterations: int | None = None,
    learning_rate: float | None = None,
) -> Encoder:
    """A copy of ``encoder`` tuned on pairs of ``texts``; ``encoder`` itself is not changed.

    `ITERATIONS` of pairs (or ``iterations``), AdamW at `LEARNING_RATE` (or ``learning_rate``),
    batch `BATCH`, one pass over the pairs with a linear ramp over the first 10% of steps and a
    linear decay to 0. The global torch random state is left as it was.
    """
    import torch

    from .._jobs.encoders import Encoder, mean_pool

    model = copy.deepcopy(encoder.model)
    tokenizer = encoder.tokenizer
    todo = pairs(labels, ITERATIONS if iterations is None else iterations, random.Random(seed))
    steps = max(1, (len(todo) + BATCH - 1) // BATCH)
    warm = max(1, steps // 10)
    lr = LEARNING_RATE if learning_rate is None else learning_rate
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm)),
    )

    def pooled(chunk: Sequence[str]) -> Any:
        batch = tokenizer(
            list(chunk),
            padding=True,
            truncation=True,
            max_length=min(TUNE_MAX_LENGTH, encoder.max_length),
            return_tensors="pt",
        )
        return mean_pool(model(**batch).last_hidden_state, batch["attention_mask"])

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.train()
        for start in range(0, len(todo), BATCH):
            chunk = todo[start : start + BATCH]
            u = pooled([texts[a] for a, _, _ in chunk])
            v = pooled([texts[b] for _, b, _ in chunk])
            target = torch.tensor([t for _, _, t in chunk], dtype=u.dtype)
            loss = torch.nn.functional.mse_loss(torch.cosine_similarity(u, v), target)
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
    model.eval()
    return Encoder(encoder.name, tokenizer, model, encoder.max_length)


def save_encoder(encoder: Encoder, folder: Path) -> Path:
    """Write ``encoder`` as a Hugging Face folder at ``folder``, whole or not at all."""
    with staged_folder(folder) as tmp:
        encoder.model.save_pretrained(tmp)
        encoder.tokenizer.save_pretrained(tmp)
    return folder


@dataclass
class TunedEvidence:
    """The tuned teacher's out-of-fold evidence for calibration.

    ``probs[i]`` comes from a fold whose encoder and head never saw gold row ``i`` (label index
    ``labels[i]``). ``fold_ref[k]`` is fold ``k``'s probabilities on ``ref_texts`` (unlabelled
    texts), to compare with the teacher's own for the fold bias; empty without such texts.
    """

    probs: np.ndarray
    labels: np.ndarray
    ref_texts: list[str] = field(default_factory=list)
    fold_ref: list[np.ndarray] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (probabilities rounded to 6 places)."""
        return {
            "probs": np.round(self.probs, 6).tolist(),
            "labels": self.labels.tolist(),
            "ref_texts": list(self.ref_texts),
            "fold_ref": [np.round(p, 6).tolist() for p in self.fold_ref],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TunedEvidence:
        """The inverse of `to_json`."""
        return cls(
            np.asarray(data["probs"], dtype=np.float64),
            np.asarray(data["labels"], dtype=np.int64),
            [str(t) for t in data["ref_texts"]],
            [np.asarray(p, dtype=np.float64) for p in data["fold_ref"]],
        )


@dataclass
class TuningDecision:
    """Whether the tuned encoder won the cross-validation, and the scores it was judged on."""

    tuned: bool
    #: the strength of the winner's best plain logistic regression
    c: float
    cv_frozen: dict[str, float]
    cv_tuned: dict[str, float]
    folds: int
    seconds: float
    tokens: int
    evidence: TunedEvidence | None = None
    #: Held-out log-loss per candidate, which breaks ties of accuracy.
    log_loss_frozen: dict[str, float] = field(default_factory=dict)
    log_loss_tuned: dict[str, float] = field(default_factory=dict)
    #: The cache key of the encoder tuned on all the decision's rows ("" when frozen won): a
    #: retrain that reuses the decision reuses that encoder too.
    encoder_key: str = ""

    @property
    def best_frozen(self) -> tuple[float, float]:
        """The frozen encoder's best fold accuracy and its held-out log-loss."""
        return _best(self.cv_frozen, self.log_loss_frozen)

    @property
    def best_tuned(self) -> tuple[float, float]:
        """The tuned encoder's best fold accuracy and its held-out log-loss."""
        return _best(self.cv_tuned, self.log_loss_tuned)

    def summary(self) -> str:
        """One log line."""
        verdict = "tuned encoder kept" if self.tuned else "frozen encoder kept"
        (tuned, tuned_loss), (frozen, frozen_loss) = self.best_tuned, self.best_frozen
        tie = (
            f", log-loss {tuned_loss:.3f} against {frozen_loss:.3f}"
            if round(tuned, 4) == round(frozen, 4)
            else ""
        )
        return (
            f"contrastive tuning: {verdict}: {self.folds}-fold accuracy {tuned:.3f} tuned "
            f"against {frozen:.3f} frozen{tie} ({self.tokens} word pieces per tuning, "
            f"{self.seconds:.1f}s)"
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready record."""
        return {
            "tuned": self.tuned,
            "c": self.c,
            "cv_frozen": {k: round(v, 4) for k, v in self.cv_frozen.items()},
            "cv_tuned": {k: round(v, 4) for k, v in self.cv_tuned.items()},
            "log_loss_frozen": {k: round(v, 4) for k, v in self.log_loss_frozen.items()},
            "log_loss_tuned": {k: round(v, 4) for k, v in self.log_loss_tuned.items()},
            "folds": self.folds,
            "seconds": round(self.seconds, 2),
            "tokens": self.tokens,
            "evidence": None if self.evidence is None else self.evidence.to_json(),
            "encoder_key": self.encoder_key,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TuningDecision:
        """The inverse of `to_json`."""
        evidence = data.get("evidence")
        return cls(
            bool(data["tuned"]),
            float(data["c"]),
            {str(k): float(v) for k, v in data["cv_frozen"].items()},
            {str(k): float(v) for k, v in data["cv_tuned"].items()},
            folds=int(data["folds"]),
            seconds=float(data["seconds"]),
            tokens=int(data["tokens"]),
            evidence=None if evidence is None else TunedEvidence.from_json(evidence),
            log_loss_frozen={str(k): float(v) for k, v in data.get("log_loss_frozen", {}).items()},
            log_loss_tuned={str(k): float(v) for k, v in data.get("log_loss_tuned", {}).items()},
            encoder_key=str(data.get("encoder_key", "")),
        )


@dataclass
class FoldModel:
    """One fold's tuned encoder and head (kept to score unlabelled texts for the fold bias)."""

    encoder: Encoder
    head: Any


def _fit_lr(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x, y)


def _name(c: float) -> str:
    return f"C={c:g}"


def cross_validate_tuning(
    encoder: Encoder,
    texts: Sequence[str],
    y: np.ndarray,
    x_frozen: np.ndarray,
    descriptions: Sequence[str],
    x_desc_frozen: np.ndarray,
    n_classes: int,
    *,
    seed: int,
    tokens: int = 0,
) -> tuple[TuningDecision, list[FoldModel]]:
    """Score the tuned encoder against the frozen one on `FOLDS` stratified folds.

    ``x_frozen`` / ``x_desc_frozen``: the frozen encoder's vectors of ``texts`` and of the class
    descriptions, which (as in the recipe's CV) join every training fold. Both encoders get
    plain logistic regression at every `STRENGTHS`, and each is judged by its best candidate
    (`keeps_tuned`). Returns the decision (with the out-of-fold evidence when tuned wins) and
    the winning folds' models (empty when frozen wins).
    """
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    folds = min(FOLDS, int(np.bincount(y)[np.bincount(y) > 0].min()))
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    held_frozen, held_tuned, fold_heads, fold_encoders = _fold_models(
        encoder, texts, y, x_frozen, descriptions, x_desc_frozen, n_classes, seed, splits
    )
    acc_frozen, loss_frozen = _scores(held_frozen, y)
    acc_tuned, loss_tuned = _scores(held_tuned, y)
    best_tuned = _best_name(acc_tuned, loss_tuned)
    best_frozen = _best_name(acc_frozen, loss_frozen)
    won = keeps_tuned(
        (acc_tuned[best_tuned], loss_tuned[best_tuned]),
        (acc_frozen[best_frozen], loss_frozen[best_frozen]),
    )
    winner = best_tuned if won else best_frozen
    decision = TuningDecision(
        won,
        STRENGTHS[_index(winner)],
        acc_frozen,
        acc_tuned,
        folds=folds,
        seconds=time.perf_counter() - started,
        tokens=tokens,
        evidence=TunedEvidence(held_tuned[best_tuned], y.copy()) if won else None,
        log_loss_frozen=loss_frozen,
        log_loss_tuned=loss_tuned,
    )
    models = (
        [FoldModel(e, h) for e, h in zip(fold_encoders, fold_heads[best_tuned], strict=True)]
        if won
        else []
    )
    logger.info("%s", decision.summary())
    return decision, models


def _fold_models(
    encoder: Encoder,
    texts: Sequence[str],
    y: np.ndarray,
    x_frozen: np.ndarray,
    descriptions: Sequence[str],
    x_desc_frozen: np.ndarray,
    n_classes: int,
    seed: int,
    splits: Any,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[Any]], list[Encoder]]:
    """Per strength: both encoders' out-of-fold probabilities and the tuned folds' heads; and
    the folds' tuned encoders (each tuned on its fold's training rows only)."""
    y_desc = np.arange(n_classes)
    names = [_name(c) for c in STRENGTHS]
    held_frozen = {name: np.zeros((len(y), n_classes)) for name in names}
    held_tuned = {name: np.zeros((len(y), n_classes)) for name in names}
    fold_heads: dict[str, list[Any]] = {name: [] for name in names}
    fold_encoders: list[Encoder] = []
    for k, (fit_rows, held) in enumerate(splits):
        tuned = tune(encoder, [texts[i] for i in fit_rows], y[fit_rows].tolist(), seed=seed + k)
        fold_encoders.append(tuned)
        x_tuned = tuned.embed(list(texts))
        x_desc = tuned.embed(list(descriptions))
        with single_thread_blas():
            for c, name in zip(STRENGTHS, names, strict=True):
                frozen = _fit_lr(
                    np.vstack([x_frozen[fit_rows], x_desc_frozen]),
                    np.concatenate([y[fit_rows], y_desc]),
                    c,
                    seed,
                )
                held_frozen[name][held] = predict_proba(frozen, x_frozen[held], n_classes)
                head = _fit_lr(
                    np.vstack([x_tuned[fit_rows], x_desc]),
                    np.concatenate([y[fit_rows], y_desc]),
                    c,
                    seed,
                )
                held_tuned[name][held] = predict_proba(head, x_tuned[held], n_classes)
                fold_heads[name].append(head)
    return held_frozen, held_tuned, fold_heads, fold_encoders


def keeps_tuned(tuned: tuple[float, float], frozen: tuple[float, float]) -> bool:
    """The decision rule on ``(accuracy, log-loss)`` of each encoder's best candidate: the tuned
    encoder only with a strictly higher accuracy. A tie keeps the frozen encoder, which costs
    nothing more; log-loss does not break it (it picks each encoder's best strength, within one
    vector space, as in the recipe CV), because across spaces it measures the tuning's
    sharpness more than its correctness: the tuned encoder had the lower log-loss in every
    accuracy tie measured, and kept on those ties it lost 3 to 4 test rows in 97 to 128 on two of
    five (docs/benchmark-results.md, "The contrastive candidate in the flow")."""
    return tuned[0] > frozen[0]


def _scores(
    held: dict[str, np.ndarray], y: np.ndarray
) -> tuple[dict[str, float], dict[str, float]]:
    """Accuracy and mean log-loss of each candidate's out-of-fold probabilities."""
    accuracy, loss = {}, {}
    for name, probs in held.items():
        accuracy[name] = float((probs.argmax(axis=1) == y).mean())
        right = np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)
        loss[name] = float(-np.log(right).mean())
    return accuracy, loss


def _best_name(accuracy: dict[str, float], loss: dict[str, float]) -> str:
    """The candidate with the best accuracy, then the lowest log-loss (as the recipe CV)."""
    return max(accuracy, key=lambda name: (round(accuracy[name], 12), -loss[name]))


def _best(accuracy: dict[str, float], loss: dict[str, float]) -> tuple[float, float]:
    if not loss:  # a record without log-losses
        return max(accuracy.values()), float("nan")
    name = _best_name(accuracy, loss)
    return accuracy[name], loss[name]


def _index(name: str) -> int:
    return [_name(c) for c in STRENGTHS].index(name)


def fold_reference(models: Sequence[FoldModel], texts: Sequence[str], n_classes: int) -> list[Any]:
    """Each fold model's probabilities on ``texts`` (for the fold bias)."""
    out = []
    with single_thread_blas():
        for model in models:
            out.append(predict_proba(model.head, model.encoder.embed(list(texts)), n_classes))
    return out

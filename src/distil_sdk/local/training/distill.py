"""The student's training loop: weighted soft-target cross-entropy (distillation) on CPU.

Every training row carries a target distribution and a weight. Gold rows have one-hot targets
(hard labels); teacher-labelled rows carry the teacher's probabilities, softened/sharpened by a
temperature, and are trained with the usual ``T^2``-scaled KL term (cross-entropy against a soft
target differs from KL only by the target's entropy, a constant). Student-base is the same loop
with gold rows only.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._metrics import classification_report
from .._jobs.epochs import epoch_line
from .student import Student

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("distil_sdk")

__all__ = ["EpochLog", "TrainSettings", "evaluate_held_out", "sharpen", "train_student"]


@dataclass
class TrainSettings:
    """Optimisation settings, normally read from the task's ``tuning`` section."""

    learning_rate: float = 5e-5
    scheduler: str = "linear"
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    epochs: int = 4
    batch_size: int = 8
    seed: int = 0
    #: A freshly initialised head needs a much larger step than the pre-trained body.
    head_lr_multiplier: float = 20.0
    temperature: float = 1.0
    #: Optional cap on optimiser steps per epoch (bounds CPU time on large unlabelled sets).
    max_steps_per_epoch: int | None = None


@dataclass
class EpochLog:
    """One row of ``training-logs.csv``."""

    stage: str
    epoch: int
    #: ``None`` on a row that trained nothing (see `evaluate_held_out`).
    train_loss: float | None
    eval_loss: float | None = None
    eval_accuracy: float | None = None
    eval_macro_f1: float | None = None
    learning_rate: float = 0.0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def sharpen(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Re-temper probabilities: ``p ** (1/T)`` renormalised (T < 1 sharpens, T > 1 softens)."""
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / max(temperature, 1e-6)
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar-length rows: much less padding, still a random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 16
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        group = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(group[j : j + batch_size] for j in range(0, len(group), batch_size))
    rng.shuffle(batches)
    return batches


def _evaluate(
    student: Student, ids: list[list[int]], gold: Sequence[str]
) -> tuple[float, float, float]:
    """(loss, accuracy, macro-F1) on held-out gold rows."""
    logits = student.logits(ids).astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    index = {label: i for i, label in enumerate(student.labels)}
    y = np.array([index[g] for g in gold])
    loss = float(-logp[np.arange(len(y)), y].mean())
    pred = [student.labels[i] for i in logits.argmax(axis=1)]
    report = classification_report(list(gold), pred, student.labels)
    return loss, float(report["accuracy"]), float(report["macro avg"]["f1-score"])


def evaluate_held_out(
    student: Student, texts: Sequence[str], labels: Sequence[str], *, stage: str, epoch: int
) -> EpochLog | None:
    """A log row with ``student``'s held-out loss, accuracy and macro-F1 as it is now, without
    training (``train_loss`` is ``None``); ``None`` when there are no held-out rows.

    The pipeline logs the weight-averaged student this way, so ``training-logs.csv`` ends
    with the figures of the weights that were saved, not only those of the last epoch.
    """
    if not texts:
        return None
    started = time.perf_counter()
    row = EpochLog(stage, epoch, None)  # Student.logits puts the model in eval mode itself
    row.eval_loss, row.eval_accuracy, row.eval_macro_f1 = _evaluate(
        student, student.encode(texts), labels
    )
    row.seconds = round(time.perf_counter() - started, 2)
    return row


def train_student(
    student: Student,
    texts: Sequence[str],
    targets: np.ndarray,
    weights: np.ndarray,
    settings: TrainSettings,
    *,
    soft: np.ndarray | None = None,
    eval_texts: Sequence[str] = (),
    eval_labels: Sequence[str] = (),
    stage: str = "train",
    should_stop: Callable[[], bool] | None = None,
) -> list[EpochLog]:
    """Fine-tune ``student`` in place and return one log row per epoch.

    ``targets`` is ``(n, k)`` (rows sum to 1), ``weights`` ``(n,)``; ``soft`` marks the rows that
    get the temperature treatment. With ``eval_texts`` the best epoch on them (accuracy, then
    loss) is kept, which guards against the last epochs over-fitting a few dozen gold rows.
    """
    import torch

    random.seed(settings.seed)
    np.random.seed(settings.seed % (2**32))
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    model = student.model
    ids = student.encode(texts)
    eval_ids = student.encode(eval_texts) if eval_texts else []
    rows = _RowTensors.build(targets, weights, soft, settings.temperature)
    steps_per_epoch = math.ceil(len(ids) / settings.batch_size)
    if settings.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, settings.max_steps_per_epoch)
    optimiser = _Optimiser.build(model, settings, max(1, steps_per_epoch * settings.epochs))
    logs: list[EpochLog] = []
    best: tuple[float, float] | None = None
    best_state: dict[str, Any] | None = None
    lengths = [len(x) for x in ids]
    for epoch in range(1, settings.epochs + 1):
        started = time.perf_counter()
        model.train()
        batches = _batches(lengths, settings.batch_size, rng)[:steps_per_epoch]
        losses = [
            _train_step(student, ids, batch, rows, optimiser, should_stop) for batch in batches
        ]
        train_loss = float(np.mean(losses)) if losses else 0.0
        row = EpochLog(stage, epoch, train_loss, learning_rate=optimiser.last_lr())
        if eval_ids:
            row.eval_loss, row.eval_accuracy, row.eval_macro_f1 = _evaluate(
                student, eval_ids, eval_labels
            )
            key = (row.eval_accuracy, -row.eval_loss)
            if best is None or key >= best:  # ties go to the later epoch: more training, same score
                best = key
                best_state = copy.deepcopy(model.state_dict())
                row.extra["best"] = True
        row.seconds = round(time.perf_counter() - started, 2)
        logs.append(row)
        # Into the job's log, which clients show while they wait (see local._jobs.epochs).
        durations = [r.seconds for r in logs]
        logger.info(
            "%s",
            epoch_line(stage, epoch, settings.epochs, train_loss, durations, row.eval_accuracy),
        )
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return logs


@dataclass
class _RowTensors:
    """Per-row training targets (soft rows re-tempered), weights and temperatures."""

    targets: torch.Tensor
    weights: torch.Tensor
    temperatures: torch.Tensor

    @classmethod
    def build(
        cls, targets: np.ndarray, weights: np.ndarray, soft: np.ndarray | None, temperature: float
    ) -> _RowTensors:
        import torch

        mask = np.zeros(len(targets), dtype=bool) if soft is None else np.asarray(soft, dtype=bool)
        return cls(
            torch.tensor(
                np.where(mask[:, None], sharpen(targets, temperature), targets),
                dtype=torch.float32,
            ),
            torch.tensor(weights, dtype=torch.float32),
            torch.tensor(np.where(mask, temperature, 1.0), dtype=torch.float32),
        )


#: Parameter names of the classification head (trained at ``head_lr_multiplier`` x the rate).
_HEAD_NAMES = ("classifier", "pooler", "score", "pre_classifier")


@dataclass
class _Optimiser:
    """AdamW over the trainable parameters (head and body at their own rates) and its schedule."""

    optimizer: Any
    scheduler: Any
    trainable: list[Any]

    @classmethod
    def build(cls, model: Any, settings: TrainSettings, total_steps: int) -> _Optimiser:
        import torch
        from transformers import get_scheduler

        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        head = [p for n, p in trainable if any(h in n for h in _HEAD_NAMES)]
        body = [p for n, p in trainable if not any(h in n for h in _HEAD_NAMES)]
        optimizer = torch.optim.AdamW(
            [
                {"params": body, "lr": settings.learning_rate},
                {"params": head, "lr": settings.learning_rate * settings.head_lr_multiplier},
            ],
            weight_decay=settings.weight_decay,
        )
        # "constant" still honours warmup_ratio, like the platform's trainer.
        schedule = {"linear": "linear", "cosine": "cosine"}.get(
            settings.scheduler, "constant_with_warmup"
        )
        scheduler = get_scheduler(
            schedule,
            optimizer,
            num_warmup_steps=int(settings.warmup_ratio * total_steps),
            num_training_steps=total_steps,
        )
        return cls(optimizer, scheduler, [p for _, p in trainable])

    def last_lr(self) -> float:
        """The body's learning rate after the last step (the schedule's current value)."""
        return float(self.scheduler.get_last_lr()[0])


def _train_step(
    student: Student,
    ids: Sequence[list[int]],
    batch_idx: list[int],
    rows: _RowTensors,
    optimiser: _Optimiser,
    should_stop: Callable[[], bool] | None,
) -> float:
    """One optimiser step on the rows ``batch_idx``: the weighted soft cross-entropy's value."""
    import torch

    if should_stop is not None and should_stop():
        raise RuntimeError("training stopped")
    batch = student.collate([ids[i] for i in batch_idx])
    logits = student.model(**batch).logits
    temp = rows.temperatures[batch_idx]
    logp = torch.log_softmax(logits / temp[:, None], dim=-1)
    per_row = -(rows.targets[batch_idx] * logp).sum(dim=-1) * temp**2
    w = rows.weights[batch_idx]
    loss = (per_row * w).sum() / w.sum().clamp(min=1e-9)
    optimiser.optimizer.zero_grad()
    loss.backward()  # type: ignore[no-untyped-call]
    torch.nn.utils.clip_grad_norm_(optimiser.trainable, 1.0)
    optimiser.optimizer.step()
    optimiser.scheduler.step()
    return float(loss.detach())

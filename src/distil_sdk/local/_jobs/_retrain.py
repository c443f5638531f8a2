"""Retraining: what a training keeps for the next run of the same task, and how that run uses it.

Each training records the teacher's labels for its distillation texts (`RunRecord`: content
hashes of the gold rows and the texts, and the teacher's probabilities) under
``<embedding cache>/runs/<task key>/``. The task key covers what makes two runs the same task:
the classes and their descriptions, the student and teacher models, the teacher's kind and the
seed. A later training of that task whose gold rows include every gold row of a recorded run
(rows or unlabelled texts were added, none removed or relabelled) is a *retrain* of the largest
such run:

* the student still starts as a copy of the (refitted) teacher, so it already labels every text
  the way the new teacher does;
* distillation then reads only what the change can have moved: the gold rows, the texts that are
  new or whose teacher label changed (`RetrainSettings.changed_tv`), and a seeded replay sample
  of the others. Its cost follows the size of the change, not of the task;
* student-base (the gold-only comparison figure) continues from the earlier run's student-base,
  kept beside its record in half precision, for the added rows' share of its epochs (at least
  `RetrainSettings.base_min_epochs`).

Sentence embeddings are reused through the embedded teacher's content-keyed cache beside it, so
a retrain encodes only the texts it has not seen. ``DISTIL_RETRAIN_CACHE`` moves the run records
(a folder) or, set to ``off``, turns retraining into a full training.

Example::

    previous = find_previous(root, key, gold, texts)       # None: a first training
    keep = retrain_rows(previous, texts, probs, seed=0)    # mask of the texts to distil on
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._fs import atomic_writer

if TYPE_CHECKING:
    from ..training import Student, TrainSettings
    from .training_stages import TrainingRun, Transfer

logger = logging.getLogger("distil_sdk")

__all__ = [
    "RETRAIN_CACHE_ENV",
    "RetrainSettings",
    "RunRecord",
    "find_previous",
    "gold_hashes",
    "remember_teacher_labels",
    "retrain_cache_dir",
    "retrain_rows",
    "retrain_transfer",
    "save_base",
    "task_key",
    "text_hashes",
    "warm_start_base",
    "write_record",
]

#: A folder for the run records, or ``off`` (also ``0``, ``false``, ``no``) for none.
RETRAIN_CACHE_ENV = "DISTIL_RETRAIN_CACHE"
_OFF = frozenset({"0", "off", "false", "no", "none"})
#: Run records kept per task: enough for a few branches off one run (two candidate sets of
#: added rows, each retrained from the same first run) without growing without bound.
KEEP_RECORDS = 8
#: Student-base weights kept per task (about 45 MB each for all-MiniLM-L6-v2 in half precision):
#: the newest runs', enough to retrain from the last run or two.
KEEP_BASES = 2
BASE_SUFFIX = ".base.safetensors"


@dataclass(frozen=True)
class RetrainSettings:
    """How a retrain picks its distillation texts (defaults: see the module docstring).

    ``changed_tv``: a text whose teacher probabilities moved by more than this total-variation
    distance counts as changed (so does one whose top label changed). ``replay_ratio`` /
    ``replay_min``: unchanged texts replayed, as a multiple of the changed ones and at least this
    many, so the student keeps what it knew. ``full_above``: when the texts to read would be more
    than this share of all of them, the retrain reads all (a large change is a new training).
    ``base_min_epochs``: a continued student-base trains at least this many epochs.
    """

    changed_tv: float = 0.1
    replay_ratio: float = 1.0
    replay_min: int = 64
    full_above: float = 0.8
    base_min_epochs: int = 2


def retrain_cache_dir(embedding_cache: Path | None) -> Path | None:
    """Where run records live: ``$DISTIL_RETRAIN_CACHE``, else ``runs/`` inside the embedding
    cache (so a benchmark flow with its own embedding cache has its own records too); ``None``
    when switched off or when there is no embedding cache."""
    env = os.environ.get(RETRAIN_CACHE_ENV, "").strip()
    if env.lower() in _OFF:
        return None
    if env:
        return Path(env).expanduser()
    return None if embedding_cache is None else Path(embedding_cache) / "runs"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def task_key(
    labels: Sequence[str], descriptions: dict[str, str], config: Any, teacher_kind: str
) -> str:
    """The hash naming a task's run records (see the module docstring)."""
    base = getattr(config, "base", None)
    parts = [
        list(labels),
        [descriptions.get(label, "") for label in labels],
        str(getattr(base, "student_model_name", None)),
        str(getattr(base, "teacher_model_name", None)),
        int(getattr(base, "random_seed", 0) or 0),
        teacher_kind,
    ]
    return _sha(json.dumps(parts, ensure_ascii=False))


def gold_hashes(texts: Sequence[str], labels: Sequence[str]) -> list[str]:
    """One hash per gold row (text and label: a relabelled row is another row)."""
    return [_sha(f"{text}\0{label}") for text, label in zip(texts, labels, strict=True)]


def text_hashes(texts: Sequence[str]) -> list[str]:
    """One hash per text."""
    return [_sha(text) for text in texts]


@dataclass
class RunRecord:
    """One training's gold rows and teacher labels, as content hashes and probabilities."""

    path: Path
    gold: frozenset[str]
    texts: list[str]
    probs: np.ndarray

    @classmethod
    def read(cls, path: Path) -> RunRecord | None:
        """The record at ``path``, or ``None`` when it cannot be read (a cache: never fatal)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    path,
                    frozenset(str(x) for x in data["gold"]),
                    [str(x) for x in data["texts"]],
                    np.asarray(data["probs"], dtype=np.float64),
                )
        except (OSError, ValueError, KeyError) as exc:
            logger.debug("run record %s unreadable: %s", path, exc)
            return None


def find_previous(
    root: Path, key: str, gold: Sequence[str], texts: Sequence[str]
) -> RunRecord | None:
    """The run this training retrains: among the task's records whose gold rows are all among
    ``gold``, the one with the most rows (the newest on a tie). A record with the same gold
    rows and texts is the same training run again, which trains in full."""
    folder = root / key
    if not folder.is_dir():
        return None
    current, current_texts = frozenset(gold), frozenset(texts)
    best: tuple[int, float, RunRecord] | None = None
    for path in folder.glob("*.npz"):
        record = RunRecord.read(path)
        if record is None or not record.gold <= current:
            continue
        if record.gold == current and frozenset(record.texts) == current_texts:
            continue
        try:
            rank = (len(record.gold), path.stat().st_mtime)
        except OSError:
            continue
        if best is None or rank > best[:2]:
            best = (*rank, record)
    return None if best is None else best[2]


def write_record(
    root: Path,
    key: str,
    gold: Sequence[str],
    texts: Sequence[str],
    probs: np.ndarray,
    *,
    keep: Path | None = None,
) -> Path | None:
    """Record this training's teacher labels; ``None`` when the cache cannot be written (the
    next run then trains in full). Keeps the newest `KEEP_RECORDS` records of the task and the
    newest `KEEP_BASES` student-bases, and ``keep``'s (the run being retrained) whatever its age."""
    folder = root / key
    path = folder / f"{_sha(json.dumps(sorted(gold)) + json.dumps(list(texts)))}.npz"
    try:
        with atomic_writer(path, durable=False) as fh:
            np.savez_compressed(
                fh,
                gold=np.asarray(sorted(gold), dtype=str),
                texts=np.asarray(list(texts), dtype=str),
                probs=np.asarray(probs, dtype=np.float32),
            )
        records = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for n, old in enumerate(records):
            if old == keep:
                continue
            if n >= KEEP_RECORDS:
                old.unlink(missing_ok=True)
            if n >= KEEP_BASES:
                _base_path(old).unlink(missing_ok=True)
    except OSError as exc:
        logger.debug("run record write failed: %s", exc)
        return None
    return path


def retrain_rows(
    previous: RunRecord,
    texts: Sequence[str],
    probs: np.ndarray,
    *,
    seed: int,
    settings: RetrainSettings | None = None,
) -> tuple[np.ndarray, int]:
    """``(mask, changed)``: which of ``texts`` (hashes, with the teacher's new ``probs``) a
    retrain distils on, and how many of them are new or changed. The mask is all ``True``
    when the change is too large for a partial distillation (`RetrainSettings.full_above`)."""
    settings = settings or RetrainSettings()
    n = len(texts)
    row = {h: i for i, h in enumerate(previous.texts)}
    changed = np.ones(n, dtype=bool)
    probs = np.asarray(probs, dtype=np.float64)
    for i, h in enumerate(texts):
        j = row.get(h)
        if j is None or previous.probs.shape[1] != probs.shape[1]:
            continue  # a new text: changed
        old, new = previous.probs[j], probs[i]
        moved = 0.5 * float(np.abs(old - new).sum())
        changed[i] = bool(old.argmax() != new.argmax() or moved > settings.changed_tv)
    n_changed = int(changed.sum())
    unchanged = [i for i in range(n) if not changed[i]]
    replay = min(len(unchanged), max(settings.replay_min, round(settings.replay_ratio * n_changed)))
    if n == 0 or n_changed + replay > settings.full_above * n:
        return np.ones(n, dtype=bool), n_changed
    keep = changed.copy()
    keep[random.Random(seed).sample(unchanged, replay)] = True
    return keep, n_changed


# -- the training stages' side ---------------------------------------------------------------------
def _run_key(run: TrainingRun) -> tuple[Path, str] | None:
    """The run records' folder and this task's key, or ``None`` with no cache."""
    from ..pipeline import embedding_cache_dir

    root = retrain_cache_dir(embedding_cache_dir(run.work_dir))
    if root is None:
        return None
    job = run.bundle.job_description
    key = task_key(job.labels, dict(job.classes), run.bundle.config, type(run.teacher).__name__)
    return root, key


def remember_teacher_labels(run: TrainingRun, transfer: Transfer) -> None:
    """Find the run this training retrains (`find_previous`: ``run.previous``, ``None`` for a
    first training), then record this one's teacher labels for the next (``run.record``)."""
    where = _run_key(run)
    if where is None:
        return
    root, key = where
    gold = gold_hashes(run.bundle.train.texts, run.bundle.train.labels)
    texts = text_hashes(transfer.texts)
    run.previous = find_previous(root, key, gold, texts)
    keep = None if run.previous is None else run.previous.path
    run.record = write_record(root, key, gold, texts, transfer.probs, keep=keep)


def _base_path(record: Path) -> Path:
    return record.with_name(record.stem + BASE_SUFFIX)


def warm_start_base(run: TrainingRun, student: Student, settings: TrainSettings) -> None:
    """Start student-base from the previous run's student-base when it was kept and fits,
    for the added rows' share of ``settings.epochs`` (changed in place; noted on the run)."""
    previous = run.previous
    if previous is None:
        return
    path = _base_path(previous.path)
    if not path.is_file():
        return
    try:
        from safetensors.torch import load_file

        weights = load_file(str(path))
        state = student.model.state_dict()
        if set(weights) != set(state) or any(weights[k].shape != state[k].shape for k in state):
            logger.info("student-base starts fresh: the kept one is of another shape")
            return
        student.model.load_state_dict({k: v.to(state[k].dtype) for k, v in weights.items()})
    except (OSError, ValueError, RuntimeError) as exc:
        logger.info("student-base starts fresh: the kept one cannot be read (%s)", exc)
        return
    rows = len(run.bundle.train.texts)
    share = max(0.0, 1.0 - len(previous.gold) / max(rows, 1))
    epochs = max(RetrainSettings().base_min_epochs, int(np.ceil(settings.epochs * share)))
    run.note(
        f"retrain: student-base continued from the previous run's ({len(previous.gold)} of "
        f"{rows} gold rows) for {min(epochs, settings.epochs)} epochs instead of {settings.epochs}"
    )
    settings.epochs = min(epochs, settings.epochs)


def save_base(run: TrainingRun, student: Student) -> None:
    """Keep student-base beside this run's record, in half precision, for the next retrain
    (a failed write costs only the next retrain's time)."""
    if run.record is None:
        return
    try:
        from safetensors.torch import save_file

        state = student.model.state_dict()
        half = {
            k: v.detach().half().contiguous() if v.is_floating_point() else v.contiguous()
            for k, v in state.items()
        }
        target = _base_path(run.record)
        tmp = target.with_name(f".{target.name}.tmp")
        save_file(half, str(tmp))
        tmp.replace(target)  # atomic: a concurrent retrain never reads half a file
    except (OSError, ValueError, RuntimeError) as exc:
        logger.debug("student-base not kept: %s", exc)


def retrain_transfer(run: TrainingRun, transfer: Transfer) -> Transfer:
    """The teacher-labelled texts a retrain distils on (`retrain_rows`), noted on the run;
    ``transfer`` itself for a first training or a change too large for a partial one."""
    from .training_stages import Transfer

    previous = run.previous
    if previous is None or not len(transfer.texts):
        return transfer
    keep, changed = retrain_rows(
        previous, text_hashes(transfer.texts), transfer.probs, seed=run.seed
    )
    if keep.all():
        run.note(
            f"retrain: {changed} of {len(transfer.texts)} teacher-labelled texts are new or "
            "changed since the previous run, too many for a partial distillation: distilled "
            "on all of them"
        )
        return transfer
    rows = np.flatnonzero(keep)
    run.note(
        f"retrain of the run with {len(previous.gold)} gold rows: distilled on the "
        f"{changed} teacher-labelled texts that are new or changed and {len(rows) - changed} "
        f"others replayed ({len(rows)} of {len(transfer.texts)})"
    )
    return Transfer([transfer.texts[i] for i in rows], transfer.probs[rows])

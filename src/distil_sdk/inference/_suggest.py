"""``suggest_examples``: which unlabelled texts to label next.

Three signals, each in ``[0, 1]``, are averaged into a text's score:

* the student's uncertainty: one minus the margin between its two most probable labels;
* the teacher's uncertainty, when a teacher is at hand (the model folder keeps the embedded
  teacher's head, ``teacher-head.npz``);
* the disagreement between the two: the total-variation distance of their probabilities.

A labelled row helps most where the models are unsure or disagree, but the most uncertain texts
tend to be rewordings of one another. So the choice is spread over the pool, greedily (maximal
marginal relevance on sentence embeddings): among the ``candidates x k`` best-scored texts, each
next pick has the best score minus ``diversity`` times its cosine similarity to the nearest
earlier pick. Texts that differ only in case and spacing count once, and a text within
``duplicate_cosine`` of a pick is picked only when no other candidate is left.

Example::

    from distil_sdk import suggest_examples

    picks = suggest_examples("runs/triage/model", pool_texts, k=16)
    picks.write_csv("to-label.csv")        # question, answer (empty), rank, score, reasons...
    picks[0].reasons
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import DistilError
from ._suggestions import SuggestedExample, Suggestions, SupportsPredictProba

logger = logging.getLogger("distil_sdk")

__all__ = ["SuggestedExample", "Suggestions", "SupportsPredictProba", "suggest_examples"]


def suggest_examples(
    model: Any,
    texts: Iterable[str],
    k: int = 20,
    *,
    teacher: Any = None,
    exclude: Iterable[str] = (),
    encoder: Any = None,
    seed: int = 0,
    diversity: float = 0.5,
    candidates: float = 10.0,
    duplicate_cosine: float = 0.95,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Suggestions:
    """Rank unlabelled ``texts`` by how much labelling them should help, and pick ``k``.

    Args:
        model: the trained student: a `LocalClassifier`, a path it loads from, or any object
            with ``labels`` and ``predict_proba`` (`SupportsPredictProba`).
        texts: the unlabelled pool (for example the task's ``unstructured.csv`` texts).
        k: how many texts to suggest (fewer when the pool is smaller).
        teacher: ``None``: the embedded teacher saved in the model folder, when it holds one;
            ``False``: none; a model folder holding ``teacher-head.npz``; or any object with
            ``labels`` and ``predict_proba`` (and ``embed``, used for diversity).
        exclude: texts already labelled (the task's train and test texts): never suggested.
        encoder: the sentence encoder for diversity (and a saved teacher's head): a folder or
            hub id, or an object with ``embed(texts)``; default: the teacher's, else the
            bundled all-MiniLM-L6-v2.
        seed: decides between equal scores; the same inputs and seed give the same picks.
        diversity: how much a text's similarity to an earlier pick counts against it (0: by
            score alone).
        candidates: the choice is made among the ``candidates x k`` best-scored texts.
        duplicate_cosine: a text at least this similar to a pick is a near-copy, picked only
            when no other candidate is left.
        cache_dir: content-keyed embedding cache (default: ``$DISTIL_EMBEDDING_CACHE``, else
            the local platform's ``embedding-cache`` when it exists; training filled it).

    Returns:
        `Suggestions`, best first.

    Raises:
        ValueError: ``k`` below 1, or a teacher whose labels are not the model's.
        DistilError: a teacher folder without ``teacher-head.npz``.

    Example:
        >>> picks = suggest_examples("model", pool, k=16)           # doctest: +SKIP
        >>> picks.texts[:2], picks[0].reasons                        # doctest: +SKIP
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    clf = _as_model(model)
    labels = [str(x) for x in clf.labels]
    pool, skipped = _pool(texts, exclude)
    if not pool:
        return Suggestions([], (), 0, skipped)
    student = np.asarray(clf.predict_proba(pool), dtype=np.float64)
    judge, embedder = _resolve_teacher(teacher, clf, labels, encoder, cache_dir)
    teacher_probs = None if judge is None else _aligned(judge, pool, labels, embedder)
    signals, score = _scores(student, teacher_probs)
    vectors, source = _vectors(pool, embedder, encoder, cache_dir, student)
    picks, groups = _diverse_pick(
        score,
        vectors,
        k,
        seed=seed,
        factor=candidates,
        diversity=diversity,
        duplicate=duplicate_cosine,
    )
    examples = [
        _example(pool[i], rank, score, student, teacher_probs, labels, i, groups[i])
        for rank, i in enumerate(picks, start=1)
    ]
    return Suggestions(examples, (*signals, f"embeddings:{source}"), len(pool), skipped)


# -- inputs ------------------------------------------------------------------------------------
def _as_model(model: Any) -> SupportsPredictProba:
    if isinstance(model, (str, os.PathLike)):
        from ._classifier import LocalClassifier

        return LocalClassifier.from_pretrained(model)
    if not isinstance(model, SupportsPredictProba):
        raise TypeError(
            "model must be a LocalClassifier, a model path, or an object with labels and "
            f"predict_proba(texts); got {type(model).__name__}"
        )
    return model


_SPACE = re.compile(r"\s+")


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def _pool(texts: Iterable[str], exclude: Iterable[str]) -> tuple[list[str], dict[str, int]]:
    """The distinct, non-empty texts not in ``exclude`` (first spelling kept), and how many
    were left out for each reason."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of texts, not one string")
    seen = {_normal(t) for t in exclude if isinstance(t, str)}
    excluded = set(seen)
    pool: list[str] = []
    skipped = {"empty": 0, "duplicate": 0, "already labelled": 0}
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            skipped["empty"] += 1
            continue
        key = _normal(text)
        if key in seen:
            skipped["already labelled" if key in excluded else "duplicate"] += 1
            continue
        seen.add(key)
        pool.append(text)
    return pool, {reason: n for reason, n in skipped.items() if n}


def _embedder(name: str | None, max_length: int, cache_dir: Any) -> Any:
    """An embedded teacher used only to embed (its content-keyed disk cache included)."""
    from ..local.teachers.embedded import EmbeddedTeacher

    return EmbeddedTeacher(name, max_length=max_length, disk_cache=_cache_dir(cache_dir))


def _cache_dir(cache_dir: Any) -> Path | None:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("DISTIL_EMBEDDING_CACHE", "").strip()
    if env.lower() in ("0", "off", "false", "no", "none"):
        return None
    if env:
        return Path(env).expanduser()
    # The local platform's data folder (local.server.default_data_dir, not imported: it pulls
    # in the web server), whose embedding cache `distil-sdk train` filled.
    data = os.environ.get("DISTIL_DATA_DIR")
    root = Path(data).expanduser() if data else Path.home() / ".distil_sdk" / "local"
    folder = root / "embedding-cache"
    return folder if folder.is_dir() else None


def _resolve_teacher(
    teacher: Any, clf: Any, labels: list[str], encoder: Any, cache_dir: Any
) -> tuple[Any, Any]:
    """``(teacher, embedder)``: what scores the pool as the teacher (or ``None``) and what
    embeds it for the teacher's head and the diversity (or ``None``: decided later)."""
    from ..local.teachers._head import TEACHER_HEAD_FILE, TeacherHead

    if teacher is False:
        return None, None
    if teacher is None or isinstance(teacher, (str, os.PathLike)):
        where = Path(teacher) if teacher is not None else getattr(clf, "model_path", None)
        head = TeacherHead.load(where) if where is not None else None
        if head is None and teacher is not None:
            raise DistilError(
                f"{teacher}: no {TEACHER_HEAD_FILE} there; name a model folder trained by the "
                "local platform with the embedded teacher, or pass teacher=False"
            )
        if head is None:
            return None, None
        if _embeds(encoder):
            return head, encoder
        name = os.fspath(encoder) if encoder is not None else head.encoder_name
        return head, _embedder(name, head.max_length, cache_dir)
    if not isinstance(teacher, SupportsPredictProba):
        raise TypeError(
            "teacher must be None, False, a model folder, or an object with labels and "
            f"predict_proba(texts); got {type(teacher).__name__}"
        )
    if _embeds(encoder):
        return teacher, encoder
    return teacher, teacher if encoder is None and _embeds(teacher) else None


def _embeds(thing: Any) -> bool:
    return callable(getattr(thing, "embed", None))


def _aligned(judge: Any, pool: list[str], labels: list[str], embedder: Any) -> np.ndarray:
    """The teacher's probabilities for ``pool``, columns in the model's ``labels`` order."""
    from ..local.teachers._head import TeacherHead

    own = [str(x) for x in judge.labels]
    if set(own) != set(labels):
        raise ValueError(
            f"the teacher's labels ({', '.join(own)}) are not the model's ({', '.join(labels)}); "
            "pass the teacher of this model, or teacher=False"
        )
    if isinstance(judge, TeacherHead):
        probs = judge.predict_proba(embedder.embed(pool))
    else:
        probs = np.asarray(judge.predict_proba(pool), dtype=np.float64)
    return np.asarray(probs[:, [own.index(label) for label in labels]], dtype=np.float64)


def _vectors(
    pool: list[str], embedder: Any, encoder: Any, cache_dir: Any, student: np.ndarray
) -> tuple[np.ndarray, str]:
    """Unit-norm vectors the diversity is measured on, and what they are."""
    if embedder is None and _embeds(encoder):
        embedder = encoder
    if embedder is None:
        try:
            embedder = _embedder(None if encoder is None else os.fspath(encoder), 256, cache_dir)
            vectors = embedder.embed(pool)
        except (RuntimeError, ImportError) as exc:  # no bundled encoder: the student's view
            logger.warning("no sentence encoder for diversity (%s); using the student's", exc)
            vectors, name = np.sqrt(np.clip(student, 0.0, None)), "student probabilities"
            return vectors, name
    else:
        vectors = np.asarray(embedder.embed(pool), dtype=np.float64)
    if hasattr(embedder, "encoder_name"):  # an embedded teacher: None is the bundled encoder
        name = embedder.encoder_name or "all-MiniLM-L6-v2 (bundled)"
    else:
        name = type(embedder).__name__
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms > 0, norms, 1.0), dtype=np.float64), str(name)


# -- scoring and choosing ------------------------------------------------------------------------
def _uncertainty(probs: np.ndarray) -> np.ndarray:
    """One minus the margin between the two most probable labels (1: a tie, 0: certain)."""
    if probs.shape[1] < 2:
        return np.zeros(len(probs))
    top = np.sort(probs, axis=1)[:, ::-1]
    return np.asarray(1.0 - (top[:, 0] - top[:, 1]), dtype=np.float64)


def _scores(student: np.ndarray, teacher: np.ndarray | None) -> tuple[tuple[str, ...], np.ndarray]:
    """The signals used and their mean per text (see the module docstring)."""
    if teacher is None:
        return ("student_uncertainty",), _uncertainty(student)
    disagreement = 0.5 * np.abs(student - teacher).sum(axis=1)
    parts = [_uncertainty(student), _uncertainty(teacher), disagreement]
    return ("student_uncertainty", "teacher_uncertainty", "disagreement"), np.mean(parts, axis=0)


def _diverse_pick(
    score: np.ndarray,
    vectors: np.ndarray,
    k: int,
    *,
    seed: int,
    factor: float,
    diversity: float,
    duplicate: float,
) -> tuple[list[int], dict[int, int]]:
    """``k`` indices, best score first, chosen greedily among the ``factor x k`` best-scored
    texts: each next pick maximises its score minus ``diversity`` times its cosine to the
    nearest earlier pick, and is a near-copy of one only when nothing else is left. Also the
    number of candidates each pick is the nearest pick of (the group it stands for)."""
    # A seeded shuffle before the stable sort decides between equal scores, and only there.
    shuffled = np.random.default_rng(seed).permutation(len(score))
    order = shuffled[np.argsort(-score[shuffled], kind="stable")]
    top = order[: max(k, round(factor * k))]
    nearest = np.full(len(top), -np.inf)  # cosine of each candidate to its nearest pick
    picked: list[int] = []
    for _ in range(min(k, len(top))):
        gain = score[top] - diversity * np.clip(nearest, 0.0, None)
        distinct = nearest < duplicate
        distinct[picked] = False
        if distinct.any():  # near-copies of a pick only when nothing else is left
            gain[~distinct] = -np.inf
        gain[picked] = -np.inf
        best = int(np.argmax(gain))  # the first of equals: the shuffled order above
        picked.append(best)
        nearest = np.maximum(nearest, vectors[top] @ vectors[top[best]])
    sims = vectors[top] @ vectors[top[picked]].T
    owner = sims.argmax(axis=1)
    groups = {int(top[j]): int(np.sum(owner == n)) for n, j in enumerate(picked)}
    ranked = sorted((int(top[j]) for j in picked), key=lambda i: (-score[i], i))
    return ranked, groups


def _example(
    text: str,
    rank: int,
    score: np.ndarray,
    student: np.ndarray,
    teacher: np.ndarray | None,
    labels: list[str],
    i: int,
    group: int,
) -> SuggestedExample:
    """The `SuggestedExample` for pool text ``i``, with its reasons in words."""
    row = student[i]
    first, second = np.argsort(-row, kind="stable")[:2] if len(row) > 1 else (0, 0)
    reasons = [
        f"the student hesitates between {labels[first]} ({row[first]:.2f}) and "
        f"{labels[second]} ({row[second]:.2f})"
    ]
    t_label = t_unc = dis = None
    if teacher is not None:
        t = teacher[i]
        t_label = labels[int(t.argmax())]
        t_unc = float(_uncertainty(t[None, :])[0])
        dis = float(0.5 * np.abs(row - t).sum())
        if t_label != labels[first]:
            reasons.append(f"the teacher says {t_label} ({t.max():.2f})")
        elif t_unc > 0.5:
            reasons.append(f"the teacher is unsure too ({t.max():.2f} for {t_label})")
    if group > 1:
        reasons.append(f"stands for {group} similar candidates")
    return SuggestedExample(
        text=text,
        rank=rank,
        score=round(float(score[i]), 6),
        uncertainty=round(float(_uncertainty(row[None, :])[0]), 6),
        predicted=labels[first],
        confidence=round(float(row[first]), 6),
        teacher_label=t_label,
        teacher_uncertainty=None if t_unc is None else round(t_unc, 6),
        disagreement=None if dis is None else round(dis, 6),
        group_size=group,
        reasons=tuple(reasons),
    )

"""The embedded teacher and the teacher factory, with a tiny BERT as the encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distil_sdk.local.teachers import (
    SupportsUnlabelled,
    Teacher,
    _recipes,
    make_teacher,
    normalise_rows,
    prior_weights,
)
from distil_sdk.local.teachers.embedded import EmbeddedTeacher
from distil_sdk.types.data import LabelledDataset
from distil_sdk.types.task import JobDescription, TaskConfig

LABELS = ["billing", "cards", "shopping"]
TEXTS = [
    "my card payment was charged a fee",
    "i was charged a fee twice",
    "where is my new card it has not arrived",
    "i want to change my pin number",
    "this phone has a great battery and screen",
    "a cotton shirt with long sleeves",
]
GOLD = ["billing", "billing", "cards", "cards", "shopping", "shopping"]


def _job() -> JobDescription:
    return JobDescription(
        task_description="Route the request.",
        classes_description={label: f"Texts about {label}." for label in LABELS},
    )


def _config(encoder: Path) -> TaskConfig:
    config = TaskConfig()
    config.base.teacher_model_name = str(encoder)
    config.base.random_seed = 7
    return config


def test_fit_and_predict_proba_shape(tiny_bert_encoder: Path) -> None:
    config = _config(tiny_bert_encoder)
    teacher = make_teacher(config, env={})
    assert isinstance(teacher, EmbeddedTeacher)
    assert isinstance(teacher, Teacher)
    teacher.fit(_job(), LabelledDataset.from_lists(TEXTS, GOLD), config)
    assert teacher.labels == LABELS
    probs = teacher.predict_proba(["a fee on my card", "a shirt", "hello world"])
    assert probs.shape == (3, len(LABELS))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    # Fitted on its own training rows, a logistic regression with C=10 should mostly recall them.
    train_pred = teacher.predict_proba(TEXTS).argmax(axis=1)
    assert (np.array(LABELS)[train_pred] == np.array(GOLD)).mean() >= 0.5


def test_self_training_is_deterministic(tiny_bert_encoder: Path) -> None:
    config = _config(tiny_bert_encoder)
    unlabelled = ["the cheque deposit is not in my balance", "a kettle for the kitchen", "my pin"]
    runs = []
    for _ in range(2):
        teacher = EmbeddedTeacher(str(tiny_bert_encoder), confidence_threshold=0.0)
        teacher.fit(_job(), LabelledDataset.from_lists(TEXTS, GOLD), config)
        assert isinstance(teacher, SupportsUnlabelled)
        teacher.adapt(unlabelled)
        runs.append(teacher.predict_proba(unlabelled))
    np.testing.assert_allclose(runs[0], runs[1])


def test_class_without_gold_rows_is_still_scored(tiny_bert_encoder: Path) -> None:
    config = _config(tiny_bert_encoder)
    teacher = EmbeddedTeacher(str(tiny_bert_encoder))
    teacher.fit(_job(), LabelledDataset.from_lists(TEXTS[:4], GOLD[:4]), config)
    probs = teacher.predict_proba(["a cotton shirt"])
    assert probs.shape == (1, 3) and probs[0, 2] > 0  # "shopping" anchored by its description


def test_predict_before_fit_raises() -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        EmbeddedTeacher().predict_proba(["x"])


def test_factory_picks_llm_teacher_when_base_url_set(tiny_bert_encoder: Path) -> None:
    pytest.importorskip("distil_sdk.local.teachers.llm")
    config = _config(tiny_bert_encoder)
    teacher = make_teacher(
        config,
        env={"DISTIL_TEACHER_BASE_URL": "http://127.0.0.1:9/v1", "DISTIL_TEACHER_API_KEY": "k"},
    )
    assert type(teacher).__name__ == "LLMTeacher"


def test_normalise_rows() -> None:
    out = normalise_rows(np.array([[1.0, 3.0], [0.0, 0.0], [-1.0, 1.0]]))
    np.testing.assert_allclose(out, [[0.25, 0.75], [0.5, 0.5], [0.0, 1.0]])


def test_disk_cache_is_shared_between_teachers(tiny_bert_encoder: Path, tmp_path: Path) -> None:
    config = _config(tiny_bert_encoder)
    cache = tmp_path / "embeddings"
    first = EmbeddedTeacher(str(tiny_bert_encoder), disk_cache=cache)
    first.fit(_job(), LabelledDataset.from_lists(TEXTS, GOLD), config)
    expected = first.predict_proba(["a fee on my card"])
    assert len(list(cache.rglob("*.npy"))) == len(TEXTS) + len(LABELS) + 1
    second = EmbeddedTeacher(str(tiny_bert_encoder), disk_cache=cache)

    def no_encoding(*_: object, **__: object) -> None:
        raise AssertionError("re-encoded a cached text")

    second.fit(_job(), LabelledDataset.from_lists(TEXTS, GOLD), config)
    second.encoder.embed = no_encoding  # type: ignore[method-assign]
    np.testing.assert_allclose(second.predict_proba(["a fee on my card"]), expected)
    # another truncation length is another key
    third = EmbeddedTeacher(str(tiny_bert_encoder), disk_cache=cache, max_length=16)
    assert third._disk_key("x") != second._disk_key("x")


def test_embedding_cache_dir_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from distil_sdk.local.pipeline import EMBEDDING_CACHE_ENV, embedding_cache_dir

    monkeypatch.delenv(EMBEDDING_CACHE_ENV, raising=False)
    worker = tmp_path / "data" / "jobs" / "j1" / "work"
    assert embedding_cache_dir(worker) == (tmp_path / "data" / "embedding-cache").resolve()
    assert embedding_cache_dir(tmp_path / "w") == tmp_path.resolve() / "embedding-cache"
    monkeypatch.setenv(EMBEDDING_CACHE_ENV, str(tmp_path / "c"))
    assert embedding_cache_dir(worker) == tmp_path / "c"


def test_prior_weights_make_pseudo_labels_follow_the_gold_distribution() -> None:
    predicted = np.array([0] * 60 + [1] * 30 + [2] * 10)
    weights = prior_weights(predicted, np.array([1.0, 1.0, 1.0]))
    totals = np.bincount(predicted, weights=weights)
    np.testing.assert_allclose(totals, [100 / 3] * 3)
    assert weights.mean() == pytest.approx(1.0)
    # A class the pool almost lacks is capped, not blown up.
    rare = prior_weights(np.array([0] * 99 + [1]), np.array([1.0, 1.0]))
    assert rare.max() == pytest.approx(5.0) and rare.min() == pytest.approx(50 / 99)
    assert prior_weights(np.array([], dtype=int), np.array([1.0])).shape == (0,)


def test_self_training_weights_pseudo_labels_by_the_gold_prior(
    tiny_bert_encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tiny_bert_encoder)
    fits: list[tuple[np.ndarray, np.ndarray | None]] = []
    original = _recipes._fit_lr

    def record(x: np.ndarray, y: np.ndarray, w: np.ndarray | None, *args: object) -> object:
        if w is not None:  # the self-training refit (the first fit is gold-only)
            fits.append((y, w))
        return original(x, y, w, *args)

    monkeypatch.setattr(_recipes, "_fit_lr", record)
    for balance in (True, False):
        teacher = EmbeddedTeacher(
            str(tiny_bert_encoder),
            c=30.0,  # a fixed recipe: no cross-validation fits in the record below
            confidence_threshold=0.0,
            self_training_rounds=1,
            balance_pseudo_labels=balance,
        )
        teacher.fit(_job(), LabelledDataset.from_lists(TEXTS, GOLD), config)
        teacher.adapt([f"{t} please" for t in TEXTS] + ["my card fee again"] * 4)
    (y_bal, w_bal), (y_raw, w_raw) = fits
    n_gold = len(TEXTS) + len(LABELS)  # gold rows plus one row per class description
    assert w_raw is not None and np.all(w_raw == 1.0)
    assert w_bal is not None
    # The gold prior counts the description rows too: 3 classes x (2 gold + 1 description).
    np.testing.assert_allclose(
        w_bal[n_gold:], prior_weights(y_bal[n_gold:], np.array([3.0, 3.0, 3.0]))
    )
    np.testing.assert_array_equal(y_bal, y_raw)  # the same pseudo-labels, only re-weighted
    assert np.all(w_bal[:n_gold] == 1.0)


def test_the_recipe_is_chosen_per_task_and_reused_by_the_next_job(
    tiny_bert_encoder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(tiny_bert_encoder)
    rows = LabelledDataset.from_lists(TEXTS * 2, GOLD * 2)  # 12 rows: enough to cross-validate
    pool = ["the cheque deposit is not in my balance", "a kettle for the kitchen", "my pin"]
    choices = []
    for _ in range(2):  # the teacher-evaluation job, then the training job
        # The frozen encoder's recipe (test_contrastive covers the tuned encoder's choice).
        teacher = EmbeddedTeacher(
            str(tiny_bert_encoder), disk_cache=tmp_path / "cache", contrastive=False
        )
        with caplog.at_level("INFO", logger="distil_sdk"):
            teacher.fit(_job(), rows, config)
            teacher.adapt(pool)
        assert teacher.recipe_choice is not None
        choices.append(teacher.recipe_choice.to_json())
    assert choices[0] == choices[1]
    assert choices[0]["cv_accuracy"] and choices[0]["reason"] == "cross-validation"
    assert any("+st" in name for name in choices[0]["cv_accuracy"])  # the pool was considered
    assert "cross-validated earlier for the same task" in caplog.text
    # Another seed is another task as far as the cache goes.
    config.base.random_seed = 8
    teacher = EmbeddedTeacher(
        str(tiny_bert_encoder), disk_cache=tmp_path / "cache", contrastive=False
    )
    caplog.clear()
    with caplog.at_level("INFO", logger="distil_sdk"):
        teacher.fit(_job(), rows, config)
        teacher.adapt(pool)
    assert "cross-validated earlier" not in caplog.text


def test_a_fixed_c_skips_the_cross_validation(tiny_bert_encoder: Path) -> None:
    config = _config(tiny_bert_encoder)
    teacher = EmbeddedTeacher(str(tiny_bert_encoder), c=5.0)
    teacher.fit(_job(), LabelledDataset.from_lists(TEXTS * 2, GOLD * 2), config)
    teacher.adapt(["a kettle for the kitchen"])
    assert teacher.recipe_choice is not None
    assert teacher.recipe_choice.reason == "fixed by the caller"
    assert teacher.recipe_choice.recipe.c == 5.0 and teacher.recipe_choice.cv_accuracy == {}

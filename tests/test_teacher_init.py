"""Starting the distilled student from the embedded teacher (``training._align``)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from distil_sdk.local.teachers.embedded import linear_head
from distil_sdk.local.training import (
    Student,
    build_student,
    init_from_teacher,
    supports_teacher_init,
)
from distil_sdk.local.training._align import cls_states

LABELS = ["billing", "cards", "shopping"]
WORDS = ["card", "fee", "shirt", "kettle", "pin", "balance", "phone", "charged", "new", "my"]
# More texts than the tiny BERT's 32 hidden units, so the pooler map is determined by them.
TEXTS = [" ".join(words) for words in itertools.permutations(WORDS, 3)][:120]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("n_classes", [2, 4])
def test_linear_head_reproduces_logistic_regression(n_classes: int) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8))
    y = np.arange(60) % n_classes
    model = LogisticRegression(C=10, max_iter=2000).fit(x, y)
    head = linear_head(model, n_classes)
    assert head is not None
    weight, bias = head
    np.testing.assert_allclose(_softmax(x @ weight.T + bias), model.predict_proba(x), atol=1e-8)


def test_linear_head_never_predicts_a_class_the_model_did_not_see() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 5))
    y = np.where(np.arange(40) % 2 == 0, 0, 2)  # class 1 has no rows
    head = linear_head(LogisticRegression().fit(x, y), 3)
    assert head is not None
    probs = _softmax(x @ head[0].T + head[1])
    assert probs[:, 1].max() < 1e-9
    assert linear_head(object(), 3) is None


def test_student_starts_scoring_like_the_teacher(tiny_bert_encoder: Path) -> None:
    student = build_student(str(tiny_bert_encoder), LABELS, seed=0)
    assert supports_teacher_init(student)
    fresh = student.predict_proba(TEXTS)
    # A teacher whose embeddings the student can reproduce exactly: tanh of a linear map of
    # the student's own [CLS] states, read by a random linear head.
    rng = np.random.default_rng(0)
    states = cls_states(student, TEXTS)
    scale = 0.5 / states.std()
    embeddings = np.tanh((states - states.mean(axis=0)) @ rng.normal(size=(32, 32)) * scale / 6)
    weight, bias = rng.normal(size=(3, 32)) * 4, rng.normal(size=3)
    teacher = _softmax(embeddings @ weight.T + bias)

    info = init_from_teacher(student, TEXTS, embeddings, weight, bias, ridge=1e-9)

    assert info["texts"] == len(TEXTS) and info["cosine"] > 0.999
    np.testing.assert_allclose(student.predict_proba(TEXTS), teacher, atol=2e-3)
    assert np.abs(fresh - teacher).max() > 0.1  # the fresh head did not already agree


def test_init_uses_at_most_max_texts(tiny_bert_encoder: Path) -> None:
    student = build_student(str(tiny_bert_encoder), LABELS, seed=0)
    embeddings = np.random.default_rng(0).normal(size=(len(TEXTS), 32)) * 0.1
    info = init_from_teacher(
        student, TEXTS, embeddings, np.zeros((3, 32)), np.zeros(3), max_texts=50
    )
    assert info["texts"] == 50


def test_init_refuses_mismatched_shapes_and_other_heads(tiny_bert_encoder: Path) -> None:
    student = build_student(str(tiny_bert_encoder), LABELS, seed=0)
    with pytest.raises(ValueError, match="width 16"):
        init_from_teacher(
            student, TEXTS, np.zeros((len(TEXTS), 16)), np.zeros((3, 16)), np.zeros(3)
        )
    with pytest.raises(ValueError, match="matching texts"):
        init_from_teacher(student, TEXTS, np.zeros((3, 32)), np.zeros((3, 32)), np.zeros(3))
    other = Student(model=object(), tokenizer=student.tokenizer, labels=LABELS, max_length=32)
    assert not supports_teacher_init(other)
    with pytest.raises(ValueError, match="no tanh pooler"):
        init_from_teacher(other, TEXTS, np.zeros((len(TEXTS), 32)), np.zeros((3, 32)), np.zeros(3))

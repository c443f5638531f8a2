"""Starting the distilled student from the embedded teacher (``training._align``)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from distil_sdk.local.teachers.embedded import linear_head
from distil_sdk.local.training import (
    Student,
    TrainSettings,
    append_mean_pool_layer,
    average_with_start,
    build_student,
    init_from_teacher,
    init_pooled_from_teacher,
    snapshot_weights,
    supports_teacher_init,
    train_student,
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


def _mean_pooled(student: Student, texts: list[str], layers: int) -> np.ndarray:
    """sentence-transformers' mean pooling of the first ``layers`` encoder layers' output."""
    import torch

    batch = student.collate(student.encode(texts))
    with torch.no_grad():
        out = student.model.base_model(**batch, output_hidden_states=True)
    hidden = out.hidden_states[layers].double().numpy()
    mask = batch["attention_mask"].double().numpy()[:, :, None]
    return np.asarray((hidden * mask).sum(axis=1) / mask.sum(axis=1))


def test_mean_pool_layer_puts_the_mean_pooled_view_in_the_cls_state(
    tiny_bert_encoder: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForSequenceClassification

    student = build_student(str(tiny_bert_encoder), LABELS, seed=0)
    layers = int(student.model.config.num_hidden_layers)
    texts = ["card", "my new card was charged a fee", TEXTS[5], TEXTS[40] + " " + TEXTS[7]]
    mean = _mean_pooled(student, texts, layers)  # padded batch: the mask must be honoured
    assert append_mean_pool_layer(student.model)
    assert student.model.config.num_hidden_layers == layers + 1
    cls = cls_states(student, texts)
    standardised = (mean - mean.mean(axis=1, keepdims=True)) / mean.std(axis=1, keepdims=True)
    np.testing.assert_allclose(cls, standardised, atol=1e-3)
    # A plain checkpoint: any loader rebuilds the extra layer from config.json.
    student.model.save_pretrained(tmp_path)
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    batch = student.collate(student.encode(texts))
    student.model.eval()
    np.testing.assert_allclose(
        again(**batch).logits.detach().numpy(),
        student.model(**batch).logits.detach().numpy(),
        atol=1e-5,
    )


def test_pooled_student_starts_as_the_teacher_and_its_pooling_layer_stays_frozen(
    tiny_bert_encoder: Path,
) -> None:
    student = build_student(str(tiny_bert_encoder), LABELS, seed=0)
    layers = int(student.model.config.num_hidden_layers)
    # The embedded teacher's view of the same encoder: L2-normalised mean-pooled embeddings.
    embeddings = _mean_pooled(student, TEXTS, layers)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(3, 32)) * 3, rng.normal(size=3)
    teacher = _softmax(embeddings @ weight.T + bias)
    assert np.abs(student.predict_proba(TEXTS) - teacher).max() > 0.1

    assert append_mean_pool_layer(student.model)
    info = init_pooled_from_teacher(
        student, weight, bias, check_texts=TEXTS[:20], check_embeddings=embeddings[:20]
    )

    assert info["texts"] == 20 and info["cosine"] > 0.99
    started = student.predict_proba(TEXTS)
    assert np.abs(started - teacher).max() < 0.05
    assert (started.argmax(axis=1) == teacher.argmax(axis=1)).mean() >= 0.95
    pooling = student.model.base_model.encoder.layer[-1]
    before = {n: p.detach().clone() for n, p in pooling.named_parameters()}
    assert not any(p.requires_grad for p in pooling.parameters())
    train_student(
        student,
        TEXTS[:16],
        np.eye(3)[np.arange(16) % 3],
        np.ones(16),
        TrainSettings(epochs=1, batch_size=8, head_lr_multiplier=1.0),
    )
    for name, param in pooling.named_parameters():
        assert torch_equal(param, before[name]), name
    with pytest.raises(ValueError, match="does not fit"):
        init_pooled_from_teacher(student, np.zeros((3, 16)), np.zeros(3))


def torch_equal(a: object, b: object) -> bool:
    import torch

    assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    return bool(torch.equal(a, b))


def test_mean_pool_layer_leaves_other_layouts_alone() -> None:
    import torch

    model = torch.nn.Linear(4, 2)
    assert not append_mean_pool_layer(model)


def test_average_with_start_lands_between_the_start_and_the_trained_weights(
    tiny_bert_encoder: Path,
) -> None:
    import torch

    student = build_student(str(tiny_bert_encoder), LABELS, seed=0)
    start = snapshot_weights(student.model)
    train_student(
        student,
        TEXTS[:16],
        np.eye(3)[np.arange(16) % 3],
        np.ones(16),
        TrainSettings(epochs=2, batch_size=8, learning_rate=1e-3),
    )
    trained = snapshot_weights(student.model)
    moved = [
        n for n, t in trained.items() if t.is_floating_point() and not torch.equal(t, start[n])
    ]
    assert "classifier.weight" in moved and len(moved) > 10

    average_with_start(student.model, start, 0.25)
    now = student.model.state_dict()
    for name in moved:
        expected = start[name] + 0.25 * (trained[name] - start[name])
        torch.testing.assert_close(now[name], expected, rtol=1e-5, atol=1e-6)
    integers = [n for n, t in now.items() if not t.is_floating_point()]
    assert all(torch.equal(now[n], trained[n]) for n in integers)

    # keep=0 is the start itself: the same predictions as before training.
    average_with_start(student.model, start, 0.0)
    fresh = build_student(str(tiny_bert_encoder), LABELS, seed=0)
    np.testing.assert_allclose(
        student.predict_proba(TEXTS[:20]), fresh.predict_proba(TEXTS[:20]), atol=1e-6
    )
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        average_with_start(student.model, start, 1.5)

"""The student's training loop and model folder, with a tiny BERT student."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from distil_sdk.local.training import (
    TrainSettings,
    build_student,
    save_model_dir,
    sharpen,
    train_student,
)

LABELS = ["billing", "cards", "shopping"]
TEXTS = [
    "my card payment was charged a fee",
    "where is my new card",
    "a cotton shirt",
    "i want to change my pin number",
    "a kettle for the kitchen",
    "a fee on my balance",
]
TARGETS = np.eye(3)[[0, 1, 2, 1, 2, 0]]


def _train(encoder: Path, seed: int) -> tuple[np.ndarray, list[float]]:
    student = build_student(str(encoder), LABELS, seed=seed)
    soft = np.array([False, False, False, True, True, True])
    targets = np.where(soft[:, None], 0.7 * TARGETS + 0.1, TARGETS)
    logs = train_student(
        student,
        TEXTS,
        targets,
        np.ones(len(TEXTS)),
        TrainSettings(epochs=2, batch_size=2, seed=seed, learning_rate=1e-3, temperature=2.0),
        soft=soft,
        eval_texts=TEXTS[:2],
        eval_labels=["billing", "cards"],
    )
    return student.predict_proba(["a fee", "a shirt"]), [log.train_loss for log in logs]


def test_training_is_deterministic_per_seed(tiny_bert_encoder: Path) -> None:
    a, loss_a = _train(tiny_bert_encoder, 3)
    b, loss_b = _train(tiny_bert_encoder, 3)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert loss_a == loss_b and len(loss_a) == 2
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-6)


def test_training_lowers_the_loss(tiny_bert_encoder: Path) -> None:
    # Measured in eval mode (no dropout), so the comparison is deterministic: the train-mode
    # loss of a tiny random BERT is dominated by dropout noise.
    student = build_student(str(tiny_bert_encoder), LABELS, seed=0)

    def loss() -> float:
        probs = student.predict_proba(TEXTS)
        return float(-(TARGETS * np.log(probs)).sum(axis=1).mean())

    before = loss()
    train_student(
        student,
        TEXTS,
        TARGETS,
        np.ones(len(TEXTS)),
        TrainSettings(
            epochs=30, batch_size=6, learning_rate=3e-3, warmup_ratio=0, head_lr_multiplier=1.0
        ),
    )
    assert loss() < before - 0.05


def test_sharpen() -> None:
    p = np.array([[0.6, 0.3, 0.1]])
    np.testing.assert_allclose(sharpen(p, 1.0), p)
    assert sharpen(p, 0.5)[0, 0] > 0.6 > sharpen(p, 2.0)[0, 0]


def test_model_dir_loads_with_plain_transformers(tiny_bert_encoder: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    student = build_student(str(tiny_bert_encoder), LABELS, seed=0, max_length=32)
    logs = train_student(
        student,
        TEXTS,
        TARGETS,
        np.ones(len(TEXTS)),
        TrainSettings(epochs=1, batch_size=3),
        stage="student-tuned",
    )
    out = save_model_dir(student, tmp_path / "model", logs, '{"task_description": "t"}')
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "training-logs.csv",
        "training-logs.json",
        "job_description.json",
    ]:
        assert (out / name).is_file(), name
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.id2label == dict(enumerate(LABELS))
    tok = AutoTokenizer.from_pretrained(out)
    logits = model(**tok(["a fee"], return_tensors="pt")).logits
    np.testing.assert_allclose(
        logits.softmax(-1).detach().numpy(), student.predict_proba(["a fee"]), atol=1e-5
    )
    assert "student-tuned" in (out / "training-logs.csv").read_text()

"""``suggest_examples`` and ``distil-sdk suggest``: which unlabelled texts to label next.

The ranking tests use constructed models (a table of probabilities per text) and constructed
embeddings, so what is preferred is known exactly; the CLI test and the teacher's head use the
tiny real models of ``conftest.py``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from distil_sdk.cli import main
from distil_sdk.inference._suggest import suggest_examples
from distil_sdk.local.teachers._head import TEACHER_HEAD_FILE, TeacherHead

LABELS = ["billing", "cards", "shopping"]


class TableModel:
    """A classifier whose probabilities are looked up per text (a confident default)."""

    def __init__(self, table: dict[str, Sequence[float]], labels: Sequence[str] = LABELS) -> None:
        self.labels = list(labels)
        self.table = table
        self.calls = 0

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        default = [0.98] + [0.02 / (len(self.labels) - 1)] * (len(self.labels) - 1)
        return np.array([self.table.get(t, default) for t in texts], dtype=float)


class TableEmbedder:
    """Sentence vectors looked up per text; unknown texts get a direction of their own."""

    def __init__(self, table: dict[str, Sequence[float]] | None = None, dim: int = 16) -> None:
        self.table = table or {}
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for text in texts:
            if text in self.table:
                out.append(np.asarray(self.table[text], dtype=float))
            else:
                rng = np.random.default_rng(abs(hash(text)) % 2**32)
                out.append(rng.normal(size=self.dim))
        return np.array(out)


def test_ranking_prefers_the_texts_the_student_is_unsure_of() -> None:
    pool = [f"easy text {i}" for i in range(30)] + ["torn", "split", "leaning"]
    model = TableModel(
        {
            "torn": [0.34, 0.33, 0.33],  # a tie: the most worth labelling
            "split": [0.5, 0.45, 0.05],
            "leaning": [0.7, 0.25, 0.05],
        }
    )
    picks = suggest_examples(model, pool, 3, teacher=False, encoder=TableEmbedder())
    assert picks.texts == ["torn", "split", "leaning"]
    assert [e.rank for e in picks] == [1, 2, 3]
    assert picks[0].score == pytest.approx(1 - 0.01) and picks[0].predicted == "billing"
    assert "hesitates between billing (0.34) and cards (0.33)" in picks[0].reasons[0]
    assert picks.signals == ("student_uncertainty", "embeddings:TableEmbedder")
    assert picks.candidates == 33 and model.calls == 1


def test_diversity_passes_over_near_duplicates() -> None:
    """Ten rewordings of one uncertain question and three other uncertain texts: the picks
    take one rewording, then the others, although the rewordings score higher."""
    same = [1.0] + [0.0] * 15
    rewordings = [f"my card payment failed {i}" for i in range(10)]
    others = ["refund a shirt", "pin locked", "fee on transfer"]
    table = {t: [0.4, 0.35, 0.25] for t in rewordings} | {t: [0.5, 0.3, 0.2] for t in others}
    vectors = {t: same for t in rewordings} | {t: np.eye(16)[i + 1] for i, t in enumerate(others)}
    picks = suggest_examples(
        TableModel(table), rewordings + others, 4, teacher=False, encoder=TableEmbedder(vectors)
    )
    assert len(picks) == 4
    assert sum(t in rewordings for t in picks.texts) == 1
    assert set(others) <= set(picks.texts)
    assert picks[0].text in rewordings  # still ranked first: it scores highest
    # By score alone, near-copies allowed, the rewordings win.
    plain = suggest_examples(
        TableModel(table),
        rewordings + others,
        4,
        teacher=False,
        encoder=TableEmbedder(vectors),
        diversity=0.0,
        duplicate_cosine=1.01,
    )
    assert all(t in rewordings for t in plain.texts)


def test_teacher_disagreement_breaks_a_tie_and_labels_are_aligned_by_name() -> None:
    pool = ["a", "b"]
    student = TableModel({"a": [0.6, 0.4, 0.0], "b": [0.6, 0.4, 0.0]})
    # The teacher lists its labels in another order: columns are matched by name.
    teacher = TableModel(
        {"a": [0.0, 0.1, 0.9], "b": [0.0, 0.1, 0.9]}, labels=["shopping", "cards", "billing"]
    )
    picks = suggest_examples(student, pool, 2, teacher=teacher, encoder=TableEmbedder())
    assert picks.signals[:3] == ("student_uncertainty", "teacher_uncertainty", "disagreement")
    a, b = picks
    assert a.teacher_label == b.teacher_label == "billing"
    assert a.disagreement == b.disagreement == pytest.approx(0.3)
    assert a.score == b.score == pytest.approx((0.8 + 0.2 + 0.3) / 3)
    # Now the teacher says cards for "b": it disagrees there, and "b" goes first.
    teacher.table["b"] = [0.0, 0.9, 0.1]
    picks = suggest_examples(student, pool, 2, teacher=teacher, encoder=TableEmbedder())
    assert picks.texts == ["b", "a"]
    assert picks[0].disagreement == pytest.approx(0.5)
    assert "the teacher says cards (0.90)" in picks[0].reasons
    wrong = TableModel({}, labels=["x", "y", "z"])
    with pytest.raises(ValueError, match="teacher's labels"):
        suggest_examples(student, pool, 1, teacher=wrong, encoder=TableEmbedder())


def test_the_pool_is_cleaned_and_the_choice_is_repeatable() -> None:
    pool = ["Where is my card", "where  is my CARD ", "", "   ", "a fee", "known", "x", "y"]
    table = {t: [0.5, 0.3, 0.2] for t in pool}
    kwargs = {"teacher": False, "encoder": TableEmbedder(), "exclude": ["KNOWN"]}
    picks = suggest_examples(TableModel(table), pool, 4, **kwargs)  # type: ignore[arg-type]
    assert picks.skipped == {"empty": 2, "duplicate": 1, "already labelled": 1}
    assert picks.candidates == 4
    assert set(picks.texts) == {"Where is my card", "a fee", "x", "y"}  # first spelling kept
    again = suggest_examples(TableModel(table), pool, 4, **kwargs)  # type: ignore[arg-type]
    assert again == picks  # equal scores: the seed decides the order, the same way each time
    with pytest.raises(ValueError, match="k must be >= 1"):
        suggest_examples(TableModel(table), pool, 0, teacher=False)
    with pytest.raises(TypeError, match="not one string"):
        suggest_examples(TableModel(table), "one text", 1, teacher=False)
    assert len(suggest_examples(TableModel(table), [], 3, teacher=False)) == 0


def test_the_teacher_head_saved_with_a_model_scores_as_the_teacher(
    tiny_bert_encoder: Path, tmp_path: Path
) -> None:
    from distil_sdk.local.teachers.embedded import EmbeddedTeacher
    from distil_sdk.types.data import LabelledDataset
    from distil_sdk.types.task import JobDescription, TaskConfig

    job = JobDescription(
        task_description="Route the request.",
        classes_description={label: f"Texts about {label}." for label in LABELS},
    )
    texts = ["a fee on my card", "my card is lost", "a cotton shirt", "charged twice"]
    teacher = EmbeddedTeacher(str(tiny_bert_encoder), c=1.0)
    teacher.fit(
        job,
        LabelledDataset.from_lists(texts, ["billing", "cards", "shopping", "billing"]),
        TaskConfig(),
    )
    head = TeacherHead.of(teacher)
    assert head is not None
    head.save(tmp_path)
    loaded = TeacherHead.load(tmp_path)
    assert loaded is not None and loaded.labels == LABELS
    assert loaded.encoder_name == str(tiny_bert_encoder.resolve())
    probe = ["where is my card", "a shirt"]
    np.testing.assert_allclose(
        loaded.predict_proba(teacher.embed(probe)), teacher.predict_proba(probe), atol=1e-4
    )
    # A folder without a head, or with a broken one: no teacher, no failure.
    assert TeacherHead.load(tmp_path / "nothing") is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / TEACHER_HEAD_FILE).write_bytes(b"not numpy")
    assert TeacherHead.load(tmp_path / "broken") is None


def test_cli_writes_a_file_ready_to_label(
    tiny_bert_classifier: Path,
    tiny_bert_encoder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pool = tmp_path / "unstructured.csv"
    texts = ["my card payment was charged a fee", "a kettle", "where is my new card", "hello"]
    pool.write_text("context\n" + "\n".join(texts) + "\n", encoding="utf-8")
    train = tmp_path / "train.csv"
    train.write_text("question,answer\nhello,billing\n", encoding="utf-8")
    out = tmp_path / "to-label.csv"
    argv = ["suggest", str(tiny_bert_classifier), str(pool), "-k", "2", "-o", str(out)]
    argv += ["--exclude", str(train), "--encoder", str(tiny_bert_encoder)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 of 3 candidate texts" in printed and "(1 already labelled left out)" in printed
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    assert list(rows[0])[:2] == ["question", "answer"]
    assert all(row["answer"] == "" and row["question"] in texts[:3] for row in rows)
    assert [row["rank"] for row in rows] == ["1", "2"]

    # An existing output may hold labels already filled in: not replaced without --force.
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*argv, "--force", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["candidates"] == 3 and len(body["examples"]) == 2
    # A file without a text column says which columns it has and how to name one.
    bad = tmp_path / "bad.csv"
    bad.write_text("id,body\n1,hello\n", encoding="utf-8")
    assert (
        main(["suggest", str(tiny_bert_classifier), str(bad), "-o", str(tmp_path / "o.csv")]) == 2
    )
    err = capsys.readouterr().err
    assert "bad.csv has no column 'context' or 'question' or 'text'" in err
    assert "--text-column NAME" in err

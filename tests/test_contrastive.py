"""The embedded teacher's contrastively tuned encoder (`_contrastive`): SetFit's pairs, the
tuning, the cross-validation that decides, and what the decision changes downstream."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from distil_sdk.local._jobs.encoders import Encoder, load_encoder
from distil_sdk.local.teachers import _contrastive
from distil_sdk.local.teachers._contrastive import pairs
from distil_sdk.local.teachers.embedded import EmbeddedTeacher
from distil_sdk.types.data import LabelledDataset
from distil_sdk.types.task import JobDescription, TaskConfig


def test_every_row_gets_one_positive_and_one_negative_per_iteration() -> None:
    labels = [0, 0, 0, 1, 1, 2]  # class 2 has one row: no positive pair for it
    out = pairs(labels, 4, random.Random(0))
    assert len(out) == 4 * (len(labels) + 5)
    for a, b, target in out:
        assert a != b
        assert (labels[a] == labels[b]) == (target == 1.0)
    positives = Counter(a for a, _, t in out if t == 1.0)
    negatives = Counter(a for a, _, t in out if t == 0.0)
    assert positives == {i: 4 for i in range(5)}
    assert negatives == {i: 4 for i in range(6)}


def test_the_pairs_are_seeded_and_shuffled() -> None:
    labels = [0, 1] * 6
    first = pairs(labels, 2, random.Random(3))
    assert first == pairs(labels, 2, random.Random(3))
    assert first != pairs(labels, 2, random.Random(4))
    assert [t for _, _, t in first] != sorted(t for _, _, t in first)  # not grouped by target


# -- the tuning and the cross-validation, on a tiny BERT ---------------------------------------

LABELS = ["billing", "cards", "shopping"]
TEXTS = [
    "my card payment was charged a fee",
    "i was charged a fee twice",
    "the fee on my statement is wrong",
    "why was i billed twice this month",
    "where is my new card it has not arrived",
    "i want to change my pin number",
    "my card is blocked",
    "order a replacement card",
    "this phone has a great battery and screen",
    "a cotton shirt with long sleeves",
    "a kettle for the kitchen",
    "running shoes in size ten",
]
GOLD = ["billing"] * 4 + ["cards"] * 4 + ["shopping"] * 4
Y = np.array([LABELS.index(label) for label in GOLD])
POOL = ["a fee again", "my pin is blocked", "a shirt and shoes", "charged twice", "new card"]


def _job() -> JobDescription:
    return JobDescription(
        task_description="Route the request.",
        classes_description={label: f"Texts about {label}." for label in LABELS},
    )


def _config(encoder: Path, seed: int = 3) -> TaskConfig:
    config = TaskConfig()
    config.base.teacher_model_name = str(encoder)
    config.base.student_model_name = str(encoder)
    config.base.random_seed = seed
    return config


def _cosine_gap(encoder: Encoder) -> float:
    """Mean cosine of same-class pairs minus that of other-class pairs."""
    x = encoder.embed(TEXTS)
    sim = x @ x.T
    same = Y[:, None] == Y[None, :]
    off = ~np.eye(len(Y), dtype=bool)
    return float(sim[same & off].mean() - sim[~same].mean())


def test_tuning_draws_classes_apart_on_a_copy_and_keeps_the_random_state(
    tiny_bert_encoder: Path,
) -> None:
    import torch

    encoder = load_encoder(str(tiny_bert_encoder))
    before = {k: v.clone() for k, v in encoder.model.state_dict().items()}
    state = torch.get_rng_state()
    tuned = _contrastive.tune(encoder, TEXTS, Y.tolist(), seed=0, iterations=20, learning_rate=1e-3)
    assert torch.equal(torch.get_rng_state(), state)
    for key, value in encoder.model.state_dict().items():
        assert torch.equal(value, before[key]), key  # the teacher's own encoder is untouched
    assert _cosine_gap(tuned) > _cosine_gap(encoder) + 0.05
    again = _contrastive.tune(encoder, TEXTS, Y.tolist(), seed=0, iterations=20, learning_rate=1e-3)
    np.testing.assert_allclose(again.embed(TEXTS), tuned.embed(TEXTS), atol=1e-5)


def test_the_tuning_cost_counts_both_sides_of_every_pair(tiny_bert_encoder: Path) -> None:
    encoder = load_encoder(str(tiny_bert_encoder))
    one = _contrastive.tuning_tokens(encoder.tokenizer, TEXTS, Y.tolist(), iterations=1)
    lengths = [len(ids) for ids in encoder.tokenizer(TEXTS)["input_ids"]]
    assert one == int(2 * len(TEXTS) * 2 * np.mean(lengths))  # a positive and a negative per row
    assert _contrastive.tuning_tokens(encoder.tokenizer, TEXTS, Y.tolist(), iterations=5) == 5 * one


def test_every_fold_is_tuned_without_its_held_out_rows(
    tiny_bert_encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = load_encoder(str(tiny_bert_encoder))
    tuned_on: list[set[str]] = []
    real = _contrastive.tune

    def recording(enc: Encoder, texts: list[str], labels: list[int], **kw: object) -> Encoder:
        tuned_on.append(set(texts))
        return real(enc, texts, labels, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(_contrastive, "tune", recording)
    monkeypatch.setattr(_contrastive, "keeps_tuned", lambda tuned, frozen: True)
    descriptions = [f"{label}: Texts about {label}." for label in LABELS]
    decision, folds = _contrastive.cross_validate_tuning(
        encoder, TEXTS, Y, encoder.embed(TEXTS), descriptions, encoder.embed(descriptions),
        len(LABELS), seed=0,
    )  # fmt: skip
    assert len(tuned_on) == decision.folds == len(folds) == 4
    held = [set(TEXTS) - texts for texts in tuned_on]
    assert all(held) and set().union(*held) == set(TEXTS)  # each row held out...
    assert sum(len(h) for h in held) == len(TEXTS)  # ...exactly once
    assert decision.tuned and decision.evidence is not None
    assert decision.evidence.probs.shape == (len(TEXTS), len(LABELS))
    np.testing.assert_array_equal(decision.evidence.labels, Y)
    # The out-of-fold probabilities are the fold models' own on the rows they never saw.
    for fold, texts in zip(folds, tuned_on, strict=True):
        rows = [i for i, t in enumerate(TEXTS) if t not in texts]
        x = fold.encoder.embed([TEXTS[i] for i in rows])
        from distil_sdk.local.teachers._recipes import predict_proba

        np.testing.assert_allclose(
            predict_proba(fold.head, x, len(LABELS)), decision.evidence.probs[rows], atol=1e-6
        )


class _Lookup(Encoder):
    """An encoder whose vectors are given per text (for the decision rule alone)."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        super().__init__("lookup", None, None)
        self.vectors = vectors

    def embed(self, texts: object, *, batch_size: int = 32) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])  # type: ignore[attr-defined]


def test_the_tuned_encoder_is_kept_only_when_it_scores_strictly_higher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(0)
    descriptions = [f"about {label}" for label in LABELS]
    noise = {t: rng.normal(size=8) for t in TEXTS + descriptions}
    separated = {
        t: np.eye(8)[i] * 5 + rng.normal(size=8) * 0.01 for t, i in zip(TEXTS, Y, strict=True)
    }
    separated |= {d: np.eye(8)[i] * 5 for i, d in enumerate(descriptions)}
    x_noise = np.stack([noise[t] for t in TEXTS])
    x_desc = np.stack([noise[d] for d in descriptions])

    monkeypatch.setattr(_contrastive, "tune", lambda enc, texts, labels, **kw: _Lookup(separated))
    won, folds = _contrastive.cross_validate_tuning(
        _Lookup(noise), TEXTS, Y, x_noise, descriptions, x_desc, len(LABELS), seed=0
    )
    assert won.tuned and won.best_tuned[0] == 1.0 > won.best_frozen[0] and len(folds) == 4

    # The same vectors tuned or not: a tie, and the frozen encoder is kept.
    monkeypatch.setattr(_contrastive, "tune", lambda enc, texts, labels, **kw: _Lookup(noise))
    tie, folds = _contrastive.cross_validate_tuning(
        _Lookup(noise), TEXTS, Y, x_noise, descriptions, x_desc, len(LABELS), seed=0
    )
    assert tie.cv_tuned == tie.cv_frozen and not tie.tuned
    assert tie.evidence is None and folds == []
    assert _contrastive.TuningDecision.from_json(won.to_json()).cv_tuned == won.cv_tuned

    # As accurate, and surer of the right class on held-out rows: still a tie, frozen kept.
    sharper = {t: v * 3 for t, v in separated.items()}
    x_sep = np.stack([separated[t] for t in TEXTS])
    x_desc_sep = np.stack([separated[d] for d in descriptions])
    monkeypatch.setattr(_contrastive, "tune", lambda enc, texts, labels, **kw: _Lookup(sharper))
    surer, _ = _contrastive.cross_validate_tuning(
        _Lookup(separated), TEXTS, Y, x_sep, descriptions, x_desc_sep, len(LABELS), seed=0
    )
    assert surer.best_tuned[0] == surer.best_frozen[0] == 1.0
    assert surer.best_tuned[1] < surer.best_frozen[1] and not surer.tuned
    assert "log-loss" in surer.summary()  # the tie is shown with both log-losses


def test_the_decision_rule_is_a_strictly_higher_accuracy() -> None:
    keeps = _contrastive.keeps_tuned
    assert keeps((0.75, 0.9), (0.70, 0.1))  # more accurate, whatever the log-loss
    assert not keeps((0.70, 0.1), (0.75, 0.9))
    assert not keeps((0.75, 0.7), (0.75, 0.8))  # as accurate, surer: a tie keeps frozen


def test_a_costly_tuning_is_not_considered_unless_asked_for(
    tiny_bert_encoder: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from distil_sdk.local.teachers import embedded

    monkeypatch.setattr(embedded, "MAX_TOKENS", 10)
    rows = LabelledDataset.from_lists(TEXTS, GOLD)
    teacher = EmbeddedTeacher(str(tiny_bert_encoder))
    with caplog.at_level("INFO", logger="distil_sdk"):
        teacher.fit(_job(), rows, _config(tiny_bert_encoder))
    assert teacher.tuning is None and "not considered" in caplog.text
    forced = EmbeddedTeacher(str(tiny_bert_encoder), contrastive=True)
    forced.fit(_job(), rows, _config(tiny_bert_encoder))
    assert forced.tuning is not None
    never = EmbeddedTeacher(str(tiny_bert_encoder), contrastive=False)
    never.fit(_job(), rows, _config(tiny_bert_encoder))
    assert never.tuning is None
    fixed = EmbeddedTeacher(str(tiny_bert_encoder), c=10.0, contrastive=True)
    fixed.fit(_job(), rows, _config(tiny_bert_encoder))
    assert fixed.tuning is None  # a fixed recipe keeps the encoder frozen
    # Too few rows to score a tuning on, none at all (a relabelling teacher), or a class of one.
    for texts, gold in ((TEXTS[:6], GOLD[:6]), ([], []), (TEXTS[:9], GOLD[:9])):
        few = EmbeddedTeacher(str(tiny_bert_encoder), contrastive=True)
        few.fit(_job(), LabelledDataset.from_lists(texts, gold), _config(tiny_bert_encoder))
        assert few.tuning is None and few.predict_proba(["a fee"]).shape == (1, len(LABELS))


def test_a_tuned_teacher_switches_encoder_saves_it_and_the_next_job_reuses_it(
    tiny_bert_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_contrastive, "keeps_tuned", lambda tuned, frozen: True)
    config, rows = _config(tiny_bert_encoder), LabelledDataset.from_lists(TEXTS, GOLD)
    first = EmbeddedTeacher(str(tiny_bert_encoder), disk_cache=tmp_path / "cache")
    first.fit(_job(), rows, config)
    first.adapt(POOL)
    assert first.recipe_choice is not None and first.recipe_choice.recipe.name.endswith("+tuned")
    path = first.tuned_encoder_path
    assert path is not None and (path / "config.json").is_file()
    assert path.is_relative_to(tmp_path / "cache" / "contrastive" / "encoders")
    frozen = load_encoder(str(tiny_bert_encoder))
    assert not np.allclose(first.embed(TEXTS[:2]), frozen.embed(TEXTS[:2]), atol=1e-4)
    # The student starts from the tuned encoder when it is the teacher's own, not otherwise.
    assert first.student_start(str(tiny_bert_encoder)) == str(path)
    assert first.student_start(str(tmp_path)) == str(tmp_path)
    evidence = first.tuned_evidence()
    assert evidence is not None and len(evidence.fold_ref) == 4
    assert sorted(evidence.ref_texts) == sorted(POOL)

    # The training job: the same rows, no new cross-validation, the same encoder and answers.
    def fail(*args: object, **kw: object) -> object:
        raise AssertionError("cross-validated again")

    from distil_sdk.local.teachers import embedded

    monkeypatch.setattr(embedded, "cross_validate_tuning", fail)
    second = EmbeddedTeacher(str(tiny_bert_encoder), disk_cache=tmp_path / "cache")
    second.fit(_job(), rows, config)
    second.adapt(POOL)
    assert second.tuned_encoder_path == path
    np.testing.assert_allclose(second.predict_proba(POOL), first.predict_proba(POOL), atol=1e-6)
    kept = second.tuned_evidence()
    assert kept is not None and kept.ref_texts == evidence.ref_texts
    np.testing.assert_allclose(kept.probs, evidence.probs, atol=1e-6)

    # A retrain (two rows added): the decision, its evidence and its tuned encoder reused (the
    # added rows shape the head); with that encoder gone, one is tuned on the new rows.
    more = LabelledDataset.from_lists(
        [*TEXTS, "a fee for my card", "a warm jumper"], [*GOLD, "billing", "shopping"]
    )
    third = EmbeddedTeacher(str(tiny_bert_encoder), disk_cache=tmp_path / "cache")
    third.fit(_job(), more, config)
    assert third.tuned_encoder_path == path and third.tuned_evidence() is not None
    assert not np.allclose(third.predict_proba(POOL), first.predict_proba(POOL), atol=1e-6)
    shutil.rmtree(path)
    fourth = EmbeddedTeacher(str(tiny_bert_encoder), disk_cache=tmp_path / "cache")
    fourth.fit(_job(), more, config)
    assert fourth.tuned_encoder_path not in (None, path)
    assert (fourth.tuned_encoder_path / "config.json").is_file()


def test_the_calibration_of_a_tuned_teacher_rests_on_its_folds(
    tiny_bert_encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from distil_sdk.local._jobs.calibration import teacher_out_of_fold

    monkeypatch.setattr(_contrastive, "keeps_tuned", lambda tuned, frozen: True)
    teacher = EmbeddedTeacher(str(tiny_bert_encoder))
    teacher.fit(_job(), LabelledDataset.from_lists(TEXTS, GOLD), _config(tiny_bert_encoder))
    teacher.adapt(POOL)
    evidence = teacher.tuned_evidence()
    assert evidence is not None
    oof = teacher_out_of_fold(SimpleNamespace(teacher=teacher))  # type: ignore[arg-type]
    assert oof is not None and "tuned" in oof.source
    np.testing.assert_array_equal(oof.probs, evidence.probs)
    assert oof.fold_bias is not None and oof.fold_bias > 0


def test_a_training_with_a_tuned_teacher_starts_the_student_from_it(
    tiny_bert_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import re
    import sys

    from distil_sdk.inference._calibration import Calibration
    from distil_sdk.local import pipeline
    from test_pipeline import FAST, Recorder, _bundle

    monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)
    monkeypatch.setenv("DISTIL_NUM_THREADS", "1")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # no card images: time
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setattr(_contrastive, "keeps_tuned", lambda tuned, frozen: True)
    # A tiny random BERT barely moves at MiniLM's rate: a rate that makes the tuning show.
    monkeypatch.setattr(_contrastive, "LEARNING_RATE", 3e-3)
    bundle = _bundle(tiny_bert_encoder)
    bundle.train = LabelledDataset.from_lists(TEXTS, GOLD)
    out = pipeline.run_training(bundle, tmp_path, Recorder(), options=FAST)
    recipe = json.loads((out.model_dir / "teacher-recipe.json").read_text("utf-8"))
    assert recipe["recipe"]["name"].endswith("+tuned") and recipe["recipe"]["tuned_encoder"]
    # A copy of the tuned teacher: the student's pooled vectors are the teacher's own.
    note = next(n for n in out.notes if "started from the teacher" in n)
    cosine = float(re.search(r"mean cosine ([0-9.]+)", note).group(1))  # type: ignore[union-attr]
    assert cosine > 0.999, note
    assert any(n.startswith("contrastive tuning: tuned encoder kept") for n in out.notes)
    assert "contrastive tuning: tuned encoder kept" in (out.model_dir / "README.md").read_text()
    calibration = Calibration.load(out.model_dir)
    assert calibration is not None and "tuned encoder" in calibration.source
    assert calibration.rows == len(TEXTS) and "fold_bias" in calibration.details


def test_the_platform_setting_turns_the_candidate_on_and_off(tiny_bert_encoder: Path) -> None:
    from distil_sdk.local.teachers import make_teacher

    config = _config(tiny_bert_encoder)
    for value, expected in (("", None), ("auto", None), ("ON", True), (" off ", False)):
        teacher = make_teacher(config, env={"DISTIL_TEACHER_CONTRASTIVE": value})
        assert isinstance(teacher, EmbeddedTeacher) and teacher.contrastive is expected
    with pytest.raises(ValueError, match="DISTIL_TEACHER_CONTRASTIVE='maybe' is not a setting"):
        make_teacher(config, env={"DISTIL_TEACHER_CONTRASTIVE": "maybe"})

"""Retraining: what a second training of a task reuses (embeddings, the teacher's labels), when
the cache misses, and ``compare_models`` / ``distil-sdk compare`` on the old and new model.

The training stages run up to the teacher's labels with the tiny real encoder of
``conftest.py``; no student is trained here (``test_pipeline.py`` covers that).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from distil_sdk.cli import main
from distil_sdk.inference._compare import compare_models, expected_calibration_error
from distil_sdk.local import pipeline
from distil_sdk.local._jobs import _retrain
from distil_sdk.local._jobs.encoders import Encoder
from distil_sdk.local._jobs.training_stages import (
    GoldSplit,
    TrainingRun,
    Transfer,
    label_transfer_set,
)
from distil_sdk.local.teachers.embedded import EmbeddedTeacher
from distil_sdk.types.data import LabelledDataset, TaskBundle, UnlabelledDataset
from distil_sdk.types.task import JobDescription, TaskConfig
from tiny_models import build_tiny_bert

LABELS = ["billing", "cards", "shopping"]
TRAIN = [
    ("my card payment was charged a fee", "billing"),
    ("a fee on my balance", "billing"),
    ("i was charged twice", "billing"),
    ("where is my new card", "cards"),
    ("i want to change my pin number", "cards"),
    ("my card has not arrived", "cards"),
    ("a cotton shirt with long sleeves", "shopping"),
    ("a kettle for the kitchen", "shopping"),
    ("this phone has a great battery", "shopping"),
]
TEST = [("a fee on my card payment", "billing"), ("change the pin", "cards")]
POOL = ["the cheque deposit is not in my balance", "a novel about a family", "a shirt", "hello"]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)
    monkeypatch.delenv(_retrain.RETRAIN_CACHE_ENV, raising=False)
    monkeypatch.setenv(pipeline.EMBEDDING_CACHE_ENV, str(tmp_path / "embedding-cache"))
    monkeypatch.setenv("DISTIL_NUM_THREADS", "1")


def _bundle(encoder: Path, train: Sequence[tuple[str, str]], pool: Sequence[str]) -> TaskBundle:
    config = TaskConfig()
    config.base.student_model_name = str(encoder)
    config.base.teacher_model_name = str(encoder)
    config.base.random_seed = 3
    return TaskBundle(
        job_description=JobDescription(
            task_description="Route the request.",
            classes_description={label: f"Texts about {label}." for label in LABELS},
        ),
        train=LabelledDataset.from_lists([t for t, _ in train], [y for _, y in train]),
        test=LabelledDataset.from_lists([t for t, _ in TEST], [y for _, y in TEST]),
        unstructured=UnlabelledDataset.from_lists(list(pool)),
        config=config,
    )


def _label(bundle: TaskBundle, work: Path) -> tuple[TrainingRun, Transfer]:
    """A training run up to the teacher's labels (``teacher_fit``, ``teacher_labelling``),
    with a fixed teacher recipe: the cross-validation that chooses one costs seconds here."""
    teacher = EmbeddedTeacher(
        bundle.config.base.teacher_model_name,
        c=1.0,
        self_training_rounds=0,
        disk_cache=pipeline.embedding_cache_dir(work),
    )
    teacher.fit(bundle.job_description, bundle.train, bundle.config)
    assert bundle.unlabelled is not None
    teacher.adapt(bundle.unlabelled.texts)
    run = TrainingRun(bundle, pipeline.PipelineOptions(), work, teacher, GoldSplit.of(bundle))
    return run, label_transfer_set(run)


def _count_encoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    encoded: list[str] = []
    real = Encoder.embed

    def counting(self: Encoder, texts: Sequence[str], **kwargs: object) -> np.ndarray:
        encoded.extend(texts)
        return real(self, texts, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Encoder, "embed", counting)
    return encoded


def test_a_retrain_encodes_only_new_texts_and_finds_the_run_it_extends(
    tiny_bert_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, transfer = _label(_bundle(tiny_bert_encoder, TRAIN, POOL), tmp_path / "1")
    assert first.previous is None  # a first training
    assert first.teacher_head is not None and first.teacher_head.labels == LABELS
    assert transfer.texts == POOL

    # Two pool texts labelled and added as rows, one new unlabelled text.
    added = [(POOL[0], "billing"), (POOL[2], "shopping")]
    encoded = _count_encoding(monkeypatch)
    second, transfer = _label(
        _bundle(tiny_bert_encoder, TRAIN + added, [*POOL, "my pin is blocked"]), tmp_path / "2"
    )
    assert encoded == ["my pin is blocked"]  # everything else came from the cache
    assert second.previous is not None
    assert len(second.previous.gold) == len(TRAIN)
    assert transfer.texts == [POOL[1], POOL[3], "my pin is blocked"]

    # A pool this small is all "changed or replayed": the retrain distils on all of it.
    assert _retrain.retrain_transfer(second, transfer) is transfer
    assert "too many for a partial distillation" in second.notes[-1]

    # The same rows and texts again: a retrain of the same first run, as before...
    again, _ = _label(
        _bundle(tiny_bert_encoder, TRAIN + added, [*POOL, "my pin is blocked"]), tmp_path / "3"
    )
    assert again.previous is not None and again.previous.gold == second.previous.gold
    # ... and the first run's data again is that training again: in full.
    rerun, _ = _label(_bundle(tiny_bert_encoder, TRAIN, POOL), tmp_path / "3b")
    assert rerun.previous is None
    # A relabelled row is another row: no earlier run's gold rows are all still there.
    relabelled = [(t, "cards" if t == TRAIN[0][0] else y) for t, y in TRAIN]
    other, _ = _label(_bundle(tiny_bert_encoder, relabelled, POOL), tmp_path / "4")
    assert other.previous is None


def test_the_retrain_cache_can_be_switched_off(
    tiny_bert_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_retrain.RETRAIN_CACHE_ENV, "off")
    _label(_bundle(tiny_bert_encoder, TRAIN, POOL), tmp_path / "1")
    second, _ = _label(
        _bundle(tiny_bert_encoder, [*TRAIN, (POOL[0], "billing")], POOL), tmp_path / "2"
    )
    assert second.previous is None
    assert not (tmp_path / "embedding-cache" / "runs").exists()
    # DISTIL_EMBEDDING_CACHE=off: no embedding cache either, and so no run records.
    monkeypatch.delenv(_retrain.RETRAIN_CACHE_ENV)
    monkeypatch.setenv(pipeline.EMBEDDING_CACHE_ENV, "off")
    assert pipeline.embedding_cache_dir(tmp_path / "w") is None
    assert _retrain.retrain_cache_dir(None) is None


def test_an_encoder_replaced_in_place_is_not_served_from_the_cache(tmp_path: Path) -> None:
    """The embedding cache was keyed by the encoder's path: an encoder retrained (or swapped)
    at the same path got the old encoder's vectors back."""
    encoder = build_tiny_bert(tmp_path / "encoder", seed=0)
    cache = tmp_path / "cache"
    old = EmbeddedTeacher(str(encoder), disk_cache=cache).embed(["a fee on my card"])
    build_tiny_bert(encoder, seed=1)  # same path, other weights
    cached = EmbeddedTeacher(str(encoder), disk_cache=cache).embed(["a fee on my card"])
    fresh = EmbeddedTeacher(str(encoder)).embed(["a fee on my card"])
    np.testing.assert_allclose(cached, fresh, atol=1e-6)
    assert not np.allclose(cached, old, atol=1e-3)


def test_retrain_rows_read_what_changed_plus_a_replay(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    texts = _retrain.text_hashes([f"text {i}" for i in range(400)])
    probs = rng.dirichlet([1.0, 1.0, 1.0], size=400)
    root, key = tmp_path / "runs", "task"
    gold = _retrain.gold_hashes(["a", "b"], ["billing", "cards"])
    _retrain.write_record(root, key, gold, texts, probs)
    more = [*gold, *_retrain.gold_hashes(["c"], ["shopping"])]
    previous = _retrain.find_previous(root, key, more, texts)
    assert previous is not None and previous.gold == frozenset(gold)

    new_probs = probs.copy()
    new_probs[:5] = np.eye(3)[(probs[:5].argmax(axis=1) + 1) % 3]  # top label moved
    new_probs[5:10] = 0.97 * probs[5:10] + 0.01  # moved a little: not changed
    new_texts = [*texts, *_retrain.text_hashes(["brand new"])]
    new_probs = np.vstack([new_probs, [[1.0, 0.0, 0.0]]])
    keep, changed = _retrain.retrain_rows(previous, new_texts, new_probs, seed=0)
    assert changed == 5 + 1
    assert keep[:5].all() and keep[400]  # changed and new texts are read
    assert keep.sum() == changed + 64  # plus replay_min others
    again, _ = _retrain.retrain_rows(previous, new_texts, new_probs, seed=0)
    np.testing.assert_array_equal(keep, again)  # the replay is seeded
    # A large change reads everything.
    everything, _ = _retrain.retrain_rows(previous, new_texts, new_probs[:, ::-1].copy(), seed=0)
    assert everything.all()


def test_find_previous_takes_the_largest_run_whose_rows_are_all_kept(tmp_path: Path) -> None:
    root, texts = tmp_path / "runs", _retrain.text_hashes(["u"])
    probs = np.ones((1, 2)) / 2
    base = _retrain.gold_hashes(["a", "b"], ["x", "y"])
    branch_s = [*base, *_retrain.gold_hashes(["s"], ["x"])]
    branch_r = [*base, *_retrain.gold_hashes(["r"], ["y"])]
    for gold in (base, branch_s):
        _retrain.write_record(root, "task", gold, texts, probs)
    # Two branches off one first run: the second never starts from the first's rows.
    found = _retrain.find_previous(root, "task", branch_r, texts)
    assert found is not None and found.gold == frozenset(base)
    found = _retrain.find_previous(root, "task", [*branch_s, *branch_r], texts)
    assert found is not None and found.gold == frozenset(branch_s)
    assert _retrain.find_previous(root, "other task", branch_r, texts) is None
    (root / "task" / "junk.npz").write_bytes(b"not a record")  # unreadable: skipped
    assert _retrain.find_previous(root, "task", base[:1], texts) is None


class Fixed:
    """A model that answers a fixed label per text, with a fixed confidence."""

    def __init__(self, answers: dict[str, str], confidence: float = 0.9) -> None:
        self.labels = LABELS
        self.answers = answers
        self.confidence = confidence

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        rest = (1 - self.confidence) / (len(LABELS) - 1)
        return np.array(
            [[self.confidence if y == self.answers[t] else rest for y in LABELS] for t in texts]
        )


def test_compare_prints_the_table_and_the_decision() -> None:
    texts = [f"t{i}" for i in range(12)]
    gold = ["billing", "cards", "shopping"] * 4
    old = Fixed(dict(zip(texts, ["billing"] * 12, strict=True)))  # right on 4 of 12
    new = Fixed(dict(zip(texts, gold, strict=True)), confidence=0.8)  # right on all
    result = compare_models(old, new, (texts, gold))
    assert result.decision == "replace"
    assert (result.new_only, result.old_only) == (8, 0)
    assert result.p_value == pytest.approx(2 / 2**8, abs=1e-4)
    assert result.old.accuracy == pytest.approx(4 / 12) and result.new.accuracy == 1.0
    assert result.new.ece == pytest.approx(0.2) and result.old.ece == pytest.approx(0.9 - 4 / 12)
    table = result.to_table()
    for line in ("accuracy", "macro F1", "ECE (lower is better)", "F1 cards"):
        assert line in table
    assert "decision: replace - the new model gets 8 text(s) right" in table
    assert "more than noise" in table
    back = compare_models(new, old, (texts, gold))
    assert back.decision == "keep"
    with pytest.raises(ValueError, match="different labels"):
        other = Fixed({})
        other.labels = ["a", "b", "c"]
        compare_models(old, other, (texts, gold))
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0


def test_cli_compare(
    tiny_bert_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = build_tiny_bert(tmp_path / "other", LABELS, seed=1)
    test = tmp_path / "test.csv"
    rows = [(t, y) for t, y in TRAIN]
    test.write_text("question,answer\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    assert main(["compare", str(tiny_bert_classifier), str(other), str(test)]) == 0
    out = capsys.readouterr().out
    assert "metric" in out and "F1 shopping" in out and "decision: " in out
    assert (
        main(["compare", str(tiny_bert_classifier), str(tiny_bert_classifier), str(test), "--json"])
        == 0
    )
    body = json.loads(capsys.readouterr().out)
    assert body["decision"] == "keep" and body["new_only"] == body["old_only"] == 0
    assert "within noise" in body["reason"]
    assert main(["compare", str(tiny_bert_classifier), str(tmp_path / "missing"), str(test)]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_a_retrain_reuses_the_recipe_cross_validated_on_the_earlier_rows(
    tiny_bert_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil_sdk.local.teachers import _recipes, embedded

    chosen: list[int] = []

    def choose(x: np.ndarray, *args: object, **kwargs: object) -> _recipes.RecipeChoice:
        chosen.append(len(x))  # a stand-in for the cross-validation (seconds of CPU)
        return _recipes.RecipeChoice(_recipes.Recipe(10.0), {"C=10": 0.9}, {"C=10": 0.3})

    monkeypatch.setattr(embedded, "choose_recipe", choose)
    bundle = _bundle(tiny_bert_encoder, TRAIN, POOL)

    def fit(rows: Sequence[tuple[str, str]]) -> EmbeddedTeacher:
        # The frozen encoder's recipe (test_contrastive covers the tuned encoder's reuse).
        teacher = EmbeddedTeacher(
            str(tiny_bert_encoder), disk_cache=tmp_path / "cache", contrastive=False
        )
        train = LabelledDataset.from_lists([t for t, _ in rows], [y for _, y in rows])
        teacher.fit(bundle.job_description, train, bundle.config)
        teacher.adapt(POOL)
        return teacher

    fit(TRAIN)
    assert chosen == [9, 9]  # fit() (gold rows only), then adapt() (with the texts)
    reused = fit([*TRAIN, (POOL[0], "billing"), (POOL[2], "shopping")])
    assert chosen == [9, 9] and reused.recipe_choice is not None
    assert reused.recipe_choice.recipe.c == 10.0
    # Fewer than 2/3 of the rows were seen before: cross-validated again.
    fit([*TRAIN, *((f"extra text {i}", LABELS[i % 3]) for i in range(6))])
    assert chosen == [9, 9, 15, 15]


def test_a_retrain_continues_the_previous_student_base(
    tiny_bert_encoder: Path, tmp_path: Path
) -> None:
    import torch

    from distil_sdk.local.training import TrainSettings, build_student

    first, _ = _label(_bundle(tiny_bert_encoder, TRAIN, POOL), tmp_path / "1")
    base = build_student(str(tiny_bert_encoder), LABELS, max_length=32, seed=1)
    _retrain.save_base(first, base)
    added = [(POOL[0], "billing"), (POOL[2], "shopping"), (POOL[1], "shopping")]
    second, _ = _label(_bundle(tiny_bert_encoder, TRAIN + added, POOL), tmp_path / "2")
    fresh = build_student(str(tiny_bert_encoder), LABELS, max_length=32, seed=2)
    settings = TrainSettings(
        learning_rate=1e-4, scheduler="linear", weight_decay=0.0, warmup_ratio=0.0, epochs=10,
        batch_size=8, seed=0, temperature=1.0,
    )  # fmt: skip
    _retrain.warm_start_base(second, fresh, settings)
    assert settings.epochs == 3  # 3 of 12 rows are new: a quarter of 10 epochs, rounded up
    assert "student-base continued from the previous run's (9 of 12 gold rows)" in second.notes[-1]
    kept, loaded = base.model.state_dict(), fresh.model.state_dict()
    for name, value in kept.items():
        torch.testing.assert_close(loaded[name], value, atol=2e-3, rtol=2e-3)  # half precision
    # A first training (no previous run) starts fresh and keeps its epochs.
    settings.epochs = 10
    _retrain.warm_start_base(first, fresh, settings)
    assert settings.epochs == 10

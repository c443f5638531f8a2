"""The local pipeline contract (what the worker relies on), with tiny BERT student and teacher."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from distil_sdk.local import pipeline
from distil_sdk.local._jobs.threads import busy_cores, torch_threads
from distil_sdk.types.data import LabelledDataset, TaskBundle, UnlabelledDataset
from distil_sdk.types.task import JobDescription, TaskConfig

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
TEST = [
    ("a fee on my card payment", "billing"),
    ("change the pin", "cards"),
    ("a steel kettle", "shopping"),
    ("the new card", "cards"),
]
UNLABELLED = [
    "the cheque deposit is not in my balance",
    "a novel about a family",
    "my card was charged a fee",
    "a shirt",
    "where is my card",
    "hello world",
]


def _bundle(
    encoder: Path, seed: int = 5, *, labels: list[str] = LABELS, unlabelled: bool = True
) -> TaskBundle:
    config = TaskConfig()
    config.base.student_model_name = str(encoder)
    config.base.teacher_model_name = str(encoder)
    config.base.random_seed = seed
    config.tuning.num_train_epochs = 1
    return TaskBundle(
        job_description=JobDescription(
            task_description="Route the request.",
            classes_description={label: f"Texts about {label}." for label in labels},
        ),
        train=LabelledDataset.from_lists(
            [t for t, y in TRAIN if y in labels], [y for _, y in TRAIN if y in labels]
        ),
        test=LabelledDataset.from_lists(
            [t for t, y in TEST if y in labels], [y for _, y in TEST if y in labels]
        ),
        unstructured=UnlabelledDataset.from_lists(UNLABELLED) if unlabelled else None,
        config=config,
    )


FAST = pipeline.PipelineOptions(student_max_length=32, distillation_epochs=1, base_epochs=1)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, stage: str, status: str, message: str) -> None:
        assert message
        self.events.append((stage, status))


@pytest.fixture(autouse=True)
def _no_teacher_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)
    monkeypatch.setenv("DISTIL_NUM_THREADS", "1")


def _check_predictions(path: Path, n: int) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == n
    for row in rows:
        assert set(row) == {"question", "answer", "prediction", "scores"}
        assert row["prediction"] in LABELS and set(row["scores"]) == set(LABELS)
        assert abs(sum(row["scores"].values()) - 1) < 1e-4


def test_teacher_evaluation(tiny_bert_encoder: Path, tmp_path: Path) -> None:
    progress = Recorder()
    out = pipeline.run_teacher_evaluation(_bundle(tiny_bert_encoder), tmp_path, progress)
    assert {"accuracy", "macro avg", "weighted avg", *LABELS} <= set(out.results)
    assert out.predictions_path.parent == tmp_path
    _check_predictions(out.predictions_path, len(TEST))
    assert [
        s for s, st in progress.events if st == "JOB_SUCCESS"
    ] == pipeline.TEACHER_EVALUATION_STAGES


def test_training_contract_and_model_dir(tiny_bert_encoder: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    progress = Recorder()
    out = pipeline.run_training(_bundle(tiny_bert_encoder), tmp_path, progress, options=FAST)
    assert set(out.evaluation_results) == {"teacher", "student-base", "student-tuned"}
    for name, metrics in out.evaluation_results.items():
        assert 0.0 <= metrics["accuracy"] <= 1.0, name
        _check_predictions(out.predictions[name], len(TEST))
    started = [s for s, st in progress.events if st == "JOB_RUNNING"]
    done = [s for s, st in progress.events if st == "JOB_SUCCESS"]
    assert started == done == pipeline.TRAINING_STAGES
    model = AutoModelForSequenceClassification.from_pretrained(out.model_dir)
    assert model.config.id2label == dict(enumerate(LABELS))
    for name in ["model.safetensors", "tokenizer.json", "training-logs.csv", "training-logs.json"]:
        assert (out.model_dir / name).is_file()
    job = json.loads((out.model_dir / "job_description.json").read_text())
    assert list(job["classes_description"]) == LABELS
    logs = json.loads((out.model_dir / "training-logs.json").read_text())
    # student-tuned-average: the saved (weight-averaged) student's held-out figures.
    assert {row["stage"] for row in logs} == {
        "student-base",
        "student-tuned",
        "student-tuned-average",
    }
    # The teacher's per-task recipe choice is kept beside the weights and in the card.
    recipe = json.loads((out.model_dir / pipeline.TEACHER_RECIPE_FILE).read_text())
    assert recipe == out.teacher_recipe
    assert recipe["recipe"]["name"] in recipe["cv_accuracy"]
    assert recipe["recipe"]["name"] in (out.model_dir / "README.md").read_text()


def test_training_runs_without_unlabelled_texts_and_on_two_classes(
    tiny_bert_encoder: Path, tmp_path: Path
) -> None:
    """Both are common in users' own tasks: ``unstructured.csv`` is optional, and a binary
    task gives the teacher's logistic regression a single row of weights."""
    from distil_sdk import LocalClassifier

    bundle = _bundle(tiny_bert_encoder, unlabelled=False)
    out = pipeline.run_training(bundle, tmp_path / "no-pool", Recorder(), options=FAST)
    assert set(out.evaluation_results) == {"teacher", "student-base", "student-tuned"}
    _check_predictions(out.predictions["student-tuned"], len(TEST))
    assert out.teacher_recipe is not None
    assert not any("+st" in name for name in out.teacher_recipe["cv_accuracy"])

    two = ["billing", "cards"]
    binary = _bundle(tiny_bert_encoder, labels=two)
    out = pipeline.run_training(binary, tmp_path / "binary", Recorder(), options=FAST)
    # The binary head was copied into the student: it starts as the teacher.
    assert any("started from the teacher" in note for note in out.notes)
    classifier = LocalClassifier.from_pretrained(out.model_dir)
    assert classifier.labels == two
    test_texts = binary.test.texts
    assert len(test_texts) == 3
    assert set(classifier.predict(list(test_texts))) <= set(two)


def test_training_is_deterministic(tiny_bert_encoder: Path, tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        out = pipeline.run_training(
            _bundle(tiny_bert_encoder), tmp_path / str(i), Recorder(), options=FAST
        )
        runs.append(
            [
                json.loads(x)["scores"]
                for x in out.predictions["student-tuned"].read_text().splitlines()
            ]
        )
    flat = [[row[k] for k in LABELS] for run in runs for row in run]
    np.testing.assert_allclose(flat[: len(TEST)], flat[len(TEST) :], atol=1e-5)


def test_failure_reports_the_stage(tiny_bert_encoder: Path, tmp_path: Path) -> None:
    bundle = _bundle(tiny_bert_encoder)
    bundle.config.base.student_model_name = str(tmp_path / "no-such-model")
    progress = Recorder()
    with pytest.raises(RuntimeError, match="no-such-model"):
        pipeline.run_training(bundle, tmp_path, progress, options=FAST)
    assert ("student_base", "JOB_FAILURE") in progress.events


def test_split_gold_keeps_every_class() -> None:
    labels = ["a"] * 5 + ["b"] * 1 + ["c"] * 2
    train, held = pipeline.split_gold(["t"] * 8, labels, 0.2, seed=1)
    assert sorted(train + held) == list(range(8))
    assert {labels[i] for i in train} == {"a", "b", "c"}
    assert held == pipeline.split_gold(["t"] * 8, labels, 0.2, seed=1)[1]


def test_pick_student_length_fits_the_token_budget() -> None:
    from distil_sdk.local.pipeline import PipelineOptions, pick_student_length

    def tokenizer(
        texts: list[str], truncation: bool, max_length: int
    ) -> dict[str, list[list[int]]]:
        return {"input_ids": [[0] * min(len(t.split()), max_length) for t in texts]}

    texts = ["w " * 300] * 10  # 300 pieces each
    assert pick_student_length(tokenizer, texts, PipelineOptions(student_token_budget=2560)) == 256
    assert pick_student_length(tokenizer, texts, PipelineOptions(student_token_budget=2000)) == 192
    assert pick_student_length(tokenizer, texts, PipelineOptions(student_token_budget=1000)) == 128
    assert pick_student_length(tokenizer, texts, PipelineOptions(student_token_budget=None)) == 128
    short = ["a b c"] * 10  # already under the floor: the longer window costs nothing
    assert pick_student_length(tokenizer, short, PipelineOptions(student_token_budget=100)) == 256


@pytest.mark.parametrize("balance", [True, False])
def test_distillation_weights_follow_the_gold_prior(
    tiny_bert_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, balance: bool
) -> None:
    from dataclasses import replace

    from distil_sdk.local import training
    from distil_sdk.local.teachers import prior_weights

    seen: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    real = training.train_student

    def spy(student, texts, targets, weights, settings, **kw):  # type: ignore[no-untyped-def]
        seen[kw["stage"]] = (np.asarray(targets), np.asarray(weights), kw.get("soft"))
        return real(student, texts, targets, weights, settings, **kw)

    monkeypatch.setattr(training, "train_student", spy)
    options = replace(FAST, balance_transfer=balance)
    pipeline.run_training(_bundle(tiny_bert_encoder), tmp_path, Recorder(), options=options)
    targets, weights, soft = seen["student-tuned"]
    assert soft is not None
    soft = np.asarray(soft, dtype=bool)
    assert np.all(weights[~soft] == options.gold_weight)
    transfer = weights[soft]
    assert len(transfer) == len(UNLABELLED)
    if balance:
        gold_prior = targets[~soft].sum(axis=0) + 1.0
        np.testing.assert_allclose(
            transfer, prior_weights(targets[soft].argmax(axis=1), gold_prior)
        )
    else:
        assert np.all(transfer == 1.0)


def test_torch_threads_counts_cores_other_processes_keep_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import subprocess
    import sys

    assert torch_threads() == 1  # the autouse fixture sets DISTIL_NUM_THREADS=1
    monkeypatch.delenv("DISTIL_NUM_THREADS")
    cores = os.cpu_count() or 1
    assert 1 <= torch_threads() <= min(cores, 8)
    if not os.path.exists("/proc/stat"):
        pytest.skip("no /proc/stat: the load-average fallback is used")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = busy_cores(window=0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert 0.5 <= busy <= cores + 1e-6  # the spinning child holds about one core


def test_step_caps_shorten_training_only_when_rows_are_many(
    tiny_bert_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from distil_sdk.local import training

    seen: dict[str, tuple[int, int | None]] = {}
    real = training.train_student

    def spy(student, texts, targets, weights, settings, **kw):  # type: ignore[no-untyped-def]
        seen[kw["stage"]] = (settings.epochs, settings.max_steps_per_epoch)
        return real(student, texts, targets, weights, replace(settings, epochs=1), **kw)

    monkeypatch.setattr(training, "train_student", spy)
    bundle = _bundle(tiny_bert_encoder)
    bundle.config.tuning.num_train_epochs = 4  # student-base: 2.5 x 4 = 10 epochs
    loose = replace(FAST, base_epochs=None, distillation_max_steps_per_epoch=None)
    pipeline.run_training(bundle, tmp_path / "a", Recorder(), options=loose)
    assert seen["student-base"] == (10, None) and seen["student-tuned"][1] is None
    # One optimiser step per epoch here: a cap of 2 steps cuts student-base to its floor of 3.
    tight = replace(loose, base_max_steps=2, distillation_max_steps_per_epoch=1)
    pipeline.run_training(bundle, tmp_path / "b", Recorder(), options=tight)
    assert seen["student-base"] == (3, None) and seen["student-tuned"][1] == 1


@pytest.mark.parametrize("init", ["teacher", "fitted", "base"])
def test_distilled_student_starts_from_the_teacher_by_default(
    tiny_bert_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, init: str
) -> None:
    from dataclasses import replace

    from distil_sdk.local import training

    seen: dict[str, Any] = {}
    real = training.train_student
    test_texts = [t for t, _ in TEST]

    def spy(student, texts, targets, weights, settings, **kw):  # type: ignore[no-untyped-def]
        if kw["stage"] == "student-tuned":
            head = student.model.classifier
            seen["settings"] = settings
            seen["head"] = (head.weight.detach().clone(), head.bias.detach().clone())
            seen["layers"] = student.model.config.num_hidden_layers
            seen["started"] = student.predict_proba(test_texts)
        return real(student, texts, targets, weights, settings, **kw)

    monkeypatch.setattr(training, "train_student", spy)
    bundle = _bundle(tiny_bert_encoder)
    bundle.config.tuning.num_train_epochs = 4
    # The tiny task has 15 texts for 32 hidden units: the fitted pooler's text floor is lifted.
    options = replace(
        FAST,
        distillation_epochs=None,
        student_init="base" if init == "base" else "teacher",
        student_mean_pool_layer=init == "teacher",
        teacher_init_min_texts_per_unit=0,
    )
    out = pipeline.run_training(bundle, tmp_path, Recorder(), options=options)
    settings = seen["settings"]
    started_from_teacher = any("started from the teacher" in note for note in out.notes)
    card = (out.model_dir / "README.md").read_text()
    layers = json.loads((tiny_bert_encoder / "config.json").read_text())["num_hidden_layers"]
    if init == "base":
        assert not started_from_teacher and seen["layers"] == layers
        assert settings.learning_rate == pytest.approx(bundle.config.tuning.learning_rate)
        assert settings.epochs == 2  # 0.5 x 4
        return
    assert started_from_teacher and "started from the teacher" in card
    assert any("average of the teacher copy" in note for note in out.notes)
    assert settings.learning_rate == pytest.approx(0.4 * bundle.config.tuning.learning_rate)
    assert settings.head_lr_multiplier == 1.0 and settings.epochs == 1  # 0.25 x 4
    if init == "fitted":
        # The teacher's own logistic regression is the student's head before distillation.
        teacher_head = _refit_teacher_head(bundle, tmp_path)
        np.testing.assert_allclose(seen["head"][0].numpy(), teacher_head[0], atol=1e-5)
        np.testing.assert_allclose(seen["head"][1].numpy(), teacher_head[1], atol=1e-5)
        assert seen["layers"] == layers
        return
    # With the mean-pooling layer the student reads what the teacher reads: before any
    # distillation it already scores the test texts as the teacher does.
    assert seen["layers"] == layers + 1
    rows = [json.loads(line) for line in (tmp_path / "teacher-predictions.jsonl").open()]
    teacher = np.array([[row["scores"][label] for label in LABELS] for row in rows])
    np.testing.assert_allclose(seen["started"], teacher, atol=0.02)
    saved = json.loads((out.model_dir / "config.json").read_text())
    assert saved["num_hidden_layers"] == layers + 1


def test_student_tuned_is_the_average_of_its_start_and_its_distilled_weights(
    tiny_bert_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    import torch
    from safetensors.torch import load_file

    from distil_sdk.local import training

    seen: dict[str, Any] = {}
    real = training.average_with_start

    def spy(model, start, keep):  # type: ignore[no-untyped-def]
        seen.update(start=start, distilled=training.snapshot_weights(model), keep=keep)
        real(model, start, keep)

    monkeypatch.setattr(training, "average_with_start", spy)
    bundle = _bundle(tiny_bert_encoder)
    out = pipeline.run_training(bundle, tmp_path / "half", Recorder(), options=FAST)
    assert seen["keep"] == 0.5
    assert any("average of the teacher copy" in note for note in out.notes)
    saved = load_file(str(out.model_dir / "model.safetensors"))
    start, distilled = seen["start"], seen["distilled"]
    moved = [
        n
        for n in saved
        if n in start and start[n].is_floating_point() and not torch.equal(start[n], distilled[n])
    ]
    assert "classifier.weight" in moved
    for name in moved:
        expected = start[name] + 0.5 * (distilled[name] - start[name])
        torch.testing.assert_close(saved[name], expected, rtol=1e-5, atol=1e-6)

    # training-logs.csv ends with the saved (averaged) weights' held-out figures.
    from distil_sdk import LocalClassifier

    with (out.model_dir / "training-logs.csv").open(newline="") as handle:
        last = list(csv.DictReader(handle))[-1]
    assert last["stage"] == "student-tuned-average" and last["train_loss"] == ""
    _, held = pipeline.split_gold(
        bundle.train.texts,
        bundle.train.labels,
        float(bundle.config.tuning.train_eval_split),
        int(bundle.config.base.random_seed or 0),
    )
    assert held
    predicted = LocalClassifier.from_pretrained(out.model_dir).predict(
        [bundle.train.texts[i] for i in held]
    )
    right = np.mean([p == bundle.train.labels[i] for p, i in zip(predicted, held, strict=True)])
    assert float(last["eval_accuracy"]) == pytest.approx(right)

    # keep=1.0: the distilled weights as they are, no average and no note.
    seen.clear()
    out = pipeline.run_training(
        bundle, tmp_path / "all", Recorder(), options=replace(FAST, teacher_init_keep=1.0)
    )
    assert not seen and not any("average" in note for note in out.notes)

    # keep=0.0: student-tuned is the teacher copy it started from.
    folder = tmp_path / "none"
    pipeline.run_training(bundle, folder, Recorder(), options=replace(FAST, teacher_init_keep=0.0))

    def scores(name: str) -> np.ndarray:
        rows = [json.loads(line) for line in (folder / f"{name}-predictions.jsonl").open()]
        return np.array([[row["scores"][label] for label in LABELS] for row in rows])

    np.testing.assert_allclose(scores("student-tuned"), scores("teacher"), atol=0.02)

    with pytest.raises(ValueError, match=r"teacher_init_keep must lie in \[0, 1\]"):
        pipeline.run_training(
            bundle, tmp_path / "bad", Recorder(), options=replace(FAST, teacher_init_keep=1.5)
        )
    assert not (tmp_path / "bad").exists()


def _refit_teacher_head(bundle: TaskBundle, tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    from distil_sdk.local.teachers.embedded import EmbeddedTeacher

    teacher = EmbeddedTeacher(
        encoder_name=bundle.config.base.teacher_model_name,
        disk_cache=pipeline.embedding_cache_dir(tmp_path),
    )
    teacher.fit(bundle.job_description, bundle.train, bundle.config)
    assert bundle.unstructured is not None
    teacher.adapt(bundle.unstructured.texts)
    head = teacher.linear_head()
    assert head is not None
    return head


def test_too_few_texts_keep_only_a_fitted_pooler_from_the_teacher(
    tiny_bert_encoder: Path, tmp_path: Path
) -> None:
    from dataclasses import replace

    fitted = replace(FAST, student_mean_pool_layer=False)
    out = pipeline.run_training(
        _bundle(tiny_bert_encoder), tmp_path / "a", Recorder(), options=fitted
    )
    assert not any("started from the teacher" in note for note in out.notes)
    # The mean-pooling layer fits nothing, so 15 texts are enough for it.
    out = pipeline.run_training(
        _bundle(tiny_bert_encoder), tmp_path / "b", Recorder(), options=FAST
    )
    assert any("mean-pooling layer" in note for note in out.notes)


class ClosingTeacher:
    """A real teacher that counts its closes and refuses (and records) any use after one."""

    def __init__(self, inner: Any, *, fail_fit: bool = False) -> None:
        self._inner = inner
        self._fail_fit = fail_fit
        self.closes = 0
        self.used_after_close: list[str] = []

    def _live(self, what: str) -> Any:
        if self.closes:
            self.used_after_close.append(what)
            raise RuntimeError(f"teacher.{what} used after close")
        return self._inner

    @property
    def labels(self) -> list[str]:
        return list(self._live("labels").labels)

    @property
    def recipe_choice(self) -> Any:
        return self._live("recipe_choice").recipe_choice

    def fit(self, job: Any, train: Any, config: Any) -> None:
        if self._fail_fit:
            raise ValueError("the teacher cannot read these rows")
        self._live("fit").fit(job, train, config)

    def adapt(self, texts: Any) -> None:
        self._live("adapt").adapt(texts)

    def predict_proba(self, texts: Any) -> np.ndarray:
        return np.asarray(self._live("predict_proba").predict_proba(texts))

    def embed(self, texts: Any) -> np.ndarray:
        return np.asarray(self._live("embed").embed(texts))

    def linear_head(self) -> Any:
        return self._live("linear_head").linear_head()

    def close(self) -> None:
        self.closes += 1


@pytest.fixture
def closing_teachers(monkeypatch: pytest.MonkeyPatch) -> list[ClosingTeacher]:
    """Every teacher the pipeline makes, wrapped in a `ClosingTeacher`."""
    made: list[ClosingTeacher] = []
    real = pipeline.make_teacher

    def make(*args: Any, **kwargs: Any) -> ClosingTeacher:
        made.append(ClosingTeacher(real(*args, **kwargs)))
        return made[-1]

    monkeypatch.setattr(pipeline, "make_teacher", make)
    return made


def test_the_teacher_is_closed_once_after_its_last_use(
    tiny_bert_encoder: Path, tmp_path: Path, closing_teachers: list[ClosingTeacher]
) -> None:
    """The distilled student starts from the teacher (its head and embeddings), so the teacher
    stays open through ``distillation`` and is closed once, after it."""
    progress = Recorder()
    out = pipeline.run_training(_bundle(tiny_bert_encoder), tmp_path, progress, options=FAST)
    [teacher] = closing_teachers
    assert teacher.used_after_close == [] and teacher.closes == 1
    assert any("mean-pooling layer" in note for note in out.notes)  # embed() was used
    assert out.teacher_recipe is not None  # recipe_choice was read while the teacher was open
    assert [s for s, st in progress.events if st == "JOB_SUCCESS"] == pipeline.TRAINING_STAGES

    evaluation = pipeline.run_teacher_evaluation(
        _bundle(tiny_bert_encoder), tmp_path / "evaluation", Recorder()
    )
    assert evaluation.results["accuracy"] >= 0.0
    labels = pipeline.label_texts(_bundle(tiny_bert_encoder), UNLABELLED[:3], tmp_path / "label")
    assert len(labels) == 3 and set(labels) <= set(LABELS)
    assert [(t.closes, t.used_after_close) for t in closing_teachers] == [(1, [])] * 3


def test_a_failing_stage_or_fit_still_closes_the_teacher_once(
    tiny_bert_encoder: Path,
    tmp_path: Path,
    closing_teachers: list[ClosingTeacher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bundle = _bundle(tiny_bert_encoder)
    bundle.config.base.student_model_name = str(tmp_path / "no-such-model")
    progress = Recorder()
    with pytest.raises(RuntimeError, match="no-such-model"):
        pipeline.run_training(bundle, tmp_path / "run", progress, options=FAST)
    assert ("student_base", "JOB_FAILURE") in progress.events
    assert [t.closes for t in closing_teachers] == [1]

    # A teacher whose fit fails reaches no caller that could close it: the fit closes it.
    from distil_sdk.local.teachers import make_teacher as real

    failing: list[ClosingTeacher] = []

    def make(*args: Any, **kwargs: Any) -> ClosingTeacher:
        failing.append(ClosingTeacher(real(*args, **kwargs), fail_fit=True))
        return failing[-1]

    monkeypatch.setattr(pipeline, "make_teacher", make)
    progress = Recorder()
    with pytest.raises(ValueError, match="cannot read these rows"):
        pipeline.run_teacher_evaluation(bundle, tmp_path / "evaluation", progress)
    assert ("teacher_fit", "JOB_FAILURE") in progress.events
    assert [t.closes for t in failing] == [1]

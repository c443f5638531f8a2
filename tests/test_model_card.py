"""The model card (README.md + confusion_matrix.png) written into a trained ``model/`` folder."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from distil_sdk.local import pipeline
from distil_sdk.local.teachers._chat import ChatClient
from distil_sdk.local.teachers.embedded import EmbeddedTeacher
from distil_sdk.local.teachers.llm import LLMTeacher
from distil_sdk.local.training import Student, TrainSettings
from distil_sdk.local.training._card import (
    TRAINER_CONFIG_KEYS,
    RunFacts,
    render_card,
    run_facts,
    write_model_card,
)
from distil_sdk.types.task import JobDescription, TaskConfig, TuningConfig
from test_pipeline import FAST, TEST, Recorder, _bundle


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)
    monkeypatch.setenv("DISTIL_NUM_THREADS", "1")


def test_training_writes_a_model_card_and_confusion_matrix(
    tiny_bert_encoder: Path, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    bundle = _bundle(tiny_bert_encoder)
    out = pipeline.run_training(bundle, tmp_path, Recorder(), options=FAST)
    card = (out.model_dir / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlibrary_name: transformers\n")
    assert bundle.job_description.task_description in card
    for label, description in bundle.job_description.classes_description.items():
        assert f"| `{label}` | {description} |" in card
    for name in ("teacher", "student-base", "student-tuned"):
        metrics = out.evaluation_results[name]
        row = f"| {name} | {metrics['accuracy']:.3f} | {metrics['macro avg']['f1-score']:.3f} |"
        assert row in card
    assert f"({len(TEST)} texts)" in card
    assert "LocalClassifier.from_pretrained" in card and 'pipeline("text-classification"' in card
    # The card quotes the keys the task set, never a platform default the local run ignored.
    assert "  num_train_epochs: 1\n" in card and "  random_seed: 5\n" in card
    for unused in ("use_lora", "lora_r", "train_generation_target", "bf16", "rlvr_"):
        assert unused not in card
    assert card.split("\n# ", 1)[1].startswith("Route the request\n")
    # What this run applied, from the pipeline itself: both student stages' settings, the rows.
    assert "were not recorded" not in card
    assert "| setting | student-base | student-tuned |" in card
    gold = sum(1 for line in card.splitlines() if line.startswith("- Training rows: "))
    assert gold == 1 and "unlabelled texts labelled by the teacher" in card
    assert "![confusion matrix of student-tuned](confusion_matrix.png)" in card
    png = (out.model_dir / "confusion_matrix.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def _inputs(tmp_path: Path) -> tuple[JobDescription, TaskConfig, dict[str, dict], Path]:
    job = JobDescription(
        task_description="Route bank requests.",
        classes_description={"cards": "Card issues | lost cards", "fees": "Fees"},
    )
    predictions = tmp_path / "student-tuned-predictions.jsonl"
    rows = [("cards", "cards"), ("fees", "cards"), ("fees", "fees")]
    predictions.write_text(
        "".join(json.dumps({"question": "t", "answer": g, "prediction": p}) + "\n" for g, p in rows)
    )
    tuned = {
        "accuracy": 2 / 3,
        "macro avg": {"f1-score": 0.667},
        "cards": {"precision": 0.5, "recall": 1.0, "f1-score": 0.667, "support": 1},
        "fees": {"precision": 1.0, "recall": 0.5, "f1-score": 0.667, "support": 2},
    }
    return job, TaskConfig(), {"student-tuned": tuned}, predictions


def test_without_matplotlib_the_png_is_skipped_with_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    job, config, results, predictions = _inputs(tmp_path)
    with caplog.at_level(logging.INFO, logger="distil_sdk"):
        path = write_model_card(
            tmp_path, job=job, config=config, results=results, predictions=predictions
        )
    assert path == tmp_path / "README.md"
    card = path.read_text()
    assert not (tmp_path / "confusion_matrix.png").exists() and "confusion_matrix.png" not in card
    assert "distil-sdk[plot]" in caplog.text
    # Missing models show a dash; a '|' inside a description cannot break the table.
    assert "| teacher | - | - |" in card and "Card issues \\| lost cards" in card
    assert "| `fees` | 1.000 | 0.500 | 0.667 | 2 |" in card and "(3 texts)" in card


def test_a_card_that_cannot_be_written_never_fails_training(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job, config, results, _ = _inputs(tmp_path)
    with caplog.at_level(logging.WARNING, logger="distil_sdk"):
        assert (
            write_model_card(
                tmp_path / "missing-dir",
                job=job,
                config=config,
                results=results,
                predictions=tmp_path / "no-such-predictions.jsonl",
            )
            is None
        )
    assert "could not write the model card" in caplog.text


UUID = "3f2a9c1e-7b4d-4e2a-9f1c-2d3e4f5a6b7c"


def _card(config: TaskConfig, run: RunFacts | None = None, **kwargs: Any) -> str:
    job = JobDescription(
        task_description="Route bank requests to the team that handles them. Be brief.",
        classes_description={"cards": "Card issues", "fees": "Fees"},
    )
    return render_card(job, config, {}, n_test=0, with_plot=False, run=run, **kwargs)


def _settings(epochs: int, learning_rate: float, **kwargs: Any) -> TrainSettings:
    return TrainSettings(epochs=epochs, learning_rate=learning_rate, batch_size=8, seed=7, **kwargs)


RUN = RunFacts(
    student_model="my-encoder",
    max_length=192,
    teacher="the embedded teacher (logistic regression over `my-encoder` embeddings)",
    stages={
        "student-base": _settings(10, 5e-5),
        "student-tuned": _settings(1, 2e-5, max_steps_per_epoch=400, head_lr_multiplier=1.0),
    },
    gold_rows=38,
    held_out_rows=10,
    unlabelled_rows=1000,
    synthetic_rows=0,
    seed=7,
    config_keys=TRAINER_CONFIG_KEYS | {"base.teacher_model_name"},
)


def test_platform_defaults_the_local_run_ignored_are_not_on_the_card() -> None:
    # A default config: the local student has its own epochs, no LoRA, no synthetic target.
    card = _card(TaskConfig())
    for default in ("use_lora", "num_train_epochs", "train_generation_target", "10000", "lora_r"):
        assert default not in card
    assert "not used by the local trainer" not in card  # nothing was set and ignored


def test_the_card_states_the_settings_this_run_applied() -> None:
    card = _card(TaskConfig(), RUN)
    assert "| epochs | 10 | 1 |" in card
    assert "| learning rate | 5e-05 | 2e-05 |" in card
    assert "| batch size | 8 | 8 |" in card and "| steps per epoch at most | - | 400 |" in card
    assert "- Student: `my-encoder`, texts truncated to 192 word pieces." in card
    assert "- Teacher: the embedded teacher (logistic regression over `my-encoder`" in card
    assert "38 labelled rows (10 more held out" in card
    assert "1000 unlabelled texts labelled by the teacher, 0 synthetic texts" in card
    assert "- Seed: 7." in card
    assert "no LoRA adapter" in card and "use_lora" not in card


def test_keys_set_but_ignored_are_named_as_unused_not_as_settings() -> None:
    config = TaskConfig(
        tuning=TuningConfig(use_lora=False, lora_r=8, num_train_epochs=6),
        synthgen={"train_generation_target": 500},
    )
    card = _card(config, RUN)
    read, _, unused = card.partition("Set in `config.yaml` but not used by the local trainer: ")
    assert "num_train_epochs: 6" in read and "use_lora" not in read and "500" not in read
    assert unused.startswith(
        "`tuning.use_lora`, `tuning.lora_r`, `synthgen.train_generation_target`."
    )


def test_which_keys_were_read_depends_on_the_teacher(tmp_path: Path) -> None:
    config = TaskConfig(synthgen={"train_generation_target": 500, "teacher_temperature": 0.2})
    student = Student(model=None, tokenizer=None, labels=["cards", "fees"], max_length=128)
    stages = {"student-base": _settings(10, 5e-5)}
    counts = {"gold_rows": 4, "held_out_rows": 0, "unlabelled_rows": 2, "synthetic_rows": 0}
    embedded = run_facts(
        config=config, student=student, teacher=EmbeddedTeacher(), stages=stages, **counts
    )
    assert embedded.seed == 7 and embedded.max_length == 128
    assert "bundled" in embedded.student_model and "all-MiniLM-L6-v2" in embedded.teacher
    assert "synthgen.train_generation_target" not in embedded.config_keys
    unused = _card(config, embedded).partition("not used by the local trainer: ")[2]
    assert "`synthgen.train_generation_target`, `synthgen.teacher_temperature`." in unused

    chat = ChatClient("http://llm.test/v1", "tiny-llm", api_key="sk-secret", cache_dir=tmp_path)
    llm = run_facts(
        config=config, student=student, teacher=LLMTeacher(chat), stages=stages, **counts
    )
    chat.close()
    card = _card(config, llm)
    assert "the LLM teacher `tiny-llm`" in card and "sk-secret" not in card
    assert "train_generation_target: 500" in card and "not used by the local trainer" not in card
    # A teacher of another kind is named by its class and credited with its model name only.
    other = run_facts(config=config, student=student, teacher=object(), stages=stages, **counts)
    assert other.teacher == "`object`"
    assert other.config_keys == TRAINER_CONFIG_KEYS | {"base.teacher_model_name"}


def test_the_title_is_a_human_name_never_an_id() -> None:
    def title(card: str) -> str:
        return card.split("\n# ", 1)[1].split("\n", 1)[0]

    assert title(_card(TaskConfig())) == "Route bank requests to the team that handles them"
    assert (
        title(_card(TaskConfig(), name=UUID)) == "Route bank requests to the team that handles them"
    )
    assert title(_card(TaskConfig(), name=f"slm-{UUID}")) == title(_card(TaskConfig()))
    assert title(_card(TaskConfig(), name="Bank router")) == "Bank router"
    long = JobDescription(
        task_description=f"{UUID}: classify the support tickets of our retail bank by team and urgency",
        classes_description={"a": "A", "b": "B"},
    )
    card = render_card(long, TaskConfig(), {}, n_test=0, with_plot=False)
    assert title(card) == "Classify the support tickets of our retail bank by team..."
    bare = JobDescription(task_description=UUID, classes_description={"a": "A", "b": "B"})
    card = render_card(bare, TaskConfig(), {}, n_test=0, with_plot=False)
    assert title(card) == "Text classifier (2 labels)"


def test_the_settings_the_card_calls_unused_do_not_change_the_student_training() -> None:
    # TRAINER_CONFIG_KEYS is the card's claim of what the local trainer reads: any other
    # tuning key must leave the student's settings alone. A new tuning key needs a decision.
    changed: dict[str, object] = {
        "bf16": False,
        "use_lora": False,
        "lora_r": 8,
        "lora_alpha_multiplier": 2.0,
        "per_device_eval_batch_size": 4,
        "gradient_accumulation_steps": 4,
        "num_few_shot_examples_student": 2,
        "enable_trainer_internal_eval": True,
        "memory_optimized_training": True,
        "use_qlora": True,
        "max_completion_length": 64,
        "rlvr_dataset_size": 0.5,
        "rlvr_llm_as_a_judge_model_name": "judge",
        "rlvr_per_device_batch_size": 12,
        "rlvr_num_generations": 6,
        "rlvr_num_train_epochs": 3,
        "awq_quantize_tuned_model": True,
    }
    read = {key.split(".", 1)[1] for key in TRAINER_CONFIG_KEYS if key.startswith("tuning.")}
    assert set(TuningConfig.model_fields) == read | set(changed)
    options = pipeline.PipelineOptions()
    baseline = pipeline.train_settings(TaskConfig(), options, epochs=None, scale=2.5)
    for key, value in changed.items():
        config = TaskConfig(tuning=TuningConfig(**{key: value}))
        assert pipeline.train_settings(config, options, epochs=None, scale=2.5) == baseline, key

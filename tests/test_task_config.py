"""JobDescription and TaskConfig: defaults, ranges, unknown keys, files and their errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from distil_sdk._errors import DataValidationError
from distil_sdk.types import (
    JobDescription,
    SynthgenConfig,
    TaskConfig,
    TuningConfig,
)
from distil_sdk.types._config import DEPRECATED_KEYS, LORA_RANKS

# -- JobDescription --------------------------------------------------------------------------


def test_labels_keep_file_order(tmp_path: Path) -> None:
    path = tmp_path / "job_description.json"
    path.write_text(
        json.dumps(
            {
                "task_description": "t",
                "classes_description": {"zeta": "z", "alpha": "a", "mid": "m"},
            }
        )
    )
    assert JobDescription.from_file(path).labels == ["zeta", "alpha", "mid"]


def test_job_description_keeps_other_keys_and_round_trips() -> None:
    jd = JobDescription.model_validate(
        {
            "task_description": "t",
            "classes_description": {"a": "A", "b": "B"},
            "synthetic_data_generation_instructions": "short",
        }
    )
    again = JobDescription.from_bytes(jd.to_json())
    assert again == jd
    assert json.loads(again.to_json())["synthetic_data_generation_instructions"] == "short"


@pytest.mark.parametrize(
    ("content", "code", "column", "needle"),
    [
        (
            '{"task_description": "t", "classes_description": {"a": "A",}',
            "invalid_json",
            None,
            "line 1",
        ),
        ('["not", "an", "object"]', "invalid_json", None, "JSON object"),
        (
            '{"classes_description": {"a": "A", "b": "B"}}',
            "missing_key",
            "task_description",
            "missing",
        ),
        ('{"classes_description": null}', "missing_key", "task_description", "missing"),
        (
            '{"task_description": "t", "classes_description": {}}',
            "invalid_job_description",
            "classes_description",
            "at least 2 classes",
        ),
        (
            '{"task_description": "t", "classes_description": {"a": 1, "b": "B"}}',
            "invalid_job_description",
            "classes_description.a",
            "string",
        ),
    ],
)
def test_job_description_errors_name_file_and_key(
    tmp_path: Path, content: str, code: str, column: str | None, needle: str
) -> None:
    path = tmp_path / "job_description.json"
    path.write_text(content)
    with pytest.raises(DataValidationError) as info:
        JobDescription.from_file(path)
    (finding,) = info.value.report.findings
    assert (finding.code, finding.file, finding.column) == (code, "job_description.json", column)
    assert needle in finding.message
    assert "job_description.json" in str(info.value)


def test_job_description_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as info:
        JobDescription.from_file(tmp_path / "job_description.json")
    assert info.value.report.errors[0].code == "missing_file"


# -- TaskConfig ------------------------------------------------------------------------------


def test_documented_defaults() -> None:
    config = TaskConfig()
    assert config.base.task == "classification"
    assert config.base.student_model_name is None and config.base.teacher_model_name is None
    assert config.base.random_seed == 123
    assert config.tuning.learning_rate == 5e-5
    assert config.tuning.learning_rate_scheduler == "linear"
    assert config.tuning.num_train_epochs == 4
    assert config.tuning.train_eval_split == 0.2
    assert config.tuning.per_device_train_batch_size == 1
    assert config.evaluation.num_few_shot_examples == 1
    assert config.synthgen.train_generation_target == 10000
    assert config.synthgen.generation_target == 10000  # the old name still reads
    assert config.synthgen.test_generation_target == 0
    assert config.synthgen.num_positive_exemplars_per_generation == 1
    assert config.synthgen.num_negative_exemplars_per_generation == 1
    assert config.tuning.max_completion_length == 2048
    assert config.base.should_expand_dataset == "auto"
    assert config.synthgen.teacher_temperature == 0.7
    assert config.synthgen.validation_similarity_threshold == 0.95
    assert config.synthgen.validation_max_total_length == 30000
    assert config.synthgen.match_generated_distribution_to_seed is False


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        (TuningConfig, "train_eval_split", 0.0),
        (TuningConfig, "train_eval_split", 1.0),
        (TuningConfig, "learning_rate", 0.0),
        (TuningConfig, "num_train_epochs", 0),
        (TuningConfig, "learning_rate_scheduler", "step"),
        (TuningConfig, "warmup_ratio", 1.5),
        (SynthgenConfig, "teacher_temperature", -0.1),
        (SynthgenConfig, "teacher_temperature", 1.01),
        (SynthgenConfig, "validation_similarity_threshold", 2),
        (SynthgenConfig, "train_generation_target", -1),
    ],
)
def test_out_of_range_values_raise(section: type, key: str, value: object) -> None:
    # The SDK's own error (a ValueError), naming the key, with pydantic's error chained.
    with pytest.raises(DataValidationError, match=key) as info:
        section(**{key: value})
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value.__cause__, ValidationError)
    assert info.value.report.errors[0].column.endswith(key)


def test_range_limits_are_inclusive_where_documented() -> None:
    assert SynthgenConfig(teacher_temperature=0).teacher_temperature == 0
    assert SynthgenConfig(teacher_temperature=1).teacher_temperature == 1
    assert TuningConfig(train_eval_split=0.99).train_eval_split == 0.99


def test_assignment_is_validated() -> None:
    config = TaskConfig()
    with pytest.raises(DataValidationError, match=r"tuning\.learning_rate") as info:
        config.tuning.learning_rate = -1
    assert isinstance(info.value.__cause__, ValidationError)
    assert config.tuning.learning_rate == 5e-5


def test_unknown_keys_warn_are_kept_and_round_trip() -> None:
    with pytest.warns(UserWarning, match=r"'learnig_rate' in config section 'tuning'"):
        config = TaskConfig.model_validate({"tuning": {"learnig_rate": 1e-4}})
    assert config.tuning.model_extra == {"learnig_rate": 1e-4}
    assert config.unknown_keys() == ["tuning.learnig_rate"]
    text = config.to_yaml()
    assert yaml.safe_load(text)["tuning"]["learnig_rate"] == 1e-4
    with pytest.warns(UserWarning):
        assert TaskConfig.from_text(text) == config


def test_unknown_section_warns_and_is_kept() -> None:
    with pytest.warns(UserWarning, match="section 'tunning'"):
        config = TaskConfig.model_validate({"tunning": {"num_train_epochs": 2}})
    assert config.unknown_keys() == ["tunning"]
    assert config.tuning.num_train_epochs == 4
    assert yaml.safe_load(config.to_yaml())["tunning"] == {"num_train_epochs": 2}


def test_warning_points_at_the_caller() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TaskConfig.model_validate({"base": {"colour": "blue"}})
    assert caught and caught[0].filename == __file__


def test_documented_keys_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TaskConfig.model_validate(
            {
                "base": {"task": "classification", "llm_num_parallel_requests": 2},
                "tuning": {"use_lora": False, "awq_quantize_tuned_model": False},
                "evaluation": {"batch_size": 4},
                "synthgen": {"parallel_llm_calls": 2, "mutation_topics": ["a"]},
                "trace_processing": {"relabel": True},
            }
        )


def test_to_yaml_writes_only_what_was_set_unless_full() -> None:
    config = TaskConfig(tuning=TuningConfig(num_train_epochs=8))
    assert yaml.safe_load(config.to_yaml()) == {
        "base": {"task": "classification"},
        "tuning": {"num_train_epochs": 8},
    }
    full = yaml.safe_load(config.to_yaml(full=True))
    assert full["synthgen"]["teacher_temperature"] == 0.7
    assert "student_model_name" not in full["base"]  # None = the platform's default
    assert TaskConfig.from_text(config.to_yaml(full=True)) == config


def test_from_file_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "base:\n  task: classification\n  student_model_name: my/student\n"
        "tuning:\n  learning_rate: 1e-4\nsynthgen:\n"
    )
    config = TaskConfig.from_file(tmp_path / "config.yaml")
    assert config.base.student_model_name == "my/student"
    assert config.tuning.learning_rate == 1e-4
    (tmp_path / "config.json").write_text(json.dumps({"synthgen": {"generation_target": 50}}))
    with pytest.warns(UserWarning, match="Deprecated config key 'synthgen.generation_target'"):
        assert TaskConfig.from_file(tmp_path / "config.json").synthgen.generation_target == 50


@pytest.mark.parametrize(
    ("content", "column", "needle"),
    [
        ("tuning:\n  train_eval_split: 1.5\n", "tuning.train_eval_split", "less than 1"),
        ("synthgen:\n  teacher_temperature: hot\n", "synthgen.teacher_temperature", "hot"),
        ("tuning: 3\n", "tuning", "mapping"),
        ("base:\n  task: [unclosed\n", None, "line"),
        ("- just\n- a list\n", None, "mapping"),
    ],
)
def test_bad_config_file_names_file_and_key(
    tmp_path: Path, content: str, column: str | None, needle: str
) -> None:
    (tmp_path / "config.yaml").write_text(content)
    with pytest.raises(DataValidationError) as info:
        TaskConfig.from_file(tmp_path / "config.yaml")
    finding = info.value.report.errors[0]
    assert finding.file == "config.yaml"
    assert finding.column == column
    assert needle in finding.message


# -- JobDescription without classes ----------------------------------------------------------
# job-description.md (distil-cli-skill, 074bf216): "Every field except task_description (and
# classes_description / tools where shown) is optional." A question-answering job description
# has no classes, so reading the file no longer requires them; job_description_findings does.


def test_a_question_answering_job_description_reads(tmp_path: Path) -> None:
    path = tmp_path / "job_description.json"
    content = {
        "task_description": "Answer billing questions.",
        "llm_as_a_judge_instructions": "Output 'good' if the answer is correct.",
        "synthetic_data_generation_instructions": "Short customer emails.",
    }
    path.write_text(json.dumps(content))
    jd = JobDescription.from_file(path)
    assert jd.classes_description is None
    assert jd.labels == []
    assert jd.llm_as_a_judge_instructions == "Output 'good' if the answer is correct."
    # Nothing the file did not hold is written back (no "classes_description": null).
    assert json.loads(jd.to_json()) == content
    assert jd.model_dump() == content


def test_a_classification_file_round_trips_byte_for_byte(tmp_path: Path) -> None:
    jd = JobDescription(task_description="t", classes_description={"b": "B", "a": "A"})
    text = jd.to_json()
    assert json.loads(text) == {
        "task_description": "t",
        "classes_description": {"b": "B", "a": "A"},
    }
    assert JobDescription.from_bytes(text).to_json() == text


def test_chat_completion_job_description_with_tools_round_trips() -> None:
    content = {
        "task_description": "Book tables.",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "book_table",
                    "description": "Book a table.",
                    "parameters": {
                        "type": "object",
                        "properties": {"people": {"type": "integer", "default": 2}},
                        "required": [],
                    },
                    "strict": True,
                },
            },
            {"type": "function", "function": {"name": "cancel"}},
        ],
    }
    jd = JobDescription.from_bytes(json.dumps(content))
    assert jd.tool_names == ["book_table", "cancel"]
    assert jd.tools is not None and jd.tools[1].function.description is None
    assert json.loads(jd.to_json()) == content  # key order and the extra "strict" kept
    # chat-completion "may omit the field (or pass null or [])": an explicit null is kept.
    explicit = JobDescription.from_bytes('{"task_description": "t", "tools": null}')
    assert json.loads(explicit.to_json()) == {"task_description": "t", "tools": None}


@pytest.mark.parametrize(
    ("tools", "column", "needle"),
    [
        # job-description.md: "tools is the OpenAI function-calling spec, with unique names".
        (
            [{"type": "function", "function": {"name": "a"}}] * 2,
            "tools",
            "unique",
        ),
        ([{"type": "tool", "function": {"name": "a"}}], "tools.0.type", "function"),
        ([{"type": "function", "function": {"name": ""}}], "tools.0.function.name", "at least 1"),
        ([{"type": "function"}], "tools.0.function", "required"),
        ("get_weather", "tools", "list"),
    ],
)
def test_malformed_tools_are_refused_naming_the_key(
    tools: object, column: str, needle: str
) -> None:
    raw = json.dumps({"task_description": "t", "tools": tools})
    with pytest.raises(DataValidationError) as info:
        JobDescription.from_bytes(raw)
    finding = info.value.report.errors[0]
    assert (finding.code, finding.file, finding.column) == (
        "invalid_job_description",
        "job_description.json",
        column,
    )
    assert needle in finding.message


def test_classes_are_still_checked_when_given() -> None:
    with pytest.raises(DataValidationError, match="at least 2 classes"):
        JobDescription(task_description="t", classes_description={"only": "one"})
    with pytest.raises(DataValidationError, match="empty class name"):
        JobDescription(task_description="t", classes_description={" ": "x", "b": "y"})


# -- base.task -------------------------------------------------------------------------------
# task-types.md (newest, 71509602329): "`base.task` in `config.yaml` selects the task" - four
# values. migrating-old-entities.md (8848a333): the old names are "Task types a Dataset does
# not accept ... set `base.task: question-answering`"; "A multi-turn tool-calling task maps to
# `chat-completion` or `chat-completion-agentic`".


@pytest.mark.parametrize(
    "task", ["classification", "question-answering", "chat-completion", "chat-completion-agentic"]
)
def test_each_task_type_is_accepted(task: str) -> None:
    config = TaskConfig.from_text(f"base:\n  task: {task}\n")
    assert config.base.task == task
    assert config.task_type == task
    assert yaml.safe_load(config.to_yaml())["base"]["task"] == task


def test_the_task_type_defaults_to_classification_and_is_always_written() -> None:
    config = TaskConfig.from_text("tuning:\n  num_train_epochs: 2\n")
    assert config.task_type == "classification"
    assert yaml.safe_load(config.to_yaml())["base"] == {"task": "classification"}


@pytest.mark.parametrize(
    ("task", "replacement"),
    [
        ("question-answering-open-book", "'question-answering'"),
        ("question-answering-closed-book", "'question-answering'"),
        ("information-extraction", "'question-answering'"),
        ("question-answering-open-book-synthetic-context", "'question-answering'"),
        ("question-answering-legacy", "'question-answering'"),
        ("tool-calling-closed-book", "'chat-completion'"),
        ("multi-turn-tool-calling-closed-book", "'chat-completion' or 'chat-completion-agentic'"),
    ],
)
def test_a_retired_task_is_refused_naming_its_replacement(
    tmp_path: Path, task: str, replacement: str
) -> None:
    (tmp_path / "config.yaml").write_text(f"base:\n  task: {task}\n")
    with pytest.raises(DataValidationError) as info:
        TaskConfig.from_file(tmp_path / "config.yaml")
    (finding,) = info.value.report.errors
    assert (finding.code, finding.file, finding.column) == (
        "invalid_config",
        "config.yaml",
        "base.task",
    )
    assert "retired task type" in finding.message
    assert f"use {replacement} instead" in finding.message


def test_an_unknown_task_is_refused_listing_the_supported_ones() -> None:
    with pytest.raises(DataValidationError, match=r"base\.task") as info:
        TaskConfig.model_validate({"base": {"task": "summarization"}})
    message = info.value.report.errors[0].message
    assert "'summarization' is not a task type" in message
    for task in (
        "classification",
        "question-answering",
        "chat-completion",
        "chat-completion-agentic",
    ):
        assert task in message


def test_assigning_a_retired_task_is_refused_and_leaves_the_config_unchanged() -> None:
    config = TaskConfig()
    with pytest.raises(DataValidationError, match="use 'chat-completion'"):
        config.base.task = "tool-calling-closed-book"  # type: ignore[assignment]
    assert config.task_type == "classification"


# -- synthgen.max_tool_calls_per_turn ----------------------------------------------------------
# data-preparation/chat-completion.md (71619091723) § Tool calls per turn: "Set an integer or
# "unlimited" for parallel calls"; configuration.md: default null (1 with tools, 0 without).


def test_max_tool_calls_per_turn_takes_unlimited_and_sends_it() -> None:
    config = TaskConfig.from_text('synthgen:\n  max_tool_calls_per_turn: "unlimited"\n')
    assert config.synthgen.max_tool_calls_per_turn == "unlimited"
    assert yaml.safe_load(config.to_yaml())["synthgen"] == {"max_tool_calls_per_turn": "unlimited"}
    assert TaskConfig.from_text("synthgen:\n  max_tool_calls_per_turn: unlimited\n") == config
    assert SynthgenConfig(max_tool_calls_per_turn=3).max_tool_calls_per_turn == 3
    assert SynthgenConfig().max_tool_calls_per_turn is None


@pytest.mark.parametrize("value", [-1, "many", "Unlimited", 1.5])
def test_max_tool_calls_per_turn_refuses_other_values(value: object) -> None:
    with pytest.raises(DataValidationError, match=r"synthgen\.max_tool_calls_per_turn"):
        TaskConfig.model_validate({"synthgen": {"max_tool_calls_per_turn": value}})


# -- tuning.lora_r ---------------------------------------------------------------------------
# configuration.md (8848a333) § tuning: lora_r "Rank of the LoRA adapter, which is the trained
# model. One of 8, 16, 32, 64, 128, 256, 320 or 512."


def test_lora_r_takes_the_deployable_ranks() -> None:
    assert LORA_RANKS == (8, 16, 32, 64, 128, 256, 320, 512)
    for rank in LORA_RANKS:
        assert TuningConfig(lora_r=rank).lora_r == rank
    assert TuningConfig().lora_r == 64


@pytest.mark.parametrize("rank", [1, 4, 48, 100, 1024])
def test_lora_r_refuses_other_ranks_listing_the_allowed_ones(tmp_path: Path, rank: int) -> None:
    (tmp_path / "config.yaml").write_text(f"tuning:\n  lora_r: {rank}\n")
    with pytest.raises(DataValidationError) as info:
        TaskConfig.from_file(tmp_path / "config.yaml")
    finding = info.value.report.errors[0]
    assert finding.column == "tuning.lora_r"
    assert "8, 16, 32, 64, 128, 256, 320, 512" in finding.message
    assert f"not {rank}" in finding.message


# -- deprecated keys ---------------------------------------------------------------------------
# configuration.md (8848a333) § Deprecated keys: "These keys are not part of the config. Each one
# has a replacement or no equivalent" (table: generation_target -> train_generation_target...).


def test_every_listed_deprecated_key_is_known() -> None:
    assert DEPRECATED_KEYS["synthgen.generation_target"] == "synthgen.train_generation_target"
    assert DEPRECATED_KEYS["traces_to_test_set.num_synthetic_examples"] == (
        "synthgen.test_generation_target"
    )
    assert "teacher evaluation" in str(
        DEPRECATED_KEYS["traces_to_test_set.evaluate_original_model"]
    )
    for key in (
        "traces_to_test_set.min_relabelled_examples",
        "trace_processing.max_unstructured",
        "trace_processing.num_traces_as_testing_base",
        "trace_processing.min_generated_examples",
        "trace_processing.evaluate_original_model",
        "trace_processing.convert_to_single_turn",
        "synthgen.generation_per_unstructured_context",
        "synthgen.num_distractor_context_blocks",
    ):
        assert DEPRECATED_KEYS[key] is None


def test_a_renamed_deprecated_key_warns_with_its_replacement_and_keeps_the_value() -> None:
    text = (
        "synthgen:\n  generation_target: 300\ntrace_processing:\n  num_traces_as_training_base: 9\n"
    )
    with pytest.warns(UserWarning) as caught:
        config = TaskConfig.from_text(text)
    messages = [str(w.message) for w in caught]
    assert any(
        "'synthgen.generation_target'" in m and "'synthgen.train_generation_target'" in m
        for m in messages
    )
    assert any(
        "'trace_processing.num_traces_as_training_base'" in m
        and "trace_processing.num_train_relabelled" in m
        for m in messages
    )
    assert config.synthgen.train_generation_target == 300
    assert config.trace_processing == {"num_train_relabelled": 9}
    assert config.source_text() == text  # what is uploaded is what was written
    assert config.deprecated_keys() == [
        ("synthgen.generation_target", "synthgen.train_generation_target"),
        ("trace_processing.num_traces_as_training_base", "trace_processing.num_train_relabelled"),
    ]


def test_deprecated_keys_without_replacement_warn_and_are_still_sent() -> None:
    text = (
        "synthgen:\n  num_distractor_context_blocks: 2\n"
        "trace_processing:\n  max_unstructured: 50\n  convert_to_single_turn: false\n"
    )
    with pytest.warns(UserWarning) as caught:
        config = TaskConfig.from_text(text)
    messages = [str(w.message) for w in caught]
    for key in (
        "synthgen.num_distractor_context_blocks",
        "trace_processing.max_unstructured",
        "trace_processing.convert_to_single_turn",
    ):
        assert any(f"Deprecated config key {key!r}: it has no replacement" in m for m in messages)
    assert config.unknown_keys() == []
    sent = yaml.safe_load(config.to_yaml())
    assert sent["synthgen"] == {"num_distractor_context_blocks": 2}
    assert sent["trace_processing"] == {"max_unstructured": 50, "convert_to_single_turn": False}
    assert ("synthgen.num_distractor_context_blocks", None) in config.deprecated_keys()


def test_a_dropped_deprecated_key_warns_with_its_replacement() -> None:
    with pytest.warns(UserWarning, match="use a teacher evaluation with the production model"):
        config = TaskConfig.from_text("traces_to_test_set:\n  evaluate_original_model: true\n")
    assert config.renamed_keys() == [("traces_to_test_set.evaluate_original_model", None)]


def test_deprecated_keys_warn_in_code_too_and_point_at_the_caller() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TaskConfig(synthgen={"generation_target": 6})  # type: ignore[arg-type]
        SynthgenConfig(generation_per_unstructured_context=3)
    assert [w.filename for w in caught] == [__file__, __file__]
    assert "synthgen.generation_target" in str(caught[0].message)
    assert "synthgen.generation_per_unstructured_context" in str(caught[1].message)


def test_a_full_dump_does_not_write_unset_deprecated_keys() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = TaskConfig().to_yaml(full=True)
        again = TaskConfig.from_text(full)  # no deprecation warning: nothing deprecated written
    assert "num_distractor_context_blocks" not in full
    assert again == TaskConfig()
    assert TaskConfig().deprecated_keys() == []


def test_an_unknown_key_suggests_the_known_one_it_is_close_to() -> None:
    with pytest.warns(UserWarning) as caught:
        config = TaskConfig.from_text("tuning:\n  learnig_rate: 0.1\nsynthgen:\n  zzz: 1\n")
    messages = [str(w.message) for w in caught]
    typo = next(m for m in messages if "'learnig_rate'" in m)
    assert "Did you mean 'learning_rate'? It is kept" in typo
    assert "id you mean" not in next(m for m in messages if "'zzz'" in m)
    assert config.suggestion("tuning.learnig_rate") == " Did you mean 'tuning.learning_rate'?"
    assert config.suggestion("synthgen.zzz") == ""
    assert config.suggestion("tunning") == " Did you mean 'tuning'?"


def test_the_unknown_key_finding_suggests_too() -> None:
    from distil_sdk.types import JobDescription, LabelledDataset, TaskBundle

    with pytest.warns(UserWarning):
        config = TaskConfig.from_text("tuning:\n  num_train_epoch: 3\n")
    jd = JobDescription(task_description="t", classes_description={"a": "A", "b": "B"})
    rows = LabelledDataset.from_lists(["x", "y"], ["a", "b"])
    bundle = TaskBundle(jd, rows, LabelledDataset.from_lists(["z", "w"], ["a", "b"]), None, config)
    [finding] = [f for f in bundle.validate().findings if f.code == "unknown_config_key"]
    assert finding.column == "tuning.num_train_epoch"
    assert "Did you mean 'tuning.num_train_epochs'?" in finding.message

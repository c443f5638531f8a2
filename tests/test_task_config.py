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
        ('{"task_description": "t"}', "missing_key", "classes_description", "missing"),
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

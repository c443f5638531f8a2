"""The platform's current data format: JSONL chat rows, POST /datasets files, current config keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from distil_sdk._errors import DataValidationError
from distil_sdk.types import (
    JobDescription,
    LabelledDataset,
    TaskBundle,
    TaskConfig,
    UnlabelledDataset,
)

CLASSES = {"card": "Card problems", "fee": "Unexpected fees"}


def _bundle(config: TaskConfig | None = None) -> TaskBundle:
    jd = JobDescription(task_description="Route requests.", classes_description=CLASSES)
    train = LabelledDataset.from_lists(
        ["my card is blocked", "card not arriving", 'a "fee", with comma', "fee\non two lines"],
        ["card", "card", "fee", "fee"],
    )
    test = LabelledDataset.from_lists(["card stuck in ATM", "why this fee? café"], ["card", "fee"])
    pool = UnlabelledDataset.from_lists(["some unlabelled text", "another one"])
    return TaskBundle(jd, train, test, pool, config)


def _chat(text: str, label: str) -> str:
    return json.dumps(
        {
            "messages": [
                {"role": "user", "content": text},
                {"role": "assistant", "content": label},
            ]
        }
    )


def test_dataset_files_hold_chat_rows_in_the_current_shape() -> None:
    files = _bundle().to_dataset_files()
    # Only the files today's staging answer offers (backend-api.md, "The Dataset").
    assert set(files) == {"job_description", "train_data", "test_data", "traces", "config"}
    assert all(isinstance(v, bytes) for v in files.values())
    rows = [json.loads(line) for line in files["train_data"].decode().splitlines()]
    assert rows[0] == {
        "messages": [
            {"role": "user", "content": "my card is blocked"},
            {"role": "assistant", "content": "card"},
        ]
    }
    assert [r["messages"][1]["content"] for r in rows] == ["card", "card", "fee", "fee"]
    assert rows[3]["messages"][0]["content"] == "fee\non two lines"
    assert "café".encode() in files["test_data"]  # UTF-8, not \u escapes
    # The seed's unlabelled texts travel as traces: one user turn each (openai_messages).
    traces = [json.loads(x) for x in files["traces"].decode().splitlines()]
    assert traces == [
        {"messages": [{"role": "user", "content": "some unlabelled text"}]},
        {"messages": [{"role": "user", "content": "another one"}]},
    ]
    assert json.loads(files["job_description"])["classes_description"] == CLASSES
    assert yaml.safe_load(files["config"])["base"]["task"] == "classification"


def test_unlabelled_texts_follow_the_configured_observation_format() -> None:
    config = TaskConfig(
        trace_processing={"observation_format": "unstructured_with_openai_messages"}
    )
    files = _bundle(config).to_dataset_files()
    first = json.loads(files["traces"].decode().splitlines()[0])
    assert json.loads(first["context"]) == [{"role": "user", "content": "some unlabelled text"}]
    # Read back, the traces are the same unlabelled pool.
    again = TaskBundle.from_dataset_files(files)
    assert again.unlabelled is not None
    assert again.unlabelled.texts == ["some unlabelled text", "another one"]


def test_dataset_files_round_trip() -> None:
    bundle = _bundle(TaskConfig(tuning={"num_train_epochs": 7}))
    again = TaskBundle.from_dataset_files(bundle.to_dataset_files())
    assert again.train == bundle.train and again.test == bundle.test
    assert again.job_description == bundle.job_description and again.config == bundle.config
    assert again.unstructured is None and again.unlabelled == bundle.unlabelled
    assert again.train.source == "train.jsonl"
    assert [f.code for f in again.validate().findings] == ["few_rows"]  # 4 rows only
    assert again.validate().ok


def test_no_unlabelled_texts_means_no_traces_file() -> None:
    bundle = _bundle()
    bundle.unstructured = None
    files = bundle.to_dataset_files()
    assert "traces" not in files
    assert TaskBundle.from_dataset_files(files).unlabelled is None


def test_empty_splits_are_left_out_and_read_back_empty() -> None:
    bundle = _bundle()
    bundle.test = LabelledDataset()
    files = bundle.to_dataset_files()
    assert "test_data" not in files
    again = TaskBundle.from_dataset_files({**files, "test_data": b""})
    assert len(again.test) == 0
    report = again.validate()
    assert report.ok  # an empty split is allowed; what it means is a warning
    [empty] = [f for f in report.warnings if f.code == "empty_split"]
    assert empty.file == "test.jsonl" and "teacher evaluation" in empty.message


def test_from_dataset_files_findings_name_file_line_and_fix() -> None:
    files = _bundle().to_dataset_files()
    lines = files["train_data"].decode().splitlines()
    lines[1] = json.dumps({"messages": [{"role": "assistant", "content": "card"}]})
    lines.append(_chat("a new text", "feee"))
    files["train_data"] = ("\n".join(lines) + "\n").encode()
    report = TaskBundle.from_dataset_files(files).validate()
    shape = next(f for f in report.errors if f.code == "invalid_messages")
    assert (shape.file, shape.row, shape.column) == ("train.jsonl", 2, "messages")
    assert '"role": "user"' in shape.message  # says how a row must look
    label = next(f for f in report.errors if f.code == "unknown_label")
    assert (label.file, label.row) == ("train.jsonl", 5)
    assert "did you mean 'fee'" in label.message


def test_from_dataset_files_missing_and_unknown_fields() -> None:
    files = _bundle().to_dataset_files()
    del files["config"]
    files["unknown_file"] = b"{}\n"
    with pytest.raises(DataValidationError) as info:
        TaskBundle.from_dataset_files(files)
    codes = {(f.code, f.column) for f in info.value.report.errors}
    assert ("missing_file", "config") in codes
    assert ("invalid_payload", "unknown_file") in codes


def test_from_dataset_files_reads_traces() -> None:
    files = _bundle().to_dataset_files()
    files["traces"] = b'{"messages": [{"role": "user", "content": "hi"}]}\n[1]\n'
    bundle = TaskBundle.from_dataset_files(files)
    assert bundle.traces is not None and len(bundle.traces) == 1
    [bad] = [f for f in bundle.validate().errors if f.code == "invalid_trace"]
    assert (bad.file, bad.row) == ("traces.jsonl", 2)


def test_from_dataset_files_refuses_flat_rows() -> None:
    files = _bundle().to_dataset_files()
    files["test_data"] = (
        b'{"question": "card stuck", "answer": "card"}\n{"question": "fee?", "answer": "fee"}\n'
    )
    bundle = TaskBundle.from_dataset_files(files)
    assert bundle.test.labels == ["card", "fee"]
    # Read, but a Dataset refuses them ("Flat rows are refused"): the finding says what to do.
    [flat] = [f for f in bundle.validate().errors if f.code == "flat_rows"]
    assert (flat.file, flat.row) == ("test.jsonl", 1) and "TaskBundle.from_dir" in flat.message


@pytest.mark.parametrize(
    "row",
    [
        {"messages": "hello"},
        {"messages": [{"role": "user", "content": "x"}]},
        {"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}]},
        {"messages": [{"role": "user"}, {"role": "assistant", "content": "card"}]},
        {"messages": [["user", "x"], {"role": "assistant", "content": "card"}]},
    ],
)
def test_malformed_chat_rows_are_findings(tmp_path: Path, row: object) -> None:
    (tmp_path / "train.jsonl").write_text(_chat("ok text", "card") + "\n" + json.dumps(row) + "\n")
    ds = LabelledDataset.from_file(tmp_path / "train.jsonl")
    assert len(ds) == 1
    [finding] = [f for f in ds.findings if f.code == "invalid_messages"]
    assert finding.row == 2 and finding.severity == "error"


def test_from_dir_reads_the_current_format(tmp_path: Path) -> None:
    (tmp_path / "job_description.json").write_text(
        json.dumps({"task_description": "Route.", "classes_description": CLASSES})
    )
    train = [_chat(f"card text {i}", "card") for i in range(3)] + [
        _chat(f"fee text {i}", "fee") for i in range(3)
    ]
    (tmp_path / "train.jsonl").write_text("\n".join(train) + "\n")
    (tmp_path / "test.jsonl").write_text(_chat("card?", "card") + "\n" + _chat("fee?", "fee"))
    (tmp_path / "unstructured.jsonl").write_text('{"context": "free text"}\n')
    (tmp_path / "config.yaml").write_text("base:\n  task: classification\n")
    (tmp_path / "metadata.json").write_text('{"major_version": "1", "minor_version": "0"}')
    bundle = TaskBundle.from_dir(tmp_path)
    assert bundle.train.labels == ["card"] * 3 + ["fee"] * 3
    assert bundle.unstructured is not None and bundle.unstructured.texts == ["free text"]
    assert [f.code for f in bundle.validate().findings] == ["few_rows", "unstructured_as_traces"]
    # Written back, chat rows stay chat rows.
    out = bundle.to_dir(tmp_path / "copy")
    first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert first["messages"][1] == {"role": "assistant", "content": "card"}


def test_to_dir_can_write_chat_rows_from_csv(tmp_path: Path) -> None:
    out = _bundle().to_dir(tmp_path / "t", format="chat")
    assert (out / "train.jsonl").is_file() and not (out / "train.csv").exists()
    # A Dataset folder of today: the unlabelled texts are its traces.
    assert not (out / "unstructured.jsonl").exists() and (out / "traces.jsonl").is_file()
    again, bundle = TaskBundle.from_dir(out), _bundle()
    assert (again.train, again.test, again.unlabelled) == (
        bundle.train,
        bundle.test,
        bundle.unlabelled,
    )


def test_current_rules_identical_label_sets() -> None:
    bundle = _bundle()
    bundle.test = LabelledDataset.from_lists(["card stuck"], ["card"])
    codes = {f.code for f in bundle.validate().errors}
    assert "class_missing_from_test" in codes
    bundle = _bundle()
    bundle.train = LabelledDataset.from_lists(["a", "b", "c"], ["card", "card", "other"])
    codes = {f.code for f in bundle.validate().errors}
    assert {"unknown_label", "class_without_examples"} <= codes


def test_per_class_minimum_follows_the_exemplar_counts() -> None:
    # Today the exemplar counts are lowered to the rows a split has (configuration.md): a thin
    # class is a warning, no longer a refusal.
    config = TaskConfig(synthgen={"num_negative_exemplars_per_generation": 3})
    bundle = _bundle(config)
    findings = [f for f in bundle.validate().warnings if f.code == "too_few_examples"]
    assert len(findings) == 2  # both classes have 2 examples
    assert all("fewer than the 3" in f.message for f in findings)
    assert bundle.validate().ok
    assert not [f for f in _bundle().validate().findings if f.code == "too_few_examples"]


# -- config keys -------------------------------------------------------------------------------


def test_old_config_names_are_mapped_with_a_warning_finding(tmp_path: Path) -> None:
    text = (
        "base:\n  task: classification\n"
        "synthgen:\n  generation_target: 300\n"
        "trace_processing:\n  num_traces_as_training_base: 50\n"
        "traces_to_test_set:\n  num_traces_to_relabel: 20\n  num_synthetic_examples: 40\n"
        "  some_removed_key: 1\n"
    )
    config = TaskConfig.from_text(text)
    assert config.synthgen.train_generation_target == 300
    assert config.synthgen.test_generation_target == 40
    assert config.trace_processing == {"num_train_relabelled": 50, "num_test_relabelled": 20}
    assert config.unknown_keys() == []
    bundle = _bundle(config)
    warned = {f.column: f for f in bundle.validate().warnings if f.code == "renamed_config_key"}
    assert set(warned) == {
        "synthgen.generation_target",
        "trace_processing.num_traces_as_training_base",
        "traces_to_test_set.num_traces_to_relabel",
        "traces_to_test_set.num_synthetic_examples",
        "traces_to_test_set.some_removed_key",
    }
    assert "synthgen.train_generation_target" in warned["synthgen.generation_target"].message
    assert "ignored" in warned["traces_to_test_set.some_removed_key"].message
    assert bundle.validate().ok
    # The new name wins when both are given; dumps use the current names only.
    both = TaskConfig.from_text("synthgen:\n  generation_target: 1\n  train_generation_target: 2\n")
    assert both.synthgen.train_generation_target == 2
    assert "generation_target:" not in both.to_yaml().replace("train_generation_target", "")


def test_old_names_work_in_code_too() -> None:
    config = TaskConfig(synthgen={"generation_target": 6})
    assert config.synthgen.train_generation_target == 6
    config.synthgen.generation_target = 8
    assert config.synthgen.train_generation_target == 8


def test_current_config_keys_do_not_warn() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = TaskConfig.from_text(
            "base:\n  task: classification\n  enable_thinking: false\n"
            "  should_expand_dataset: auto\n"
            "tuning:\n  max_completion_length: 1024\n"
            "synthgen:\n  train_generation_target: 100\n  test_generation_target: 10\n"
            "  use_traces_as_context: false\n  mutators: []\n  mutator_update_frequency: 3\n"
            "  max_tool_calls_per_turn: 0\n"
        )
    assert config.unknown_keys() == [] and config.renamed_keys() == []


def _record(text: str, reply: str | None, status: int = 200) -> dict[str, Any]:
    """An inference endpoint's record of one call (data-preparation/traces.md § From an
    inference endpoint)."""
    request = {"model": "support-x", "messages": [{"role": "system", "content": "Route it."},
                                                  {"role": "user", "content": text}]}  # fmt: skip
    message = {"role": "assistant", "content": reply}
    response = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    return {"input": json.dumps(request), "output": json.dumps(response),
            "metadata": {"status": status, "source": "fallback"},
            "start_time": "2026-12-01T10:00:00Z", "latency": 0.4}  # fmt: skip


def test_endpoint_records_are_read_as_the_reference_converts_them() -> None:
    from distil_sdk.types._traces import Traces

    rows = [
        _record("my card is blocked", "cards"),
        _record("the call failed", "cards", status=502),  # a failed call: passed over
        _record("no answer came", ""),  # an empty reply: passed over
        _record("refund please", "billing"),
    ]
    traces = Traces(rows)
    assert traces.user_texts("langfuse") == ["my card is blocked", "refund please"]
    assert Traces.messages_of(rows[0], "langfuse") == [
        {"role": "system", "content": "Route it."},
        {"role": "user", "content": "my card is blocked"},
        {"role": "assistant", "content": "cards"},
    ]
    assert traces.check("langfuse", 30_000) == []  # passed over is not an error
    # A {"messages": [...]} line is not a record, and a record is not a messages line.
    chat = Traces([{"messages": [{"role": "user", "content": "hi"}]}])
    (finding,) = chat.check("langfuse", 30_000)
    assert "'input' or 'output' is missing" in finding.message
    assert "inference endpoint's record" in finding.message
    assert "'messages' is missing" in traces.check("openai_messages", 30_000)[0].message

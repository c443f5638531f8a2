"""Hostile task files: limits on nesting, number size, YAML aliases, file size; lone surrogates;
the user's own config text uploaded; the SDK's errors, never pydantic's or a RecursionError."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from _local_support import running_server, upload_payload
from distil_sdk._errors import DataValidationError, DistilError
from distil_sdk.types import JobDescription, LabelledDataset, TaskBundle, TaskConfig

CLASSES = {"card": "Card problems", "fee": "Unexpected fees"}
JD = json.dumps({"task_description": "Route.", "classes_description": CLASSES})
TRAIN = "question,answer\n" + "".join(f"card text {i},card\nfee text {i},fee\n" for i in range(3))
TEST = "question,answer\ncard?,card\nfee?,fee\n"
DEEP = "[" * 100_000 + "]" * 100_000
BIG_INT = "1" * 5000


def _task(root: Path, **files: str | bytes) -> Path:
    content: dict[str, str | bytes] = {
        "job_description.json": JD,
        "train.csv": TRAIN,
        "test.csv": TEST,
    }
    content.update({k.replace("__", "."): v for k, v in files.items()})
    root.mkdir(parents=True, exist_ok=True)
    for name, value in content.items():
        (root / name).write_bytes(value.encode() if isinstance(value, str) else value)
    return root


def _fatal(root: Path) -> list:
    with pytest.raises(DataValidationError) as info:
        TaskBundle.from_dir(root)
    return info.value.report.errors


def _alias_bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "synthgen:\n  mutators:\n" + "".join(f"    {line}\n" for line in lines)


# -- nesting depth -----------------------------------------------------------------------------


def test_deep_job_description_is_a_finding(tmp_path: Path) -> None:
    deep = '{"task_description": "x", "classes_description": ' + DEEP + "}"
    [finding] = _fatal(_task(tmp_path, job_description__json="\n" + deep))
    assert (finding.code, finding.file) == ("too_deeply_nested", "job_description.json")
    assert finding.row == 2  # the line where the limit is passed
    assert "flatten" in finding.message


def test_deep_jsonl_line_is_a_finding_on_its_row(tmp_path: Path) -> None:
    train = (
        '{"question": "card a", "answer": "card"}\n{"question": ' + DEEP + ', "answer": "card"}\n'
    )
    train += "".join(
        f'{{"question": "t{i}", "answer": "{c}"}}\n' for i, c in enumerate(["card", "fee", "fee"])
    )
    bundle = TaskBundle.from_dir(_task_jsonl(tmp_path, train))
    finding = next(f for f in bundle.validate().errors if f.code == "too_deeply_nested")
    assert (finding.file, finding.row) == ("train.jsonl", 2)
    assert len(bundle.train) == 4  # the other rows are kept


def _task_jsonl(root: Path, train: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "job_description.json").write_text(JD)
    (root / "train.jsonl").write_text(train)
    (root / "test.csv").write_text(TEST)
    return root


@pytest.mark.parametrize(
    ("name", "content"),
    [("config.json", '{"synthgen": {"mutators": ' + DEEP + "}}"), ("config.yaml", "a: " + DEEP)],
)
def test_deep_config_is_a_finding(tmp_path: Path, name: str, content: str) -> None:
    [finding] = _fatal(_task(tmp_path, **{name.replace(".", "__"): content}))
    assert (finding.code, finding.file) == ("too_deeply_nested", name)


def test_deep_block_yaml_is_a_finding(tmp_path: Path) -> None:
    content = "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n"
    [finding] = _fatal(_task(tmp_path, config__yaml=content))
    assert finding.code == "too_deeply_nested"
    assert finding.row == 64 and "line 64" in finding.message  # the key k63, 65 levels down


# -- number size -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("job_description.json", JD[:-1] + ', "extra": ' + BIG_INT + "}"),
        ("config.yaml", "tuning:\n  num_train_epochs: " + BIG_INT + "\n"),
        ("config.json", '{"tuning": {"num_train_epochs": ' + BIG_INT + "}}"),
    ],
)
def test_huge_number_is_a_finding(tmp_path: Path, name: str, content: str) -> None:
    [finding] = _fatal(_task(tmp_path, **{name.replace(".", "__"): content}))
    assert (finding.code, finding.file) == ("number_too_large", name)
    assert "5000 digits" in finding.message
    if name == "config.yaml":
        assert finding.row == 2


def test_huge_number_in_jsonl_is_a_finding_on_its_row(tmp_path: Path) -> None:
    train = "".join(
        f'{{"question": "t{i}", "answer": "{c}"}}\n'
        for i, c in enumerate(["card", "card", "fee", "fee"])
    )
    train += '{"question": ' + BIG_INT + ', "answer": "fee"}\n'
    bundle = TaskBundle.from_dir(_task_jsonl(tmp_path, train))
    [finding] = [f for f in bundle.validate().errors if f.code == "number_too_large"]
    assert (finding.file, finding.row) == ("train.jsonl", 5)


# -- YAML aliases ------------------------------------------------------------------------------


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    bomb = _alias_bomb()
    assert len(bomb) < 800
    started = time.perf_counter()
    [finding] = _fatal(_task(tmp_path, config__yaml=bomb))
    assert time.perf_counter() - started < 5  # unbounded, this takes minutes and gigabytes
    assert (finding.code, finding.file) == ("alias_expansion", "config.yaml")
    assert "alias" in finding.message


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    [finding] = _fatal(_task(tmp_path, config__yaml="synthgen:\n  mutators: &m [*m]\n"))
    assert finding.code == "recursive_alias"


def test_a_few_aliases_are_fine_and_uploaded_as_written(tmp_path: Path) -> None:
    text = (
        "base:\n  task: classification\n  teacher_model_name: &t my-teacher\n"
        "evaluation:\n  llm_as_a_judge_model_name: *t  # same as the teacher\n"
    )
    bundle = TaskBundle.from_dir(_task(tmp_path, config__yaml=text))
    assert bundle.config.evaluation.llm_as_a_judge_model_name == "my-teacher"
    assert bundle.to_upload_payload()["config"]["content"] == text
    assert bundle.to_dataset_files()["config"] == text.encode()
    # Changed after reading: the current values are sent instead.
    bundle.config.tuning.num_train_epochs = 2
    sent = yaml.safe_load(bundle.to_dataset_files()["config"])
    assert sent["tuning"]["num_train_epochs"] == 2
    assert sent["evaluation"]["llm_as_a_judge_model_name"] == "my-teacher"


def test_uploaded_config_is_not_an_alias_expansion(tmp_path: Path) -> None:
    # Within the node budget, aliases still multiply a re-dump; the upload stays the user's text.
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for i, name in enumerate("bcd"):
        lines.append(f"{name}: &{name} [" + ",".join(["*" + "abcd"[i]] * 10) + "]")
    text = "synthgen:\n  mutators:\n" + "".join(f"    - {line}\n" for line in lines)
    bundle = TaskBundle.from_dir(_task(tmp_path, config__yaml=text))
    body = bundle.to_upload_payload()
    assert body["config"]["content"] == text
    assert len(bundle.config.to_yaml()) > 10 * len(text)  # what a re-dump would have sent


# -- file size ---------------------------------------------------------------------------------


def test_data_file_over_the_limit_is_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil_sdk.types._limits import LIMITS

    monkeypatch.setattr(LIMITS, "max_data_file_bytes", 50)
    errors = _fatal(_task(tmp_path))
    assert {(f.code, f.file) for f in errors} == {("file_too_large", "train.csv")}
    assert "DISTIL_MAX_DATA_FILE_BYTES" in errors[0].message
    with pytest.raises(DataValidationError) as info:
        LabelledDataset.from_bytes(TRAIN, format="csv", file="train.csv")
    assert info.value.report.errors[0].code == "file_too_large"


def test_config_file_over_the_limit_is_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil_sdk.types._limits import LIMITS

    monkeypatch.setattr(LIMITS, "max_config_file_bytes", 150)
    errors = _fatal(_task(tmp_path, config__yaml="base:\n  task: classification\n" + "#" * 200))
    assert [(f.code, f.file) for f in errors] == [("file_too_large", "config.yaml")]


# -- lone surrogates ---------------------------------------------------------------------------


def test_lone_surrogate_in_jsonl_is_a_finding(tmp_path: Path) -> None:
    train = "".join(
        f'{{"question": "t{i}", "answer": "{c}"}}\n'
        for i, c in enumerate(["card", "card", "fee", "fee"])
    )
    train += '{"question": "bad \\ud800 text", "answer": "fee"}\n'
    bundle = TaskBundle.from_dir(_task_jsonl(tmp_path, train))
    report = bundle.validate()
    [finding] = [f for f in report.errors if f.code == "lone_surrogate"]
    assert (finding.file, finding.row) == ("train.jsonl", 5)
    json.dumps(bundle.to_upload_payload()).encode("utf-8")  # nothing unencodable is kept
    for content in bundle.to_dataset_files().values():
        content.decode("utf-8")


def test_lone_surrogate_in_job_description_is_a_finding(tmp_path: Path) -> None:
    jd = '{"task_description": "x \\udfff", "classes_description": {"card": "a", "fee": "b"}}'
    [finding] = _fatal(_task(tmp_path, job_description__json=jd))
    assert (finding.code, finding.file) == ("lone_surrogate", "job_description.json")


def test_lone_surrogate_in_memory_fails_validation() -> None:
    jd = JobDescription(task_description="Route.", classes_description=CLASSES)
    train = LabelledDataset.from_lists(
        ["ok", "bad \ud800", "fee 1", "fee 2"], ["card"] * 2 + ["fee"] * 2
    )
    test = LabelledDataset.from_lists(["card?", "fee?"], ["card", "fee"])
    report = TaskBundle(jd, train, test).validate()
    [finding] = [f for f in report.errors if f.code == "lone_surrogate"]
    assert (finding.file, finding.row) == ("train", 2)


# -- the length check counts the label (the platform counts question + answer) ---------------


def test_length_limit_counts_the_label(tmp_path: Path) -> None:
    config = "synthgen:\n  validation_max_total_length: 12\n"
    train = "question,answer\n" + "".join(f"c{i},card\nf{i},fee\n" for i in range(3))
    train += "ten chars!,card\n"  # 10 + 4 = 14 > 12, though the text alone fits
    bundle = TaskBundle.from_dir(_task(tmp_path, config__yaml=config, train__csv=train))
    [finding] = [f for f in bundle.validate().errors if f.code == "text_too_long"]
    assert (finding.file, finding.row) == ("train.csv", 8)
    assert "14 characters" in finding.message


# -- the SDK's errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: JobDescription(task_description="", classes_description=CLASSES),
        lambda: JobDescription(task_description="x", classes_description={"only": "one"}),
        lambda: JobDescription.model_validate({"task_description": 3}),
        lambda: TaskConfig(tuning={"learning_rate": -1}),
        lambda: TaskConfig(synthgen={"teacher_temperature": "hot"}),
    ],
)
def test_bad_values_raise_the_sdks_error(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DistilError) as info:
        build()
    assert isinstance(info.value, DataValidationError) and isinstance(info.value, ValueError)
    assert isinstance(info.value.__cause__, ValidationError)
    assert info.value.report.errors and all(f.column for f in info.value.report.errors)
    assert "invalid " in str(info.value)


@pytest.mark.parametrize(
    "config",
    [
        "tuning:\n  1: 2\n",
        "trace_processing: 5\n",
        "base: {task: [1, 2]}\n",
        "tuning:\n  num_train_epochs: .inf\n",
        "synthgen: !!python/object:os.system {}\n",
    ],
)
def test_hostile_configs_never_escape_as_pydantic_errors(tmp_path: Path, config: str) -> None:
    errors = _fatal(_task(tmp_path, config__yaml=config))
    assert errors and all(f.file == "config.yaml" for f in errors)


# -- the local server answers 422 with findings, not 500 ---------------------------------------


def test_local_upload_route_turns_hostile_parts_into_422(tmp_path: Path) -> None:
    bodies = []
    for part, content in [
        ("job_description", '{"task_description": ' + DEEP + "}"),
        ("train_data", '{"question": ' + DEEP + ', "answer": "x"}\n'),
        ("train_data", '{"question": ' + BIG_INT + ', "answer": "x"}\n'),
        ("train_data", '{"question": "a \\ud800", "answer": "billing"}\n'),
        ("config", _alias_bomb()),
    ]:
        body = upload_payload()
        kind = {"job_description": "json", "config": "yaml"}.get(part, "jsonl")
        body[part] = {"type": kind, "content": content}
        bodies.append(body)
    with running_server(tmp_path / "data") as (_, client):
        model_id = client.post("/models", json={"name": "hostile"}).json()["id"]
        for body in bodies:
            response = client.post(f"/models/{model_id}/uploads", json=body)
            assert response.status_code == 422, response.text[:300]
            codes = {f["code"] for f in response.json()["findings"]}
            assert codes & {
                "too_deeply_nested",
                "number_too_large",
                "lone_surrogate",
                "alias_expansion",
            }


def test_json_config_is_uploaded_as_written_with_its_type(tmp_path: Path) -> None:
    text = '{"tuning": {"num_train_epochs": 3},   "synthgen": {"generation_target": 5}}'
    bundle = TaskBundle.from_dir(_task(tmp_path, config__json=text))
    part = bundle.to_upload_payload()["config"]
    assert part == {"type": "json", "content": text}
    assert TaskBundle.from_upload_payload(bundle.to_upload_payload()) == bundle


def test_records_that_are_not_mappings_are_findings() -> None:
    ds = LabelledDataset.from_records([{"question": "a", "answer": "b"}, 7, ["x", "y"]])  # type: ignore[list-item]
    assert len(ds) == 1
    assert [(f.code, f.row) for f in ds.findings] == [("not_a_record", 2), ("not_a_record", 3)]


def test_to_dir_keeps_the_users_yaml(tmp_path: Path) -> None:
    text = "# my settings\ntuning:\n  num_train_epochs: 3  # small data\n"
    bundle = TaskBundle.from_dir(_task(tmp_path / "in", config__yaml=text))
    out = bundle.to_dir(tmp_path / "out")
    assert (out / "config.yaml").read_text() == text
    assert TaskBundle.from_dir(out) == bundle

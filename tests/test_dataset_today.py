"""Today's Dataset: what ``datasets.create`` stages against a platform that answers like the
public reference, and the reference's own example files (tests/fixtures/reference, with their
sources), parsed or refused where the reference says."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from _current_platform import FakePlatform
from distil_sdk import APIStatusError, DistilClient, TaskBundle
from distil_sdk.types import JobDescription, TaskConfig
from distil_sdk.types._traces import Traces

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
REFERENCE = FIXTURES / "reference"
SHARED = ROOT.parent / "shared" / "datasets"
# The staging answer's keys today (backend-api.md, newest: "DATASET_FIELDS").
OFFERED = {"config_yaml", "job_description_json", "train_data_jsonl", "test_data_jsonl",
           "traces_jsonl"}  # fmt: skip


def _folders() -> list[Any]:
    folders: list[Any] = [
        pytest.param(ROOT / "examples" / "helpdesk-triage", id="helpdesk-triage"),
        pytest.param(FIXTURES / "tasks" / "question-answering", id="question-answering"),
        pytest.param(FIXTURES / "tasks" / "chat-completion", id="chat-completion"),
    ]
    for name in ("banking-routing", "ecommerce", "mental-health"):
        folders.append(
            pytest.param(
                SHARED / name,
                id=name,
                marks=pytest.mark.skipif(
                    not (SHARED / name).is_dir(),
                    reason="the shared tasks are not beside this clone",
                ),
            )
        )
    return folders


@pytest.mark.parametrize("folder", _folders())
def test_create_sends_only_the_files_the_staging_answer_offers(
    client: DistilClient, platform: FakePlatform, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = TaskBundle.from_dir(folder)
    with caplog.at_level(logging.WARNING, logger="distil_sdk"):
        dataset = client.datasets.create(folder)
    assert dataset.id.startswith("ds-")
    puts = platform.storage_calls("PUT")
    staged_keys = {r.url.path.rsplit("/", 1)[-1] for r in puts}
    assert staged_keys <= OFFERED
    (body,) = platform.bodies["POST /datasets"]
    assert {"config", "job_description"} <= set(body) <= {
        "config", "job_description", "train_data", "test_data", "traces"
    }  # fmt: skip
    sent = {field: platform.objects[url.split("?")[0]] for field, url in body.items()}
    assert yaml.safe_load(sent["config"])["base"]["task"] == bundle.task
    assert len(sent["train_data"].splitlines()) == len(bundle.train)
    if bundle.unstructured is not None:
        # The seed's unlabelled texts arrive as traces, one user turn each, and the user is told.
        traces = Traces.from_bytes(sent["traces"])
        assert traces.user_texts() == [t for t in dict.fromkeys(bundle.unstructured.texts)]
        assert any("traces.jsonl" in r.getMessage() for r in caplog.records)
    else:
        assert not any("unstructured" in r.getMessage() for r in caplog.records)


def test_platform_refusal_carries_its_reason(client: DistilClient, platform: FakePlatform) -> None:
    files = {
        "config": b"base:\n  task: classification\n",
        "job_description": b'{"task_description": "t", "classes_description": {"a": "", "b": ""}}',
        "train_data": b'{"question": "q", "answer": "a"}\n',
    }
    with pytest.raises(APIStatusError) as info:
        client.datasets.create(files, validate=False)  # sent as given; the platform refuses
    assert info.value.status_code == 400
    assert "messages: Field required" in str(info.value)


def test_the_local_check_refuses_flat_rows_before_sending(
    client: DistilClient, platform: FakePlatform
) -> None:
    files = {
        "config": b"base:\n  task: classification\n",
        "job_description": b'{"task_description": "t", "classes_description": {"a": "x", "b": "y"}}',
        "train_data": b'{"question": "q", "answer": "a"}\n',
    }
    with pytest.raises(Exception, match="flat question/answer row"):
        client.datasets.create(files)
    assert not platform.storage_calls("PUT")


def test_a_downloaded_dataset_is_accepted_unchanged(
    client: DistilClient, platform: FakePlatform, tmp_path: Path
) -> None:
    # What `dataset download` writes is a Dataset folder: the same five files, empty splits
    # included (backend-api.md: "a downloaded directory is accepted unchanged").
    folder = tmp_path / "downloaded"
    folder.mkdir()
    for name in ("config.yaml", "job_description.json", "train.jsonl", "traces.jsonl"):
        (folder / name).write_bytes((FIXTURES / "tasks" / "question-answering" / name).read_bytes())
    (folder / "test.jsonl").write_bytes(b"")  # an empty split
    client.datasets.create(folder)
    (body,) = platform.bodies["POST /datasets"]
    assert set(body) == {"config", "job_description", "train_data", "traces"}


# -- the reference's own examples -------------------------------------------------------------

EXPECTATIONS: list[dict[str, Any]] = json.loads((REFERENCE / "expectations.json").read_text())
# The tools the chat completion examples call (chat-completion.md declares them in prose).
TOOLS = [
    {"type": "function", "function": {"name": name, "description": name,
     "parameters": {"type": "object", "properties": {key: {"type": "string"}},
                    "required": [key]}}}
    for name, key in (("get_weather", "location"), ("search", "query"))
]  # fmt: skip


def _job_description(folder: Path, task: str, rows: list[str]) -> JobDescription:
    if (folder / "job_description.json").is_file():
        return JobDescription.from_file(folder / "job_description.json")
    if task == "classification":
        labels = {json.loads(r)["messages"][-1]["content"] for r in rows}
        classes = {label: f"when {label} applies" for label in sorted(labels)}
        classes.setdefault("other", "anything else")
        return JobDescription(task_description="Route requests.", classes_description=classes)
    tools = {"tools": TOOLS} if task.startswith("chat-completion") else {}
    return JobDescription.model_validate({"task_description": "Help the user.", **tools})


def _bundle_for(entry: dict[str, Any]) -> TaskBundle:
    path = REFERENCE / entry["path"]
    folder = path.parent
    task = entry["task"] or "question-answering"  # traces fit any task type
    rows = [
        line
        for name in ("train.jsonl", "test.jsonl")
        if (folder / name).is_file()
        for line in (folder / name).read_text().splitlines()
    ]
    files: dict[str, bytes] = {
        "config": yaml.safe_dump({"base": {"task": task}}).encode(),
        "job_description": _job_description(folder, task, rows).to_json().encode(),
    }
    for name, field in (("train.jsonl", "train_data"), ("test.jsonl", "test_data"),
                        ("traces.jsonl", "traces")):  # fmt: skip
        if (folder / name).is_file():
            files[field] = (folder / name).read_bytes()
    return TaskBundle.from_dataset_files(files)


@pytest.mark.parametrize("entry", EXPECTATIONS, ids=[e["path"] for e in EXPECTATIONS])
def test_reference_examples_parse_or_are_refused_where_it_says(entry: dict[str, Any]) -> None:
    if entry["kind"] == "job_description":
        job = JobDescription.from_file(REFERENCE / entry["path"])
        from distil_sdk.types.task import job_description_findings

        errors = [f for f in job_description_findings(job, entry["task"]) if f.severity == "error"]
        assert errors == [] if entry["expected"] == "valid" else errors
        return
    report = _bundle_for(entry).validate()
    # The class this test adds to make a classification job description (2+ classes) has no
    # row in a one-row example: that is the test's doing, not the example's.
    errors = [f for f in report.errors if "'other'" not in f.message]
    if entry["expected"] == "valid":
        assert errors == []
    else:
        # A refusal names a file of the example's folder (a pair of files for duplicates).
        folder = {p.name for p in (REFERENCE / entry["path"]).parent.iterdir()}
        assert [f for f in errors if f.file in folder], entry["reason"]


def test_refusals_name_the_rule() -> None:
    by_path = {e["path"]: e for e in EXPECTATIONS}
    system = _bundle_for(by_path["chat-completion/refused-system-message/train.jsonl"])
    [finding] = system.validate().errors
    assert (finding.row, finding.code) == (1, "invalid_messages")
    assert "system message" in finding.message
    tool = _bundle_for(
        by_path["chat-completion/refused-tool-result-in-chat-completion/train.jsonl"]
    )
    [finding] = tool.validate().errors
    assert "chat-completion-agentic" in finding.message
    duplicate = _bundle_for(by_path["question-answering/refused-duplicate-train-test/test.jsonl"])
    assert [f.code for f in duplicate.validate().errors] == ["train_test_overlap"]


# -- rules of the chat completion tasks ---------------------------------------------------------


def _chat_bundle(task: str, *conversations: list[dict[str, Any]], **synthgen: Any) -> TaskBundle:
    rows = "".join(json.dumps({"messages": c}) + "\n" for c in conversations)
    config = TaskConfig.model_validate({"base": {"task": task}, "synthgen": synthgen})
    return TaskBundle.from_dataset_files(
        {
            "config": config.to_yaml().encode(),
            "job_description": json.dumps({"task_description": "t", "tools": TOOLS}).encode(),
            "train_data": rows.encode(),
        }
    )


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize(
    ("task", "conversation", "expected"),
    [
        ("chat-completion", [USER, {"role": "assistant", "tool_calls": [_call("nope", q="x")]}],
         "not among the declared tools"),
        ("chat-completion", [USER, {"role": "assistant", "tool_calls": [_call("search")]}],
         "required argument query is missing"),
        ("chat-completion", [USER, {"role": "assistant", "tool_calls": [
            {"type": "function", "function": {"name": "search", "arguments": '{"query": "x"}'}}]}],
         "not a string"),
        ("chat-completion", [USER, {"role": "assistant", "tool_calls": [
            _call("search", query="a"), _call("search", query="b")]}], "parallel tool calls"),
        ("chat-completion", [USER, USER, {"role": "assistant", "content": "x"}], "alternate"),
        ("chat-completion", [USER, {"role": "assistant", "content": ""}],
         "neither content nor tool_calls"),
        ("chat-completion-agentic", [USER, {"role": "tool", "content": "r"},
                                     {"role": "assistant", "content": "x"}], "tool result"),
        ("chat-completion-agentic", [USER, {"role": "assistant", "tool_calls": [
            _call("search", query="a")]}, {"role": "tool", "content": "1"},
            {"role": "tool", "content": "2"}, {"role": "assistant", "content": "x"}],
         "more results than calls"),
    ],
)  # fmt: skip
def test_chat_completion_rules(task: str, conversation: list[Any], expected: str) -> None:
    [finding] = _chat_bundle(task, conversation).validate().errors
    assert expected in finding.message and finding.row == 1


def test_parallel_calls_pass_with_a_higher_limit() -> None:
    two = [
        USER,
        {
            "role": "assistant",
            "tool_calls": [_call("search", query="a"), _call("search", query="b")],
        },
    ]
    assert _chat_bundle("chat-completion", two, max_tool_calls_per_turn="unlimited").validate().ok
    assert _chat_bundle("chat-completion", two, max_tool_calls_per_turn=2).validate().ok


# -- the local platform: every task type's Dataset ---------------------------------------------


@pytest.mark.parametrize("task", ["question-answering", "chat-completion"])
def test_local_platform_keeps_any_task_type_and_says_which_jobs_need_the_hosted_one(
    tmp_path: Path, task: str
) -> None:
    from distil_sdk import BadRequestError
    from distil_sdk.local.server import LocalServer

    folder = FIXTURES / "tasks" / task
    server = LocalServer(tmp_path / "data", run_worker=False).start()
    try:
        with DistilClient(base_url=server.base_url, api_key=server.token) as client:
            dataset = client.datasets.create(folder)
            client.datasets.download_files(dataset.id, tmp_path / "downloaded")
            again = TaskBundle.from_dir(tmp_path / "downloaded")
            assert again.task == task and again.validate().ok
            assert again.train == TaskBundle.from_dir(folder).train
            with pytest.raises(BadRequestError, match="hosted platform") as info:
                client.teacher_evaluations.create(dataset.id)
            assert task in str(info.value)
            with pytest.raises(BadRequestError, match="classification only"):
                client.slms.create(dataset.id)
            # A downloaded Dataset is accepted unchanged.
            assert client.datasets.create(tmp_path / "downloaded").id != dataset.id
    finally:
        server.close()


def test_the_models_generation_gets_the_traces_as_its_unlabelled_texts() -> None:
    # client.v2 keeps working on today's folder: its upload body has no traces, so their user
    # turns go where that generation took unlabelled texts.
    bundle = TaskBundle.from_dir(FIXTURES / "tasks" / "question-answering")
    again = TaskBundle.from_upload_payload(bundle.to_upload_payload())
    assert again.unstructured is not None
    assert again.unstructured.texts == ["Is the helpdesk open at lunch?", "Who fixes printers?"]
    assert again.unlabelled == bundle.unlabelled

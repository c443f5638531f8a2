"""The local ``generate_synthetic_data_{train,test}`` expand job (issue 29 part 4) with respx
standing in for the LLM, and the LLM teacher's environment knobs it relies on.

The same job against SmolLM2 served over real HTTP is in ``test_llm_teacher_e2e.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from distil_sdk.local._jobs import expand
from distil_sdk.local.teachers import make_teacher
from distil_sdk.local.teachers.llm import LLMTeacher
from distil_sdk.types.task import TaskConfig

BASE = "http://llm.test/v1"
LABELS = ["billing", "cards"]


def _chat(text: str, label: str) -> str:
    turns = [{"role": "user", "content": text}, {"role": "assistant", "content": label}]
    return json.dumps({"messages": turns}) + "\n"


class FakeLLM:
    """Writes two texts for the class a generation prompt asks for - a near-copy of a test row,
    then a new one - and labels a text by the class it names."""

    def __init__(self) -> None:
        self.generation_prompts: list[str] = []
        self.calls = 0
        self.per_class: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        messages = json.loads(request.content)["messages"]
        if "training data" in messages[0]["content"]:
            self.calls += 1
            self.generation_prompts.append(messages[-1]["content"])
            label = re.search(r'belong to the class "(\w+)"', messages[-1]["content"])
            assert label is not None
            name = label.group(1)
            # Numbered per class: the classes' requests run concurrently, in any order.
            self.per_class[name] = self.per_class.get(name, 0) + 1
            new = f"{name} synthetic {self.per_class[name]}"
            content = json.dumps([f"test text 0 about {name}!", new])
        else:
            question = re.search(r"<question>(.*)</question>", messages[-1]["content"], re.S)
            assert question is not None
            text = question.group(1)
            content = f"<output>{next((x for x in LABELS if x in text), 'cards')}</output>"
        return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})


def _input(tmp_path: Path, synthgen: dict[str, Any], traces: int, operation: str) -> Path:
    config = {"base": {"teacher_model_name": "tiny-llm"}, "synthgen": synthgen}
    files = {
        "config.yaml": json.dumps(config).encode(),
        "job_description.json": json.dumps(
            {
                "task_description": "Route the message.",
                "classes_description": {label: f"About {label}." for label in LABELS},
            }
        ).encode(),
        "train.jsonl": "".join(
            _chat(f"train text {i} about {label}", label) for i in range(2) for label in LABELS
        ).encode(),
        "test.jsonl": "".join(_chat(f"test text 0 about {x}", x) for x in LABELS).encode(),
        "traces.jsonl": "".join(
            _chat(f"trace {i} on my account", "?") for i in range(traces)
        ).encode(),
    }
    (tmp_path / "uploads").mkdir()
    target = expand.generation_target(TaskConfig.model_validate(config), operation, smoke=False)
    spec = {"operation": operation, "count": target}
    return expand.write_expand_input(tmp_path / "uploads", "in", files, spec)


def _run(tmp_path: Path, input_dir: Path) -> tuple[dict[str, Any], dict[str, list[str]]]:
    artifacts = tmp_path / "artifacts"
    stages: list[tuple[str, str, str]] = []
    result = expand.run_expand(
        None,  # type: ignore[arg-type]  # generation never asks the pipeline
        input_dir,
        tmp_path / "work",
        artifacts,
        lambda *event: stages.append(event),
    )
    assert {stage for stage, _, _ in stages} == set(expand.EXPAND_STAGES)
    files = {
        name: (artifacts / name).read_text().splitlines()
        for name in ("train.jsonl", "test.jsonl", "traces.jsonl")
    }
    return result, files


@respx.mock
def test_generation_appends_confirmed_rows_and_consumes_context_traces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISTIL_TEACHER_BASE_URL", BASE)
    monkeypatch.delenv("DISTIL_TEACHER_CACHE_DIR", raising=False)
    fake = FakeLLM()
    respx.post(f"{BASE}/chat/completions").mock(side_effect=fake)
    synthgen = {"train_generation_target": 2, "generation_in_single_call": 2}
    input_dir = _input(tmp_path, synthgen, traces=5, operation="generate_synthetic_data_train")

    result, files = _run(tmp_path, input_dir)

    assert result["operation"] == "generate_synthetic_data_train" and result["rows_added"] == 2
    added = [json.loads(row)["messages"] for row in files["train.jsonl"][4:]]
    assert [(m[0]["content"], m[1]["content"]) for m in added] == [
        ("billing synthetic 1", "billing"),
        ("cards synthetic 1", "cards"),
    ]  # the near-copies of test rows are dropped: they would leak the test set into training
    assert len(files["test.jsonl"]) == 2  # the other split is carried over
    # A target of 2 takes 2 + min(2, 1000) traces as context and removes them.
    assert [json.loads(row)["messages"][0]["content"] for row in files["traces.jsonl"]] == [
        "trace 4 on my account"
    ]
    assert any("trace " in prompt for prompt in fake.generation_prompts)


@respx.mock
def test_test_split_generation_with_too_few_traces_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DISTIL_TEACHER_BASE_URL", BASE)
    monkeypatch.delenv("DISTIL_TEACHER_CACHE_DIR", raising=False)
    fake = FakeLLM()
    respx.post(f"{BASE}/chat/completions").mock(side_effect=fake)
    # A target of 8 needs min(8 / 4, 10) = 2 traces for context; there is 1.
    synthgen = {"test_generation_target": 8, "generation_in_single_call": 4}
    input_dir = _input(tmp_path, synthgen, traces=1, operation="generate_synthetic_data_test")

    result, files = _run(tmp_path, input_dir)

    assert "generating without context" in caplog.text
    assert len(files["traces.jsonl"]) == 1  # left in place
    assert not any("trace " in prompt for prompt in fake.generation_prompts)
    assert result["rows_added"] > 0 and len(files["train.jsonl"]) == 4
    assert len(files["test.jsonl"]) == 2 + result["rows_added"]


def test_generation_job_without_an_llm_teacher_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)
    input_dir = _input(
        tmp_path,
        {"train_generation_target": 2},
        traces=0,
        operation="generate_synthetic_data_train",
    )
    with pytest.raises(RuntimeError, match="set DISTIL_TEACHER_BASE_URL"):
        _run(tmp_path, input_dir)


def test_generation_target_per_split_and_for_a_smoke() -> None:
    config = TaskConfig.model_validate(
        {"synthgen": {"train_generation_target": 300, "test_generation_target": 40}}
    )
    target = expand.generation_target
    assert target(config, "generate_synthetic_data_train", smoke=False) == 300
    assert target(config, "generate_synthetic_data_test", smoke=False) == 40
    assert target(config, "generate_synthetic_data_test", smoke=True) == expand.SMOKE_TARGET == 128


def test_context_traces_off_keeps_every_trace() -> None:
    config = TaskConfig.model_validate({"synthgen": {"use_traces_as_context": False}})
    traces = "".join(_chat(f"trace {i}", "?") for i in range(3)).encode()
    context, left, done = expand._context_traces(traces, 2, config)
    assert context == [] and len(left) == 3 and "use_traces_as_context" in done


def test_teacher_cache_dir_setting_wins_over_the_jobs_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"DISTIL_TEACHER_BASE_URL": BASE, "DISTIL_TEACHER_CACHE_DIR": str(tmp_path / "shared")}
    config = TaskConfig.model_validate({"base": {"teacher_model_name": "tiny-llm"}})
    teacher = make_teacher(config, env, cache_dir=tmp_path / "job")
    teacher.close()  # type: ignore[attr-defined]
    assert (tmp_path / "shared" / "chat-cache.sqlite3").is_file()
    assert not (tmp_path / "job").exists()
    # Without the setting, the job's own folder.
    del env["DISTIL_TEACHER_CACHE_DIR"]
    make_teacher(config, env, cache_dir=tmp_path / "job").close()  # type: ignore[attr-defined]
    assert (tmp_path / "job" / "chat-cache.sqlite3").is_file()


def test_teacher_max_tokens_setting(tmp_path: Path) -> None:
    config = TaskConfig.model_validate({"base": {"teacher_model_name": "tiny-llm"}})
    env = {"DISTIL_TEACHER_BASE_URL": BASE}
    teacher = LLMTeacher.from_env(config, env, cache_dir=tmp_path)
    assert teacher.max_tokens == 128
    teacher.close()
    env["DISTIL_TEACHER_MAX_TOKENS"] = "16"
    teacher = LLMTeacher.from_env(config, env, cache_dir=tmp_path)
    assert teacher.max_tokens == 16
    teacher.close()
    for bad in ("0", "many"):
        env["DISTIL_TEACHER_MAX_TOKENS"] = bad
        with pytest.raises(ValueError, match="DISTIL_TEACHER_MAX_TOKENS"):
            LLMTeacher.from_env(config, env, cache_dir=tmp_path)


@respx.mock
def test_a_text_the_teacher_cannot_label_is_never_kept(tmp_path: Path) -> None:
    """A teacher that names no class answers a uniform row; its argmax, the first class, is no
    confirmation of a text written for that class."""
    from distil_sdk.local.teachers._chat import ChatClient
    from distil_sdk.types.data import LabelledDataset
    from distil_sdk.types.task import JobDescription

    def llm(request: httpx.Request) -> httpx.Response:
        messages = json.loads(request.content)["messages"]
        writing = "training data" in messages[0]["content"]
        content = '["a new text about fees"]' if writing else "I cannot tell."
        return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})

    respx.post(f"{BASE}/chat/completions").mock(side_effect=llm)
    job = JobDescription.model_validate(
        {"task_description": "Route it.", "classes_description": {x: x for x in LABELS}}
    )
    train = LabelledDataset.from_lists(["my fee", "my card"], LABELS)
    config = TaskConfig.model_validate({"synthgen": {"train_generation_target": 2}})
    teacher = LLMTeacher(ChatClient(BASE, "tiny-llm", cache_dir=tmp_path))
    made = teacher.synthesize(job, train, None, config)
    teacher.close()
    assert made.texts == []


@pytest.mark.parametrize(
    ("reply", "expected"),
    [  # SmolLM2-135M's answers to the generation prompt
        (
            'Here is a JSON list:\n\n{\n "examples": [\n "books",\n "dusted books"\n}\n\nEach',
            ["books", "dusted books", "Each"],
        ),
        (
            'Here\'s a JSON list of the new texts:\n```json\n{\n    "books": [\n        {\n'
            '            "description": "A biography of a famous scientist.",\n'
            '            "category": "',
            ["A biography of a famous scientist."],
        ),
        ('You can use this code:\n\n```python\ndata = {\n  "books": {\n    "1": {\n', []),
    ],
)
def test_reply_debris_is_not_an_example(reply: str, expected: list[str]) -> None:
    from distil_sdk.local.teachers._synthgen import parse_examples

    assert parse_examples(reply) == expected


@respx.mock
def test_generation_stops_after_twice_the_calls_the_targets_need(tmp_path: Path) -> None:
    """One text of one class needs one call: a model whose texts are never confirmed gets a
    second chance, not one per class on top."""
    from distil_sdk.local.teachers._chat import ChatClient
    from distil_sdk.types.data import LabelledDataset
    from distil_sdk.types.task import JobDescription

    writes: list[int] = []

    def llm(request: httpx.Request) -> httpx.Response:
        messages = json.loads(request.content)["messages"]
        if "training data" in messages[0]["content"]:
            writes.append(1)
            content = f'["cards text {len(writes)}"]'  # written for billing, labelled cards
        else:
            content = "<output>cards</output>"
        return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})

    respx.post(f"{BASE}/chat/completions").mock(side_effect=llm)
    job = JobDescription.model_validate(
        {"task_description": "Route it.", "classes_description": {x: x for x in LABELS}}
    )
    train = LabelledDataset.from_lists(["my fee", "my card"], LABELS)
    synthgen = {"train_generation_target": 1, "generation_in_single_call": 1}
    teacher = LLMTeacher(ChatClient(BASE, "tiny-llm", cache_dir=tmp_path))
    made = teacher.synthesize(job, train, None, TaskConfig.model_validate({"synthgen": synthgen}))
    teacher.close()
    assert made.texts == [] and len(writes) == 2

"""The LLM teacher and its chat client, with respx standing in for an OpenAI-compatible server."""

from __future__ import annotations

import json
import logging
import math
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import respx

from distil_sdk._errors import AuthenticationError, DistilError, InternalServerError
from distil_sdk.local.teachers import make_teacher
from distil_sdk.local.teachers._chat import ChatClient, ChatRequest
from distil_sdk.local.teachers.llm import LLMTeacher, extract_answer, match_label
from distil_sdk.types.data import LabelledDataset
from distil_sdk.types.task import JobDescription, TaskConfig

BASE = "http://llm.test/v1"
URL = f"{BASE}/chat/completions"
KEY = "sk-very-secret-42"
LABELS = ["billing", "cards", "shopping"]


def reply(content: str, logprobs: list[dict[str, Any]] | None = None) -> httpx.Response:
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": content}}
    if logprobs is not None:
        choice["logprobs"] = {"content": logprobs}
    return httpx.Response(200, json={"id": "x", "choices": [choice]})


def body(request: httpx.Request) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(request.content)
    return parsed


@pytest.fixture
def job() -> JobDescription:
    return JobDescription(
        task_description="Route customer messages of a bank.",
        classes_description={
            "billing": "Fees and charges on the account.",
            "cards": "Lost, stolen or declined cards.",
            "shopping": "Online purchases and deliveries.",
        },
    )


@pytest.fixture
def train() -> LabelledDataset:
    return LabelledDataset.from_lists(
        ["why was I charged a fee", "my card was declined", "where is my parcel"],
        ["billing", "cards", "shopping"],
    )


@pytest.fixture
def config() -> TaskConfig:
    return TaskConfig(evaluation={"num_few_shot_examples": 1})


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make(tmp_path: Path, sleeps: list[float]) -> Any:
    def build(**kwargs: Any) -> ChatClient:
        kwargs.setdefault("cache_dir", tmp_path / "cache")
        return ChatClient(BASE, "tiny-llm", KEY, sleep=sleeps.append, **kwargs)

    return build


@pytest.fixture
def teacher(make: Any, job: JobDescription, train: LabelledDataset, config: TaskConfig) -> Any:
    t = LLMTeacher(make())
    t.fit(job, train, config)
    yield t
    t.close()


@respx.mock
def test_request_has_model_auth_and_few_shot_prompt(teacher: LLMTeacher) -> None:
    route = respx.post(URL).mock(return_value=reply("<output>cards</output>"))

    probs = teacher.predict_proba(["I lost my card yesterday"])

    assert probs.tolist() == [[0.0, 1.0, 0.0]]
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    sent = body(request)
    assert sent["model"] == "tiny-llm"
    assert sent["temperature"] == 0.0
    assert sent["logprobs"] is True and sent["top_logprobs"] == 5
    messages = sent["messages"]
    assert messages[0]["role"] == "system"
    assert "Route customer messages of a bank." in messages[0]["content"]
    for label in LABELS:
        assert label in messages[0]["content"]
    # one shot per class, each answered in the platform's <output> format
    shots = messages[1:-1]
    assert [m["role"] for m in shots] == ["user", "assistant"] * 3
    assert any("my card was declined" in m["content"] for m in shots)
    assert {m["content"] for m in shots[1::2]} == {f"<output>{lab}</output>" for lab in LABELS}
    assert "I lost my card yesterday" in messages[-1]["content"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("<output> Cards </output>", "cards"),
        ("SHOPPING", "shopping"),
        ("The answer is billing.", "billing"),
        ("<output>card</output>", "cards"),
        ("<output>shop_ping", "shopping"),
        ("<output>weather</output>", None),
        ("", None),
    ],
)
def test_answers_are_constrained_to_the_class_set(answer: str, expected: str | None) -> None:
    assert match_label(extract_answer(answer)[0], LABELS) == expected


def test_match_label_ignores_case_spacing_and_underscores() -> None:
    labels = ["clothing_and_accessories", "books"]
    assert match_label("Clothing and Accessories", labels) == "clothing_and_accessories"
    assert match_label("clothing-and-accessories", labels) == "clothing_and_accessories"


@respx.mock
def test_unmatched_reply_gets_one_corrective_retry(teacher: LLMTeacher) -> None:
    route = respx.post(URL).mock(
        side_effect=[reply("It is about money, I think."), reply("<output>billing</output>")]
    )

    probs = teacher.predict_proba(["a strange charge"])

    assert probs.tolist() == [[1.0, 0.0, 0.0]]
    follow_up = body(route.calls[1].request)["messages"]
    assert follow_up[-2] == {"role": "assistant", "content": "It is about money, I think."}
    assert all(label in follow_up[-1]["content"] for label in LABELS)


@respx.mock
def test_reply_never_naming_a_class_becomes_uniform_with_a_warning(
    teacher: LLMTeacher, caplog: pytest.LogCaptureFixture
) -> None:
    route = respx.post(URL).mock(return_value=reply("no idea"))

    with caplog.at_level(logging.WARNING, logger="distil_sdk"):
        probs = teacher.predict_proba(["???"])

    assert route.call_count == 2
    np.testing.assert_allclose(probs, [[1 / 3] * 3])
    assert "names no class" in caplog.text


def _token(token: str, logprob: float, top: dict[str, float]) -> dict[str, Any]:
    alts = [{"token": t, "logprob": lp} for t, lp in top.items()]
    return {"token": token, "logprob": logprob, "top_logprobs": alts}


@respx.mock
def test_logprobs_spread_probability_over_classes(teacher: LLMTeacher) -> None:
    # The answer starts inside the token ">c": alternatives are read past the ">".
    tokens = [
        _token("<output", -0.01, {"<output": -0.01}),
        _token(">c", -0.2, {">c": -0.2, ">b": -1.8, ">s": -3.0, "hello": -4.0}),
        _token("ards", -0.01, {"ards": -0.01}),
        _token("</output>", -0.01, {"</output>": -0.01}),
    ]
    respx.post(URL).mock(return_value=reply("<output>cards</output>", tokens))

    [row] = teacher.predict_proba(["card stuck in the machine"])

    expected = np.exp([-1.8, -0.2, -3.0])
    np.testing.assert_allclose(row, expected / expected.sum())
    assert math.isclose(row.sum(), 1.0)


@respx.mock
def test_logprobs_rejected_by_the_server_are_not_asked_again(teacher: LLMTeacher) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if "logprobs" in body(request):
            return httpx.Response(400, json={"error": {"message": "logprobs not supported"}})
        return reply("<output>shopping</output>")

    route = respx.post(URL).mock(side_effect=answer)

    assert teacher.predict_proba(["parcel late"]).tolist() == [[0.0, 0.0, 1.0]]
    assert teacher.predict_proba(["parcel lost"]).tolist() == [[0.0, 0.0, 1.0]]
    assert route.call_count == 3  # one rejected, then two without logprobs


@respx.mock
def test_429_and_503_are_retried_honouring_retry_after(
    teacher: LLMTeacher, sleeps: list[float]
) -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "slow down"}),
            httpx.Response(503, text="overloaded"),
            httpx.ConnectError("connection refused"),
            reply("<output>billing</output>"),
        ]
    )

    assert teacher.predict_proba(["fee"]).tolist() == [[1.0, 0.0, 0.0]]
    assert route.call_count == 4
    assert sleeps[0] == 7.0
    assert len(sleeps) == 3 and all(s > 0 for s in sleeps)


@respx.mock
def test_retries_give_up_with_the_sdk_error(make: Any, sleeps: list[float]) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(502, text="bad gateway"))
    chat = make(max_retries=2)

    with pytest.raises(InternalServerError) as err:
        chat.complete(ChatRequest([{"role": "user", "content": "hi"}]))
    chat.close()

    assert route.call_count == 3 and len(sleeps) == 2
    assert err.value.status_code == 502


@respx.mock
def test_auth_failure_is_not_retried_and_never_shows_the_key(
    teacher: LLMTeacher, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(429, json={"error": {"message": "busy"}}),
            httpx.Response(401, json={"error": {"message": "invalid api key"}}),
        ]
    )

    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as err:
        teacher.predict_proba(["fee"])

    assert len(sleeps) == 1
    assert "DISTIL_TEACHER_API_KEY" in str(err.value)
    for shown in (str(err.value), repr(err.value), repr(teacher), repr(teacher.chat), caplog.text):
        assert KEY not in shown


@respx.mock
def test_cache_avoids_a_second_call_even_from_a_new_teacher(
    make: Any, job: JobDescription, train: LabelledDataset, config: TaskConfig
) -> None:
    route = respx.post(URL).mock(return_value=reply("<output>cards</output>"))
    first = LLMTeacher(make())
    first.fit(job, train, config)
    first.predict_proba(["card declined abroad"])
    first.close()

    second = LLMTeacher(make())  # a restarted job: same cache folder, new process state
    second.fit(job, train, config)
    probs = second.predict_proba(["card declined abroad"])
    second.close()

    assert route.call_count == 1
    assert probs.tolist() == [[0.0, 1.0, 0.0]]


@respx.mock
def test_concurrency_limit_is_respected(
    make: Any, job: JobDescription, train: LabelledDataset, config: TaskConfig
) -> None:
    lock = threading.Lock()
    # Both slots must be busy at once for the barrier to open: proves the pool reaches the limit.
    together = threading.Barrier(2, timeout=5)
    in_flight = peak = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        together.wait()
        with lock:
            in_flight -= 1
        return reply("<output>billing</output>")

    respx.post(URL).mock(side_effect=answer)
    teacher = LLMTeacher(make(concurrency=2, cache_dir=None))
    teacher.fit(job, train, config)

    probs = teacher.predict_proba([f"text {i}" for i in range(6)])

    assert probs.shape == (6, 3)
    assert peak == 2


def test_from_env_reads_the_server_settings(tmp_path: Path) -> None:
    env = {
        "DISTIL_TEACHER_BASE_URL": BASE + "/",
        "DISTIL_TEACHER_API_KEY": KEY,
        "DISTIL_TEACHER_CONCURRENCY": "3",
        "DISTIL_TEACHER_CACHE_DIR": str(tmp_path / "c"),
    }
    config = TaskConfig(base={"teacher_model_name": "qwen2.5:7b"})

    teacher = make_teacher(config, env)

    assert isinstance(teacher, LLMTeacher)
    assert (teacher.chat.base_url, teacher.chat.model, teacher.chat.concurrency) == (
        BASE,
        "qwen2.5:7b",
        3,
    )
    assert KEY not in repr(teacher)
    teacher.close()
    with pytest.raises(DistilError, match="teacher_model_name"):
        LLMTeacher.from_env(TaskConfig(), env)

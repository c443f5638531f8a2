"""Results are not Optional after a successful ``wait()``: the ``Completed*`` types, populated
over loopback (real local platform, fake pipeline), a clear typed error for "succeeded but no
results" (respx and a real uploaded SLM), and ``mypy --strict`` on what users write."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from _local_support import fake_pipeline_server, upload_payload
from distil_sdk import (
    AsyncDistilClient,
    CompletedEvaluationResults,
    CompletedSLMMetrics,
    CompletedTeacherEvaluationMetrics,
    CompletedTeacherEvaluationStatus,
    DistilClient,
    EvaluationPrediction,
    JobNotFinishedError,
    JobResultsMissingError,
    JobStatus,
    Metrics,
    SLMMetrics,
    TeacherEvaluationStatus,
)
from distil_sdk.local.server import LocalServer
from distil_sdk.types._results import ChatMessage
from distil_sdk.types.jobs import EvaluationResults
from test_client_support import BASE, async_client, sync_client
from test_local_entities_client import write_task

FAST_WAIT: dict[str, Any] = {"poll_interval": 0.05, "max_interval": 0.25, "timeout": 300}
ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "fixtures" / "platform" / "recorded"
DONE_EVAL = "27b94a73-e2c2-48a8-8125-afaa2d6ffc24"
DONE_TRAINING = "0f837410-d2ec-48e8-8c00-2cf5dcb3c46d"


def _without_urls(answer: Any) -> dict[str, Any]:
    """An answer's fields but its presigned URLs' query strings (expiry and signature)."""
    return {
        key: value.split("?", 1)[0] if key.endswith("_url") and isinstance(value, str) else value
        for key, value in answer.model_dump().items()
    }


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


# ------------------------------------------------------------------ loopback: populated


@pytest.fixture
def gated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalServer, Path]]:
    """A local server whose fake jobs hold in their first stage until the gate file exists."""
    with fake_pipeline_server(tmp_path, monkeypatch) as started:
        yield started


def test_current_generation_results_after_wait(
    gated: tuple[LocalServer, Path], tmp_path: Path
) -> None:
    server, gate = gated
    with DistilClient(base_url=server.base_url, api_key=server.token) as client:
        dataset = client.datasets.create(write_task(tmp_path / "task"))
        evaluation = client.teacher_evaluations.create(dataset.id)
        # Still in its first stage: no results, and the error says to wait rather than "missing".
        with pytest.raises(JobNotFinishedError) as early:
            client.teacher_evaluations.results(evaluation.id)
        assert not isinstance(early.value, JobResultsMissingError)
        assert early.value.job_id == evaluation.id
        assert f"client.teacher_evaluations.wait({evaluation.id!r})" in str(early.value)

        gate.touch()
        client.teacher_evaluations.wait(evaluation.id, **FAST_WAIT)
        teacher = client.teacher_evaluations.results(evaluation.id)
        assert isinstance(teacher, CompletedTeacherEvaluationMetrics)
        # The same answer metrics() gives, only typed without None (the presigned URL is signed
        # anew on each answer, with an expiry in whole seconds: compared apart).
        untyped = client.teacher_evaluations.metrics(evaluation.id)
        assert _without_urls(teacher) == _without_urls(untyped)
        assert teacher.teacher_performance.accuracy == 1.0
        assert teacher.predictions_download_url

        slm = client.slms.create(dataset.id)
        client.slms.wait(slm.id, **FAST_WAIT)
        scores = client.slms.results(slm.id)
        assert isinstance(scores, CompletedSLMMetrics)
        assert _without_urls(scores) == _without_urls(client.slms.metrics(slm.id))
        assert scores.tuned_model_performance.accuracy == 1.0
        assert isinstance(scores.base_model_performance, Metrics)

        # An uploaded SLM succeeds at once and nothing evaluated it: a real "success without
        # results", which is a typed error naming the SLM, not None.
        url = client.slms.download(slm.id).model_url
        assert url
        tar = httpx.get(url, timeout=30).raise_for_status().content
        uploaded = client.slms.upload(tar, {"base": {"task": "classification"}})
        assert client.slms.wait(uploaded.id, **FAST_WAIT).status is JobStatus.SUCCESS
        with pytest.raises(JobResultsMissingError) as missing:
            client.slms.results(uploaded.id)
        message = str(missing.value)
        assert missing.value.job_id == uploaded.id and uploaded.id in message
        assert "base_model_performance and tuned_model_performance" in message
        assert "client.slms.upload()" in message


def test_models_generation_results_after_wait(
    gated: tuple[LocalServer, Path], tmp_path: Path
) -> None:
    server, gate = gated
    gate.touch()
    with DistilClient(base_url=server.base_url, api_key=server.token) as client:
        model = client.v2.models.create("typed")
        upload = client.v2.uploads.create(model.id, upload_payload())

        evaluation = client.v2.teacher_evaluations.create(model.id, upload.id)
        done = client.v2.teacher_evaluations.wait(evaluation.id, **FAST_WAIT)
        assert isinstance(done, CompletedTeacherEvaluationStatus)
        assert isinstance(done, TeacherEvaluationStatus)  # existing isinstance checks hold
        assert done.results.accuracy == 1.0
        # Equal to the plain record of the same answer, both ways round.
        again = client.v2.teacher_evaluations.get(evaluation.id)
        assert type(again) is TeacherEvaluationStatus and again == done and done == again

        training = client.v2.trainings.create(model.id, upload.id)
        client.v2.trainings.wait(training.id, **FAST_WAIT)
        results = client.v2.trainings.evaluation_results(training.id)
        assert isinstance(results, CompletedEvaluationResults)
        assert results.student_tuned.accuracy == 1.0
        assert results.student_tuned == results["student-tuned"]


async def test_async_results_after_wait(gated: tuple[LocalServer, Path], tmp_path: Path) -> None:
    server, gate = gated
    gate.touch()
    async with AsyncDistilClient(base_url=server.base_url, api_key=server.token) as client:
        dataset = await client.datasets.create(write_task(tmp_path / "task"))
        evaluation = await client.teacher_evaluations.create(dataset.id)
        await client.teacher_evaluations.wait(evaluation.id, **FAST_WAIT)
        teacher = await client.teacher_evaluations.results(evaluation.id)
        assert teacher.teacher_performance.accuracy == 1.0
        slm = await client.slms.create(dataset.id)
        await client.slms.wait(slm.id, **FAST_WAIT)
        assert (await client.slms.results(slm.id)).tuned_model_performance.accuracy == 1.0

        model = await client.v2.models.create("typed-async")
        upload = await client.v2.uploads.create(model.id, upload_payload())
        v2_eval = await client.v2.teacher_evaluations.create(model.id, upload.id)
        done = await client.v2.teacher_evaluations.wait(v2_eval.id, **FAST_WAIT)
        assert isinstance(done, CompletedTeacherEvaluationStatus)
        assert done.results.accuracy == 1.0


# ------------------------------------------------------- respx: the platform's odd answers


def _success_without_results() -> dict[str, Any]:
    answer = recorded("2025-06-30-teacher-evaluation-status.json")
    answer["results"] = None
    return answer


@respx.mock
async def test_v2_wait_on_the_recorded_success_and_on_one_without_results() -> None:
    route = respx.get(f"{BASE}/teacher-evaluations/{DONE_EVAL}/status")
    route.mock(return_value=httpx.Response(200, json=recorded(_status_file())))
    with sync_client() as client:
        done = client.v2.teacher_evaluations.wait(DONE_EVAL)
    # The recorded answer (no accuracy: not a classification task) parses into the narrow type.
    assert isinstance(done, CompletedTeacherEvaluationStatus)
    assert done.results.to_report() == recorded(_status_file())["results"]
    assert done.results.accuracy is None
    # Read again, not rebuilt: the same fields count as sent (exclude_unset dumps unchanged).
    plain = TeacherEvaluationStatus.model_validate(recorded(_status_file()))
    assert done.model_dump(exclude_unset=True) == plain.model_dump(exclude_unset=True)

    route.mock(return_value=httpx.Response(200, json=_success_without_results()))
    with sync_client() as client, pytest.raises(JobResultsMissingError) as sync_err:
        client.v2.teacher_evaluations.wait(DONE_EVAL)
    async with async_client() as aclient:
        with pytest.raises(JobResultsMissingError) as async_err:
            await aclient.v2.teacher_evaluations.wait(DONE_EVAL)
    for err in (sync_err.value, async_err.value):
        assert isinstance(err, JobNotFinishedError)  # one except catches every "no results"
        assert err.job_id == DONE_EVAL and DONE_EVAL in str(err)
        assert "JOB_SUCCESS" in str(err) and "`results` is null" in str(err)
        assert err.platform_message == f"Teacher evaluation succeeded: {DONE_EVAL}"


def _status_file() -> str:
    return "2025-06-30-teacher-evaluation-status.json"


@respx.mock
async def test_v2_evaluation_results_need_the_tuned_student() -> None:
    route = respx.get(f"{BASE}/trainings/{DONE_TRAINING}/evaluation-results")
    answer = recorded("2025-06-30-training-evaluation-results.json")
    route.mock(return_value=httpx.Response(200, json=answer))
    with sync_client() as client:
        results = client.v2.trainings.evaluation_results(DONE_TRAINING)
    assert isinstance(results, CompletedEvaluationResults)
    assert results.student_tuned.to_report() == answer["evaluation_results"]["student-tuned"]

    partial = copy.deepcopy(answer)
    del partial["evaluation_results"]["student-tuned"]
    route.mock(return_value=httpx.Response(200, json=partial))
    with sync_client() as client, pytest.raises(JobResultsMissingError) as err:
        client.v2.trainings.evaluation_results(DONE_TRAINING)
    assert err.value.job_id == DONE_TRAINING and "'student-tuned'" in str(err.value)
    assert "['student-base', 'teacher']" in str(err.value)

    route.mock(
        return_value=httpx.Response(
            200, json=recorded("2025-05-14-training-evaluation-results-not-ready.json")
        )
    )
    async with async_client() as aclient:
        with pytest.raises(JobNotFinishedError) as unfinished:
            await aclient.v2.trainings.evaluation_results(DONE_TRAINING)
    assert not isinstance(unfinished.value, JobResultsMissingError)


NULL_METRICS = {"teacher_performance": None, "predictions_download_url": None}


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        ("JOB_RUNNING", JobNotFinishedError, "client.teacher_evaluations.wait('te1')"),
        ("JOB_FAILURE", JobNotFinishedError, "client.teacher_evaluations.logs('te1') says why"),
        ("JOB_SUCCESS", JobResultsMissingError, "succeeded but its metrics have no"),
    ],
)
@respx.mock
async def test_current_results_say_why_they_are_missing(
    status: str, error: type[JobNotFinishedError], says: str
) -> None:
    respx.get(f"{BASE}/teacher-evaluations/te1/metrics").mock(
        return_value=httpx.Response(200, json=NULL_METRICS)
    )
    respx.get(f"{BASE}/teacher-evaluations/te1/status").mock(
        return_value=httpx.Response(200, json={"status": status, "message": "said so"})
    )
    with sync_client() as client, pytest.raises(error) as sync_err:
        client.teacher_evaluations.results("te1")
    async with async_client() as aclient:
        with pytest.raises(error) as async_err:
            await aclient.teacher_evaluations.results("te1")
    for err in (sync_err.value, async_err.value):
        assert type(err) is error and err.job_id == "te1"
        assert says in str(err) and "teacher_performance" in str(err)
        assert err.platform_message == "said so" and err.record.status == status


# ------------------------------------------------------------------ mypy --strict

PROBE = """\
from distil_sdk import DistilClient


def probe(client: DistilClient, job_id: str) -> None:
    client.teacher_evaluations.metrics(job_id).teacher_performance.accuracy
    client.slms.metrics(job_id).tuned_model_performance.accuracy
    client.v2.teacher_evaluations.get(job_id).results.accuracy
"""


@pytest.mark.slow
def test_mypy_strict_accepts_completed_results_and_flags_optional_ones(tmp_path: Path) -> None:
    """``tests/typecheck/results_types.py`` passes; the Optional reads in PROBE are flagged, so
    the check can fail (a probe mypy accepted would prove nothing)."""
    pytest.importorskip("mypy")
    probe = tmp_path / "optional_results_probe.py"
    probe.write_text(PROBE)
    checked = ROOT / "tests" / "typecheck" / "results_types.py"
    # From the repository root: pyproject's [tool.mypy] (strict) applies and its cache is reused.
    run = subprocess.run(
        [sys.executable, "-m", "mypy", str(checked), str(probe)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert not [e for e in errors if "results_types.py" in e], run.stdout
    flagged = sorted(int(e.split(":")[1]) for e in errors if "optional_results_probe.py" in e)
    assert flagged == [5, 6, 7], run.stdout + run.stderr
    assert all('Item "None" of "Metrics | None"' in e for e in errors), run.stdout


# ------------------------------------------- results of every task type (reference rows)
#
# The reference is the platform's skill, repository distil-labs/distil-cli-skill, newest
# versions (stored ids; tests/fixtures/reference/SOURCES.md says how "newest" was found), under
# skills/distil-cli/references/: evaluation-metrics.md (71055048243, commit 074bf216: "Metrics
# by task", "Primary metric per task"), execution/cli.md (71208287000) and
# execution/backend-api.md (71207846318) § Fetch metrics ("A metric the run did not compute is
# `null` rather than absent"; a predictions file is JSONL with `prompt`, `completion`,
# `prediction` and that example's score under each metric name), data-preparation/overview.md
# (71024568700) § Empty splits ("`slm metrics` returns null scores, which is not a failed job")
# and the data-preparation pages of each task, classification.md (70874016052),
# question-answering.md (71212320421), chat-completion.md (71630343724), whose rows the
# predictions rows below are made of.

# evaluation-metrics.md § Metrics by task: every metric key the newest version lists.
REFERENCE_METRIC_KEYS = {
    "question-answering": ["rouge", "binary", "llm-as-a-judge", "llm-as-a-judge-reference-free"],
    "chat-completion": [
        "rouge",
        "tool_call_equivalence",
        "binary_tool_call",
        "staged_tool_call",
        "llm-as-a-judge",
        "llm-as-a-judge-reference-free",
    ],
}
# execution/cli.md § Fetch metrics: `distil teacher-evaluation metrics --output json | jq
# .teacher_performance` of a question-answering task.
QA_PERFORMANCE = {
    "rouge": 1,
    "binary": 0.82,
    "llm-as-a-judge": 1,
    "llm-as-a-judge-reference-free": 1,
}
# evaluation-metrics.md: "The classification performance object is not flat".
CLASSIFICATION_PERFORMANCE = {
    "accuracy": 1.0,
    "lane_cold": {"precision": 1.0, "recall": 1.0, "f1-score": 1.0, "support": 9.0},
    "lane_general": {"precision": 1.0, "recall": 1.0, "f1-score": 1.0, "support": 7.0},
}
# The conversation suite's keys (evaluation-metrics.md) with values of its own definitions:
# "staged_tool_call: 0.25 per stage ... 0.5 means right tool, wrong arguments".
CONVERSATION_PERFORMANCE = {
    "rouge": 0.61,
    "tool_call_equivalence": 0.0,
    "binary_tool_call": 0.0,
    "staged_tool_call": 0.5,
    "llm-as-a-judge": 0.0,
    "llm-as-a-judge-reference-free": 1.0,
}
# overview.md § Empty splits: a model trained without a test split has null scores.
NULL_CONVERSATION_PERFORMANCE = dict.fromkeys(REFERENCE_METRIC_KEYS["chat-completion"])


@pytest.mark.parametrize(
    "key", sorted({k for keys in REFERENCE_METRIC_KEYS.values() for k in keys} | {"accuracy"})
)
def test_every_metric_of_the_reference_is_a_typed_attribute(key: str) -> None:
    metrics = Metrics.model_validate({key: 0.25})
    assert not metrics.model_extra  # typed, not an unknown extra
    assert getattr(metrics, key.replace("-", "_")) == 0.25
    assert metrics.scores == {key: 0.25}
    assert metrics.to_report() == metrics.model_dump() == {key: 0.25}  # the wire name again
    assert Metrics(**{key.replace("-", "_"): 0.25}).to_report() == {key: 0.25}


def test_metrics_of_each_task_type_and_their_primary_metric() -> None:
    qa = Metrics.model_validate(QA_PERFORMANCE)
    assert (qa.rouge, qa.binary, qa.llm_as_a_judge, qa.llm_as_a_judge_reference_free) == (
        1.0,
        0.82,
        1.0,
        1.0,
    )
    assert (qa.primary_metric, qa.primary, qa.accuracy) == (
        "llm-as-a-judge-reference-free",
        1,
        None,
    )
    assert not qa.is_classification and qa.available
    assert qa.to_report() == QA_PERFORMANCE

    chat = Metrics.model_validate(CONVERSATION_PERFORMANCE)
    assert (chat.tool_call_equivalence, chat.binary_tool_call, chat.staged_tool_call) == (
        0.0,
        0.0,
        0.5,
    )
    assert chat.primary_metric == "llm-as-a-judge-reference-free" and chat.primary == 1.0
    assert chat.scores == CONVERSATION_PERFORMANCE and not chat.per_class
    assert json.loads(chat.model_dump_json()) == CONVERSATION_PERFORMANCE

    classification = Metrics.model_validate(CLASSIFICATION_PERFORMANCE)
    assert classification.is_classification and sorted(classification.per_class) == [
        "lane_cold",
        "lane_general",
    ]
    assert (classification.primary_metric, classification.primary) == ("accuracy", 1.0)
    assert classification.per_class["lane_cold"].support == 9.0
    assert classification.to_report() == CLASSIFICATION_PERFORMANCE

    # The platform's answers of 2025 predate the reference-free judge: their primary metric
    # was llm-as-a-judge, so an answer without the key at all falls back to it.
    old = Metrics.model_validate(recorded(_status_file())["results"])
    assert (old.primary_metric, old.primary) == ("llm-as-a-judge", 0.1836734694)


def test_null_metrics_parse_as_none_and_say_they_are_not_available() -> None:
    empty = Metrics.model_validate(NULL_CONVERSATION_PERFORMANCE)
    assert not empty.model_extra
    assert empty.llm_as_a_judge_reference_free is None and empty.staged_tool_call is None
    assert empty.available is False
    assert (empty.primary_metric, empty.primary) == ("llm-as-a-judge-reference-free", None)
    assert empty.scores == NULL_CONVERSATION_PERFORMANCE
    # Null stays null on the way back (and absent stays absent).
    assert empty.to_report() == empty.model_dump() == NULL_CONVERSATION_PERFORMANCE
    assert "accuracy" not in empty.to_report()

    # A classification report with nothing computed: still classification, still unmeasured.
    unmeasured = Metrics.model_validate(
        {"accuracy": None, "lane_cold": {"precision": None, "recall": None, "f1-score": None}}
    )
    assert unmeasured.is_classification and unmeasured.primary_metric == "accuracy"
    assert not unmeasured.available and unmeasured.primary is None and unmeasured.macro_f1 is None
    assert unmeasured.to_report() == {
        "accuracy": None,
        "lane_cold": {"precision": None, "recall": None, "f1-score": None},
    }

    # One metric not computed: that one is None, the others stay; a null primary metric does
    # not fall back to another one.
    partial = Metrics.model_validate({**QA_PERFORMANCE, "llm-as-a-judge-reference-free": None})
    assert partial.available and partial.llm_as_a_judge == 1.0
    assert (partial.primary_metric, partial.primary) == ("llm-as-a-judge-reference-free", None)

    # "Unparseable verdicts become NaN" (evaluation-metrics.md): not a measurement either; and
    # a "not available" spelled out instead of null reads as None, not a validation error.
    assert not Metrics.model_validate({"llm-as-a-judge": float("nan")}).available
    spelled = Metrics.model_validate({"rouge": "not available", "accuracy": "N/A", "x": "n/a"})
    assert (spelled.rouge, spelled.accuracy, spelled.scores["x"]) == (None, None, None)
    assert not spelled.available
    assert Metrics().available is False


@respx.mock
async def test_an_slm_trained_without_a_test_split_has_results_with_null_scores() -> None:
    """overview.md § Empty splits: "`slm metrics` returns null scores, which is not a failed
    job" - results() answers, it does not raise, and the scores say they are not available."""
    answer = {
        "base_model_performance": NULL_CONVERSATION_PERFORMANCE,
        "tuned_model_performance": NULL_CONVERSATION_PERFORMANCE,
        "predictions_download_url": None,
    }
    respx.get(f"{BASE}/slms/s1/metrics").mock(return_value=httpx.Response(200, json=answer))
    with sync_client() as client:
        scores = client.slms.results("s1")
    async with async_client() as aclient:
        assert (await aclient.slms.results("s1")) == scores
    assert isinstance(scores, CompletedSLMMetrics)
    for performance in (scores.base_model_performance, scores.tuned_model_performance):
        assert not performance.available and performance.primary is None
    assert scores.model_dump()["tuned_model_performance"] == NULL_CONVERSATION_PERFORMANCE


def test_metrics_per_model_parse_one_metrics_each() -> None:
    """The metrics of several models come in a container keyed by model, never inside one
    ``Metrics``: ``evaluation_results`` (2025) and ``*_performance`` (current)."""
    results = EvaluationResults.model_validate(
        {
            "training_id": "t1",
            "evaluation_results": {
                "teacher": CONVERSATION_PERFORMANCE,
                "student-base": NULL_CONVERSATION_PERFORMANCE,
                "student-tuned": QA_PERFORMANCE,
            },
        }
    )
    assert results.teacher is not None and results.teacher.staged_tool_call == 0.5
    assert results.student_base is not None and not results.student_base.available
    assert results.student_tuned is not None and results.student_tuned.primary == 1.0
    assert all(not m.per_class for m in (results.evaluation_results or {}).values())
    slm = SLMMetrics.model_validate(
        {"base_model_performance": None, "tuned_model_performance": CLASSIFICATION_PERFORMANCE}
    )
    assert slm.base_model_performance is None and slm.tuned_model_performance is not None
    assert slm.tuned_model_performance.primary == 1.0


def test_printing_metrics_of_every_kind_does_not_fail() -> None:
    from distil_sdk.cli import _platform
    from distil_sdk.resources._train import _acc

    chat = _platform.results_table({"teacher": Metrics.model_validate(CONVERSATION_PERFORMANCE)})
    for column in ("LLM-AS-A-JUDGE-REFERENCE-FREE", "STAGED_TOOL_CALL", "TOOL_CALL_EQUIVALENCE"):
        assert column in chat
    assert "ACCURACY" not in chat and "0.500" in chat
    # Nothing computed: the primary metric's column, "-" for every model.
    nulls = Metrics.model_validate(NULL_CONVERSATION_PERFORMANCE)
    table = _platform.results_table({"student-base": nulls, "student-tuned": nulls})
    assert "LLM-AS-A-JUDGE-REFERENCE-FREE" in table and "ACCURACY" not in table
    assert table.count(" -") >= 2
    unmeasured = _platform.results_table({"teacher": Metrics.model_validate({"accuracy": None})})
    assert "ACCURACY" in unmeasured and "-" in unmeasured

    # What client.train() says after each job: the primary metric, by name.
    assert _acc(Metrics.model_validate(CLASSIFICATION_PERFORMANCE)) == "accuracy: 1.000"
    assert _acc(Metrics.model_validate(QA_PERFORMANCE)) == "llm-as-a-judge-reference-free: 1.000"
    assert _acc(nulls) == "llm-as-a-judge-reference-free: -"
    assert _acc(None) == "accuracy: -"


@respx.mock
def test_the_cli_shows_a_teacher_evaluation_with_null_scores(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from distil_sdk.cli import main

    monkeypatch.setenv("DISTIL_BASE_URL", BASE)
    monkeypatch.setenv("DISTIL_API_KEY", "k")
    done = {**recorded(_status_file()), "results": NULL_CONVERSATION_PERFORMANCE}
    respx.get(f"{BASE}/teacher-evaluations/e1/status").mock(
        return_value=httpx.Response(200, json=done)
    )
    assert main(["teacher-evaluation", "e1"]) == 0
    out = capsys.readouterr().out
    assert "JOB_SUCCESS" in out and "LLM-AS-A-JUDGE-REFERENCE-FREE" in out
    assert main(["teacher-evaluation", "e1", "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == NULL_CONVERSATION_PERFORMANCE


# Predictions rows of each task type. The rows are the reference's own examples (the
# data-preparation page of each task) put in the shape of a predictions row that execution/cli.md
# § Fetch metrics describes: `prompt` the test row's messages before the scored assistant turn,
# `completion` the gold assistant message, `prediction` the model's, and the row's score under
# each metric name. A conversation becomes one row per assistant turn (chat-completion.md,
# "Turn expansion").

# data-preparation/classification.md
CLASSIFICATION_ROW: dict[str, Any] = {
    "prompt": [{"role": "user", "content": "I have multiple charges for one transaction."}],
    "completion": {"role": "assistant", "content": "transaction_charged_twice"},
    "prediction": {"role": "assistant", "content": "transaction_charged_twice"},
}
# data-preparation/question-answering.md, scored as in cli.md § Fetch metrics
QA_ROW: dict[str, Any] = {
    "prompt": [{"role": "user", "content": "What is the capital of France?"}],
    "completion": {"role": "assistant", "content": "Paris"},
    "prediction": {"role": "assistant", "content": "Paris"},
    **QA_PERFORMANCE,
}
# data-preparation/chat-completion.md, `chat-completion`: "a content+call turn"...
CHAT_CONTENT_AND_CALL_ROW: dict[str, Any] = {
    "prompt": [
        {"role": "user", "content": "Hi, can you help me plan a trip?"},
        {"role": "assistant", "content": "Of course. Where to?"},
        {"role": "user", "content": "Paris. What's the weather?"},
    ],
    "completion": {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": {"location": "Paris"}},
            }
        ],
    },
    # right tool, right argument keys, wrong value: three stages of four
    "prediction": {
        "role": "assistant",
        "tool_calls": [
            {
                "type": "function",
                "function": {"name": "get_weather", "arguments": {"location": "Lyon"}},
            }
        ],
    },
    "tool_call_equivalence": 0.0,
    "binary_tool_call": 0.0,
    "staged_tool_call": 0.75,
    "llm-as-a-judge": 0.0,
    "llm-as-a-judge-reference-free": 1.0,
}
# ... and "a call-only turn"
CHAT_CALL_ONLY_ROW: dict[str, Any] = {
    "prompt": [{"role": "user", "content": "Search for events in Berlin."}],
    "completion": {
        "role": "assistant",
        "tool_calls": [
            {
                "type": "function",
                "function": {"name": "search", "arguments": {"query": "events in Berlin"}},
            }
        ],
    },
    "prediction": {"role": "assistant", "content": "Here are some events in Berlin."},
    "staged_tool_call": 0.0,
    "llm-as-a-judge-reference-free": None,  # not computed
}
# data-preparation/chat-completion.md, `chat-completion-agentic`: "a full loop with a chained
# call", its second assistant turn (predicted from the prefix, tool result included)...
_AGENTIC = [
    {"role": "user", "content": "Look up the tallest building, then tell me the weather there."},
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "search", "arguments": {"query": "tallest building"}},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "Burj Khalifa, Dubai"},
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": {"location": "Dubai"}},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_2", "content": "34C, sunny"},
    {"role": "assistant", "content": "The Burj Khalifa in Dubai, where it's 34C and sunny."},
]
AGENTIC_CALL_ROW: dict[str, Any] = {
    "prompt": _AGENTIC[:3],
    "completion": _AGENTIC[3],
    "prediction": _AGENTIC[3],
    "tool_call_equivalence": 1.0,
    "binary_tool_call": 1.0,
    "staged_tool_call": 1.0,
}
# ... and its final text turn.
AGENTIC_ANSWER_ROW: dict[str, Any] = {
    "prompt": _AGENTIC[:5],
    "completion": _AGENTIC[5],
    "prediction": {"role": "assistant", "content": "It's the Burj Khalifa; 34C and sunny."},
    "tool_call_equivalence": 1.0,  # "a turn with no calls on either side scores 1"
    "llm-as-a-judge-reference-free": 1.0,
}
# Classification rows of 2025 (the local platform writes them too).
CLASSIFICATION_2025_ROW: dict[str, Any] = {
    "question": "lost my card",
    "answer": "cards",
    "prediction": "billing",
    "scores": {"cards": 0.4, "billing": 0.6},
}


@pytest.mark.parametrize(
    ("row", "text_in", "text_gold", "text_predicted"),
    [
        (
            CLASSIFICATION_2025_ROW,
            "lost my card",
            "cards",
            "billing",
        ),
        (
            CLASSIFICATION_ROW,
            "I have multiple charges for one transaction.",
            "transaction_charged_twice",
            "transaction_charged_twice",
        ),
        (QA_ROW, "What is the capital of France?", "Paris", "Paris"),
        (
            CHAT_CONTENT_AND_CALL_ROW,
            "Paris. What's the weather?",
            'Let me check.\nget_weather({"location": "Paris"})',
            'get_weather({"location": "Lyon"})',
        ),
        (
            CHAT_CALL_ONLY_ROW,
            "Search for events in Berlin.",
            'search({"query": "events in Berlin"})',
            "Here are some events in Berlin.",
        ),
        (
            AGENTIC_CALL_ROW,
            "Look up the tallest building, then tell me the weather there.",
            'get_weather({"location": "Dubai"})',
            'get_weather({"location": "Dubai"})',
        ),
        (
            AGENTIC_ANSWER_ROW,
            "Look up the tallest building, then tell me the weather there.",
            "The Burj Khalifa in Dubai, where it's 34C and sunny.",
            "It's the Burj Khalifa; 34C and sunny.",
        ),
    ],
)
def test_predictions_rows_of_every_task_type(
    row: dict[str, Any], text_in: str, text_gold: str, text_predicted: str
) -> None:
    parsed = EvaluationPrediction.model_validate(row)
    assert (parsed.input, parsed.expected, parsed.predicted) == (text_in, text_gold, text_predicted)
    # The raw values stay, typed, and serialise back to exactly the row that was read.
    assert parsed.model_dump() == row
    assert json.loads(parsed.model_dump_json()) == row
    # The row's own scores, by metric name (nulls included).
    fields = ("question", "answer", "prompt", "completion", "prediction", "scores")
    row_scores = {k: v for k, v in row.items() if k not in fields}
    assert parsed.metrics.scores == row_scores


def test_predictions_rows_keep_their_messages_typed() -> None:
    chat = EvaluationPrediction.model_validate(CHAT_CONTENT_AND_CALL_ROW)
    assert isinstance(chat.prompt, list) and all(isinstance(m, ChatMessage) for m in chat.prompt)
    assert [m.role for m in chat.prompt] == ["user", "assistant", "user"]
    assert isinstance(chat.completion, ChatMessage) and chat.completion.tool_calls
    call = chat.completion.tool_calls[0]
    assert (call.id, call.type) == ("call_1", "function")
    assert call.function is not None and call.function.name == "get_weather"
    assert call.function.arguments == {"location": "Paris"}
    assert chat.completion_messages == [chat.completion]
    assert chat.metrics.staged_tool_call == 0.75 and chat.metrics.primary == 1.0

    agentic = EvaluationPrediction.model_validate(AGENTIC_ANSWER_ROW)
    assert agentic.prompt_messages is not None and agentic.prompt_messages[-1].role == "tool"
    assert (agentic.prompt_messages[-1].model_extra or {})["tool_call_id"] == "call_2"
    call_only = EvaluationPrediction.model_validate(CHAT_CALL_ONLY_ROW)
    assert call_only.completion_messages and call_only.completion_messages[0].content is None
    assert call_only.metrics.llm_as_a_judge_reference_free is None
    assert call_only.metrics.available  # a 0.0 is a score; only nulls (and NaN) are not
    assert call_only.metrics.scores == {
        "staged_tool_call": 0.0,
        "llm-as-a-judge-reference-free": None,
    }

    classification = EvaluationPrediction.model_validate(CLASSIFICATION_2025_ROW)
    assert classification.prediction == "billing" and classification.scores["billing"] == 0.6
    assert classification.prompt_messages is None and classification.prediction_messages is None


def test_message_lists_and_json_encoded_messages_read_as_text() -> None:
    # Older versions of execution/cli.md § Fetch metrics (66638787202, 66552022179): "`prompt`
    # is the full prompt as a JSON-encoded message list, not the user text alone, and
    # `completion` and `prediction` are JSON-encoded assistant messages. Parse them".
    row = {
        "prompt": json.dumps(
            [
                {"role": "system", "content": "Answer with the city only."},
                {"role": "user", "content": "What is the capital of France?"},
            ]
        ),
        "completion": json.dumps({"role": "assistant", "content": "Paris"}),
        "prediction": json.dumps({"role": "assistant", "content": "Lyon"}),
        "binary": 0,
    }
    parsed = EvaluationPrediction.model_validate(row)
    assert (parsed.input, parsed.expected, parsed.predicted) == (
        "What is the capital of France?",
        "Paris",
        "Lyon",
    )
    assert isinstance(parsed.prompt, str) and parsed.model_dump() == row  # raw kept as sent
    assert parsed.prompt_messages is not None and parsed.prompt_messages[0].role == "system"

    # Message lists for every field; the last assistant message is the output.
    lists = EvaluationPrediction.model_validate(
        {
            "prompt": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            "completion": [
                {"role": "assistant", "content": "Hello."},
                {"role": "assistant", "content": "How can I help?"},
            ],
            "prediction": [{"role": "assistant", "content": "Hey!"}],
        }
    )
    assert (lists.input, lists.expected, lists.predicted) == ("Hi", "How can I help?", "Hey!")

    # A JSON answer that is not a message (a question-answering task with JSON outputs) stays
    # the text it is.
    answer = '{"city": "Paris", "role": "capital"}'
    plain = EvaluationPrediction.model_validate(
        {"prompt": "Extract the city.", "completion": answer, "prediction": answer}
    )
    assert plain.expected == plain.predicted == answer and plain.completion_messages is None
    assert plain.input == "Extract the city."


def test_a_predictions_file_of_every_task_type_parses() -> None:
    from distil_sdk.resources._base import parse_predictions

    rows = [
        CLASSIFICATION_2025_ROW,
        CLASSIFICATION_ROW,
        QA_ROW,
        CHAT_CONTENT_AND_CALL_ROW,
        CHAT_CALL_ONLY_ROW,
        AGENTIC_CALL_ROW,
        AGENTIC_ANSWER_ROW,
    ]
    # "Unparseable verdicts become NaN": Python's json writes them as NaN.
    nan_row = {**QA_ROW, "llm-as-a-judge": float("nan")}
    text = "".join(json.dumps(row) + "\n" for row in [*rows, nan_row])
    parsed = parse_predictions(text, "predictions.jsonl")
    assert [p.model_dump() for p in parsed[:-1]] == rows
    assert parsed[-1].metrics.llm_as_a_judge != parsed[-1].metrics.llm_as_a_judge  # NaN
    assert parsed[-1].metrics.primary == 1.0
    # One JSON document holding the rows reads the same.
    assert parse_predictions(json.dumps(rows), "f") == parsed[:-1]

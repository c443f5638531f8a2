"""Every endpoint's request shape and response parsing, for the sync and the async client."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from distil_sdk import DistilError
from distil_sdk.types.jobs import JobStatus, Metrics
from test_client_support import BASE, KEY, MODEL, FakeTime, async_client, metrics, sync_client

# Each case: (client call, method, path, exact JSON body or None, response JSON, check on result)
UPLOAD_BODY = {
    "job_description": {"type": "json", "content": "{}"},
    "train_data": {"type": "csv", "content": "question,answer\n"},
    "test_data": {"type": "csv", "content": "question,answer\n"},
}


def _check_model(m: Any) -> None:
    assert m.id == "m1" and m.name == "banking" and m.model_extra == {"owner": "me"}


CASES: list[tuple[str, tuple[Any, ...], dict[str, Any], str, str, Any, Any, Any]] = [
    (
        "models.create",
        ("banking",),
        {},
        "POST",
        "/models",
        {"name": "banking"},
        MODEL,
        _check_model,
    ),
    (
        "models.list",
        (),
        {},
        "GET",
        "/models",
        None,
        {"models": [MODEL]},
        lambda r: _check_model(r[0]),
    ),
    ("models.get", ("m1",), {}, "GET", "/models/m1", None, MODEL, _check_model),
    (
        "uploads.get",
        ("u1",),
        {},
        "GET",
        "/uploads/u1/status",
        None,
        {"id": "u1", "status": "JOB_SUCCESS"},
        lambda r: r.status is JobStatus.SUCCESS,
    ),
    (
        "teacher_evaluations.create",
        ("m1", "u1"),
        {},
        "POST",
        "/models/m1/teacher-evaluations",
        {"upload_id": "u1"},
        {"id": "e1"},
        lambda r: r.id == "e1",
    ),
    (
        "teacher_evaluations.get",
        ("e1",),
        {},
        "GET",
        "/teacher-evaluations/e1/status",
        None,
        {
            "id": "e1",
            "status": "JOB_SUCCESS",
            "message": "done",
            "results": metrics(0.9),
            "evaluation_predictions_download_url": None,
        },
        lambda r: r.results.accuracy == 0.9 and r.results.per_class["billing"].f1_score == 0.66,
    ),
    (
        "trainings.create",
        ("m1", "u1"),
        {},
        "POST",
        "/models/m1/training",
        {"upload_id": "u1"},
        {"id": "t1"},
        lambda r: r.id == "t1",
    ),
    (
        "trainings.get",
        ("t1",),
        {},
        "GET",
        "/trainings/t1/status",
        None,
        {"id": "t1", "status": "JOB_RUNNING"},
        lambda r: r.status is JobStatus.RUNNING,
    ),
    (
        "trainings.evaluation_results",
        ("t1",),
        {},
        "GET",
        "/trainings/t1/evaluation-results",
        None,
        {
            "id": "t1",
            "status": "JOB_SUCCESS",
            "evaluation_results": {
                "teacher": metrics(0.9),
                "student-base": metrics(0.4),
                "student-tuned": metrics(0.8),
            },
            "finetuned_student_evaluation_predictions_download_url": "https://s3.test/p.jsonl",
            "base_student_evaluation_predictions_download_url": None,
        },
        lambda r: (
            (r.teacher.accuracy, r["student-base"].accuracy, r.student_tuned.macro_f1)
            == (0.9, 0.4, 0.66)
        ),
    ),
    (
        "deployments.create",
        ("t1",),
        {},
        "POST",
        "/trainings/t1/deployment",
        None,
        {"id": "d1", "deployment_status": "active"},
        lambda r: r.deployment_status == r.status == "active",
    ),
    (
        "deployments.get",
        ("t1",),
        {},
        "GET",
        "/trainings/t1/deployment",
        None,
        {"id": "d1", "status": "active", "url": "https://x"},
        lambda r: r.url == "https://x",
    ),
    (
        "uploads.create",
        ("m1", UPLOAD_BODY),
        {},
        "POST",
        "/models/m1/uploads",
        "SKIP",
        {"id": "u1"},
        lambda r: r.id == "u1",
    ),
]


def _resolve(client: Any, dotted: str) -> Any:
    resource, method = dotted.split(".")
    return getattr(getattr(client.v2, resource), method)


def _route(method: str, path: str, response: Any) -> respx.Route:
    return respx.route(method=method, url=BASE + path).mock(
        return_value=httpx.Response(200, json=response)
    )


def _check_request(route: respx.Route, body: Any) -> None:
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    if body == "SKIP":
        return
    if body is None:
        assert request.content == b""
    else:
        assert json.loads(request.content) == body


@pytest.fixture(autouse=True)
def _no_local_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    # The upload case sends a placeholder payload: local validation has its own tests below.
    import distil_sdk.resources.v2.uploads as uploads

    monkeypatch.setattr(uploads, "upload_payload", lambda data: dict(data))


@pytest.mark.parametrize(
    ("call", "args", "kwargs", "method", "path", "body", "response", "check"),
    CASES,
    ids=[c[0] for c in CASES],
)
@respx.mock
def test_sync_endpoint(
    call: str, args: Any, kwargs: Any, method: str, path: str, body: Any, response: Any, check: Any
) -> None:
    route = _route(method, path, response)
    with sync_client() as client:
        result = _resolve(client, call)(*args, **kwargs)
    _check_request(route, body)
    assert check(result) is not False


@pytest.mark.parametrize(
    ("call", "args", "kwargs", "method", "path", "body", "response", "check"),
    CASES,
    ids=[c[0] for c in CASES],
)
@respx.mock
async def test_async_endpoint(
    call: str, args: Any, kwargs: Any, method: str, path: str, body: Any, response: Any, check: Any
) -> None:
    route = _route(method, path, response)
    async with async_client() as client:
        result = await _resolve(client, call)(*args, **kwargs)
    _check_request(route, body)
    assert check(result) is not False


@respx.mock
async def test_delete_endpoints_sync_and_async() -> None:
    dep = respx.delete(f"{BASE}/trainings/t1/deployment").mock(return_value=httpx.Response(204))
    with sync_client() as client:
        assert client.v2.deployments.delete("t1") is None
    async with async_client() as aclient:
        assert await aclient.v2.deployments.delete("t1") is None
    assert dep.call_count == 2


LOOPBACK = "http://127.0.0.1:8765"


@respx.mock
async def test_local_only_extensions_run_against_the_local_platform() -> None:
    # Stopping a job and deleting a model are routes of the embedded local platform only.
    model = respx.delete(f"{LOOPBACK}/models/m1").mock(return_value=httpx.Response(204))
    stopped = {"id": "t1", "status": "JOB_STOPPED"}
    training = respx.post(f"{LOOPBACK}/trainings/t1/cancel").mock(
        return_value=httpx.Response(200, json=stopped)
    )
    evaluation = respx.post(f"{LOOPBACK}/teacher-evaluations/e1/cancel").mock(
        return_value=httpx.Response(200, json={**stopped, "id": "e1"})
    )
    with sync_client(base_url=LOOPBACK) as client:
        assert client.v2.models.delete_local("m1") is None
        assert client.v2.trainings.cancel_local("t1").status is JobStatus.STOPPED
        assert client.v2.teacher_evaluations.cancel_local("e1").status is JobStatus.STOPPED
    async with async_client(base_url=LOOPBACK) as aclient:
        assert await aclient.v2.models.delete_local("m1") is None
        assert (await aclient.v2.trainings.cancel_local("t1")).status is JobStatus.STOPPED
        assert (await aclient.v2.teacher_evaluations.cancel_local("e1")).status is JobStatus.STOPPED
    assert model.call_count == training.call_count == evaluation.call_count == 2


async def test_local_only_extensions_refuse_the_hosted_platform() -> None:
    # No public source documents these routes for the hosted platform: nothing may be sent.
    with respx.mock(assert_all_called=False) as router:
        sent = router.route(host="api.test").mock(return_value=httpx.Response(204))
        with sync_client() as client:
            for call in (
                lambda: client.v2.models.delete_local("m1"),
                lambda: client.v2.trainings.cancel_local("t1"),
                lambda: client.v2.teacher_evaluations.cancel_local("e1"),
            ):
                with pytest.raises(DistilError, match="local platform"):
                    call()
        async with async_client() as aclient:
            with pytest.raises(DistilError, match="local platform"):
                await aclient.v2.trainings.cancel_local("t1")
            with pytest.raises(DistilError, match="local platform"):
                await aclient.v2.models.delete_local("m1")
        assert not sent.called


@respx.mock
def test_models_list_accepts_bare_list_and_ids_are_quoted() -> None:
    respx.get(f"{BASE}/models").mock(return_value=httpx.Response(200, json=[MODEL]))
    # An id with '/' is refused before sending (test_transport_current.py); the rest is quoted.
    route = respx.get(f"{BASE}/models/a%20b%3F%23c").mock(
        return_value=httpx.Response(200, json=MODEL)
    )
    with sync_client() as client:
        assert [m.id for m in client.v2.models.list()] == ["m1"]
        client.v2.models.get("a b?#c")
    assert route.called


def test_object_shaped_training_status() -> None:
    from distil_sdk.types.jobs import TrainingStatus

    running = TrainingStatus.model_validate(
        {
            "id": "t1",
            "status": {
                "dag": {"a": ["b"]},
                "logs": ["l1"],
                "tasks": [
                    {"name": "synthgen", "status": "JOB_SUCCESS"},
                    {"name": "train", "status": "JOB_RUNNING"},
                ],
            },
        }
    )
    assert running.status is JobStatus.RUNNING and [t.name for t in running.tasks] == [
        "synthgen",
        "train",
    ]
    assert running.logs == ["l1"] and running.dag == {"a": ["b"]}
    failed = TrainingStatus.model_validate(
        {
            "id": "t1",
            "status": {"tasks": [{"name": "train", "status": "JOB_FAILURE", "message": "OOM"}]},
        }
    )
    assert failed.status is JobStatus.FAILURE and failed.failure_message == "train: OOM"
    done = TrainingStatus.model_validate(
        {"id": "t1", "status": {"tasks": [{"name": "a", "status": "JOB_SUCCESS"}]}}
    )
    assert done.status is JobStatus.SUCCESS
    pending = TrainingStatus.model_validate(
        {"id": "t1", "status": {"dag": {}, "tasks": [], "logs": []}}
    )
    assert pending.status is JobStatus.PENDING
    unknown = TrainingStatus.model_validate({"id": "t1", "status": "JOB_QUEUED_SOMEWHERE"})
    assert unknown.status.value == "JOB_QUEUED_SOMEWHERE" and not unknown.status.is_terminal


def test_metrics_round_trip() -> None:
    m = Metrics.model_validate(metrics(0.5))
    assert m.to_report() == metrics(0.5)
    assert Metrics.model_validate(
        {"accuracy": 1, "a": {"f1-score": 0.2}, "b": {"f1-score": 0.4}}
    ).macro_f1 == pytest.approx(0.3)


@respx.mock
async def test_predictions_downloaded_without_token_from_other_origin() -> None:
    results = {
        "id": "t1",
        "status": "JOB_SUCCESS",
        "evaluation_results": {},
        "finetuned_student_evaluation_predictions_download_url": "https://s3.test/p.jsonl?X-Amz-Signature=abc",
        "base_student_evaluation_predictions_download_url": f"{BASE}/files/base.jsonl",
    }
    respx.get(f"{BASE}/trainings/t1/evaluation-results").mock(
        return_value=httpx.Response(200, json=results)
    )
    line = json.dumps(
        {"question": "q", "answer": "a", "prediction": "b", "scores": {"a": 0.4, "b": 0.6}}
    )
    s3 = respx.get("https://s3.test/p.jsonl").mock(
        return_value=httpx.Response(200, text=line + "\n\n" + line)
    )
    own = respx.get(f"{BASE}/files/base.jsonl").mock(return_value=httpx.Response(200, text=line))
    with sync_client() as client:
        preds = client.v2.trainings.predictions("t1")
        assert client.v2.trainings.predictions("t1", which="student-base")[0].prediction == "b"
    async with async_client() as aclient:
        assert len(await aclient.v2.trainings.predictions("t1")) == 2
    assert len(preds) == 2 and preds[0].scores == {"a": 0.4, "b": 0.6}
    assert "authorization" not in s3.calls.last.request.headers
    assert own.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


@respx.mock
def test_teacher_predictions() -> None:
    respx.get(f"{BASE}/teacher-evaluations/e1/status").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "e1",
                "status": "JOB_SUCCESS",
                "evaluation_predictions_download_url": "https://s3.test/t.jsonl",
            },
        )
    )
    respx.get("https://s3.test/t.jsonl").mock(
        return_value=httpx.Response(200, text='{"question": "q", "answer": "a"}')
    )
    with sync_client() as client:
        assert client.v2.teacher_evaluations.predictions("e1")[0].answer == "a"


def test_fake_time_helper() -> None:
    fake = FakeTime()
    fake.sleep(2)
    assert fake.clock() == 1002.0


def _bundle_dir(root: Any, labels: list[str]) -> Any:
    root.mkdir()
    (root / "job_description.json").write_text(
        json.dumps(
            {
                "task_description": "Classify",
                "classes_description": {"billing": "fees", "cards": "cards"},
            }
        )
    )
    rows = "\n".join(f"text number {i},{label}" for i, label in enumerate(labels))
    (root / "train.csv").write_text("question,answer\n" + rows + "\n")
    (root / "test.csv").write_text("question,answer\nheld out one,billing\nheld out two,cards\n")
    return root


@respx.mock
async def test_upload_real_bundle_sync_and_async_and_local_rejection(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # use the real local validation here
    from distil_sdk._errors import DataValidationError
    from distil_sdk.types.data import TaskBundle

    route = respx.post(f"{BASE}/models/m1/uploads").mock(
        return_value=httpx.Response(200, json={"id": "u1"})
    )
    good = _bundle_dir(tmp_path / "good", ["billing", "cards", "billing", "cards"])
    with sync_client() as client:
        assert client.v2.uploads.create("m1", good).id == "u1"
    async with async_client() as aclient:
        assert (await aclient.v2.uploads.create("m1", TaskBundle.from_dir(good))).id == "u1"
    sent = json.loads(route.calls.last.request.content)
    assert sent == TaskBundle.from_dir(good).to_upload_payload()
    bad = _bundle_dir(tmp_path / "bad", ["billing", "cards", "weather"])
    with sync_client() as client, pytest.raises(DataValidationError) as info:
        client.v2.uploads.create("m1", bad)
    assert any(f.code for f in info.value.report.errors) and route.call_count == 2


@pytest.mark.parametrize(
    "body",
    [{}, {"models": "m1"}, {"models": [{"name": "no id"}]}, {"models": [{"id": 3}]}, "text", 7],
    ids=["empty-object", "models-not-a-list", "model-without-id", "id-not-a-string", "str", "int"],
)
@respx.mock
async def test_malformed_models_list_is_an_api_error(body: Any) -> None:
    from distil_sdk import APIError

    respx.get(f"{BASE}/models").mock(return_value=httpx.Response(200, json=body))
    with sync_client() as client, pytest.raises(APIError, match=r"GET https://api\.test/models"):
        client.v2.models.list()
    async with async_client() as aclient:
        with pytest.raises(APIError, match="ModelList"):
            await aclient.v2.models.list()


@respx.mock
def test_message_and_detail_error_bodies_both_reach_the_error() -> None:
    from distil_sdk import NotFoundError

    respx.get(f"{BASE}/trainings/t1/status").mock(
        return_value=httpx.Response(404, json={"message": "Training not found: t1"})
    )
    respx.get(f"{BASE}/trainings/t2/status").mock(
        return_value=httpx.Response(404, json={"detail": "training 't2' not found"})
    )
    with sync_client() as client:
        with pytest.raises(NotFoundError, match="Training not found: t1"):
            client.v2.trainings.get("t1")
        with pytest.raises(NotFoundError, match="training 't2' not found"):
            client.v2.trainings.get("t2")


@respx.mock
def test_deployment_status_and_secrets_stay_out_of_repr() -> None:
    record = {
        "id": "d1",
        "deployment_status": "building",
        "url": "https://x",
        "secrets": {"api_key": "dep-SECRET-key"},
        "client_script": "print('hi')",
    }
    respx.post(f"{BASE}/trainings/t1/deployment").mock(
        return_value=httpx.Response(200, json=record)
    )
    with sync_client() as client:
        deployment = client.v2.deployments.create("t1")
    assert deployment.deployment_status == deployment.status == "building"
    assert deployment.secrets is not None and deployment.secrets.api_key is not None
    assert deployment.secrets.api_key.get_secret_value() == "dep-SECRET-key"
    assert "dep-SECRET-key" not in repr(deployment) and "print" not in repr(deployment)


def test_status_record_without_an_id_takes_the_one_asked_for() -> None:
    # The current platform's status answer may be {"status": ...} alone.
    with respx.mock:
        respx.get(f"{BASE}/teacher-evaluations/e9/status").mock(
            return_value=httpx.Response(200, json={"status": "JOB_PENDING"})
        )
        with sync_client() as client:
            record = client.v2.teacher_evaluations.get("e9")
    assert record.id == "e9" and record.status is JobStatus.PENDING and record.tasks == []


@pytest.mark.parametrize(
    ("text", "inputs"),
    [
        ('{"question": "q1", "answer": "a"}\n\n{"question": "q2", "answer": "b"}\n', ["q1", "q2"]),
        ('[{"prompt": "p1", "completion": "c"}, {"prompt": "p2"}]', ["p1", "p2"]),
        ('{"predictions": [{"prompt": "p1", "completion": "c"}]}', ["p1"]),
        ('{"prompt": "only", "completion": "c", "prediction": "c"}', ["only"]),
    ],
    ids=["jsonl", "json-array", "json-object", "single-row"],
)
def test_parse_predictions_reads_the_platform_forms(text: str, inputs: list[str]) -> None:
    from distil_sdk.resources._base import parse_predictions

    assert [p.input for p in parse_predictions(text, "f")] == inputs


def test_parse_predictions_names_the_bad_row() -> None:
    from distil_sdk import APIError
    from distil_sdk.resources._base import parse_predictions

    with pytest.raises(APIError, match="f line 2 is not a prediction record"):
        parse_predictions('{"question": "q"}\n{"answer": "no input"}\n', "f")
    with pytest.raises(APIError, match="f row 1 is not a prediction record"):
        parse_predictions('[{"answer": "no input"}]', "f")


def test_teacher_evaluation_status_reads_a_status_object_too() -> None:
    from distil_sdk.types.jobs import TeacherEvaluationStatus

    record = TeacherEvaluationStatus.model_validate(
        {
            "teacher_evaluation_id": "e1",
            "status": {
                "dag": "JOB_FAILURE",
                "tasks": [{"evaluate_teacher": {"status": "JOB_FAILURE", "reason": "OOM"}}],
                "logs": ["line 1", "line 2"],
            },
        }
    )
    assert record.id == "e1" and record.status is JobStatus.FAILURE
    assert record.failure_message == "evaluate_teacher: OOM" and record.logs == ["line 1", "line 2"]

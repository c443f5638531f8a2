"""The local platform answers exactly the wire contract written in ``distil_sdk.types``.

A real server on loopback (fake pipeline) is driven through the client, sync and async, with a
transport that records every answer. Each JSON answer is matched to the route that served it
and validated against that route's declared ``response_model`` with unknown fields forbidden
(no model anywhere in the parsed tree may hold an undeclared field); the ``/models``
generation's answers must also serialise back to exactly what was sent. Every JSON route must
declare a response model from ``distil_sdk.types`` — routes added later are walked too — and
every route of the ``/models`` generation must have been exercised.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter
from starlette.responses import Response

from _local_support import upload_payload, use_fake_pipeline, wait_for
from distil_sdk import (
    AsyncDistilClient,
    DistilClient,
    InternalServerError,
    JobNotFinishedError,
    NotFoundError,
)
from distil_sdk.local.app import create_app
from distil_sdk.local.server import LocalServer
from distil_sdk.types.jobs import JobStatus, TrainingStatus

FAST_WAIT: dict[str, Any] = {"poll_interval": 0.05, "max_interval": 0.2, "timeout": 300}

#: Routes that answer JSON without being part of the platform's API (reason given).
UNTYPED_ALLOWED = {
    ("GET", "/health"): "the local server's liveness probe, not a platform route",
}
#: Models whose undeclared fields are tolerated for now (reason given); remove when declared.
EXTRAS_TOLERATED: dict[str, str] = {}
#: Route modules of the ``/models`` generation: every one of their routes must be exercised here.
V2_MODULES = ("distil_sdk.local._api.models", "distil_sdk.local._api.jobs")


# ------------------------------------------------------------------------------ the routes


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    regex: re.Pattern[str]
    route: APIRoute


def _route_contexts(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    try:  # FastAPI >= 0.160 keeps included routers as such; walk them with their prefixes
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI flattens them
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path, route
        return
    for context in iter_route_contexts(app.routes):
        if isinstance(context.route, APIRoute):
            yield context.path, context.route


def _routes(app: FastAPI) -> list[RouteInfo]:
    out = []
    for path, route in _route_contexts(app):
        pattern = re.sub(r"\{[^}:]+:path\}", ".+", path)
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", pattern)
        for method in sorted(route.methods or ()):
            out.append(RouteInfo(method, path, re.compile(f"^{pattern}$"), route))
    return out


def _returns_response(route: APIRoute) -> bool:
    """True for routes that return a Response of their own (files, redirects): not JSON."""
    try:
        returned = typing.get_type_hints(route.endpoint).get("return")
    except Exception:  # unresolvable annotations: treat as JSON, the check below decides
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def _declared_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _declared_models(arg)]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(tmp_path_factory.mktemp("routes"), "token", run_worker=False)


def test_every_json_route_declares_a_response_model_from_types(app: FastAPI) -> None:
    problems = []
    for info in _routes(app):
        route = info.route
        if info.method == "HEAD" or _returns_response(route):
            continue
        if (info.method, info.path) in UNTYPED_ALLOWED:
            continue
        if route.status_code is not None and (route.status_code >= 300 or route.status_code == 204):
            continue  # answers only an error (501, 410) or no content
        models = _declared_models(route.response_model)
        if not models:
            problems.append(f"{info.method} {info.path}: no response_model")
        for model in models:
            if not model.__module__.startswith("distil_sdk.types."):
                problems.append(f"{info.method} {info.path}: {model.__name__} is not in types/")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------- checking an answer


def undeclared_fields(value: Any, where: str = "$") -> list[str]:
    """Paths of every undeclared field in a parsed tree (the strict, extra-forbidding check)."""
    if isinstance(value, BaseModel):
        tolerated = type(value).__name__ in EXTRAS_TOLERATED
        extra = {} if tolerated else value.model_extra or {}
        found = [f"{where}: undeclared {sorted(extra)}"] if extra else []
        for name in type(value).model_fields:
            found += undeclared_fields(getattr(value, name), f"{where}.{name}")
        return found
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in undeclared_fields(v, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in undeclared_fields(v, f"{where}.{k}")]
    return []


def test_the_strict_check_catches_an_undeclared_field() -> None:
    record = {
        "training_id": "t1",
        "status": {"dag": "JOB_RUNNING", "tasks": [{"load": {"status": "JOB_RUNNING", "x": 1}}]},
        "surprise": True,
    }
    found = undeclared_fields(TrainingStatus.model_validate(record))
    assert found == [
        "$: undeclared ['surprise']",
        "$.status_detail.tasks[0]: undeclared ['x']",
    ]


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    body: Any  # decoded JSON, or None when the answer is not JSON


class Recorder:
    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def add(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        content = response.content
        is_json = "application/json" in response.headers.get("content-type", "")
        body = json.loads(content) if is_json and content else None
        self.exchanges.append(
            Exchange(request.method, request.url.path, response.status_code, body)
        )
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )


class SyncRecording(httpx.BaseTransport):
    def __init__(self, recorder: Recorder) -> None:
        self.inner, self.recorder = httpx.HTTPTransport(), recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        return self.recorder.add(request, response)

    def close(self) -> None:
        self.inner.close()


class AsyncRecording(httpx.AsyncBaseTransport):
    def __init__(self, recorder: Recorder) -> None:
        self.inner, self.recorder = httpx.AsyncHTTPTransport(), recorder

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        return self.recorder.add(request, response)

    async def aclose(self) -> None:
        await self.inner.aclose()


def check_exchanges(routes: list[RouteInfo], exchanges: list[Exchange]) -> set[tuple[str, str]]:
    """Validate every JSON answer against its route's contract; return the routes seen."""
    seen: set[tuple[str, str]] = set()
    problems: list[str] = []
    for ex in exchanges:
        info = next((r for r in routes if r.method == ex.method and r.regex.match(ex.path)), None)
        if info is None:
            problems.append(f"{ex.method} {ex.path}: no route of the app serves it")
            continue
        seen.add((info.method, info.path))
        where = f"{ex.method} {ex.path} ({ex.status})"
        if ex.status >= 400:
            # The platform's error shape: a string `message` (no `detail`), extras beside it.
            body = ex.body if isinstance(ex.body, dict) else {}
            if not isinstance(body.get("message"), str) or "detail" in body:
                problems.append(f"{where}: error body is not {{message: str}}: {ex.body!r}")
            continue
        if ex.body is None or (ex.method, info.path) in UNTYPED_ALLOWED:
            continue
        adapter: TypeAdapter[Any] = TypeAdapter(info.route.response_model)
        parsed = adapter.validate_python(ex.body)
        problems += [f"{where}: {p}" for p in undeclared_fields(parsed)]
        if info.route.endpoint.__module__ in V2_MODULES:
            again = adapter.dump_python(parsed, mode="json", by_alias=True)
            if again != ex.body:
                problems.append(f"{where}: does not serialise back: {again!r} != {ex.body!r}")
    assert not problems, "\n".join(dict.fromkeys(problems))
    return seen


# ----------------------------------------------------------------------- the scenario


def _sync_scenario(client: DistilClient, gate: Path, tmp_path: Path) -> list[str]:
    """The whole /models generation; returns the stderr progress lines it expects to see."""
    model = client.v2.models.create("contract")
    assert [m.id for m in client.v2.models.list()] == [model.id]
    assert client.v2.models.get(model.id).upload_ids == []
    upload = client.v2.uploads.create(model.id, upload_payload())
    assert client.v2.uploads.get(upload.id).status is JobStatus.SUCCESS

    # The gate holds the first job in its first stage: unfinished answers, deterministically.
    training = client.v2.trainings.create(model.id, upload.id)
    # Tasks are listed (all pending) just before the first stage starts: wait for it to run.
    running = wait_for(
        lambda: (
            (r := client.v2.trainings.get(training.id)).tasks
            and r.tasks[0].status is JobStatus.RUNNING
            and r
        ),
        what="the first stage",
    )
    assert running.status is JobStatus.RUNNING and running.tasks[0].status is JobStatus.RUNNING
    assert running.start_time and running.end_time is None
    with pytest.raises(JobNotFinishedError, match="not completed successfully") as info:
        client.v2.trainings.evaluation_results(training.id)
    assert info.value.job_id == training.id and info.value.platform_message
    with pytest.raises(JobNotFinishedError) as info:
        client.v2.trainings.download_model(training.id, tmp_path / "early", progress=False)
    assert training.id in str(info.value) and not (tmp_path / "early").exists()

    queued = client.v2.trainings.create(model.id, upload.id)
    assert client.v2.trainings.cancel_local(queued.id).status is JobStatus.STOPPED
    doomed = client.v2.teacher_evaluations.create(model.id, upload.id)
    stopped = client.v2.teacher_evaluations.cancel_local(doomed.id)
    assert stopped.status is JobStatus.STOPPED and stopped.results is None
    with pytest.raises(JobNotFinishedError):
        client.v2.teacher_evaluations.predictions(doomed.id)

    gate.touch()
    done = client.v2.trainings.wait(training.id, progress=True, **FAST_WAIT)
    assert done.status is JobStatus.SUCCESS and done.end_time
    assert all(t.status is JobStatus.SUCCESS for t in done.tasks)
    results = client.v2.trainings.evaluation_results(training.id)
    assert results.student_tuned is not None and results.student_tuned.accuracy == 1.0
    for which in ("student-tuned", "student-base", "teacher"):
        assert len(client.v2.trainings.predictions(training.id, which=which)) == 12  # type: ignore[arg-type]
    model_dir = client.v2.trainings.download_model(training.id, tmp_path / "m", progress=False)
    assert (model_dir / "config.json").exists()

    evaluation = client.v2.teacher_evaluations.create(model.id, upload.id)
    teacher = client.v2.teacher_evaluations.wait(evaluation.id, progress=True, **FAST_WAIT)
    assert teacher.results is not None and teacher.results.accuracy == 1.0
    assert teacher.teacher_evaluation_id == evaluation.id and "logs" not in repr(teacher)
    assert client.v2.teacher_evaluations.get(evaluation.id).status is JobStatus.SUCCESS
    assert client.v2.teacher_evaluations.cancel_local(evaluation.id).status is JobStatus.SUCCESS
    predictions = client.v2.teacher_evaluations.predictions(evaluation.id)
    assert predictions[0].input and predictions[0].expected == predictions[0].prediction
    n_tasks = len(done.tasks)
    return [
        f"training {training.id}: JOB_SUCCESS [{n_tasks}/{n_tasks} stages]",
        f"teacher evaluation {evaluation.id}: JOB_SUCCESS [2/2 stages]",
    ]


async def _async_scenario(client: AsyncDistilClient, model_id: str, upload_id: str) -> str:
    evaluation = await client.v2.teacher_evaluations.create(model_id, upload_id)
    record = await client.v2.teacher_evaluations.wait(evaluation.id, progress=True, **FAST_WAIT)
    assert record.status is JobStatus.SUCCESS and [t.name for t in record.tasks] == [
        "load",
        "teacher-evaluation",
    ]
    training = await client.v2.trainings.create(model_id, upload_id)
    status = await client.v2.trainings.wait(training.id, progress=True, **FAST_WAIT)
    assert status.status is JobStatus.SUCCESS
    results = await client.v2.trainings.evaluation_results(training.id)
    assert results.teacher is not None and results.teacher.macro_f1 == 1.0
    return f"teacher evaluation {evaluation.id}: JOB_SUCCESS [2/2 stages]"


async def test_local_answers_match_the_contract(
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate = use_fake_pipeline(monkeypatch, tmp_path)
    recorder = Recorder()
    server = LocalServer(tmp_path / "data", poll_interval=0.05).start()
    try:
        settings = {"base_url": server.base_url, "api_key": server.token}
        with DistilClient(**settings, transport=SyncRecording(recorder)) as client:
            expected = _sync_scenario(client, gate, tmp_path)
            model_id = client.v2.models.list()[0].id
            upload_id = client.v2.uploads.create(model_id, upload_payload()).id
            # Error answers are part of the contract too.
            with pytest.raises(NotFoundError, match="not found"):
                client.v2.trainings.get("no-such-training")
            for call in (
                client.v2.deployments.create,
                client.v2.deployments.get,
                client.v2.deployments.delete,
            ):
                with pytest.raises(InternalServerError, match="LocalClassifier"):
                    call("no-such-training")
        async with AsyncDistilClient(**settings, transport=AsyncRecording(recorder)) as aclient:
            expected.append(await _async_scenario(aclient, model_id, upload_id))
        with DistilClient(**settings, transport=SyncRecording(recorder)) as client:
            client.v2.models.delete_local(model_id)
    finally:
        server.close()

    err = capsys.readouterr().err
    for line in expected:
        assert line in err, (line, err)
    seen = check_exchanges(_routes(app), recorder.exchanges)
    v2_routes = {
        (info.method, info.path)
        for info in _routes(app)
        if info.route.endpoint.__module__ in V2_MODULES and info.method != "HEAD"
    }
    assert v2_routes - seen == set(), "routes of the /models generation never exercised"


def _current_scenario(client: DistilClient, task_dir: Path, tmp_path: Path) -> None:
    """The current generation's reads and jobs (their answers must pass the same check)."""
    dataset = client.datasets.create(task_dir)
    client.datasets.wait(dataset.id, **FAST_WAIT)
    assert dataset.id in [d.id for d in client.datasets.list()]
    client.datasets.get(dataset.id)
    client.datasets.logs(dataset.id)
    client.datasets.metrics(dataset.id)
    client.datasets.sample(dataset.id)
    client.datasets.download(dataset.id)
    client.datasets.download_metadata(dataset.id)

    evaluation = client.teacher_evaluations.create(dataset.id)
    client.teacher_evaluations.wait(evaluation.id, **FAST_WAIT)
    # The /models generation's status route serves this generation's evaluations too.
    record = client.v2.teacher_evaluations.get(evaluation.id)
    assert record.status is JobStatus.SUCCESS and record.results is not None
    client.teacher_evaluations.get(evaluation.id)
    client.teacher_evaluations.list()
    client.teacher_evaluations.logs(evaluation.id)
    client.teacher_evaluations.metrics(evaluation.id)
    client.teacher_evaluations.download_metadata(evaluation.id)

    slm = client.slms.create(dataset.id)
    client.slms.wait(slm.id, **FAST_WAIT)
    client.slms.get(slm.id)
    client.slms.list()
    client.slms.status(slm.id)
    client.slms.logs(slm.id)
    client.slms.metrics(slm.id)
    client.slms.download_metadata(slm.id)
    client.slms.download_model(slm.id, tmp_path / "slm", progress=False)
    client.credits.balances()
    client.inference_endpoints.list()
    # Inference endpoints, their records, exports and keys; the reads of the old entities.
    ep = client.inference_endpoints.create("contract", "openai/gpt-4.1-mini")
    client.inference_endpoints.get(ep.id)
    assert list(client.inference_endpoints.traces(ep.id, since="2026-09-01")) == []
    export = client.inference_endpoints.traces_exports.create(ep.id)
    assert [e.id for e in client.inference_endpoints.traces_exports.list(ep.id)] == [export.id]
    client.inference_endpoints.traces_exports.get(ep.id, export.id)
    key = client.api_keys.create("contract-key")
    assert [k.name for k in client.api_keys.list()] == [key.name]
    client.api_keys.delete(key.name)
    assert client.seed_datasets.list() == [] and client.training_datasets.list() == []


def test_current_generation_answers_match_the_contract(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from _local_support import csv_text, job_description, rows

    use_fake_pipeline(monkeypatch, tmp_path).touch()
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    (task_dir / "job_description.json").write_text(json.dumps(job_description()))
    (task_dir / "train.csv").write_text(csv_text(rows("train", 10)))
    (task_dir / "test.csv").write_text(csv_text(rows("test", 4)))
    recorder = Recorder()
    server = LocalServer(tmp_path / "data", poll_interval=0.05).start()
    try:
        with DistilClient(
            base_url=server.base_url, api_key=server.token, transport=SyncRecording(recorder)
        ) as client:
            _current_scenario(client, task_dir, tmp_path)
    finally:
        server.close()
    seen = check_exchanges(_routes(app), recorder.exchanges)
    assert ("GET", "/teacher-evaluations/{job_id}/status") in seen

"""A respx stand-in for the hosted platform's current generation, built from its public
reference's shapes (distil-labs/distil-cli-skill, references/execution/backend-api.md, newest).

Object storage is a separate origin by default (as S3 is); ``same_origin=True`` puts the
presigned URLs on the API's own origin, as the local platform does. Every request is recorded
so tests can check what was sent, and with which headers.

Inference endpoints (`ServingRoutes`) follow ``execution/backend-api.md`` § Inference
endpoints of the newest version (stored id 71207846318, commit 8848a333, SKILL.md 10.0.3): the
traces page ``{"traces": [...], "pagination_cursor": ...}`` with the ``from-start-time`` /
``to-start-time`` / ``pagination-cursor`` query; traces exports answering 201 with ``id``,
``created_at``, the window and a presigned ``download_url``; ``POST /api-keys`` with
``{"api-key-name": ...}`` answering the ``secret``; link routes answering 204, or 409 while a
key change propagates; the inference host's ``POST /v1/chat/completions`` taking the secret as
bearer and the unique endpoint name as ``model``. A record's fields are those of
``data-preparation/traces.md`` § From an inference endpoint (id 71597399549). Where the
reference names a field without its answer (a key's name, an export's window) the fake answers
the platform's usual snake_case (``api_key_name``, ``from_start_time``). Seed and training
datasets: the reads ``migrating-old-entities.md`` (id 71069758673) keeps, with the download
fields an earlier ``backend-api.md`` lists (id 70871574605).
"""

from __future__ import annotations

import io
import itertools
import json
import tarfile
from collections.abc import Callable
from typing import Any

import httpx
import respx
import yaml

API = "https://api.test"
STORAGE = "https://storage.test"
INFERENCE = "https://inference.test/v1"
TOKEN = "sk-test-token"
ENDPOINT = "support-yeOdAS"  # the reference's example of a unique endpoint name

REPORT = {
    "accuracy": 0.9,
    "billing": {"precision": 1.0, "recall": 0.8, "f1-score": 0.89, "support": 5},
    "tech": {"precision": 0.83, "recall": 1.0, "f1-score": 0.91, "support": 5},
    "macro avg": {"precision": 0.92, "recall": 0.9, "f1-score": 0.9, "support": 10},
    "weighted avg": {"precision": 0.92, "recall": 0.9, "f1-score": 0.9, "support": 10},
}
BASE_REPORT = {**REPORT, "accuracy": 0.5}

PARENT_CONFIG = {
    "base": {"task": "classification", "student_model_name": "student-a"},
    "tuning": {"num_train_epochs": 3, "per_device_train_batch_size": 8},
}
PARENT_JOB_DESCRIPTION = {
    "task_description": "Route tickets",
    "classes_description": {"billing": "money", "tech": "computers"},
}
LAYOUT_FILES = {
    "model/config.json": b'{"id2label": {"0": "billing", "1": "tech"}}',
    "model-adapter/adapter_config.json": b"{}",
    "model_client.py": b"print('client')\n",
    "Modelfile": b"FROM ./model\n",
    "README.md": b"# model\n",
}


def model_tarball(files: dict[str, bytes] = LAYOUT_FILES) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def endpoint_record(n: int, *, status: int = 200, source: str = "fallback") -> dict[str, Any]:
    """One recorded call, with the fields ``data-preparation/traces.md`` § From an inference
    endpoint names: ``input`` and ``output`` as JSON strings, ``metadata.status`` and
    ``metadata.source``, ``start_time`` and ``latency``."""
    return {
        "id": f"trace-{n}",
        "input": json.dumps(
            {"model": ENDPOINT, "messages": [{"role": "user", "content": f"question {n}"}]}
        ),
        "output": json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": f"answer {n}"}}]}
        ),
        "metadata": {"status": status, "source": source},
        "start_time": f"2026-09-0{1 + n % 9}T10:00:00Z",
        "latency": 0.42,
    }


class ServingRoutes:
    """Inference endpoints, their records and exports, API keys, the inference host, and the
    reads of the old entities (seed and training datasets)."""

    storage: str
    objects: dict[str, bytes]
    entities: dict[str, dict[str, Any]]
    statuses: dict[str, list[str]]

    def _init_serving(self, router: respx.MockRouter) -> None:
        self.endpoints: dict[str, dict[str, Any]] = {}
        # endpoint -> pages of records; page i is answered for cursor "cursor-i" (page 0 for
        # none) and carries "cursor-<i+1>" unless it is the last.
        self.trace_pages: dict[str, list[list[dict[str, Any]]]] = {}
        self.repeat_last_cursor = False  # the last page answers a cursor seen before
        self.exports: dict[str, dict[str, dict[str, Any]]] = {}
        self.export_polls_before_ready = 0  # GETs answering download_url null, per export
        self.api_keys: dict[str, dict[str, Any]] = {}
        self.links: set[tuple[str, str]] = set()
        self.link_conflicts = 0  # link routes answer 409 this many times first
        self.inference_calls: list[httpx.Request] = []
        self._export_polls: dict[str, int] = {}
        self._request: httpx.Request | None = None
        router.route(host=httpx.URL(INFERENCE).host).mock(side_effect=self._inference)
        self._old_entities()

    # -- helpers for tests ---------------------------------------------------------------------

    def add_endpoint(self, name: str = ENDPOINT) -> dict[str, Any]:
        record = {"unique_endpoint_name": name, "created_at": "2026-09-01T09:00:00Z",
                  "trace_sampling_rate": 1.0, "fallback": {"model": "openai/gpt-4.1-mini"}}  # fmt: skip
        self.endpoints[name] = record
        return record

    def seed_traces(self, pages: list[list[dict[str, Any]]], name: str = ENDPOINT) -> None:
        self.trace_pages[name] = pages

    # -- routes --------------------------------------------------------------------------------

    def _serving(self, method: str, parts: list[str], body: Any) -> Any:
        """The answer of a serving or old-entity route, or ``NotImplemented``."""
        head = parts[0]
        if head == "api-keys":
            return self._keys(method, parts, body)
        if head == "inference-endpoints":
            return self._endpoint(method, parts, body)
        if head in ("seed-datasets", "training-datasets"):
            return self._old(method, parts)
        return NotImplemented

    def _endpoint(self, method: str, parts: list[str], body: Any) -> Any:
        if parts == ["inference-endpoints"]:
            if method == "POST":
                record = self.add_endpoint(f"{body['name-prefix']}-yeOdAS")
                return {**record, "trace_sampling_rate": body.get("trace-sample-rate", 0.01)}
            return list(self.endpoints.values())[::-1]
        name = parts[1]
        if name not in self.endpoints:
            return httpx.Response(404, json={"message": f"Inference endpoint {name} not found"})
        rest = parts[2:]
        if not rest:
            return self.endpoints[name]
        if rest == ["traces"]:
            return self._traces_page(name)
        if rest[0] == "traces-exports":
            return self._export(method, name, rest[1:], body)
        if rest[0] == "api-keys" and len(rest) == 2:
            return self._link(method, name, rest[1])
        return httpx.Response(404, json={"message": "no such route"})

    def _traces_page(self, name: str) -> dict[str, Any]:
        assert self._request is not None
        params = self._request.url.params
        pages = self.trace_pages.get(name, [[]])
        cursor = params.get("pagination-cursor")
        index = int(cursor.removeprefix("cursor-")) if cursor else 0
        last = index >= len(pages) - 1
        if last and self.repeat_last_cursor and index > 0:
            nxt: str | None = f"cursor-{index}"
        else:
            nxt = None if last else f"cursor-{index + 1}"
        return {"traces": pages[index], "pagination_cursor": nxt}

    def _export(self, method: str, name: str, rest: list[str], body: Any) -> Any:
        exports = self.exports.setdefault(name, {})
        if method == "POST" and not rest:
            export_id = f"exp-{len(self.entities) + len(exports) + 1}"
            records = [r for page in self.trace_pages.get(name, []) for r in page]
            url = f"{self.storage}/exports/{export_id}.jsonl?X-Amz-Signature=e"
            self.objects[url.split("?")[0]] = "".join(
                json.dumps(r) + "\n" for r in records
            ).encode()
            exports[export_id] = {"id": export_id, "created_at": "2026-10-01T12:00:00Z",
                                  "from_start_time": body["from-start-time"],
                                  "to_start_time": body["to-start-time"], "download_url": url}  # fmt: skip
            self._export_polls[export_id] = 0
            return self._export_answer(export_id, exports[export_id], creating=True)
        if method == "GET" and not rest:
            return list(exports.values())[::-1]
        if method == "GET" and len(rest) == 1 and rest[0] in exports:
            self._export_polls[rest[0]] += 1
            return self._export_answer(rest[0], exports[rest[0]], creating=False)
        return httpx.Response(404, json={"message": "Traces export not found"})

    def _export_answer(self, export_id: str, record: dict[str, Any], creating: bool) -> Any:
        pending = creating or self._export_polls[export_id] <= self.export_polls_before_ready
        if self.export_polls_before_ready and pending:
            return {**record, "download_url": None}
        return record

    def _keys(self, method: str, parts: list[str], body: Any) -> Any:
        if parts == ["api-keys"] and method == "POST":
            name = body["api-key-name"]
            if name in self.api_keys:
                return httpx.Response(409, json={"message": f"API key {name} already exists"})
            secret = f"dl-secret-{name}-0123456789"
            self.api_keys[name] = {"api_key_name": name, "created_at": "2026-09-01T09:30:00Z",
                                   "secret": secret}  # fmt: skip
            return self.api_keys[name]
        if parts == ["api-keys"]:
            return [
                {k: v for k, v in key.items() if k != "secret"} for key in self.api_keys.values()
            ]
        if method == "DELETE" and len(parts) == 2 and parts[1] in self.api_keys:
            del self.api_keys[parts[1]]
            self.links = {link for link in self.links if link[1] != parts[1]}
            return httpx.Response(204)
        return httpx.Response(404, json={"message": f"API key {parts[-1]} not found"})

    def _link(self, method: str, name: str, key: str) -> Any:
        if key not in self.api_keys:
            return httpx.Response(404, json={"message": f"API key {key} not found"})
        if self.link_conflicts > 0:
            self.link_conflicts -= 1
            return httpx.Response(409, json={"message": "Key change still propagating"})
        if method == "PUT":
            self.links.add((name, key))
        else:
            self.links.discard((name, key))
        return httpx.Response(204)

    def _inference(self, request: httpx.Request) -> httpx.Response:
        """The inference host: an OpenAI chat completion for a linked key's secret."""
        self.inference_calls.append(request)
        if request.method != "POST" or request.url.path != "/v1/chat/completions":
            return httpx.Response(404, json={"error": {"message": "not found"}})
        body = json.loads(request.content)
        secret = request.headers.get("authorization", "").removeprefix("Bearer ")
        key = next((n for n, k in self.api_keys.items() if k["secret"] == secret), None)
        if key is None or (body.get("model"), key) not in self.links:
            return httpx.Response(401, json={"error": {"message": "Invalid API key"}})
        reply = {"role": "assistant", "content": "Hi!"}
        return httpx.Response(200, json={
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1788000000,
            "model": body["model"], "choices": [{"index": 0, "message": reply,
                                                  "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        })  # fmt: skip

    # -- the old entities ----------------------------------------------------------------------

    def _old_entities(self) -> None:
        files = {"train.jsonl": b'{"question": "q", "answer": "a"}\n',
                 "test.jsonl": b'{"question": "t", "answer": "b"}\n'}  # fmt: skip
        for name, data in files.items():
            self.objects[f"{self.storage}/old/{name}"] = data
        self.entities["sd-old"] = {"id": "sd-old", "created_at": "2025-11-01T10:00:00Z",
                                   "prepared_traces_id": None, "source": "direct_upload"}  # fmt: skip
        self.entities["td-old"] = {"id": "td-old", "created_at": "2025-11-02T10:00:00Z",
                                   "seed_dataset_id": "sd-old"}  # fmt: skip
        self.statuses["sd-old"] = self.statuses["td-old"] = ["JOB_SUCCESS"]

    def _old(self, method: str, parts: list[str]) -> Any:
        prefix = "sd-" if parts[0] == "seed-datasets" else "td-"
        if method != "GET":
            return httpx.Response(410, json={"message": f"{method} /{'/'.join(parts)} is retired; "
                                                        "use POST /datasets"})  # fmt: skip
        if len(parts) == 1:
            return [e for e in self.entities.values() if e["id"].startswith(prefix)][::-1]
        entity_id, sub = parts[1], (parts[2] if len(parts) > 2 else "")
        if not entity_id.startswith(prefix) or entity_id not in self.entities:
            return httpx.Response(404, json={"message": f"{entity_id} not found"})
        if sub == "":
            return {**self.entities[entity_id], "status": "JOB_SUCCESS"}
        signed = "?X-Amz-Signature=o"
        if sub == "download":
            out = {"train_data_url": f"{self.storage}/old/train.jsonl{signed}",
                   "test_data_url": f"{self.storage}/old/test.jsonl{signed}",
                   "config_url": f"{self.storage}/parent/config.yaml?sig=c",
                   "job_description_url": f"{self.storage}/parent/job_description.json?sig=j"}  # fmt: skip
            if prefix == "sd-":
                out["unstructured_data_url"] = None
            return out
        if sub == "download-metadata":
            return {"config_url": f"{self.storage}/parent/config.yaml?sig=c",
                    "job_description_url": f"{self.storage}/parent/job_description.json?sig=j"}  # fmt: skip
        return httpx.Response(410, json={"message": f"GET /{'/'.join(parts)} is retired"})


class FakePlatform(ServingRoutes):
    """The routes of the current generation over a respx router, with in-memory state."""

    def __init__(self, router: respx.MockRouter, *, same_origin: bool = False) -> None:
        self.router = router
        self.storage = f"{API}/_storage" if same_origin else STORAGE
        self.objects: dict[str, bytes] = {}
        self.calls: list[httpx.Request] = []
        self.bodies: dict[str, list[Any]] = {}
        self.entities: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, list[str]] = {}
        self.logs: dict[str, str] = {}
        self.balances = {"datasets_post": 100, "teacher_evaluations_post": 20,
                         "slms_from_datasets_post": 2, "deployments_from_slms_post": 2}  # fmt: skip
        # storage URL path -> handler, to stand in for a storage answer (ranges, faults).
        self.storage_hooks: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.unready: set[str] = set()  # download-metadata answers nulls for these
        self.errors: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.tarball = model_tarball()
        self._put(
            f"{self.storage}/parent/config.yaml?sig=c", yaml.safe_dump(PARENT_CONFIG).encode()
        )
        self._put(
            f"{self.storage}/parent/job_description.json?sig=j",
            json.dumps(PARENT_JOB_DESCRIPTION).encode(),
        )
        self._put(f"{self.storage}/slm/model.tar?sig=m", self.tarball)
        self._put(f"{self.storage}/slm/config.yaml?sig=c", b"base:\n  task: classification\n")
        self._put(
            f"{self.storage}/te/predictions.jsonl?sig=p",
            b'{"prompt": "p", "completion": "billing", "prediction": "billing"}\n',
        )
        router.route(host=httpx.URL(self.storage).host, path__startswith=self._storage_path()).mock(
            side_effect=self._storage
        )
        router.route(host="api.test").mock(side_effect=self._api)
        self._init_serving(router)

    # ----------------------------------------------------------------------- helpers for tests

    def fail(self, method: str, path: str, status: int, detail: str) -> None:
        """Make ``method path`` answer ``status`` with ``{"message": detail}`` (the platform's
        error shape)."""
        self.errors[(method, path)] = (status, {"message": detail})

    def api_calls(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        return [
            r
            for r in self.calls
            if r.url.host == "api.test"
            and not r.url.path.startswith("/_storage")
            and (method is None or r.method == method)
            and (path is None or r.url.path == path)
        ]

    def storage_calls(self, method: str | None = None) -> list[httpx.Request]:
        return [
            r
            for r in self.calls
            if str(r.url).startswith(self.storage) and (method is None or r.method == method)
        ]

    # ------------------------------------------------------------------------------- internals

    def _storage_path(self) -> str:
        return httpx.URL(self.storage).path.rstrip("/") or "/"

    def _put(self, url: str, data: bytes) -> None:
        self.objects[str(httpx.URL(url).copy_with(query=None))] = data

    def _storage(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        key = str(request.url.copy_with(query=None))
        if request.url.path in self.storage_hooks:
            return self.storage_hooks[request.url.path](request)
        if "sig" not in request.url.params and "X-Amz-Signature" not in request.url.params:
            return httpx.Response(403, text="<Error>SignatureDoesNotMatch</Error>")
        if request.method == "PUT":
            self.objects[key] = request.content
            return httpx.Response(200)
        if key not in self.objects:
            return httpx.Response(404, text="<Error>NoSuchKey</Error>")
        return httpx.Response(200, content=self.objects[key])

    def _new(self, prefix: str, **fields: Any) -> dict[str, Any]:
        entity_id = f"{prefix}-{next(self._ids)}"
        record = {"id": entity_id, "created_at": "2026-12-01T10:00:00Z", **fields}
        self.entities[entity_id] = record
        self.statuses[entity_id] = ["JOB_PENDING", "JOB_RUNNING", "JOB_SUCCESS"]
        return record

    def _status(self, entity_id: str) -> str:
        seq = self.statuses[entity_id]
        return seq.pop(0) if len(seq) > 1 else seq[0]

    def _api(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/_storage"):
            return self._storage(request)
        self.calls.append(request)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"message": "Unauthorized"})
        method, path = request.method, request.url.path
        if (method, path) in self.errors:
            status, error = self.errors[(method, path)]
            return httpx.Response(status, json=error)
        body = json.loads(request.content) if request.content else None
        self.bodies.setdefault(f"{method} {path}", []).append(body)
        parts = path.strip("/").split("/")
        self._request = request
        answer = self._serving(method, parts, body)
        if answer is NotImplemented:
            answer = self._route(method, parts, body)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(201 if method == "POST" else 200, json=answer)

    def _staging(self, kind: str) -> dict[str, str]:
        keys = {
            "datasets": ["config_yaml", "job_description_json", "train_data_jsonl",
                         "test_data_jsonl", "traces_jsonl"],
            "slms": ["model_tar", "config_yaml"],
            "prepared-traces": ["traces_jsonl"],
        }[kind]  # fmt: skip
        batch = next(self._ids)
        return {k: f"{self.storage}/stage/{batch}/{k}?X-Amz-Signature=s{batch}" for k in keys}

    def _dataset_refusal(self, body: Any) -> str | None:
        """What ``POST /datasets`` answers 400 for, as the reference describes it (read here
        with plain json/yaml, not the SDK's own readers): config and job description
        required, the other three optional, every file staged, rows in the chat shape
        ("messages: Field required" on each line that is not), ``base.task`` one of four."""
        fields = {"config", "job_description", "train_data", "test_data", "traces"}
        unknown = sorted(set(body) - fields)
        if unknown:
            return f"{unknown[0]}: Extra inputs are not permitted"
        for field in ("config", "job_description"):
            if not body.get(field):
                return f"{field}: Field required"
        staged: dict[str, bytes] = {}
        for field, url in body.items():
            key = str(httpx.URL(url).copy_with(query=None))
            if key not in self.objects:
                return f"{field}: file was not staged"
            staged[field] = self.objects[key]
        task = (yaml.safe_load(staged["config"]) or {}).get("base", {}).get("task")
        tasks = ["classification", "question-answering", "chat-completion",
                 "chat-completion-agentic"]  # fmt: skip
        if task not in tasks:
            return f"Invalid config: base.task {task!r}; supported tasks: {', '.join(tasks)}"
        for field in ("train_data", "test_data"):
            for number, line in enumerate(staged.get(field, b"").decode().splitlines(), 1):
                if line.strip() and "messages" not in json.loads(line):
                    return f"{field} line {number}: messages: Field required"
        return None

    def _route(self, method: str, parts: list[str], body: Any) -> Any:
        head = parts[0]
        if head.startswith("staging-") and head.endswith("-s3-urls"):
            return self._staging(head[len("staging-") : -len("-s3-urls")])
        if head == "credits":
            return {"balances": self.balances}
        if method == "POST" and parts == ["datasets"]:
            refusal = self._dataset_refusal(body)
            if refusal:
                return httpx.Response(400, json={"message": refusal})
            return self._new("ds", operation=None, parent_dataset_id=None)
        if (
            method == "POST"
            and parts[0] == "datasets"
            and parts[1:]
            in (
                ["from-datasets"],
                ["from-datasets-smoke"],
            )
        ):
            return self._new("ds", operation=body["operation"], parent_dataset_id=body["from"])
        if method == "POST" and parts == ["teacher-evaluations"]:
            if body["from_dataset_id"] not in self.entities:
                return httpx.Response(404, json={"message": "Dataset not found"})
            return self._new("te", dataset_id=body["from_dataset_id"])
        if method == "POST" and parts[0] == "slms" and len(parts) == 2:
            return self._new("slm", dataset_id=body["from"])
        if method == "POST" and parts == ["slms"]:
            return self._new("slm", dataset_id=None)
        if method == "POST" and parts == ["deployments", "from-slms"]:
            record = self._new("dep", slm_id=body["from"])
            self.statuses[record["id"]] = ["JOB_PENDING", "JOB_SUCCESS"]
            return record
        if method == "POST" and parts == ["prepared-traces"]:
            return self._new("pt", source="direct_upload")
        if method == "GET" and len(parts) == 1:
            prefix = {"datasets": "ds", "teacher-evaluations": "te", "slms": "slm"}[head]
            return [e for e in self.entities.values() if e["id"].startswith(prefix + "-")][::-1]
        entity_id = parts[1]
        if entity_id not in self.entities:
            return httpx.Response(404, json={"message": f"{entity_id} not found"})
        sub = parts[2] if len(parts) > 2 else ""
        if method == "DELETE" and head == "deployments":
            self.entities[entity_id]["endpoint_status"] = "stopped"
            return httpx.Response(204)
        if head == "deployments" and sub == "status":
            return {"deployment_status": self._status(entity_id),
                    "endpoint_status": self.entities[entity_id].get("endpoint_status", "running")}  # fmt: skip
        if sub == "status":
            return {"id": entity_id, "status": self._status(entity_id)}
        if sub == "logs":
            return {"logs": self.logs.get(entity_id, "step 1\nstep 2\n")}
        if sub == "endpoint":
            return {"url": "https://dep.test/v1", "api_key": "dep-secret-key"}
        if sub == "download-metadata" and entity_id in self.unready:
            return {"config_url": None, "job_description_url": None}
        if sub == "download-metadata":
            out = {"config_url": f"{self.storage}/parent/config.yaml?sig=c",
                   "job_description_url": f"{self.storage}/parent/job_description.json?sig=j"}  # fmt: skip
            if head == "slms":
                out["model_client_url"] = f"{self.storage}/slm/model_client.py?sig=x"
            return out
        if head == "teacher-evaluations" and sub == "metrics":
            return {"teacher_performance": REPORT,
                    "predictions_download_url": f"{self.storage}/te/predictions.jsonl?sig=p"}  # fmt: skip
        if head == "slms" and sub == "metrics":
            return {"base_model_performance": BASE_REPORT, "tuned_model_performance": REPORT,
                    "predictions_download_url": f"{self.storage}/te/predictions.jsonl?sig=p"}  # fmt: skip
        if head == "slms" and sub == "download":
            return {"model_url": f"{self.storage}/slm/model.tar?sig=m",
                    "config_url": f"{self.storage}/slm/config.yaml?sig=c"}  # fmt: skip
        if head == "datasets" and sub == "metrics":
            return {"train_data_size_bytes": 1200, "test_data_size_bytes": 600,
                    "traces_size_bytes": 0}  # fmt: skip
        if head == "datasets" and sub == "sample":
            return {"rows": [{"messages": [{"role": "user", "content": "x"}]}]}
        if head == "datasets" and sub == "download":
            return {"train_data_url": f"{self.storage}/parent/config.yaml?sig=c",
                    "test_data_url": None, "traces_url": None,
                    "config_url": f"{self.storage}/parent/config.yaml?sig=c",
                    "job_description_url": f"{self.storage}/parent/job_description.json?sig=j"}  # fmt: skip
        if sub == "":
            return {**self.entities[entity_id], "status": self.statuses[entity_id][-1]}
        return httpx.Response(404, json={"message": f"no route {method} /{'/'.join(parts)}"})

"""The inference endpoints' OpenAI-compatible gateway: ``POST {base}/inference/v1/chat/completions``.

The hosted gateway is ``https://inference.distillabs.ai/v1`` (``inference-endpoints.md``
§ What an endpoint is; ``execution/backend-api.md`` § The call the application makes); here it
is mounted under the local platform, so an OpenAI client takes ``{base}/inference/v1`` as its
base URL. As there:

- a call is an ordinary chat completions request whose ``model`` is the endpoint's unique
  name, authenticated by the secret of an API key (``POST /api-keys``) **linked** to that
  endpoint, not by the platform's token: 401 for a missing or unknown secret and for a key
  not linked to the endpoint, 404 for a ``model`` that names no endpoint;
- the request goes to the primary first (a local deployment's model server with its key, or
  a server of your own at ``{url}/v1/chat/completions``), with ``model`` rewritten to the name
  that server serves; when the primary fails (unreachable, a timeout, any answer but 2xx) or
  there is none, the fallback answers. The fallback is an OpenRouter model: locally it is the
  LLM teacher's server, ``$DISTIL_TEACHER_BASE_URL`` (with ``$DISTIL_TEACHER_API_KEY``),
  called with the fallback's slug as ``model``; without it the answer is a 502 that says so;
- the answer's ``model`` is the endpoint's name, whoever answered, and each call is recorded
  with probability ``trace_sample_rate`` (``endpoint_store``): the request and the answer as
  JSON text, ``metadata`` ``{status, source}``, ``start_time`` and ``latency``.

Streaming (``stream: true``) is refused with 400: the model servers here answer in one message.
"""

from __future__ import annotations

import json
import os
import random
import ssl
import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, FastAPI, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from .._jobs.deployments import RUNNING, DeploymentSupervisor
from .endpoint_store import EndpointStore
from .errors import error_body

__all__ = ["GATEWAY_PATH", "ChatCompletionsBody", "router"]

#: Where the gateway answers, under the local platform's base URL.
GATEWAY_PREFIX = "/inference/v1"
GATEWAY_PATH = f"{GATEWAY_PREFIX}/chat/completions"
#: The LLM teacher's server, which stands in for OpenRouter (``local/teachers/_chat.py``).
FALLBACK_URL_ENV = "DISTIL_TEACHER_BASE_URL"
FALLBACK_KEY_ENV = "DISTIL_TEACHER_API_KEY"
FALLBACK_TIMEOUT_ENV = "DISTIL_TEACHER_TIMEOUT"
#: Seconds the primary may take before the fallback answers instead (a timeout is a failure).
PRIMARY_TIMEOUT_S = 60.0
FALLBACK_TIMEOUT_S = 120.0
#: How long the name a server of your own serves (its ``/v1/models``) is remembered.
_SERVED_NAME_TTL_S = 60.0

router = APIRouter(tags=["inference gateway"])

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="InferenceApiKey",
    description="the secret of an API key linked to the endpoint (`POST /api-keys`)",
)


class ChatCompletionsBody(BaseModel):
    """An OpenAI chat completions request; ``model`` is the endpoint's unique name. Every other
    field is forwarded as sent."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[Any]
    stream: bool | None = None


@dataclass(frozen=True)
class _Answer:
    """What the caller receives, and who gave it (``primary`` or ``fallback``)."""

    status: int
    content: bytes
    media_type: str
    source: str


@dataclass(frozen=True)
class _Call:
    """One call of an endpoint, as received."""

    endpoint: dict[str, Any]
    raw: bytes
    body: dict[str, Any]


@router.post(
    GATEWAY_PATH,
    response_model=None,
    responses={
        200: {"description": "the chat completion, `model` being the endpoint's name"},
        401: {"description": "no secret, an unknown one, or a key not linked to the endpoint"},
        404: {"description": "`model` names no inference endpoint"},
        # Declared: FastAPI leaves its own 422 out once a route declares a "default" answer.
        422: {"description": "a body that is no chat completions request"},
        502: {"description": "neither the primary nor the fallback could answer"},
        504: {"description": "the fallback did not answer in time"},
        "default": {"description": "the answer of the fallback model, passed on as it came"},
    },
)
async def chat_completions(
    body: ChatCompletionsBody,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Response:
    """Call inference endpoint ``model``: its primary, else its fallback (see the module)."""
    raw = await request.body()  # as received: forwarded and recorded as sent
    secret = credentials.credentials if credentials is not None else ""
    return await run_in_threadpool(_serve, request.app, secret, body, raw)


def _serve(app: FastAPI, secret: str, body: ChatCompletionsBody, raw: bytes) -> Response:
    endpoints: EndpointStore = app.state.inference_endpoints
    endpoint = _authorized(endpoints, secret, body.model)
    if body.stream:
        raise HTTPException(
            400,
            "stream=true is not supported by the local inference gateway: the model servers "
            "behind it answer in one message; send stream=false (or leave it out)",
        )
    started, clock = time.time(), time.monotonic()
    call = _Call(endpoint, raw, json.loads(raw))
    answer = _from_primary(call, app.state.deployments)
    if isinstance(answer, str):  # why the primary did not answer
        answer = _from_fallback(call, answer)
    latency = time.monotonic() - clock
    answer = _as_endpoint(answer, endpoint["name"])
    # random() < 1 always and < 0 never: a rate of 1 records every call, 0 none.
    if random.random() < endpoint["trace_sample_rate"]:
        endpoints.record(
            endpoint["name"],
            start_time=started,
            latency=latency,
            status=answer.status,
            source=answer.source,
            request=raw.decode("utf-8", "replace"),
            answer=answer.content.decode("utf-8", "replace"),
        )
    return Response(answer.content, status_code=answer.status, media_type=answer.media_type)


def _authorized(endpoints: EndpointStore, secret: str, name: str) -> dict[str, Any]:
    """The endpoint ``name`` when ``secret`` is a key linked to it; else 401 (404 for a name
    that is no endpoint, once the key is known)."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if not secret:
        raise HTTPException(
            401,
            "missing API key: send `Authorization: Bearer <secret>` with the secret of an API "
            "key linked to the endpoint (POST /api-keys creates one, PUT "
            "/inference-endpoints/{name}/api-keys/{key} links it)",
            headers=challenge,
        )
    key_name = endpoints.key_named_by(secret)
    if key_name is None:
        raise HTTPException(
            401,
            "invalid API key: send the secret POST /api-keys answered for a key of this "
            "platform (the platform's own token is not an inference key)",
            headers=challenge,
        )
    endpoint = endpoints.get(name)
    if endpoint is None:
        raise HTTPException(
            404,
            f"no inference endpoint {name[:128]!r}: `model` must be an endpoint's unique name "
            "(GET /inference-endpoints lists them)",
        )
    if not endpoints.linked(name, key_name):
        raise HTTPException(
            401,
            f"API key {key_name!r} is not linked to inference endpoint {name!r}: link it with "
            f"PUT /inference-endpoints/{name}/api-keys/{key_name}",
            headers=challenge,
        )
    return endpoint


# ------------------------------------------------------------------------------ the primary


def _from_primary(call: _Call, supervisor: DeploymentSupervisor) -> _Answer | str:
    """The primary's answer when it gave a 2xx one, else why it did not (a sentence)."""
    endpoint = call.endpoint
    if endpoint["primary_deployment"]:
        deployment_id = endpoint["primary_deployment"]
        record = supervisor.get(deployment_id)
        if record is None or record["endpoint_status"] != RUNNING or not record["port"]:
            status = record["endpoint_status"] if record else "gone"
            return f"its primary, deployment {deployment_id}, is {status}"
        base, key = f"http://127.0.0.1:{record['port']}", record["api_key"]
        served: str | None = record["slm_id"]  # a deployment serves its SLM under its id
    elif endpoint["primary_url"]:
        base, key = endpoint["primary_url"], endpoint["primary_api_key"]
        served = _served_name(base, key)
    else:
        return "it has no primary"
    payload = {**call.body, "model": served} if served else call.body
    try:
        with _http(PRIMARY_TIMEOUT_S) as http:
            response = http.post(
                f"{base.rstrip('/')}/v1/chat/completions", json=payload, headers=_auth(key)
            )
    except httpx.TimeoutException:
        return f"its primary at {_where(base)} did not answer within {PRIMARY_TIMEOUT_S:g} s"
    except httpx.HTTPError as exc:
        return f"its primary at {_where(base)} could not be reached ({type(exc).__name__})"
    if not response.is_success:
        return f"its primary at {_where(base)} answered {response.status_code}"
    return _answer(response, "primary")


_served: dict[str, tuple[str, float]] = {}
_served_lock = threading.Lock()


def _served_name(base: str, key: str | None) -> str | None:
    """The model name a server of your own serves (the first of its ``/v1/models``), or None
    when it does not say: ``model`` is then forwarded as received."""
    now = time.monotonic()
    with _served_lock:
        known = _served.get(base)
    if known is not None and known[1] > now:
        return known[0]
    try:
        with _http(PRIMARY_TIMEOUT_S) as http:
            listed = http.get(f"{base.rstrip('/')}/v1/models", headers=_auth(key))
        name = listed.json()["data"][0]["id"] if listed.is_success else None
    except (httpx.HTTPError, ValueError, LookupError, TypeError):
        name = None
    if not isinstance(name, str) or not name:
        return None
    with _served_lock:
        _served[base] = (name, now + _SERVED_NAME_TTL_S)
    return name


# ----------------------------------------------------------------------------- the fallback


def _from_fallback(call: _Call, why: str) -> _Answer:
    """The fallback's answer, whatever its status; a 502 (504 for a timeout) when it cannot
    be reached, or when no server stands in for OpenRouter here."""
    model = call.endpoint["fallback_model"]
    base = os.environ.get(FALLBACK_URL_ENV, "").strip()
    if not base:
        return _failure(
            502,
            f"inference endpoint {call.endpoint['name']!r} cannot answer: {why}, and its "
            f"fallback {model!r} is a hosted OpenRouter model the local platform cannot call. "
            f"Set ${FALLBACK_URL_ENV} (and ${FALLBACK_KEY_ENV}) to an OpenAI-compatible server "
            "that serves it, e.g. https://openrouter.ai/api/v1, and call again",
        )
    timeout = _seconds(os.environ.get(FALLBACK_TIMEOUT_ENV), FALLBACK_TIMEOUT_S)
    try:
        with _http(timeout) as http:
            response = http.post(
                f"{base.rstrip('/')}/chat/completions",
                json={**call.body, "model": model},
                headers=_auth(os.environ.get(FALLBACK_KEY_ENV) or None),
            )
    except httpx.TimeoutException:
        return _failure(
            504, f"{why}, and the fallback at {_where(base)} did not answer within {timeout:g} s"
        )
    except httpx.HTTPError as exc:
        return _failure(
            502,
            f"{why}, and the fallback at {_where(base)} (${FALLBACK_URL_ENV}) could not be "
            f"reached ({type(exc).__name__}); check that it runs",
        )
    return _answer(response, "fallback")


# ---------------------------------------------------------------------------------- helpers


@cache
def _tls() -> ssl.SSLContext:
    # Built once: building it per client costs far more than the call on a loopback.
    return ssl.create_default_context()


def _http(timeout: float) -> httpx.Client:
    connect = min(timeout, 10.0)
    return httpx.Client(verify=_tls(), timeout=httpx.Timeout(timeout, connect=connect))


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _where(url: str) -> str:
    """``url`` without credentials, path or query: enough to say which server, never a secret."""
    try:
        parsed = httpx.URL(url)
        port = f":{parsed.port}" if parsed.port else ""
        return f"{parsed.scheme}://{parsed.host}{port}"
    except httpx.InvalidURL:
        return "the configured URL"


def _seconds(value: str | None, default: float) -> float:
    try:
        seconds = float(value) if value else default
    except ValueError:
        return default
    return seconds if seconds > 0 else default


def _answer(response: httpx.Response, source: str) -> _Answer:
    media = response.headers.get("content-type", "application/json")
    return _Answer(response.status_code, response.content, media, source)


def _failure(status: int, message: str) -> _Answer:
    content = json.dumps(error_body(message)).encode("utf-8")
    return _Answer(status, content, "application/json", "fallback")


def _as_endpoint(answer: _Answer, name: str) -> _Answer:
    """A successful answer naming the endpoint as its ``model``: the caller never learns which
    model answered (``inference-endpoints.md`` § What an endpoint is)."""
    if not 200 <= answer.status < 300:
        return answer
    try:
        data = json.loads(answer.content)
    except ValueError:
        return answer
    if not isinstance(data, dict) or "model" not in data:
        return answer
    content = json.dumps({**data, "model": name}, ensure_ascii=False).encode("utf-8")
    return _Answer(answer.status, content, "application/json", answer.source)

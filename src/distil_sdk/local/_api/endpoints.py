"""Routes: inference endpoints, their records, traces exports and key links, in the platform's
shapes (distil-cli-skill ``execution/backend-api.md`` § Inference endpoints,
``inference-endpoints.md``, ``data-preparation/traces.md`` § From an inference endpoint).

- ``POST /inference-endpoints`` (``name-prefix``, ``fallback.model``, optional ``primary`` and
  ``trace-sample-rate``) answers 201 with ``unique_endpoint_name``: the prefix plus a random
  suffix. ``primary`` is a local deployment's id (404 unknown; 409 until it serves, and for one
  that stopped or failed) or ``{"url", "api-key"}`` of a server of your own, its base URL
  without ``/v1``. ``trace-sample-rate`` (0 to 1) defaults to 0.01, one call in a hundred, as
  the platform's API. The answer shows a server primary's URL, never its key.
- ``GET /inference-endpoints`` lists them newest first; ``GET /inference-endpoints/{name}``
  reads one. An endpoint is permanent, as on the platform: no route edits or deletes it.
- The endpoint serves OpenAI chat completions at ``{base}/inference/v1`` (``gateway.py``),
  called with the endpoint's name as ``model`` and the secret of a linked key.
- ``GET /inference-endpoints/{name}/traces`` pages its recorded calls newest first, within
  ``from-start-time`` / ``to-start-time`` (ISO 8601, both included; a bound left out is open),
  `PAGE_SIZE` a page; ``pagination_cursor`` is null on the last page.
- ``POST /inference-endpoints/{name}/traces-exports`` writes the records of a window (both
  bounds required) to one JSONL file at once and answers 201 with ``id``, ``created_at``, the
  window and a presigned ``download_url`` served by this server (an HMAC of the path, valid for
  an hour, no token needed); ``GET .../traces-exports[/{id}]`` read them back with a fresh URL.
- ``PUT|DELETE /inference-endpoints/{name}/api-keys/{key}`` link and unlink a key (204; both
  idempotent; 404 for a key this platform does not hold, then for the endpoint). A change
  holds at once: no 409 while it propagates, as the hosted platform may answer.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import Field

from ...types.entities import (
    CreateInferenceEndpointRequest,
    CreateTracesExportRequest,
    EndpointTracesPage,
    InferenceEndpoint,
    TracesExport,
)
from .._jobs.deployments import RUNNING, STARTING, DeploymentSupervisor
from .._storage.staging import sign_path, verify_path
from .api_keys import Keys, key_not_found
from .common import Authorized, Ctx, LocalContext, control_character, iso
from .deployments import Supervisor
from .endpoint_store import (
    EndpointStore,
    decode_cursor,
    encode_cursor,
    parse_time,
    trace_record,
)
from .errors import validation_answer

__all__ = ["DEFAULT_SAMPLE_RATE", "PAGE_SIZE", "CreateInferenceEndpointBody", "router"]

TAG = "inference endpoints"
router = APIRouter(tags=[TAG])

#: Records per page of ``/traces`` (the platform's size is not documented; a client pages until
#: the cursor is null, whatever the size).
PAGE_SIZE = 100
#: "An API create that omits the field records one call in a hundred" (``inference-endpoints.md``
#: § Records).
DEFAULT_SAMPLE_RATE = 0.01
#: A unique name is a path segment of every other route and the ``model`` of every call: kept to
#: what needs no quoting, with room for the suffix.
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: An OpenRouter slug, ``owner/model`` (``:free`` and similar tags included).
_SLUG = re.compile(r"^[^/\s]+/[^\s]+$")
_PRIMARY_FIELDS = frozenset({"url", "api-key", "readiness-gate-timeout-ms"})


class CreateInferenceEndpointBody(CreateInferenceEndpointRequest):
    """Body of ``POST /inference-endpoints``: the client's request, with a server primary's
    optional ``readiness-gate-timeout-ms`` (a number, accepted and unused here)."""

    primary: str | dict[str, Any] | None = Field(
        default=None,
        description="a deployment id, or {url, api-key} of your own server (URL without /v1)",
    )


def get_endpoints(request: Request) -> EndpointStore:
    """The app's `EndpointStore` (a FastAPI dependency)."""
    endpoints: EndpointStore = request.app.state.inference_endpoints
    return endpoints


Endpoints = Annotated[EndpointStore, Depends(get_endpoints)]


def _require(endpoints: EndpointStore, name: str) -> dict[str, Any]:
    endpoint = endpoints.get(name)
    if endpoint is None:
        raise HTTPException(
            404, f"inference endpoint {name!r} not found (GET /inference-endpoints lists them)"
        )
    return endpoint


def _wire(row: dict[str, Any]) -> dict[str, Any]:
    primary: Any = row["primary_deployment"]
    if row["primary_url"]:
        primary = {"url": row["primary_url"]}  # its key is never answered
    return {
        "unique_endpoint_name": row["name"],
        "created_at": iso(row["created_at"]),
        "trace_sampling_rate": row["trace_sample_rate"],
        "fallback": {"model": row["fallback_model"]},
        "primary": primary,
    }


def _bad(message: str) -> HTTPException:
    return HTTPException(400, message)


def _check_names(body: CreateInferenceEndpointBody) -> None:
    """422 for a control character in ``name-prefix``; 400 for a prefix that is no path
    segment, or a fallback that is no OpenRouter slug."""
    prefix = body.name_prefix
    if (reason := control_character(prefix)) is not None:
        raise HTTPException(
            422,
            validation_answer(
                [{"loc": ("body", "name-prefix"), "msg": reason, "type": "control_character"}]
            ),
        )
    if not _PREFIX.fullmatch(prefix):
        raise _bad(
            f"invalid name-prefix {prefix[:64]!r}: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (the platform appends '-' and a suffix)"
        )
    if not _SLUG.fullmatch(body.fallback.model):
        raise _bad(
            f"invalid fallback.model {body.fallback.model[:128]!r}: an OpenRouter slug in "
            "owner/model form, e.g. openai/gpt-4.1-mini (https://openrouter.ai/models)"
        )


def _server_primary(primary: dict[str, Any]) -> tuple[str, str] | None:
    """``(url, key)`` of a server primary; None for neither field. 400 for anything else."""
    unknown = sorted(set(primary) - _PRIMARY_FIELDS)
    if unknown:
        raise _bad(
            f"primary has unknown fields {unknown}: send url and api-key, or a deployment id"
        )
    url, key = primary.get("url"), primary.get("api-key")
    if url is None and key is None:
        return None
    if not (isinstance(url, str) and url.strip() and isinstance(key, str) and key):
        raise _bad(
            "primary needs both url and api-key as non-empty strings (or neither): the base URL "
            "of your OpenAI-compatible server and its key"
        )
    url = url.strip().rstrip("/")
    if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", url):
        raise _bad(f"primary.url {url[:128]!r} is not an http(s) URL: send e.g. https://host")
    if "@" in url.split("/")[2]:
        # Answers show the URL: a secret in it would be shown too.
        raise _bad("primary.url carries credentials: send the key as primary.api-key instead")
    if url.endswith("/v1"):
        raise _bad(
            f"primary.url {url[:128]!r} ends with /v1: send the base URL without it, since the "
            "endpoint appends /v1/chat/completions itself"
        )
    return url, key


def _check_deployment(supervisor: DeploymentSupervisor, deployment_id: str) -> None:
    """404 for an unknown deployment, 409 for one that does not serve (yet, or any more)."""
    record = supervisor.get(deployment_id)
    if record is None:
        raise HTTPException(
            404,
            f"deployment {deployment_id!r} not found; POST /deployments/from-slms creates one",
        )
    if record["endpoint_status"] != RUNNING:
        if record["endpoint_status"] == STARTING:
            advice = "wait for deployment_status JOB_SUCCESS (client.deployments.wait), then"
        else:
            advice = "it cannot serve again: create a new deployment and"
        raise HTTPException(
            409,
            f"deployment {deployment_id!r} is {record['endpoint_status']}, not serving: "
            f"{advice} create the endpoint again",
        )


@router.post(
    "/inference-endpoints",
    status_code=201,
    response_model=InferenceEndpoint,
    dependencies=Authorized,
    responses={
        400: {"description": "an invalid name-prefix, fallback slug or primary"},
        404: {"description": "the primary deployment does not exist"},
        409: {"description": "the primary deployment is not serving"},
    },
)
def create_inference_endpoint(
    body: CreateInferenceEndpointBody, endpoints: Endpoints, supervisor: Supervisor
) -> dict[str, Any]:
    """Create an endpoint; its ``unique_endpoint_name`` is ``name-prefix`` plus a suffix."""
    _check_names(body)
    deployment = server = None
    if isinstance(body.primary, str):
        if not body.primary.strip():
            raise _bad("primary is an empty string: send a deployment id, or leave it out")
        deployment = body.primary
        _check_deployment(supervisor, deployment)
    elif isinstance(body.primary, dict):
        server = _server_primary(body.primary)
    rate = DEFAULT_SAMPLE_RATE if body.trace_sample_rate is None else body.trace_sample_rate
    row = endpoints.create(
        body.name_prefix,
        fallback_model=body.fallback.model,
        sample_rate=rate,
        deployment=deployment,
        url=server[0] if server else None,
        api_key=server[1] if server else None,
    )
    return _wire(row)


@router.get("/inference-endpoints", response_model=list[InferenceEndpoint], dependencies=Authorized)
def list_inference_endpoints(endpoints: Endpoints) -> list[dict[str, Any]]:
    """Every endpoint, newest first (how a lost unique name is found again)."""
    return [_wire(row) for row in endpoints.all()]


@router.get(
    "/inference-endpoints/{name}", response_model=InferenceEndpoint, dependencies=Authorized
)
def get_inference_endpoint(name: str, endpoints: Endpoints) -> dict[str, Any]:
    """One endpoint by its unique name."""
    return _wire(_require(endpoints, name))


# ----------------------------------------------------------------------------- the records


def _window(
    start: str | None, end: str | None, names: tuple[str, str]
) -> tuple[float | None, float | None]:
    """The bounds as timestamps (None: open); 400 naming a bound that is no time, or a window
    whose start is after its end."""
    try:
        low = None if start is None else parse_time(start, names[0])
        high = None if end is None else parse_time(end, names[1])
    except ValueError as exc:
        raise _bad(str(exc)) from None
    if low is not None and high is not None and low > high:
        raise _bad(f"{names[0]} {start!r} is after {names[1]} {end!r}: the window is empty")
    return low, high


@router.get(
    "/inference-endpoints/{name}/traces",
    response_model=EndpointTracesPage,
    dependencies=Authorized,
    responses={400: {"description": "a window bound or cursor that cannot be read"}},
)
def endpoint_traces(
    name: str,
    endpoints: Endpoints,
    from_start_time: Annotated[str | None, Query(alias="from-start-time")] = None,
    to_start_time: Annotated[str | None, Query(alias="to-start-time")] = None,
    pagination_cursor: Annotated[str | None, Query(alias="pagination-cursor")] = None,
) -> dict[str, Any]:
    """A page of the endpoint's records in the window, newest first, and the next page's
    cursor (null on the last)."""
    _require(endpoints, name)
    window = _window(from_start_time, to_start_time, ("from-start-time", "to-start-time"))
    try:
        after = decode_cursor(pagination_cursor) if pagination_cursor else None
    except ValueError as exc:
        raise _bad(str(exc)) from None
    rows = endpoints.traces(name, window, after, limit=PAGE_SIZE + 1)
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    cursor = encode_cursor(page[-1]["start_time"], page[-1]["id"]) if more else None
    return {"traces": [trace_record(row) for row in page], "pagination_cursor": cursor}


# ----------------------------------------------------------------------------- the exports


def _download_path(name: str, export_id: str) -> str:
    return f"/inference-endpoints/{name}/traces-exports/{export_id}/download"


def _export_wire(request: Request, ctx: LocalContext, row: dict[str, Any]) -> dict[str, Any]:
    signed = sign_path(ctx.token, "GET", _download_path(row["endpoint_name"], row["id"]))
    return {
        "id": row["id"],
        "created_at": iso(row["created_at"]),
        "from_start_time": iso(row["from_start_time"]),
        "to_start_time": iso(row["to_start_time"]),
        "download_url": str(request.base_url).rstrip("/") + signed,
    }


@router.post(
    "/inference-endpoints/{name}/traces-exports",
    status_code=201,
    response_model=TracesExport,
    response_model_exclude_none=True,
    dependencies=Authorized,
    responses={400: {"description": "a window bound that cannot be read, or an empty window"}},
)
def create_traces_export(
    name: str, body: CreateTracesExportRequest, request: Request, ctx: Ctx, endpoints: Endpoints
) -> dict[str, Any]:
    """Write the endpoint's records in the window to one JSONL file (newest first), now."""
    _require(endpoints, name)
    low, high = _window(
        body.from_start_time, body.to_start_time, ("from-start-time", "to-start-time")
    )
    assert low is not None and high is not None  # the body requires both bounds
    return _export_wire(request, ctx, endpoints.export(name, (low, high)))


@router.get(
    "/inference-endpoints/{name}/traces-exports",
    response_model=list[TracesExport],
    response_model_exclude_none=True,
    dependencies=Authorized,
)
def list_traces_exports(
    name: str, request: Request, ctx: Ctx, endpoints: Endpoints
) -> list[dict[str, Any]]:
    """The endpoint's exports, newest first, each with a fresh ``download_url``."""
    _require(endpoints, name)
    return [_export_wire(request, ctx, row) for row in endpoints.exports(name)]


@router.get(
    "/inference-endpoints/{name}/traces-exports/{export_id}",
    response_model=TracesExport,
    response_model_exclude_none=True,
    dependencies=Authorized,
)
def get_traces_export(
    name: str, export_id: str, request: Request, ctx: Ctx, endpoints: Endpoints
) -> dict[str, Any]:
    """One export, with a fresh ``download_url``."""
    _require(endpoints, name)
    row = endpoints.get_export(name, export_id)
    if row is None:
        raise HTTPException(
            404,
            f"traces export {export_id!r} of inference endpoint {name!r} not found; GET "
            f"/inference-endpoints/{name}/traces-exports lists them",
        )
    return _export_wire(request, ctx, row)


def download_traces_export(
    name: str,
    export_id: str,
    ctx: Ctx,
    endpoints: Endpoints,
    expires: str = "",
    signature: str = "",
) -> FileResponse:
    """The export's JSONL file; the URL's ``expires`` and ``signature`` stand in for the token
    (``Range`` requests resume an interrupted download)."""
    refusal = verify_path(ctx.token, "GET", _download_path(name, export_id), expires, signature)
    if refusal:
        raise HTTPException(403, refusal)
    path = endpoints.export_path(export_id)
    if endpoints.get_export(name, export_id) is None or not path.is_file():
        raise HTTPException(404, f"traces export {export_id!r} of {name!r} has no file")
    return FileResponse(path, media_type="application/x-ndjson", filename=f"{name}-traces.jsonl")


router.add_api_route(
    "/inference-endpoints/{name}/traces-exports/{export_id}/download",
    download_traces_export,
    methods=["GET"],
)
# HEAD lets a downloader learn the size before resuming; kept out of the schema as a duplicate.
router.add_api_route(
    "/inference-endpoints/{name}/traces-exports/{export_id}/download",
    download_traces_export,
    methods=["HEAD"],
    include_in_schema=False,
)


# -------------------------------------------------------------------------------- key links


@router.put(
    "/inference-endpoints/{name}/api-keys/{key_name}",
    status_code=204,
    response_model=None,
    dependencies=Authorized,
)
def link_api_key(name: str, key_name: str, keys: Keys, endpoints: Endpoints) -> Response:
    """Let key ``key_name`` call the endpoint (the secret of a linked key authenticates the
    gateway's calls); linking twice is harmless."""
    if not keys.exists(key_name):
        raise key_not_found(key_name)
    _require(endpoints, name)
    endpoints.link(name, key_name)
    return Response(status_code=204)


@router.delete(
    "/inference-endpoints/{name}/api-keys/{key_name}",
    status_code=204,
    response_model=None,
    dependencies=Authorized,
)
def unlink_api_key(name: str, key_name: str, keys: Keys, endpoints: Endpoints) -> Response:
    """Stop key ``key_name`` calling the endpoint (the key itself stays; ``DELETE
    /api-keys/{name}`` revokes it everywhere); unlinking twice is harmless."""
    if not keys.exists(key_name):
        raise key_not_found(key_name)
    _require(endpoints, name)
    endpoints.unlink(name, key_name)
    return Response(status_code=204)

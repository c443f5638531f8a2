"""Routes: inference endpoints, a hosted feature. What the local platform answers, and why:

- ``POST /inference-endpoints``: 501. An endpoint is a gateway on the hosted inference host in
  front of an OpenRouter model; nothing here can serve one.
- ``GET /inference-endpoints``: an empty list; ``GET /inference-endpoints/{name}``: 404.
- ``GET /inference-endpoints/{name}/traces``: an empty page (``{"traces": [],
  "pagination_cursor": null}``): there are no recorded calls here, and a client paging through
  an endpoint's records ends at once.
- ``POST /inference-endpoints/{name}/traces-exports``: 501. An export is a file of recorded
  calls behind the hosted object storage's presigned URL; with no endpoint there is nothing to
  write, and an empty file would read as "no traffic" rather than "not here". Its list is
  empty and ``GET .../traces-exports/{id}`` is 404.
- ``PUT|DELETE /inference-endpoints/{name}/api-keys/{key}``: 404 for a key this platform does
  not hold (``POST /api-keys`` makes them), else 404 for the endpoint, since there is none.
"""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, HTTPException, Query

from ...types.entities import EndpointTracesPage, InferenceEndpoint, TracesExport
from .api_keys import Keys, key_not_found
from .common import Authorized
from .credits import add_hosted_only

__all__ = ["ENDPOINTS_UNAVAILABLE", "EXPORTS_UNAVAILABLE", "router"]

TAG = "inference endpoints"
router = APIRouter(dependencies=Authorized, tags=[TAG])

ENDPOINTS_UNAVAILABLE = (
    "inference endpoints are a hosted feature, not available on the local platform; run the "
    "model with distil_sdk.LocalClassifier"
)
EXPORTS_UNAVAILABLE = (
    "traces exports need the hosted platform: they write an inference endpoint's recorded "
    "calls to its object storage, and the local platform has no inference endpoints"
)

add_hosted_only(
    router, "/inference-endpoints", "POST", ENDPOINTS_UNAVAILABLE, "create_inference_endpoint", TAG
)
add_hosted_only(
    router,
    "/inference-endpoints/{name}/traces-exports",
    "POST",
    EXPORTS_UNAVAILABLE,
    "create_traces_export",
    TAG,
)


def _no_endpoint(name: str) -> HTTPException:
    return HTTPException(404, f"inference endpoint {name!r} not found: {ENDPOINTS_UNAVAILABLE}")


@router.get("/inference-endpoints", response_model=list[InferenceEndpoint])
def list_inference_endpoints() -> list[dict[str, Any]]:
    """The inference endpoints: none on the local platform (a hosted feature)."""
    return []


@router.get("/inference-endpoints/{name}", response_model=InferenceEndpoint)
def get_inference_endpoint(name: str) -> NoReturn:
    """Always 404: the local platform has no inference endpoints."""
    raise _no_endpoint(name)


@router.get("/inference-endpoints/{name}/traces", response_model=EndpointTracesPage)
def endpoint_traces(
    name: str,
    from_start_time: Annotated[str | None, Query(alias="from-start-time")] = None,
    to_start_time: Annotated[str | None, Query(alias="to-start-time")] = None,
    pagination_cursor: Annotated[str | None, Query(alias="pagination-cursor")] = None,
) -> dict[str, Any]:
    """An endpoint's recorded calls in a window, a page at a time: locally always one empty
    page (no endpoint records anything here), so paging ends at once."""
    return {"traces": [], "pagination_cursor": None}


@router.get("/inference-endpoints/{name}/traces-exports", response_model=list[TracesExport])
def list_traces_exports(name: str) -> list[dict[str, Any]]:
    """An endpoint's traces exports: none on the local platform."""
    return []


@router.get("/inference-endpoints/{name}/traces-exports/{export_id}", response_model=TracesExport)
def get_traces_export(name: str, export_id: str) -> NoReturn:
    """Always 404: the local platform makes no traces exports."""
    raise HTTPException(404, f"traces export {export_id!r} not found: {EXPORTS_UNAVAILABLE}")


@router.put("/inference-endpoints/{name}/api-keys/{key_name}", status_code=204, response_model=None)
def link_api_key(name: str, key_name: str, keys: Keys) -> NoReturn:
    """Link a key to an endpoint: 404, for the key when this platform does not hold it, else
    for the endpoint (there are none here)."""
    if not keys.exists(key_name):
        raise key_not_found(key_name)
    raise _no_endpoint(name)


@router.delete(
    "/inference-endpoints/{name}/api-keys/{key_name}", status_code=204, response_model=None
)
def unlink_api_key(name: str, key_name: str, keys: Keys) -> NoReturn:
    """Unlink a key from an endpoint: 404, as for the link."""
    if not keys.exists(key_name):
        raise key_not_found(key_name)
    raise _no_endpoint(name)

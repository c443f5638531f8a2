"""Routes: credits and the retired routes that answer 410 Gone naming their replacement.

The local platform meters nothing: ``GET /credits/endpoints`` reports every route key the
platform meters with a balance that never decreases, so a client budgeting its calls works
unchanged and a local call is never refused with 402.
"""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import APIRouter, HTTPException

from ...types.entities import CreditBalances
from .common import Authorized

__all__ = ["LOCAL_BALANCE", "METERED_ROUTES", "router"]

router = APIRouter(dependencies=Authorized)

#: The balance reported for every metered route: the local platform never runs out.
LOCAL_BALANCE = 1_000_000
#: The route keys the platform meters (its public reference, ``platform.md`` § Credits).
METERED_ROUTES = (
    "prepared_traces_post",
    "datasets_post",
    "datasets_from_prepared_traces_post",
    "datasets_from_datasets_relabel_traces_post",
    "datasets_from_datasets_generate_synthetic_data_post",
    "datasets_from_datasets_smoke_post",
    "teacher_evaluations_post",
    "slms_from_datasets_post",
    "slms_from_datasets_smoke_post",
    "slms_post",
    "deployments_from_slms_post",
    "inference_endpoints_post",
)


@router.get("/credits/endpoints", response_model=CreditBalances, tags=["credits"])
def credit_balances() -> dict[str, Any]:
    """Remaining calls per metered route; locally always `LOCAL_BALANCE` (never spent)."""
    return {"balances": dict.fromkeys(METERED_ROUTES, LOCAL_BALANCE)}


# -- retired routes: 410 Gone, naming the replacement --------------------------------------------
_DATASET_CREATE = (
    "GET /staging-datasets-s3-urls, PUT each file to its URL, then POST /datasets naming each "
    "file by field"
)
GONE: tuple[tuple[str, str, str], ...] = (
    ("/uploads", "POST", _DATASET_CREATE),
    ("/staging-uploads-s3-urls", "GET", _DATASET_CREATE),
    ("/seed-datasets", "POST", _DATASET_CREATE),
    ("/staging-seed-datasets-s3-urls", "GET", _DATASET_CREATE),
    ("/training-datasets", "POST", _DATASET_CREATE),
    ("/staging-training-datasets-s3-urls", "GET", _DATASET_CREATE),
    ("/training-datasets/from-uploads", "POST", "POST /datasets/from-datasets"),
    ("/training-datasets/from-seed-datasets", "POST", "POST /datasets/from-datasets"),
    ("/teacher-evaluations/{upload_id}", "POST", "POST /teacher-evaluations with from_dataset_id"),
    ("/trainings/{upload_id}", "POST", "POST /slms/from-datasets with from (a dataset id)"),
    ("/slms/from-training-datasets", "POST", "POST /slms/from-datasets with from"),
)


def _add_410(path: str, method: str, replacement: str) -> None:
    message = f"{method} {path} is retired (410 Gone); use {replacement}"

    def endpoint() -> NoReturn:
        raise HTTPException(410, message)

    endpoint.__doc__ = f"Retired: answers 410 Gone. Use {replacement}."
    router.add_api_route(
        path,
        endpoint,
        methods=[method],
        status_code=410,
        response_model=None,
        tags=["retired"],
        operation_id="gone_"
        + method.lower()
        + path.replace("/", "_").replace("{", "").replace("}", ""),
        summary=f"{method} {path} (retired: 410 Gone)",
        responses={410: {"description": f"retired; use {replacement}"}},
    )


for _path, _method, _replacement in GONE:
    _add_410(_path, _method, _replacement)

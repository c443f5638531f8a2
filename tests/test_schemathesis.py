"""A bounded property-based run of the local server's OpenAPI schema (schemathesis).

Every operation gets a few generated requests, valid and invalid, sent over loopback to a real
server with its token; none may answer 500, and every answer must be what the schema declares.
The server runs without its job runner, so queued jobs never train. Deterministic: hypothesis
derandomizes the examples, so a failure reproduces.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from distil_sdk.local.app import create_app  # noqa: E402
from distil_sdk.local.server import LocalServer  # noqa: E402


@schemathesis.check
def no_server_error(ctx: object, response: object, case: object) -> bool | None:
    """No 5xx unless the operation documents it (deployments answer a deliberate 501)."""
    status = response.status_code  # type: ignore[attr-defined]
    documented = case.operation.definition.raw.get("responses", {})  # type: ignore[attr-defined]
    if status >= 500 and str(status) not in documented:
        raise AssertionError(f"server error {status}: {response.text[:500]}")  # type: ignore[attr-defined]
    return None


#: No server error, and every answer as documented: status code, content type, headers and
#: body (every error status each operation can send is declared, see ``app.py``).
CHECKS = [
    no_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


def _local_openapi() -> dict[str, object]:
    # The cases are generated at collection time, from the schema of an app that serves nothing.
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Path(tmp), "unused", run_worker=False)
        try:
            return app.openapi()
        finally:
            app.state.ctx.store.close()


schema = schemathesis.openapi.from_dict(_local_openapi())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    server = LocalServer(tmp_path_factory.mktemp("schemathesis") / "data", run_worker=False)
    server.start()
    try:
        yield server
    finally:
        server.close()


# One pytest item per operation, made here rather than by ``schema.parametrize()``: its
# sub-items are not reported under pytest-xdist, where a failing operation passed silently.
OPERATIONS = sorted(
    ((op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())),
    key=lambda item: (item[1], item[0]),
)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_local_api_matches_its_schema(method: str, path: str, served: LocalServer) -> None:
    @settings(
        max_examples=6, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=schema[path][method].as_strategy())
    def check(case: object) -> None:
        case.call_and_validate(  # type: ignore[attr-defined]
            base_url=served.base_url,
            headers={"Authorization": f"Bearer {served.token}"},
            checks=CHECKS,
        )

    check()


def test_every_operation_is_tested() -> None:
    assert len(OPERATIONS) > 40  # the whole API, not an empty or partial schema

"""``deployment`` (an SLM served on the platform: create, status, endpoint, logs, delete) and
``inference-endpoint`` (the OpenAI-compatible gateways: create, list, show, the recorded
traces, linking API keys) commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...types._words import plural
from .._output import UsageError, emit, table, to_jsonable
from .._platform import client_from_args
from ._common import (
    Func,
    exit_for,
    fields,
    follow_command,
    interrupted,
    say,
    status_data,
    write_jsonl,
)

if TYPE_CHECKING:
    from ..._client import DistilClient

__all__ = [
    "deployment_create",
    "deployment_delete",
    "deployment_endpoint",
    "deployment_logs",
    "deployment_status",
    "endpoint_create",
    "endpoint_download_traces",
    "endpoint_link",
    "endpoint_list",
    "endpoint_show",
    "endpoint_traces",
]


# --------------------------------------------------------------------------------- deployment


def _deployment_result(args: argparse.Namespace, deployment_id: str, status: Any) -> int:
    endpoint = status.endpoint_status or "-"
    text = f"deployment {deployment_id}: {status.deployment_status.value} (endpoint {endpoint})"
    emit(args, status_data(deployment_id, status), text)
    return exit_for(status)


def _deployment_wait(args: argparse.Namespace, client: DistilClient, deployment_id: str) -> int:
    """``--wait``: the deployment's status once it serves (or fails); Ctrl-C stops the wait."""
    try:
        status = client.deployments.wait(deployment_id, progress=args.progress, timeout=None)
    except KeyboardInterrupt:
        return interrupted(client, "deployment", deployment_id)
    return _deployment_result(args, deployment_id, status)


def deployment_create(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        deployment = client.deployments.create(args.slm_id)
        if not args.wait:
            emit(
                args,
                deployment,
                f"deployment {deployment.id} created; follow it with "
                f"`{follow_command(client.base_url, 'deployment', deployment.id)}` "
                "(it bills until deleted)",
            )
            return 0
        say(f"deployment {deployment.id} created; waiting for it to serve")
        return _deployment_wait(args, client, deployment.id)


def deployment_status(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        if args.wait:
            return _deployment_wait(args, client, args.id)
        status = client.deployments.status(args.id)
    return _deployment_result(args, args.id, status)


def deployment_endpoint(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        endpoint = client.deployments.endpoint(args.id)
    key = endpoint.api_key.get_secret_value() if endpoint.api_key is not None else None
    shown = key if args.show_key else ("********" if key else None)
    data: dict[str, Any] = {"id": args.id, "url": endpoint.url}
    if args.show_key:
        data["api_key"] = key
    hint = "" if args.show_key or not key else "  (--show-key prints it)"
    emit(args, data, f"url: {endpoint.url or '-'}\napi_key: {shown or '-'}{hint}")
    return 0


def deployment_logs(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        logs = client.deployments.logs(args.id)
    emit(args, {"id": args.id, "logs": logs.text}, logs.text or "(no logs yet)")
    return 0


def deployment_delete(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        client.deployments.delete(args.id)
        status = client.deployments.status(args.id)
    emit(
        args,
        {"id": args.id, "deleted": True, **to_jsonable(status)},
        f"deployment {args.id} deleted; endpoint_status: {status.endpoint_status or '-'}",
    )
    return 0


# ------------------------------------------------------------------------- inference endpoint


def _endpoint_text(endpoint: Any) -> str:
    body = fields(endpoint, omit="unique_endpoint_name")
    header = f"Endpoint Name:   {endpoint.id}"
    return f"{header}\n{body}" if body else header


def endpoint_create(args: argparse.Namespace) -> int:
    primary: str | dict[str, str] | None = getattr(args, "deployment_id", None)
    url, key = getattr(args, "primary_url", None), getattr(args, "primary_api_key", None)
    if (url is None) != (key is None):
        raise UsageError("--primary-url and --primary-api-key go together")
    if url is not None and key is not None:
        primary = {"url": url, "api-key": key}
    with client_from_args(args) as client:
        endpoint = client.inference_endpoints.create(
            args.name,
            args.fallback_model,
            primary=primary,
            trace_sample_rate=args.trace_sample_rate,
        )
    emit(args, endpoint, _endpoint_text(endpoint))
    return 0


def endpoint_list(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        endpoints = client.inference_endpoints.list()
    text = (
        table(
            ("NAME", "TRACE SAMPLING", "CREATED"),
            [
                (
                    e.id,
                    "-" if e.trace_sampling_rate is None else e.trace_sampling_rate,
                    e.created_at or "",
                )
                for e in endpoints
            ],
        )
        if endpoints
        else "No inference endpoints yet."
    )
    emit(args, endpoints, text)
    return 0


def endpoint_show(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        endpoint = client.inference_endpoints.get(args.name)
    emit(args, endpoint, _endpoint_text(endpoint))
    return 0


def _window(args: argparse.Namespace) -> dict[str, Any]:
    """``since`` / ``until`` / ``limit`` of a traces read: ``--count N`` (default 1000) or
    ``--all``, not both."""
    if args.all and args.count is not None:
        raise UsageError("give --count N or --all, not both")
    if args.count is not None and args.count < 1:
        raise UsageError(f"--count must be at least 1, got {args.count}")
    limit = None if args.all else (args.count if args.count is not None else 1000)
    return {"since": args.from_start_time, "until": args.to_start_time, "limit": limit}


def _trace_row(record: Any) -> tuple[Any, ...]:
    """A recorded call as a table row: start, status, source, latency, the last message."""
    meta = record.metadata
    request = record.request or {}
    messages = request.get("messages") or [{}]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    text = str(last.get("content") or "").replace("\n", " ")
    return (
        record.start_time or "",
        meta.status if meta and meta.status is not None else "",
        meta.source if meta and meta.source else "",
        "" if record.latency is None else f"{record.latency:.2f}",
        text[:60] + ("..." if len(text) > 60 else ""),
    )


def endpoint_traces(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        records = list(client.inference_endpoints.traces(args.name, **_window(args)))
    rows = [_trace_row(record) for record in records]
    text = (
        table(("START TIME", "STATUS", "SOURCE", "LATENCY", "LAST MESSAGE"), rows)
        if rows
        else f"No records of {args.name} in the window."
    )
    emit(args, records, text)
    return 0


def endpoint_download_traces(args: argparse.Namespace) -> int:
    target = Path(args.file_name or f"{args.name}-traces.jsonl")
    with client_from_args(args) as client:
        records = list(client.inference_endpoints.traces(args.name, **_window(args)))
    data: dict[str, Any] = {"name": args.name, "records": len(records), "path": None}
    if not records:  # as the distil CLI: no file for an empty window
        emit(args, data, f"No records of {args.name} in the window; no file written.")
        return 0
    write_jsonl(target, records)
    data["path"] = str(target)
    emit(args, data, f"{plural(len(records), 'record')} of {args.name} saved to {target}")
    return 0


def endpoint_link(link: bool) -> Func:
    def run(args: argparse.Namespace) -> int:
        with client_from_args(args) as client:
            if link:
                client.inference_endpoints.link_api_key(args.name, args.key_name)
            else:
                client.inference_endpoints.unlink_api_key(args.name, args.key_name)
        done = "linked to" if link else "unlinked from"
        data = {"name": args.name, "key_name": args.key_name, "linked": link}
        emit(args, data, f"API key {args.key_name} {done} endpoint {args.name}")
        return 0

    return run

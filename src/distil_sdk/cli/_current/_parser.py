"""The parser of today's nouns: one function per noun that adds its verbs (over
`._builder`), and `register`, which adds them all."""

from __future__ import annotations

from typing import Any

from .._output import iso_time, sample_rate
from .._platform import common_options
from ._account import credits_balance, key_create, key_delete, key_list
from ._builder import Noun, dest_args, entity_reads, override_flags, predictions_verb, wait_flags
from ._datasets import (
    DATASET_OPERATIONS,
    dataset_create,
    dataset_derive,
    dataset_download,
    dataset_from_traces,
    dataset_metrics,
)
from ._jobs import (
    slm_create,
    slm_download,
    slm_metrics,
    teacher_evaluation_create,
    teacher_evaluation_metrics,
)
from ._legacy import legacy_download, legacy_download_metadata
from ._reads import list_entities, show
from ._serving import (
    deployment_create,
    deployment_delete,
    deployment_endpoint,
    deployment_logs,
    deployment_status,
    endpoint_create,
    endpoint_download_traces,
    endpoint_link,
    endpoint_list,
    endpoint_show,
    endpoint_traces,
)
from ._traces import traces_download, traces_from_endpoint, traces_upload

__all__ = ["TEACHER_EVALUATION_VERBS", "register"]

#: ``teacher-evaluation``'s verbs here; any other word after it is the ``v2`` command's.
TEACHER_EVALUATION_VERBS = frozenset(
    {
        "create",
        "create-from-dataset",
        "list",
        "show",
        "status",
        "logs",
        "metrics",
        "download-metadata",
        "download-predictions",
    }
)


# ------------------------------------------------------------------------------ the nouns


def _dataset(sub: Any) -> None:
    noun = Noun(sub, "dataset", "datasets: the job input every teacher evaluation and SLM uses")
    p = noun.verb(
        "create",
        dataset_create,
        "validate a task folder here (findings on stderr), upload it and create a dataset",
    )
    p.add_argument("dir", nargs="?", metavar="DIR", help="the task folder")
    p.add_argument("--data", metavar="DIR", help="the same as DIR (the distil CLI's flag)")
    p.add_argument("--config", metavar="FILE", help="per-file: config.yaml")
    p.add_argument("--job-description", metavar="FILE", help="per-file: job_description.json")
    p.add_argument("--train", metavar="FILE", help="per-file: train.jsonl")
    p.add_argument("--test", metavar="FILE", help="per-file: test.jsonl")
    p.add_argument("--traces", metavar="FILE", help="per-file: traces.jsonl")
    p = noun.verb(
        "create-from-traces",
        dataset_from_traces,
        "a dataset from prepared traces (needs --config and --job-description)",
    )
    p.add_argument("id", metavar="TRACES_ID")
    override_flags(p)
    for verb, operation in DATASET_OPERATIONS.items():
        p = noun.verb(
            verb,
            dataset_derive(operation),
            f"a new dataset by {verb.replace('-', ' ')} of DATASET_ID",
        )
        p.add_argument("id", metavar="DATASET_ID")
        p.add_argument("--smoke", action="store_true", help="a 128-row smoke run (its own credit)")
        override_flags(p)
        wait_flags(p)
    entity_reads(noun, "dataset", "dataset")
    p = noun.verb("metrics", dataset_metrics, "the sizes of the splits in bytes")
    p.add_argument("id", metavar="ID")
    p = noun.verb("download", dataset_download, "download every file of a dataset (free)")
    p.add_argument("id", metavar="ID")
    dest_args(p, "ID-data")


def _traces(sub: Any) -> None:
    noun = Noun(sub, "traces", "prepared traces: the trace files datasets are made from")
    p = noun.verb("upload", traces_upload, "upload a trace file (one conversation per line)")
    p.add_argument("--traces", metavar="FILE", help="traces.jsonl")
    p = noun.verb(
        "create-from-inference-endpoint",
        traces_from_endpoint,
        "prepared traces of an inference endpoint's records (no file to convert)",
    )
    p.add_argument("name", metavar="UNIQUE_ENDPOINT_NAME")
    noun.verb("list", list_entities("traces"), "every prepared traces, newest first")
    noun.verb("show", show("traces"), "one prepared traces").add_argument("id", metavar="ID")
    p = noun.verb("download", traces_download, "download the trace file into DEST")
    p.add_argument("id", metavar="ID")
    dest_args(p, "ID-traces")


def _teacher_evaluation(sub: Any) -> None:
    noun = Noun(
        sub, "teacher-evaluation", "teacher evaluations: how well the teacher does the task"
    )
    p = noun.verb(
        "create",
        teacher_evaluation_create,
        "start a teacher evaluation on a dataset",
        aliases=["create-from-dataset"],
    )
    p.add_argument("dataset_id", metavar="DATASET_ID")
    override_flags(p)
    wait_flags(p)
    entity_reads(noun, "teacher-evaluation", "teacher evaluation")
    noun.verb(
        "metrics", teacher_evaluation_metrics, "the teacher's scores on the test split"
    ).add_argument("id", metavar="ID")
    predictions_verb(noun, "teacher-evaluation", "teacher")


def _slm(sub: Any) -> None:
    noun = Noun(sub, "slm", "SLMs: small models trained (distilled) from a dataset")
    p = noun.verb(
        "create",
        slm_create,
        "train an SLM on a dataset (or, with --data DIR, register an existing model.tar)",
        aliases=["create-from-dataset"],
    )
    p.add_argument("dataset_id", nargs="?", metavar="DATASET_ID")
    p.add_argument("--data", metavar="DIR", help="register DIR/model.tar and DIR/config.yaml")
    p.add_argument("--smoke", action="store_true", help="a one-epoch memory check (its own credit)")
    override_flags(p)
    wait_flags(p)
    entity_reads(noun, "slm", "SLM")
    noun.verb("metrics", slm_metrics, "the base and tuned students' scores").add_argument(
        "id", metavar="ID"
    )
    p = noun.verb("download", slm_download, "download and extract the trained model")
    p.add_argument("id", metavar="ID")
    dest_args(p, "ID-slm")
    predictions_verb(noun, "slm", "tuned model")


def _deployment(sub: Any) -> None:
    noun = Noun(
        sub, "deployment", "deployments: an SLM served on the platform (bills until deleted)"
    )
    p = noun.verb("create", deployment_create, "deploy an SLM", aliases=["create-from-slm"])
    p.add_argument("slm_id", metavar="SLM_ID")
    wait_flags(p, "serves")
    p = noun.verb("status", deployment_status, "deployment_status and endpoint_status")
    p.add_argument("id", metavar="ID")
    wait_flags(p, "serves")
    p = noun.verb("endpoint", deployment_endpoint, "the URL (and key) to call")
    p.add_argument("id", metavar="ID")
    p.add_argument("--show-key", action="store_true", help="print the endpoint's API key")
    noun.verb("logs", deployment_logs, "the deployment's log").add_argument("id", metavar="ID")
    noun.verb(
        "delete", deployment_delete, "stop it (endpoint_status then reads stopped)"
    ).add_argument("id", metavar="ID")


def _inference_endpoint(sub: Any) -> None:
    noun = Noun(
        sub,
        "inference-endpoint",
        "inference endpoints: OpenAI-compatible gateways that record traces",
    )
    _endpoint_creates(noun)
    noun.verb("list", endpoint_list, "every inference endpoint")
    noun.verb("show", endpoint_show, "one endpoint by its unique name").add_argument(
        "name", metavar="NAME"
    )
    _endpoint_trace_reads(noun)
    for verb, link in (("link-api-key", True), ("unlink-api-key", False)):
        p = noun.verb(
            verb,
            endpoint_link(link),
            f"{'let' if link else 'stop'} an API key {'call' if link else 'calling'} the endpoint",
        )
        p.add_argument("name", metavar="NAME")
        p.add_argument("key_name", metavar="KEY_NAME")


def _endpoint_creates(noun: Noun) -> None:
    """``create`` (collecting) and ``create-from-deployment`` (serving)."""
    for verb, help_text in (
        ("create", "a collecting endpoint (a fallback model, or your own server as primary)"),
        ("create-from-deployment", "a serving endpoint: DEPLOYMENT_ID first, the fallback behind"),
    ):
        p = noun.verb(verb, endpoint_create, help_text)
        if verb == "create-from-deployment":
            p.add_argument("deployment_id", metavar="DEPLOYMENT_ID")
        p.add_argument("--name", required=True, metavar="PREFIX", help="the name's prefix")
        p.add_argument(
            "--fallback-model", required=True, metavar="OWNER/MODEL", help="an OpenRouter slug"
        )
        p.add_argument(
            "--trace-sample-rate", type=sample_rate, metavar="RATE", help="0-1: calls recorded"
        )
        if verb == "create":
            p.add_argument("--primary-url", metavar="URL", help="a model served elsewhere")
            p.add_argument("--primary-api-key", metavar="KEY", help="its key")


def _endpoint_trace_reads(noun: Noun) -> None:
    """``traces`` (a table) and ``download-traces`` (JSONL), over the same window flags."""
    for verb, func, help_text in (
        ("traces", endpoint_traces, "the endpoint's recorded calls, newest first"),
        (
            "download-traces",
            endpoint_download_traces,
            "the endpoint's recorded calls as JSONL (NAME-traces.jsonl; none: no file)",
        ),
    ):
        p = noun.verb(verb, func, help_text)
        p.add_argument("name", metavar="NAME")
        p.add_argument(
            "--from-start-time", type=iso_time, metavar="TIME", help="ISO 8601 (default: a day ago)"
        )
        p.add_argument(
            "--to-start-time", type=iso_time, metavar="TIME", help="ISO 8601 (default: now)"
        )
        p.add_argument("--count", "-c", type=int, metavar="N", help="at most N (default 1000)")
        p.add_argument("--all", action="store_true", help="every record of the window")
        if verb == "download-traces":
            p.add_argument("--file-name", metavar="FILE", help="default NAME-traces.jsonl")


def _api_keys(sub: Any) -> None:
    noun = Noun(sub, "api-keys", "inference API keys: what an application calls an endpoint with")
    p = noun.verb(
        "create", key_create, "create a key; its secret goes to NAME.json (mode 600), once"
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--no-file", action="store_true", help="print the secret instead of writing NAME.json"
    )
    noun.verb("list", key_list, "the keys' names and creation dates (never secrets)")
    noun.verb("delete", key_delete, "revoke a key everywhere").add_argument("name", metavar="NAME")


def _credits(sub: Any) -> None:
    p = sub.add_parser(
        "credits",
        aliases=["credits-balance"],
        help="the calls left on each metered route",
        description="The calls left on each metered route (free).",
        parents=[common_options()],
    )
    p.set_defaults(func=credits_balance)


def _old_entities(sub: Any) -> None:
    """The entities the Dataset replaced: readable, nothing else (migrating-old-entities.md)."""
    for name, what in (("seed-dataset", "seed dataset"), ("training-dataset", "training dataset")):
        noun = Noun(
            sub, name, f"{what}s of the previous platform: read-only (list, show, download)"
        )
        noun.verb("list", list_entities(name), f"every {what}, newest first")
        noun.verb("show", show(name), f"one {what}").add_argument("id", metavar="ID")
        p = noun.verb("download", legacy_download(name), f"the {what}'s files, into DEST")
        p.add_argument("id", metavar="ID")
        dest_args(p, "ID-data")
        p = noun.verb(
            "download-metadata",
            legacy_download_metadata(name),
            f"the presigned URLs of the {what}'s config.yaml and job_description.json",
        )
        p.add_argument("id", metavar="ID")


def register(sub: Any) -> None:
    """Add today's nouns to ``sub`` (the ``distil-sdk`` parser's subparsers)."""
    for add in (
        _dataset,
        _traces,
        _teacher_evaluation,
        _slm,
        _deployment,
        _inference_endpoint,
        _api_keys,
        _credits,
        _old_entities,
    ):
        add(sub)

"""``teacher-evaluation`` and ``slm`` commands beyond the shared reads: the creates (``--wait``
prints the outcome and scores), ``metrics``, and the SLM's ``download`` of the trained model;
``slm create --data DIR`` registers an existing ``model.tar`` instead of training one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._output import UsageError, emit
from .._platform import client_from_args, results_table
from ._common import created, dest, overrides, slm_scores

if TYPE_CHECKING:
    from ..._client import DistilClient

__all__ = [
    "slm_create",
    "slm_download",
    "slm_metrics",
    "teacher_evaluation_create",
    "teacher_evaluation_metrics",
]


# ------------------------------------------------------------------------- teacher evaluation


def teacher_evaluation_create(args: argparse.Namespace) -> int:
    config, job_description = overrides(args)
    with client_from_args(args) as client:
        evaluation = client.teacher_evaluations.create(args.dataset_id, config, job_description)
        return created(args, client, "teacher-evaluation", evaluation)


def teacher_evaluation_metrics(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        metrics = client.teacher_evaluations.metrics(args.id)
    perf = metrics.teacher_performance
    text = (
        results_table({"teacher": perf})
        if perf is not None
        else f"teacher evaluation {args.id} has no metrics yet"
    )
    emit(args, metrics, text)
    return 0


# ------------------------------------------------------------------------------------ SLM


def slm_create(args: argparse.Namespace) -> int:
    if (args.dataset_id is None) == (args.data is None):
        raise UsageError(
            "give DATASET_ID to train an SLM on a dataset, or --data DIR (model.tar and "
            "config.yaml) to register an existing model"
        )
    with client_from_args(args) as client:
        if args.data is not None:
            slm = _slm_register(args, client)
        else:
            cfg, job_description = overrides(args)
            slm = client.slms.create(args.dataset_id, cfg, job_description, smoke=args.smoke)
        return created(args, client, "slm", slm)


def _slm_register(args: argparse.Namespace, client: DistilClient) -> Any:
    """``--data DIR``: upload ``DIR/model.tar`` and its ``config.yaml`` as an SLM."""
    if args.smoke or args.config or args.job_description:
        raise UsageError("--data DIR registers a model: --smoke and overrides do not apply")
    folder = Path(args.data)
    config = next(
        (folder / n for n in ("config.yaml", "config.yml") if (folder / n).is_file()), None
    )
    if not (folder / "model.tar").is_file() or config is None:
        raise UsageError(f"{folder} needs model.tar and config.yaml (nothing was uploaded)")
    return client.slms.upload(folder / "model.tar", config)


def slm_metrics(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        metrics = client.slms.metrics(args.id)
    scores = slm_scores(metrics)
    text = results_table(scores) if scores else f"SLM {args.id} has no metrics yet"
    emit(args, metrics, text)
    return 0


def slm_download(args: argparse.Namespace) -> int:
    folder = dest(args, f"{args.id}-slm")
    with client_from_args(args) as client:
        model_dir = client.slms.download_model(args.id, folder, progress=None)
    data = {"id": args.id, "path": str(folder), "model_dir": str(model_dir)}
    emit(args, data, f"model saved to {model_dir}")
    return 0

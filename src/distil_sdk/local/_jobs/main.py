"""Entry point of one job's subprocess: ``python -m distil_sdk.local._jobs.main``.

The worker runs every job here so that a crash or an out-of-memory kill in the pipeline cannot
take the server down. Protocol with the worker:

- progress goes to the original stdout as JSON lines (``{"event": "stages", "stages": [...]}``
  then ``{"event": "progress", "stage", "status", "message"}``); anything a library prints is
  redirected to stderr so it cannot corrupt that stream;
- on success the artifacts are published atomically under ``jobs/<id>/artifacts/`` and
  ``result.json`` is written last; exit status 0;
- on failure ``error.json`` holds the human message and the traceback goes to stderr; exit 1.

The pipeline module is ``$DISTIL_LOCAL_PIPELINE`` (default ``distil_sdk.local.pipeline``), so
tests can substitute a fast fake; it must satisfy `distil_sdk.local.pipeline.Pipeline`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shutil
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .packaging import package_model, publish_bytes, publish_file

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["PIPELINE_ENV", "load_pipeline", "main"]

PIPELINE_ENV = "DISTIL_LOCAL_PIPELINE"
DEFAULT_PIPELINE = "distil_sdk.local.pipeline"

# Artifact file names, fixed so the routes can sign URLs without reading the job's result.
TEACHER_PREDICTIONS = "evaluation-predictions.jsonl"
TRAINING_PREDICTIONS = {
    "teacher": "teacher-predictions.jsonl",
    "student-base": "student-base-predictions.jsonl",
    "student-tuned": "student-tuned-predictions.jsonl",
}
MODEL_TAR = "model.tar"
#: What `distil_sdk.local.pipeline.Pipeline` asks of a pipeline module (named in errors).
_PIPELINE_NAMES = (
    "TEACHER_EVALUATION_STAGES",
    "TRAINING_STAGES",
    "run_teacher_evaluation",
    "run_training",
)

logger = logging.getLogger("distil_sdk.local.job")


def _watch_parent(parent_pid: int) -> None:
    """Exit when the server that started us dies, so no orphan keeps training unseen."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(3)
        time.sleep(1.0)


class _Reporter:
    """Writes the JSON-lines progress protocol to the worker."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._stream.write(json.dumps(event) + "\n")
            self._stream.flush()

    def progress(self, stage: str, status: str, message: str) -> None:
        self.emit({"event": "progress", "stage": stage, "status": status, "message": message})


def load_pipeline(name: str | None = None) -> Pipeline:
    """The pipeline module ``name`` (default: ``$DISTIL_LOCAL_PIPELINE``, else the real one).

    Raises:
        TypeError: the module lacks a name of the `Pipeline` protocol; the message lists them.
    """
    from ..pipeline import Pipeline

    name = name or os.environ.get(PIPELINE_ENV) or DEFAULT_PIPELINE
    module = importlib.import_module(name)
    if not isinstance(module, Pipeline):
        missing = [n for n in _PIPELINE_NAMES if not hasattr(module, n)]
        raise TypeError(
            f"the pipeline module {name!r} (${PIPELINE_ENV}) lacks {', '.join(missing)}: a "
            "pipeline module defines what distil_sdk.local.pipeline.Pipeline lists"
        )
    return module


def _run(kind: str, upload_dir: Path, job_dir: Path, reporter: _Reporter) -> dict[str, Any]:
    """Run the pipeline, publish the artifacts and return the result record."""
    from ...types.data import TaskBundle

    pipeline = load_pipeline()
    work_dir = job_dir / "work"
    artifacts = job_dir / "artifacts"
    work_dir.mkdir(parents=True, exist_ok=True)
    if kind == "dataset_expand":  # the current generation's relabelling (see expand.py)
        from .expand import EXPAND_STAGES, run_expand

        reporter.emit({"event": "stages", "stages": EXPAND_STAGES})
        return run_expand(pipeline, upload_dir, work_dir, artifacts, reporter.progress)
    bundle = TaskBundle.from_dir(upload_dir)  # a Dataset folder, or a /models upload's
    if kind == "teacher_evaluation":
        reporter.emit({"event": "stages", "stages": list(pipeline.TEACHER_EVALUATION_STAGES)})
        evaluated = pipeline.run_teacher_evaluation(bundle, work_dir, reporter.progress)
        publish_file(Path(evaluated.predictions_path), artifacts / TEACHER_PREDICTIONS)
        return {"results": evaluated.results, "artifacts": {"predictions": TEACHER_PREDICTIONS}}
    reporter.emit({"event": "stages", "stages": list(pipeline.TRAINING_STAGES)})
    trained = pipeline.run_training(bundle, work_dir, reporter.progress)
    published: dict[str, str] = {}
    for key, path in dict(trained.predictions).items():
        if key in TRAINING_PREDICTIONS:
            publish_file(Path(path), artifacts / TRAINING_PREDICTIONS[key])
            published[key] = TRAINING_PREDICTIONS[key]
    package_model(Path(trained.model_dir), artifacts / MODEL_TAR)
    published["model"] = MODEL_TAR
    return {"evaluation_results": dict(trained.evaluation_results), "artifacts": published}


def main(argv: list[str] | None = None) -> int:
    """Run one job; see the module docstring for the protocol."""
    parser = argparse.ArgumentParser(prog="distil_sdk.local._jobs.main")
    parser.add_argument(
        "--kind", required=True, choices=["teacher_evaluation", "training", "dataset_expand"]
    )
    parser.add_argument("--upload-dir", required=True, type=Path)
    parser.add_argument("--job-dir", required=True, type=Path)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)

    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    # Keep the real stdout for the protocol; point fd 1 at stderr for everything else.
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    # The job's stderr is the log clients follow line by line: the libraries' progress bars
    # (loading and writing weights) would only add carriage-return noise to it. The hub's
    # switch is read by transformers too when it is first imported, which happens after this.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    job_dir: Path = args.job_dir
    try:
        result = _run(args.kind, args.upload_dir, job_dir, _Reporter(protocol))
        publish_bytes(json.dumps(result).encode("utf-8"), job_dir / "result.json")
    except BaseException as exc:
        traceback.print_exc()
        message = str(exc) or type(exc).__name__
        publish_bytes(json.dumps({"message": message}).encode("utf-8"), job_dir / "error.json")
        return 1
    # Scratch space can be large (checkpoints); the published artifacts are all that is served.
    shutil.rmtree(job_dir / "work", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

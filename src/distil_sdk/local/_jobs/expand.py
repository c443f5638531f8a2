"""The expand operations of the local platform: ``relabel_traces_{train,test}`` and
``generate_synthetic_data_{train,test}``.

``POST /datasets/from-datasets[-smoke]`` queues a job of kind ``dataset_expand``. Its input folder
holds the parent dataset's files (current format, with any override applied) and ``expand.json``
(operation and count). The new dataset is the parent's files with rows appended to one split and
the traces the job used removed; it is validated, and its five files are published as artifacts
that the server copies into the child dataset once the job succeeds (`materialize`).

- Relabelling takes ``count`` distinct traces from ``traces.jsonl`` (the first user message of
  each conversation is the text) and has the teacher label them (the embedded encoder teacher,
  or the LLM teacher when ``$DISTIL_TEACHER_BASE_URL`` is set; it is fitted on the parent's
  train rows and the class descriptions, so it works on an empty train split too).
- Generation has the LLM teacher (``$DISTIL_TEACHER_BASE_URL``: the server refuses the
  operation without it) write ``count`` new examples (``synthgen.{split}_generation_target``,
  128 for a smoke) from the split's rows (none: zero-shot) and, with
  ``synthgen.use_traces_as_context``, ``T + min(T, 1000)`` traces as context, which it removes;
  with fewer than ``min(T / 4, 10)`` traces it warns and leaves them. New texts close to a row
  of either split are dropped (platform.md, "The expand operations").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ...types._traces import Traces, observation_format_of
from ...types.task import TaskConfig
from .._storage.dataset_files import (
    DATASET_FILE_NAMES,
    BundleRejected,
    bundle_from_files,
    read_dataset_files,
    write_job_input,
)
from .packaging import publish_bytes

if TYPE_CHECKING:
    from ...types.data import LabelledDataset
    from ..pipeline import Pipeline, SupportsLabelTexts

__all__ = [
    "EXPAND_KIND",
    "EXPAND_STAGES",
    "NEEDS_LLM_TEACHER",
    "RELABEL_OPERATIONS",
    "SMOKE_TARGET",
    "SMOKE_TRACES",
    "SYNTHESIS_OPERATIONS",
    "generation_target",
    "materialize",
    "relabel_count",
    "run_expand",
    "write_expand_input",
]

logger = logging.getLogger("distil_sdk.local.job")

# teachers.TEACHER_BASE_URL_ENV, spelled out: the server imports this module, and importing the
# teachers package pulls in numpy.
TEACHER_BASE_URL_ENV = "DISTIL_TEACHER_BASE_URL"

EXPAND_KIND = "dataset_expand"
EXPAND_SPEC = "expand.json"
RELABEL_OPERATIONS = ("relabel_traces_train", "relabel_traces_test")
SYNTHESIS_OPERATIONS = ("generate_synthetic_data_train", "generate_synthetic_data_test")
#: The job's stages; in ``teacher`` the teacher labels the traces or writes the new examples.
EXPAND_STAGES = ["read_traces", "teacher", "validate"]
#: A relabelling smoke forces the trace count to 128, as on the platform.
SMOKE_TRACES = 128
#: A generation smoke forces the split's generation target to 128, as on the platform.
SMOKE_TARGET = 128
#: Traces taken as generation context: the target plus at most this many more.
CONTEXT_EXTRA_MAX = 1000
NEEDS_LLM_TEACHER = (
    "{op} needs an LLM to write the examples, and this local platform has none: set "
    f"{TEACHER_BASE_URL_ENV} to an OpenAI-compatible chat API (a served model: distil-sdk "
    "serve-model MODEL --generate, then http://127.0.0.1:11434/v1; or Ollama, vLLM, a hosted "
    "API) in the local server's environment, with base.teacher_model_name in the config or "
    "DISTIL_TEACHER_MODEL naming the model, and restart the server. Or run it on the hosted "
    "platform."
)


def relabel_count(config_yaml: bytes, operation: str, *, smoke: bool) -> int | None:
    """How many traces ``operation`` relabels: 128 for a smoke, else
    ``trace_processing.num_{split}_relabelled`` (``None``: every trace)."""
    if smoke:
        return SMOKE_TRACES
    split = operation.rsplit("_", 1)[-1]
    try:
        config = yaml.safe_load(config_yaml or b"{}") or {}
        value = config.get("trace_processing", {}).get(f"num_{split}_relabelled")
    except (yaml.YAMLError, AttributeError):
        return None
    return int(value) if isinstance(value, int) and value > 0 else None


def generation_target(config: TaskConfig, operation: str, *, smoke: bool) -> int:
    """How many examples ``operation`` writes: 128 for a smoke, else
    ``synthgen.{split}_generation_target``."""
    if smoke:
        return SMOKE_TARGET
    synthgen = config.synthgen
    if operation.endswith("_train"):
        return synthgen.train_generation_target
    return synthgen.test_generation_target


def write_expand_input(
    uploads_dir: Path, input_id: str, files: Mapping[str, bytes], spec: Mapping[str, Any]
) -> Path:
    """Write the job's input folder (the parent's files and ``expand.json``) all at once."""
    extra = {EXPAND_SPEC: json.dumps(dict(spec)).encode("utf-8")}
    return write_job_input(uploads_dir, input_id, files, extra)


# -- inside the job process ---------------------------------------------------------------------
def _split_traces(
    traces: bytes, count: int | None, observation_format: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """(texts of the traces used, the traces left)."""
    used: list[str] = []
    left: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in Traces.from_bytes(traces).rows:
        if count is not None and len(used) >= count:
            left.append(row)
            continue
        text = Traces.user_text(row, observation_format)
        if text is None or text in seen:
            continue  # unreadable or repeated: used up, as filtering drops it on the platform
        seen.add(text)
        used.append(text)
    if count is not None and len(used) < count:
        raise RuntimeError(
            f"relabelling needs {count} distinct traces (trace_processing) but the dataset "
            f"holds {len(used)} usable ones; lower the count with a config override or add traces"
        )
    return used, left


def _teacher_labels(
    pipeline: Pipeline, files: Mapping[str, bytes], texts: list[str], work_dir: Path
) -> list[str]:
    """Label ``texts`` with the pipeline's ``label_texts`` when it has one (`SupportsLabelTexts`),
    else with the default pipeline's: the teacher its teacher evaluation uses."""
    from ...types.data import LabelledDataset, TaskBundle
    from ...types.task import JobDescription, TaskConfig

    job = JobDescription.from_bytes(files["job_description.json"])
    config = TaskConfig.from_text(files["config.yaml"], format="yaml")
    train_rows = files["train.jsonl"]
    train = (
        LabelledDataset.from_bytes(train_rows, format="jsonl", file="train.jsonl")
        if train_rows.strip()
        else LabelledDataset()
    )
    bundle = TaskBundle(job, train, LabelledDataset(), None, config)
    # Imported here: the server imports this module, and the pipeline pulls in numpy.
    from .. import pipeline as default_pipeline

    labeller: SupportsLabelTexts = (
        pipeline if isinstance(pipeline, default_pipeline.SupportsLabelTexts) else default_pipeline
    )
    return list(labeller.label_texts(bundle, texts, work_dir))


def run_expand(
    pipeline: Pipeline,
    input_dir: Path,
    work_dir: Path,
    artifacts: Path,
    progress: Callable[[str, str, str], None],
) -> dict[str, Any]:
    """Run the expand job of ``input_dir`` and publish the new dataset's files."""
    spec = json.loads((Path(input_dir) / EXPAND_SPEC).read_text("utf-8"))
    operation = str(spec["operation"])
    count = spec.get("count")
    files = read_dataset_files(Path(input_dir))
    split = "train.jsonl" if operation.endswith("_train") else "test.jsonl"
    config = TaskConfig.from_text(files["config.yaml"], format="yaml", file="config.yaml")
    if operation in SYNTHESIS_OPERATIONS:
        texts, labels, left = _generate(files, config, split, int(count or 0), work_dir, progress)
    else:
        texts, labels, left = _relabel(pipeline, files, config, count, work_dir, progress)
    existing = {
        row["messages"][0]["content"]
        for name in ("train.jsonl", "test.jsonl")
        for row in _rows(files[name])
    }
    new_rows = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": text},
                    {"role": "assistant", "content": label},
                ]
            },
            ensure_ascii=False,
        )
        + "\n"
        for text, label in zip(texts, labels, strict=True)
        if text not in existing  # never a duplicate, never a train/test overlap
    ]
    out = dict(files)
    base = files[split].decode("utf-8")
    if base and not base.endswith("\n"):
        base += "\n"
    out[split] = (base + "".join(new_rows)).encode("utf-8")
    out["traces.jsonl"] = Traces(left).to_text().encode("utf-8")
    progress("teacher", "JOB_SUCCESS", f"{len(new_rows)} rows added to {split}")

    progress("validate", "JOB_RUNNING", "validating the new dataset")
    try:
        bundle_from_files(out)
    except BundleRejected as exc:
        raise RuntimeError(f"the expanded dataset fails validation: {exc.detail}") from exc
    progress("validate", "JOB_SUCCESS", "valid")
    for name in DATASET_FILE_NAMES:
        publish_bytes(out[name], Path(artifacts) / name)
    return {
        "artifacts": {name: name for name in DATASET_FILE_NAMES},
        "operation": operation,
        "rows_added": len(new_rows),
    }


def _relabel(
    pipeline: Pipeline,
    files: Mapping[str, bytes],
    config: TaskConfig,
    count: int | None,
    work_dir: Path,
    progress: Callable[[str, str, str], None],
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """``relabel_traces_*``: (texts, the teacher's labels, the traces left)."""
    progress("read_traces", "JOB_RUNNING", "reading the traces")
    texts, left = _split_traces(files["traces.jsonl"], count, observation_format_of(config))
    progress("read_traces", "JOB_SUCCESS", f"{len(texts)} traces to relabel")
    progress("teacher", "JOB_RUNNING", f"labelling {len(texts)} traces with the teacher")
    labels = _teacher_labels(pipeline, files, texts, work_dir) if texts else []
    return texts, labels, left


def _context_traces(
    traces: bytes, target: int, config: TaskConfig
) -> tuple[list[str], list[dict[str, Any]], str]:
    """Generation context: (texts of the traces used, the traces left, what was done)."""
    rows = Traces.from_bytes(traces).rows
    if not config.synthgen.use_traces_as_context:
        return [], rows, "synthgen.use_traces_as_context is off: no context, traces kept"
    floor = min(target / 4, 10)
    if len(rows) < floor:
        logger.warning(
            "only %d traces, fewer than min(T/4, 10) = %g for a target of %d: generating "
            "without context and leaving the traces in place",
            len(rows),
            floor,
            target,
        )
        return [], rows, f"{len(rows)} traces, too few for context: generating without"
    used = rows[: target + min(target, CONTEXT_EXTRA_MAX)]
    observation = observation_format_of(config)
    texts = list(dict.fromkeys(t for t in (Traces.user_text(r, observation) for r in used) if t))
    return texts, rows[len(used) :], f"{len(used)} traces taken as context"


def _generate(
    files: Mapping[str, bytes],
    config: TaskConfig,
    split: str,
    target: int,
    work_dir: Path,
    progress: Callable[[str, str, str], None],
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """``generate_synthetic_data_*``: (new texts, their labels, the traces left)."""
    from ...types.data import UnlabelledDataset
    from ...types.task import JobDescription
    from ..teachers import make_teacher
    from ..teachers.llm import LLMTeacher

    if not os.environ.get(TEACHER_BASE_URL_ENV):
        raise RuntimeError(NEEDS_LLM_TEACHER.format(op=f"generating {split} rows"))
    progress("read_traces", "JOB_RUNNING", "reading the traces")
    context, left, done = _context_traces(files["traces.jsonl"], target, config)
    progress("read_traces", "JOB_SUCCESS", done)
    progress("teacher", "JOB_RUNNING", f"the teacher writes {target} examples for {split}")
    job = JobDescription.from_bytes(files["job_description.json"])
    examples, other = (_labelled(files[name], name) for name in (split, _other(split)))
    teacher = make_teacher(config, cache_dir=Path(work_dir) / "teacher-cache")
    try:
        if not isinstance(teacher, LLMTeacher):  # what make_teacher picks with the URL set
            raise RuntimeError(NEEDS_LLM_TEACHER.format(op=f"generating {split} rows"))
        teacher.fit(job, examples, config)
        made = teacher.synthesize(
            job,
            examples,
            UnlabelledDataset.from_lists(context),
            config,
            target=target,
            exclude=other.texts,
        )
    finally:
        close = getattr(teacher, "close", None)
        if callable(close):
            close()
    return list(made.texts), list(made.labels), left


def _other(split: str) -> str:
    return "test.jsonl" if split == "train.jsonl" else "train.jsonl"


def _labelled(content: bytes, name: str) -> LabelledDataset:
    from ...types.data import LabelledDataset

    if not content.strip():
        return LabelledDataset()
    return LabelledDataset.from_bytes(content, format="jsonl", file=name)


def _rows(content: bytes) -> list[dict[str, Any]]:
    rows = []
    for line in content.decode("utf-8", "replace").splitlines():
        with contextlib.suppress(ValueError):
            row = json.loads(line)
            if isinstance(row, dict) and isinstance(row.get("messages"), list) and row["messages"]:
                first = row["messages"][0]
                if isinstance(first, dict) and isinstance(first.get("content"), str):
                    rows.append(row)
    return rows


# -- in the server --------------------------------------------------------------------------------
def materialize(store: Any, entities: Any, record: dict[str, Any]) -> None:
    """Give a dataset produced by a successful expand job its files (``entities/<id>/``),
    once; a no-op for any other dataset."""
    job = record.get("job")
    if job is None or record["status"] != "JOB_SUCCESS":
        return
    folder = entities.files_dir(record["id"])
    if not folder.is_dir():
        source = store.job_dir(job["id"]) / "artifacts"
        files = {name: (source / name).read_bytes() for name in DATASET_FILE_NAMES}
        with contextlib.suppress(OSError):  # a concurrent request got there first
            entities.write_files(record["id"], files)

"""The files of current-generation entities: datasets as staged, job inputs, SLM tarballs.

A dataset is kept as staged (``entities/<id>/``, today's Dataset folder: what its downloads
serve). A job on it reads a Dataset folder of its own, ``uploads/<input id>/``: the dataset's
files with any config or job description override applied, written at submission
(:func:`write_job_input`), read by :meth:`TaskBundle.from_dir` in the job process.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .._errors import DataValidationError
from ..types._dataset_files import DATASET_FILES
from ..types.data import TaskBundle

__all__ = [
    "DATASET_FILE_NAMES",
    "MODEL_CLIENT_PY",
    "BundleRejected",
    "apply_overrides",
    "bundle_from_files",
    "read_dataset_files",
    "slm_readme",
    "smoke_files",
    "validate_model_tar",
    "write_job_input",
]

#: The files of a Dataset folder, in the table's order (``config.yaml``, ...).
DATASET_FILE_NAMES: tuple[str, ...] = tuple(f.name for f in DATASET_FILES if f.staging_key)
_FIELD_OF = {f.name: f.field for f in DATASET_FILES if f.staging_key}
#: A training smoke: one epoch on the longest train and test rows (the platform's sizes).
SMOKE_TRAIN_ROWS = 128
SMOKE_TEST_ROWS = 32


class BundleRejected(ValueError):
    """Files that do not form a valid task: ``detail`` says why, ``findings`` list each problem."""

    def __init__(self, detail: str, findings: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.findings = findings


def bundle_from_files(files: Mapping[str, bytes]) -> TaskBundle:
    """Read a Dataset's files (name -> bytes; an empty file is an empty split) into a
    validated :class:`TaskBundle`.

    Raises:
        BundleRejected: the files cannot be read, or the task breaks a validation rule.
    """
    by_field = {_FIELD_OF[name]: data for name, data in files.items() if name in _FIELD_OF}
    try:
        bundle = TaskBundle.from_dataset_files(by_field)
    except DataValidationError as exc:
        findings = [f.model_dump(mode="json") for f in exc.report.findings]
        raise BundleRejected(exc.report.summary(), findings) from exc
    report = bundle.validate()
    if not report.ok:
        findings = [f.model_dump(mode="json") for f in report.findings]
        raise BundleRejected(report.summary(), findings)
    return bundle


def read_dataset_files(folder: Path) -> dict[str, bytes]:
    """The files of a stored dataset, by name (an absent split reads as an empty file)."""
    out: dict[str, bytes] = {}
    for name in DATASET_FILE_NAMES:
        path = Path(folder) / name
        out[name] = path.read_bytes() if path.is_file() else b""
    return out


def write_job_input(
    uploads_dir: Path,
    input_id: str,
    files: Mapping[str, bytes],
    extra: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a job's input folder (a Dataset folder: the non-empty ``files``, and ``extra``)
    all at once: a job never reads a partial folder."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{input_id}.", dir=uploads_dir))
    try:
        for name, content in files.items():
            if content.strip():  # an empty split is a file left out
                (tmp / name).write_bytes(content)
        for name, content in (extra or {}).items():
            (tmp / name).write_bytes(content)
        dest = Path(uploads_dir) / input_id
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def apply_overrides(
    files: Mapping[str, bytes],
    config: Mapping[str, Any] | None,
    job_description: Mapping[str, Any] | None,
) -> dict[str, bytes]:
    """``files`` with ``config.yaml`` / ``job_description.json`` replaced whole (never merged),
    as the platform applies overrides."""
    out = dict(files)
    if config is not None:
        out["config.yaml"] = yaml.safe_dump(dict(config), sort_keys=False).encode("utf-8")
    if job_description is not None:
        text = json.dumps(dict(job_description), indent=2, ensure_ascii=False) + "\n"
        out["job_description.json"] = text.encode("utf-8")
    return out


def _longest_rows(content: bytes, limit: int) -> bytes:
    lines = [line for line in content.decode("utf-8", "replace").splitlines() if line.strip()]
    # Stable sort by length, then back into file order: the same rows for the same input.
    keep = sorted(sorted(range(len(lines)), key=lambda i: -len(lines[i]))[:limit])
    return "".join(lines[i] + "\n" for i in keep).encode("utf-8")


def smoke_files(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The platform's training smoke: one epoch on the 128 longest train rows and the 32
    longest test rows (chosen by length alone, not per class)."""
    out = dict(files)
    out["train.jsonl"] = _longest_rows(files.get("train.jsonl", b""), SMOKE_TRAIN_ROWS)
    out["test.jsonl"] = _longest_rows(files.get("test.jsonl", b""), SMOKE_TEST_ROWS)
    try:
        config = yaml.safe_load(files.get("config.yaml", b"") or b"{}") or {}
    except yaml.YAMLError:
        config = None  # left as it is: conversion reports the unreadable config
    if isinstance(config, dict):
        tuning = config.get("tuning")
        config["tuning"] = {**(tuning if isinstance(tuning, dict) else {}), "num_train_epochs": 1}
        out["config.yaml"] = yaml.safe_dump(config, sort_keys=False).encode("utf-8")
    return out


def validate_model_tar(path: Path) -> dict[str, bytes]:
    """Check that ``path`` is a safe tarball holding a ``model/`` folder with ``config.json``;
    return its top-level text files worth keeping (``model_client.py``, ``README.md``).

    Raises:
        BundleRejected: with the reason the tarball is not an SLM.
    """
    from .._archive import check_members
    from .._errors import UnsafeArchiveError

    try:
        with tarfile.open(path, "r:*") as archive:
            check_members(archive, "model")
            names = {m.name.lstrip("./"): m for m in archive.getmembers()}
            if "model/config.json" not in names:
                raise BundleRejected(
                    "model: the tarball has no model/config.json; send the model.tar that "
                    "GET /slms/{id}/download gives (a model/ folder LocalClassifier loads)",
                    [],
                )
            kept: dict[str, bytes] = {}
            for name in ("model_client.py", "README.md"):
                member = names.get(name)
                handle = archive.extractfile(member) if member and member.isfile() else None
                if handle is not None:
                    kept[name] = handle.read(1 << 20)
            return kept
    except (tarfile.TarError, OSError, UnsafeArchiveError) as exc:
        raise BundleRejected(f"model: not a readable, safe tar archive ({exc})", []) from exc


MODEL_CLIENT_PY = '''\
"""Classify texts with the model in this folder (the distilled student in ./model).

    python model_client.py "where is my card?" "refund please"
    echo "where is my card?" | python model_client.py

Needs the distil_sdk package (pip install distil-sdk); runs offline on CPU or GPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

from distil_sdk import LocalClassifier

MODEL_DIR = Path(__file__).resolve().parent / "model"


def main(argv: list[str]) -> int:
    texts = argv or [line.strip() for line in sys.stdin if line.strip()]
    if not texts:
        print(__doc__, file=sys.stderr)
        return 2
    classifier = LocalClassifier.from_pretrained(MODEL_DIR)
    for text, label in zip(texts, classifier.predict(texts)):
        print(f"{label}\\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


def slm_readme(slm_id: str, labels: list[str]) -> str:
    """The ``README.md`` of an SLM tarball."""
    classes = ", ".join(f"`{label}`" for label in labels) or "(see model/config.json)"
    return (
        f"# SLM {slm_id}\n\n"
        "A text classifier distilled by the distil_sdk local platform.\n\n"
        f"Classes: {classes}.\n\n"
        "- `model/`: the model (Hugging Face format: config.json with id2label, "
        "model.safetensors, tokenizer files, training logs).\n"
        '- `model_client.py`: `python model_client.py "some text"` prints the predicted '
        "class.\n\n"
        "From Python:\n\n"
        "```python\n"
        "from distil_sdk import LocalClassifier\n\n"
        'clf = LocalClassifier.from_pretrained("model")\n'
        'print(clf.predict(["some text"]))\n'
        "```\n"
    )

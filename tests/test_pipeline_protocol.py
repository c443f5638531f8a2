"""The pipeline plug-in contract: `distil_sdk.local.pipeline.Pipeline` (and its optional
`SupportsLabelTexts`), what the job subprocess loads and what relabelling jobs call.

The real pipeline and the tests' fakes (``_fake_pipeline``, ``_doc_pipeline``) are checked
against the protocol at run time (names and parameters) and by ``mypy --strict`` (types).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from distil_sdk.local import pipeline
from distil_sdk.local._jobs import expand
from distil_sdk.local._jobs.main import load_pipeline
from distil_sdk.local.pipeline import Pipeline, SupportsLabelTexts

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
PLUGINS = ["distil_sdk.local.pipeline", "_fake_pipeline", "_doc_pipeline"]


def _required(function: Any) -> list[str]:
    """The parameters a caller must pass, in order (``self`` left out)."""
    return [
        name
        for name, param in inspect.signature(function).parameters.items()
        if param.default is inspect.Parameter.empty and name != "self"
    ]


@pytest.mark.parametrize("name", PLUGINS)
def test_every_pipeline_module_satisfies_the_protocol(name: str) -> None:
    module = importlib.import_module(name)
    assert isinstance(module, Pipeline)
    for method in ("run_teacher_evaluation", "run_training"):
        assert _required(getattr(module, method)) == _required(getattr(Pipeline, method)), method
    for stages in ("TEACHER_EVALUATION_STAGES", "TRAINING_STAGES"):
        value = getattr(module, stages)
        assert isinstance(value, list) and value and all(isinstance(s, str) for s in value)


def test_only_the_real_pipeline_labels_texts() -> None:
    assert isinstance(pipeline, SupportsLabelTexts)
    assert _required(pipeline.label_texts) == _required(SupportsLabelTexts.label_texts)
    fake = importlib.import_module("_fake_pipeline")
    assert not isinstance(fake, SupportsLabelTexts)  # relabelling falls back to the real one


PROBE = """\
import _doc_pipeline
import _fake_pipeline
import broken_pipeline
from distil_sdk.local import pipeline
from distil_sdk.local.pipeline import Pipeline, SupportsLabelTexts

real: Pipeline = pipeline
labelling: SupportsLabelTexts = pipeline
fake: Pipeline = _fake_pipeline
doc: Pipeline = _doc_pipeline
broken: Pipeline = broken_pipeline
"""

#: Right names, wrong types: run_training returns the teacher evaluation's output.
BROKEN = """\
from pathlib import Path
from typing import Any

from distil_sdk.local.pipeline import ProgressFn, TeacherEvaluationOutput

TEACHER_EVALUATION_STAGES = ["a"]
TRAINING_STAGES = ["b"]


def run_teacher_evaluation(bundle: Any, work_dir: Path, progress: ProgressFn) -> TeacherEvaluationOutput:
    return TeacherEvaluationOutput({}, work_dir)


def run_training(bundle: Any, work_dir: Path, progress: ProgressFn) -> TeacherEvaluationOutput:
    return TeacherEvaluationOutput({}, work_dir)
"""


@pytest.mark.slow
def test_mypy_checks_every_pipeline_module_against_the_protocol(tmp_path: Path) -> None:
    """Only the broken module's line is flagged, so the check can fail (a probe mypy accepted
    whole would prove nothing)."""
    pytest.importorskip("mypy")
    (tmp_path / "pipelines_probe.py").write_text(PROBE)
    (tmp_path / "broken_pipeline.py").write_text(BROKEN)
    # From the repository root: pyproject's [tool.mypy] (strict) applies and its cache is reused.
    run = subprocess.run(
        [sys.executable, "-m", "mypy", str(tmp_path / "pipelines_probe.py")],
        cwd=ROOT,
        env={**os.environ, "MYPYPATH": os.pathsep.join([str(tmp_path), str(TESTS)])},
        capture_output=True,
        text=True,
        timeout=900,
    )
    errors = [line for line in run.stdout.splitlines() if "pipelines_probe.py" in line]
    flagged = sorted({int(e.split(":")[1]) for e in errors if ": error:" in e})
    assert flagged == [11], run.stdout + run.stderr
    assert "run_training" in run.stdout, run.stdout


# ------------------------------------------------------------------ loading the plug-in
def test_load_pipeline_reads_the_environment_and_names_what_a_module_lacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DISTIL_LOCAL_PIPELINE", raising=False)
    assert load_pipeline() is pipeline
    monkeypatch.setenv("DISTIL_LOCAL_PIPELINE", "_fake_pipeline")
    assert load_pipeline() is importlib.import_module("_fake_pipeline")

    half = types.ModuleType("half_pipeline")
    half.TRAINING_STAGES = ["x"]  # type: ignore[attr-defined]
    half.run_training = lambda bundle, work_dir, progress: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "half_pipeline", half)
    with pytest.raises(TypeError) as excinfo:
        load_pipeline("half_pipeline")
    message = str(excinfo.value)
    assert "'half_pipeline'" in message and "DISTIL_LOCAL_PIPELINE" in message
    assert "lacks TEACHER_EVALUATION_STAGES, run_teacher_evaluation:" in message
    assert "distil_sdk.local.pipeline.Pipeline" in message


# ------------------------------------------------------------------ relabelling
def _chat(text: str, label: str) -> str:
    turns = [{"role": "user", "content": text}, {"role": "assistant", "content": label}]
    return json.dumps({"messages": turns}) + "\n"


def _expand_input(tmp_path: Path) -> Path:
    labels = ["billing", "cards"]
    files = {
        "config.yaml": b"trace_processing:\n  num_train_relabelled: 2\n",
        "job_description.json": json.dumps(
            {
                "task_description": "Route the message.",
                "classes_description": {label: f"About {label}." for label in labels},
            }
        ).encode(),
        "train.jsonl": "".join(
            _chat(f"train text {i} about {label}", label) for i in range(3) for label in labels
        ).encode(),
        "test.jsonl": "".join(
            _chat(f"test text {i} about {label}", label) for i in range(2) for label in labels
        ).encode(),
        "traces.jsonl": "".join(_chat(f"trace {i}", "?") for i in range(3)).encode(),
    }
    (tmp_path / "uploads").mkdir()
    return expand.write_expand_input(
        tmp_path / "uploads", "in", files, {"operation": "relabel_traces_train", "count": 2}
    )


def _fake_module(**names: Any) -> types.ModuleType:
    fake = importlib.import_module("_fake_pipeline")
    module = types.ModuleType("plugin")
    for name in ("TEACHER_EVALUATION_STAGES", "TRAINING_STAGES"):
        setattr(module, name, getattr(fake, name))
    module.run_teacher_evaluation = fake.run_teacher_evaluation  # type: ignore[attr-defined]
    module.run_training = fake.run_training  # type: ignore[attr-defined]
    for name, value in names.items():
        setattr(module, name, value)
    return module


def _relabelled(tmp_path: Path, plugin: types.ModuleType) -> list[str]:
    """The labels the expand job wrote for the two traces it used."""
    artifacts = tmp_path / "artifacts"
    result = expand.run_expand(
        plugin, _expand_input(tmp_path), tmp_path / "work", artifacts, lambda *_: None
    )
    assert result["rows_added"] == 2
    rows = (artifacts / "train.jsonl").read_text().splitlines()
    return [json.loads(row)["messages"][1]["content"] for row in rows[6:]]


def test_relabelling_uses_the_plugins_label_texts(tmp_path: Path) -> None:
    calls: list[tuple[Any, list[str], Path]] = []

    def label_texts(bundle: Any, texts: list[str], work_dir: Path) -> list[str]:
        calls.append((bundle, list(texts), work_dir))
        return ["cards"] * len(texts)

    plugin = _fake_module(label_texts=label_texts)
    assert isinstance(plugin, SupportsLabelTexts)
    assert _relabelled(tmp_path, plugin) == ["cards", "cards"]
    [(bundle, texts, work_dir)] = calls
    assert texts == ["trace 0", "trace 1"] and work_dir == tmp_path / "work"
    assert bundle.job_description.labels == ["billing", "cards"] and len(bundle.train.texts) == 6


def test_relabelling_falls_back_to_the_default_pipelines_public_label_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def label_texts(bundle: Any, texts: list[str], work_dir: Path) -> list[str]:
        calls.append(list(texts))
        return ["billing"] * len(texts)

    monkeypatch.setattr(pipeline, "label_texts", label_texts)
    plugin = _fake_module()
    assert not isinstance(plugin, SupportsLabelTexts)
    assert _relabelled(tmp_path, plugin) == ["billing", "billing"]
    assert calls == [["trace 0", "trace 1"]]

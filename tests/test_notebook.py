"""examples/quickstart.ipynb runs top to bottom, offline, on a tiny task and a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TINY_LABELS

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")
pytest.importorskip("pandas")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"
ROWS = [
    ("my card payment was charged a fee", "billing"),
    ("where is my new card it has not arrived", "cards"),
    ("a cotton shirt with long sleeves", "shopping"),
    ("the cheque deposit is not in my balance", "billing"),
    ("i want to change my pin number", "cards"),
    ("a kettle for the kitchen with steel finish", "shopping"),
]


def _tiny_task(root: Path) -> Path:
    root.mkdir()
    descriptions = {label: f"messages about {label}" for label in TINY_LABELS}
    (root / "job_description.json").write_text(
        json.dumps({"task_description": "Sort messages.", "classes_description": descriptions})
    )
    (root / "train.csv").write_text("question,answer\n" + "".join(f'"{q}",{a}\n' for q, a in ROWS))
    (root / "test.csv").write_text(
        "question,answer\n" + "".join(f'"{q} today",{a}\n' for q, a in ROWS)
    )
    return root


def test_quickstart_notebook_runs_and_plots(
    tiny_bert_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel inherits this environment: the notebook skips training for the tiny model.
    monkeypatch.setenv("DISTIL_QUICKSTART_TASK", str(_tiny_task(tmp_path / "task")))
    monkeypatch.setenv("DISTIL_QUICKSTART_MODEL", str(tiny_bert_classifier))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    text = "\n".join(
        out.get("text", "") or out.get("data", {}).get("text/plain", "") for out in outputs
    )
    assert "No problems found." in text or "warning" in text  # the validation table
    assert "accuracy:" in text and "on 6 texts" in text
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == 1  # the confusion matrix

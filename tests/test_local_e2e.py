"""The client and the CLI end to end against the embedded local platform on loopback.

With the fake pipeline (fast) and, once ``distil_sdk.local.pipeline`` exists, with the real one
on tiny models: create -> upload -> teacher evaluation -> training -> results -> download ->
predict.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _local_support import LABELS, csv_text, job_description, rows, use_fake_pipeline
from distil_sdk._client import DistilClient
from distil_sdk.cli import main
from distil_sdk.inference import LocalClassifier

FAST_WAIT = {"poll_interval": 0.05, "max_interval": 0.25, "timeout": 300}


def write_task(path: Path, config: str | None = None, unlabelled: int = 0) -> Path:
    path.mkdir(parents=True)
    (path / "job_description.json").write_text(json.dumps(job_description()))
    (path / "train.csv").write_text(csv_text(rows("train", 10)))
    (path / "test.csv").write_text(csv_text(rows("test", 4)))
    if unlabelled:
        texts = [f"unlabelled note {i} on my {text}" for i, (text, _) in enumerate(rows("u", 10))][
            :unlabelled
        ]
        (path / "unstructured.csv").write_text("context\n" + "\n".join(texts) + "\n")
    if config is not None:
        (path / "config.yaml").write_text(config)
    return path


def _client_flow(data_dir: Path, task_dir: Path, tmp_path: Path) -> tuple[dict[str, object], Path]:
    with DistilClient.local(data_dir) as client:
        model = client.v2.models.create("e2e")
        assert model.id in [m.id for m in client.v2.models.list()]
        upload = client.v2.uploads.create(model.id, task_dir)
        assert client.v2.uploads.get(upload.id).status == "JOB_SUCCESS"
        evaluation = client.v2.teacher_evaluations.create(model.id, upload.id)
        teacher = client.v2.teacher_evaluations.wait(evaluation.id, **FAST_WAIT)
        assert teacher.status == "JOB_SUCCESS", teacher.message
        assert teacher.results is not None and teacher.results.accuracy is not None
        assert len(client.v2.teacher_evaluations.predictions(evaluation.id)) == 12

        training = client.v2.trainings.create(model.id, upload.id)
        status = client.v2.trainings.wait(training.id, **FAST_WAIT)
        assert status.status == "JOB_SUCCESS", status.message
        assert status.tasks and all(t.status == "JOB_SUCCESS" for t in status.tasks)
        results = client.v2.trainings.evaluation_results(training.id)
        accuracies = {k: results[k].accuracy for k in ("teacher", "student-base", "student-tuned")}
        model_dir = client.v2.trainings.download_model(
            training.id, tmp_path / "download", progress=False
        )
    return accuracies, model_dir


def test_client_end_to_end_with_fake_pipeline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_fake_pipeline(monkeypatch, tmp_path).touch()
    accuracies, model_dir = _client_flow(tmp_path / "data", write_task(tmp_path / "task"), tmp_path)
    assert accuracies == {"teacher": 1.0, "student-base": 1.0, "student-tuned": 1.0}
    classifier = LocalClassifier.from_pretrained(model_dir)
    assert classifier.labels == LABELS
    assert classifier.classify("where is my new card").label in LABELS
    assert not (tmp_path / "data" / "server.json").exists()  # the embedded server stopped


def test_cli_train_then_predict(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    use_fake_pipeline(monkeypatch, tmp_path).touch()
    task_dir = write_task(tmp_path / "helpdesk")
    out = tmp_path / "model"
    args = ["train", str(task_dir), "--data-dir", str(tmp_path / "data"), "-o", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "student-tuned" in printed.out and "1.000" in printed.out
    assert "teacher evaluation" in printed.err and "model saved" in printed.out
    assert (out / "model" / "config.json").exists()
    assert (out / "model_client.py").exists()  # the platform's tarball layout, kept whole
    assert main(args) == 2  # the model folder exists: refused without --force

    assert (
        main(["--output", "json", "predict", str(out), "my card was stolen", "--top-k", "2"]) == 0
    )
    [prediction] = json.loads(capsys.readouterr().out)
    assert prediction["label"] in LABELS and len(prediction["scores"]) == 2
    assert main(["predict", str(out), "a", "b"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3  # header + 2 rows


def test_cli_train_rejects_an_invalid_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task_dir = write_task(tmp_path / "bad")
    (task_dir / "train.csv").write_text(
        csv_text([*rows("train", 10), ("about the weather", "weather")])
    )
    assert (
        main(
            [
                "train",
                str(task_dir),
                "--data-dir",
                str(tmp_path / "data"),
                "-o",
                str(tmp_path / "m"),
            ]
        )
        == 2
    )
    assert "weather" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # refused before any server started


@pytest.mark.slow
def test_client_end_to_end_with_real_pipeline_and_tiny_models(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_bert_encoder: Path
) -> None:
    monkeypatch.delenv("DISTIL_LOCAL_PIPELINE", raising=False)
    monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)
    monkeypatch.delenv("DISTIL_API_KEY", raising=False)
    config = (
        f"base:\n  student_model_name: {tiny_bert_encoder}\n  teacher_model_name: {tiny_bert_encoder}\n"
        "  random_seed: 0\ntuning:\n  num_train_epochs: 1\n  per_device_train_batch_size: 8\n"
        "synthgen:\n  generation_target: 10\n"
    )
    task_dir = write_task(tmp_path / "task", config=config, unlabelled=20)
    accuracies, model_dir = _client_flow(tmp_path / "data", task_dir, tmp_path)
    # Every model was scored: a missing accuracy (None) is a failure, not a pass.
    assert all(isinstance(a, float) and 0.0 <= a <= 1.0 for a in accuracies.values()), accuracies
    classifier = LocalClassifier.from_pretrained(model_dir)
    assert classifier.labels == LABELS
    assert classifier.classify("my card was stolen").label in LABELS
    for name in (
        "config.json",
        "model.safetensors",
        "training-logs.json",
        "training-logs.csv",
        "job_description.json",
    ):
        assert (model_dir / name).exists(), name


def test_local_platform_doc_snippet_runs_as_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Python snippet of docs/local-platform.md, run as written (fake pipeline, own cwd)."""
    import re
    import shutil

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "local-platform.md").read_text()
    # Every Python block but those marked "snippet: skip" (as tests/test_doc_snippets.py reads
    # them: the marker on the line above the fence).
    blocks = re.findall(r"(<!-- snippet: skip[^\n]*-->\n)?```python\n(.*?)```", doc, flags=re.S)
    snippets = [code for marker, code in blocks if not marker]
    assert snippets, "docs/local-platform.md lost its Python snippet"
    use_fake_pipeline(monkeypatch, tmp_path).touch()
    monkeypatch.setenv("DISTIL_DATA_DIR", str(tmp_path / "data"))
    shutil.copytree(root / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    for snippet in snippets:
        exec(compile(snippet, "docs/local-platform.md", "exec"), {"__name__": "__snippet__"})
    out, err = capsys.readouterr()
    assert "1.0" in out and "Prediction(label=" in out
    assert "teacher evaluation" in err and "JOB_SUCCESS" in err  # progress=True on real answers

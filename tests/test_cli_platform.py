"""The `distil-sdk v2` commands (the /models generation): output and exit codes (0 ok, 1 job
failed, 2 usage/validation); and the old top-level names, kept as deprecated aliases of them."""

from __future__ import annotations

import functools
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from distil_sdk._client import DistilClient
from distil_sdk.cli import _platform, main
from test_client_support import BASE, KEY, MODEL, FakeTime, metrics


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DISTIL_USERNAME", "DISTIL_PASSWORD", "DISTIL_LOG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DISTIL_BASE_URL", BASE)
    monkeypatch.setenv("DISTIL_API_KEY", KEY)
    fake = FakeTime()
    monkeypatch.setattr(
        _platform,
        "DistilClient",
        functools.partial(DistilClient, _sleep=fake.sleep, _clock=fake.clock),
    )


def _task(root: Path, *, bad: bool = False) -> Path:
    root.mkdir()
    (root / "job_description.json").write_text(
        json.dumps(
            {
                "task_description": "Classify banking questions",
                "classes_description": {
                    "billing": "about charges and fees",
                    "cards": "about bank cards",
                },
            }
        )
    )
    rows = [
        ("my card payment was charged a fee", "billing"),
        ("where is my new card", "cards"),
        ("why was I charged twice", "billing"),
        ("my card does not work abroad", "cards"),
    ]
    if bad:
        rows.append(("what is this", "weather"))
    (root / "train.csv").write_text(
        "question,answer\n" + "\n".join(f"{q},{a}" for q, a in rows) + "\n"
    )
    (root / "test.csv").write_text(
        "question,answer\na fee on my statement,billing\nlost my card,cards\n"
    )
    return root


@respx.mock
def test_models_list_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    respx.get(f"{BASE}/models").mock(return_value=httpx.Response(200, json={"models": [MODEL]}))
    assert main(["v2", "models", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["ID", "NAME", "CREATED"] and "banking" in out
    assert main(["v2", "models", "list", "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == "m1"


@respx.mock
def test_models_create_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    create = respx.post(f"{BASE}/models").mock(return_value=httpx.Response(200, json=MODEL))
    respx.get(f"{BASE}/models/m1").mock(return_value=httpx.Response(200, json=MODEL))
    assert main(["--api-key", "other-key", "v2", "models", "create", "banking"]) == 0
    assert json.loads(create.calls.last.request.content) == {"name": "banking"}
    assert create.calls.last.request.headers["authorization"] == "Bearer other-key"
    assert main(["v2", "models", "show", "m1"]) == 0
    assert "owner: me" in capsys.readouterr().out


@respx.mock
def test_upload_valid_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    route = respx.post(f"{BASE}/models/m1/uploads").mock(
        return_value=httpx.Response(200, json={"id": "u1"})
    )
    assert main(["v2", "upload-data", "m1", "--data", str(_task(tmp_path / "task"))]) == 0
    body = json.loads(route.calls.last.request.content)
    assert (
        set(body) >= {"job_description", "train_data", "test_data"}
        and body["train_data"]["type"] == "csv"
    )
    assert "upload u1 created" in capsys.readouterr().out


@respx.mock
def test_upload_invalid_folder_exits_2_with_report_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    route = respx.post(f"{BASE}/models/m1/uploads").mock(
        return_value=httpx.Response(200, json={"id": "u1"})
    )
    assert main(["v2", "upload-data", "m1", "--data", str(_task(tmp_path / "task", bad=True))]) == 2
    err = capsys.readouterr().err
    assert "SEVERITY" in err and "weather" in err and not route.called
    assert main(["v2", "upload-data", "m1", "--data", str(tmp_path / "missing")]) == 2


@respx.mock
def test_server_side_findings_become_validation_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finding = {
        "severity": "error",
        "code": "too_few_rows",
        "file": "train.csv",
        "row": None,
        "column": None,
        "message": "add more rows",
    }
    respx.post(f"{BASE}/models/m1/uploads").mock(
        return_value=httpx.Response(422, json={"detail": "invalid upload", "findings": [finding]})
    )
    assert main(["v2", "upload-data", "m1", "--data", str(_task(tmp_path / "task"))]) == 2
    assert "too_few_rows" in capsys.readouterr().err


@respx.mock
def test_run_teacher_evaluation_wait_success(capsys: pytest.CaptureFixture[str]) -> None:
    create = respx.post(f"{BASE}/models/m1/teacher-evaluations").mock(
        return_value=httpx.Response(200, json={"id": "e1"})
    )
    respx.get(f"{BASE}/teacher-evaluations/e1/status").mock(
        side_effect=[
            httpx.Response(200, json={"id": "e1", "status": "JOB_RUNNING"}),
            httpx.Response(
                200, json={"id": "e1", "status": "JOB_SUCCESS", "results": metrics(0.9)}
            ),
        ]
    )
    assert main(["v2", "run-teacher-evaluation", "m1", "u1", "--wait"]) == 0
    assert json.loads(create.calls.last.request.content) == {"upload_id": "u1"}
    out = capsys.readouterr().out
    assert "JOB_SUCCESS" in out and "0.900" in out


@respx.mock
def test_run_training_without_wait_and_wait_failure(capsys: pytest.CaptureFixture[str]) -> None:
    respx.post(f"{BASE}/models/m1/training").mock(
        return_value=httpx.Response(200, json={"id": "t1"})
    )
    assert main(["v2", "run-training", "m1", "u1"]) == 0
    assert "training t1 started" in capsys.readouterr().out
    respx.get(f"{BASE}/trainings/t1/status").mock(
        return_value=httpx.Response(
            200, json={"id": "t1", "status": "JOB_FAILURE", "message": "out of credits"}
        )
    )
    assert main(["v2", "run-training", "m1", "u1", "--wait"]) == 1
    assert "out of credits" in capsys.readouterr().err


@respx.mock
def test_training_shows_results_when_done(capsys: pytest.CaptureFixture[str]) -> None:
    respx.get(f"{BASE}/trainings/t1/status").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "t1",
                "status": {
                    "dag": {},
                    "logs": [],
                    "tasks": [{"name": "train", "status": "JOB_SUCCESS"}],
                },
            },
        )
    )
    respx.get(f"{BASE}/trainings/t1/evaluation-results").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "t1",
                "status": "JOB_SUCCESS",
                "evaluation_results": {
                    "teacher": metrics(0.9),
                    "student-base": metrics(0.4),
                    "student-tuned": metrics(0.85),
                },
            },
        )
    )
    assert main(["v2", "training", "t1"]) == 0
    out = capsys.readouterr().out
    assert "student-tuned" in out and "0.850" in out and "train" in out
    assert main(["v2", "training", "t1", "--output", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "JOB_SUCCESS" and data["tasks"][0]["name"] == "train"
    assert data["evaluation_results"]["student-tuned"]["accuracy"] == 0.85


@respx.mock
def test_teacher_evaluation_failed_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    respx.get(f"{BASE}/teacher-evaluations/e1/status").mock(
        return_value=httpx.Response(
            200, json={"id": "e1", "status": "JOB_FAILURE", "message": "teacher unreachable"}
        )
    )
    assert main(["v2", "teacher-evaluation", "e1"]) == 1
    assert "teacher unreachable" in capsys.readouterr().out


@respx.mock
def test_download(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("model/config.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    respx.get(f"{BASE}/trainings/t1/model").mock(
        return_value=httpx.Response(
            200, json={"message": "ok", "s3_url": "https://s3.test/m.tar", "training_id": "t1"}
        )
    )
    respx.get("https://s3.test/m.tar").mock(
        return_value=httpx.Response(200, content=buf.getvalue())
    )
    assert main(["v2", "download", "t1", "--dest", str(tmp_path)]) == 0
    assert (tmp_path / "model" / "config.json").exists() and str(
        tmp_path / "model"
    ) in capsys.readouterr().out
    assert main(["download", "t1", "--dest", str(tmp_path / "old")]) == 0  # the old name
    assert (tmp_path / "old" / "model" / "config.json").exists()
    assert "`distil-sdk slm download SLM_ID DEST`" in capsys.readouterr().err


@respx.mock
def test_errors_and_usage_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    respx.get(f"{BASE}/models/nope").mock(
        return_value=httpx.Response(404, json={"detail": "model not found"})
    )
    assert main(["v2", "models", "show", "nope"]) == 1
    assert "model not found" in capsys.readouterr().err
    assert main(["v2", "models"]) == 2
    assert main(["no-such-command"]) == 2
    assert main([]) == 2
    assert main(["--help"]) == 0
    monkeypatch.delenv("DISTIL_API_KEY")
    assert main(["v2", "models", "list"]) == 2
    assert "No credentials" in capsys.readouterr().err


# -- the platform's recorded answers (tests/fixtures/platform/recorded/) through the commands --
RECORDED = Path(__file__).parent / "fixtures" / "platform" / "recorded"


def _recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


@respx.mock
def test_teacher_evaluation_on_recorded_answers(capsys: pytest.CaptureFixture[str]) -> None:
    done = _recorded("2025-06-30-teacher-evaluation-status.json")
    respx.get(f"{BASE}/teacher-evaluations/e1/status").mock(
        return_value=httpx.Response(200, json=done)
    )
    assert main(["v2", "teacher-evaluation", "e1"]) == 0
    out = capsys.readouterr().out
    # Non-classification metrics get their own columns; the long log is not printed.
    assert "LLM-AS-A-JUDGE" in out and "0.184" in out and "0.789" in out
    assert "ACCURACY" not in out and "mlflow" not in out
    assert main(["v2", "teacher-evaluation", "e1", "--output", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == done["teacher_evaluation_id"] and "logs" not in data
    assert data["results"]["llm-as-a-judge"] == pytest.approx(0.1836734694)
    assert main(["v2", "teacher-evaluation", "e1", "--logs"]) == 0
    assert "mlflow" in capsys.readouterr().out


@respx.mock
def test_run_teacher_evaluation_wait_on_recorded_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    respx.post(f"{BASE}/models/m1/teacher-evaluations").mock(
        return_value=httpx.Response(
            200, json=_recorded("2025-06-30-create-teacher-evaluation.json")
        )
    )
    running = _recorded("2025-05-14-teacher-evaluation-status-running.json")
    done = _recorded("2025-06-30-teacher-evaluation-status.json")
    evaluation_id = "27b94a73-e2c2-48a8-8125-afaa2d6ffc24"
    respx.get(f"{BASE}/teacher-evaluations/{evaluation_id}/status").mock(
        side_effect=[httpx.Response(200, json=running), httpx.Response(200, json=done)]
    )
    assert main(["v2", "run-teacher-evaluation", "m1", "u1", "--wait"]) == 0
    captured = capsys.readouterr()
    assert f"teacher evaluation {evaluation_id}: JOB_RUNNING" in captured.err
    assert f"teacher evaluation {evaluation_id}: JOB_SUCCESS" in captured.out


@respx.mock
def test_training_on_recorded_status_and_unfinished_download(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    training_id = "7f1e7be5-58f0-434e-81a6-c6ac5322346c"
    respx.get(f"{BASE}/trainings/{training_id}/status").mock(
        return_value=httpx.Response(200, json=_recorded("2025-05-14-training-status.json"))
    )
    assert main(["v2", "training", training_id]) == 0
    out = capsys.readouterr().out
    assert f"training {training_id}: JOB_RUNNING" in out
    assert "evaluate_teacher" in out and "finetune_student" in out and "JOB_PENDING" in out
    assert main(["v2", "training", training_id, "--output", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "JOB_RUNNING" and data["start_time"] == "2025-05-14T16:00:14.643000Z"
    assert [t["name"] for t in data["tasks"]] == [
        "evaluate_teacher",
        "generate_synthetic_data",
        "finetune_student",
    ]
    respx.get(f"{BASE}/trainings/{training_id}/model").mock(
        return_value=httpx.Response(200, json=_recorded("2025-05-14-training-model-not-ready.json"))
    )
    assert main(["v2", "download", training_id, "--dest", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Training not completed successfully" in err and training_id in err
    assert list(tmp_path.iterdir()) == []


# -- the old top-level names: aliases of `v2`, with a one-line deprecation notice on stderr --


@respx.mock
@pytest.mark.parametrize(
    ("argv", "new"),
    [
        (["models", "list"], "distil-sdk dataset create DIR"),
        (["--json", "models", "list"], "distil-sdk dataset create DIR"),
        (["models", "list", "--json"], "distil-sdk dataset create DIR"),
        (["--base-url", BASE, "models", "list"], "distil-sdk dataset create DIR"),
    ],
)
def test_old_models_command_is_a_deprecated_alias(
    argv: list[str], new: str, capsys: pytest.CaptureFixture[str]
) -> None:
    respx.get(f"{BASE}/models").mock(return_value=httpx.Response(200, json={"models": [MODEL]}))
    assert main(argv) == 0
    captured = capsys.readouterr()
    notice = [line for line in captured.err.splitlines() if "deprecated" in line]
    assert notice == [
        "distil-sdk models: deprecated - this is the old /models generation, now "
        f"`distil-sdk v2 models`; today's platform: `{new}`"
    ]
    if "--json" in argv:
        assert json.loads(captured.out)[0]["id"] == "m1"  # stdout stays one JSON document
    else:
        assert "banking" in captured.out


@respx.mock
def test_every_old_name_runs_its_v2_command_with_a_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    respx.post(f"{BASE}/models/m1/uploads").mock(
        return_value=httpx.Response(200, json={"id": "u1"})
    )
    respx.post(f"{BASE}/models/m1/teacher-evaluations").mock(
        return_value=httpx.Response(200, json={"id": "e1"})
    )
    respx.post(f"{BASE}/models/m1/training").mock(
        return_value=httpx.Response(200, json={"id": "t1"})
    )
    respx.get(f"{BASE}/teacher-evaluations/e1/status").mock(
        return_value=httpx.Response(200, json={"id": "e1", "status": "JOB_RUNNING"})
    )
    respx.get(f"{BASE}/trainings/t1/status").mock(
        return_value=httpx.Response(200, json={"id": "t1", "status": "JOB_RUNNING"})
    )
    task = str(_task(tmp_path / "task"))
    for argv, new in (
        (["upload-data", "m1", "--data", task], "dataset create DIR"),
        (["run-teacher-evaluation", "m1", "u1"], "teacher-evaluation create DATASET_ID"),
        (["teacher-evaluation", "e1"], "teacher-evaluation show ID"),
        (["run-training", "m1", "u1"], "slm create DATASET_ID"),
        (["training", "t1"], "slm status ID"),
    ):
        assert main(argv) == 0, argv
        captured = capsys.readouterr()
        assert f"distil-sdk {argv[0]}: deprecated" in captured.err, argv
        assert (
            f"`distil-sdk v2 {argv[0]}`" in captured.err and f"`distil-sdk {new}`" in captured.err
        )
        if argv[0] == "run-training":  # the hint names the command as it is now called
            assert "follow it with `distil-sdk v2 training t1`" in captured.out


def test_teacher_evaluation_with_a_verb_is_todays_noun(capsys: pytest.CaptureFixture[str]) -> None:
    # `teacher-evaluation ID` is the old status command; `teacher-evaluation VERB` today's noun.
    assert main(["teacher-evaluation", "--help"]) == 0
    captured = capsys.readouterr()
    assert "deprecated" not in captured.err and "create-from-dataset" in captured.out
    assert main(["teacher-evaluation"]) == 2
    assert "deprecated" not in capsys.readouterr().err


def test_v2_help_lists_the_old_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["v2", "--help"]) == 0
    out = capsys.readouterr().out
    for name in ("models", "upload-data", "run-teacher-evaluation", "run-training", "download"):
        assert name in out
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    assert "v2" in top and "upload-data  " not in top  # the aliases are not listed on their own

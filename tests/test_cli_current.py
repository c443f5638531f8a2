"""The `distil-sdk` commands of today's routes (dataset, teacher-evaluation, slm, deployment,
inference-endpoint, credits) against the respx stand-in of the hosted platform
(tests/_current_platform.py): the requests they send, their `--json` output and exit codes."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from _current_platform import API, ENDPOINT, TOKEN, FakePlatform, endpoint_record
from distil_sdk._client import DistilClient
from distil_sdk.cli import _platform, main
from test_client_support import FakeTime
from test_current_client import make_bundle


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DISTIL_USERNAME", "DISTIL_PASSWORD", "DISTIL_LOG", "DISTIL_TOKEN_COMMAND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DISTIL_BASE_URL", API)
    monkeypatch.setenv("DISTIL_API_KEY", TOKEN)
    monkeypatch.setenv("DISTIL_NO_PROGRESS", "1")
    fake = FakeTime()
    monkeypatch.setattr(
        _platform,
        "DistilClient",
        functools.partial(DistilClient, _sleep=fake.sleep, _clock=fake.clock),
    )


def make_task(root: Path) -> Path:
    make_bundle().to_dir(root)  # two classes, 12 train and 6 test tickets
    return root


def run_json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> Any:
    """``main([... , "--json"])``: the exit code checked, stdout parsed as one JSON document."""
    assert main([*argv, "--json"]) == code, capsys.readouterr()
    return json.loads(capsys.readouterr().out)


def run_text(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> tuple[str, str]:
    assert main(list(argv)) == code, capsys.readouterr()
    captured = capsys.readouterr()
    return captured.out, captured.err


# --------------------------------------------------------------------------------- dataset


def test_dataset_create_list_show_status_logs_metrics_download(
    platform: FakePlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = make_task(tmp_path / "task")
    out, _ = run_text(capsys, "dataset", "create", str(task))
    assert out.strip() == "Upload successful. Dataset ID: ds-2"
    assert platform.bodies["POST /datasets"][0]["config"].startswith(platform.storage)
    created = run_json(capsys, "dataset", "create", "--data", str(task))
    dataset_id = created["id"]
    assert dataset_id.startswith("ds-") and dataset_id != "ds-2"

    listed = run_json(capsys, "dataset", "list")
    assert [d["id"] for d in listed] == [dataset_id, "ds-2"]
    out, _ = run_text(capsys, "dataset", "list")
    assert out.split()[:4] == ["ID", "OPERATION", "PARENT", "CREATED"] and "upload" in out

    assert run_json(capsys, "dataset", "show", dataset_id)["id"] == dataset_id
    status = run_json(capsys, "dataset", "status", dataset_id)
    assert status == {"id": dataset_id, "status": "JOB_PENDING", "tasks": []}
    done = run_json(capsys, "dataset", "status", dataset_id, "--wait")
    assert done["status"] == "JOB_SUCCESS"
    out, _ = run_text(capsys, "dataset", "status", dataset_id)
    assert out.strip() == f"dataset {dataset_id}: JOB_SUCCESS"

    assert run_json(capsys, "dataset", "logs", dataset_id) == {
        "id": dataset_id,
        "logs": "step 1\nstep 2\n",
    }
    assert run_json(capsys, "dataset", "metrics", dataset_id)["train_data_size_bytes"] == 1200
    out, _ = run_text(capsys, "dataset", "metrics", dataset_id)
    assert "train   1200" in out

    dest = tmp_path / "data"
    got = run_json(capsys, "dataset", "download", dataset_id, str(dest))
    assert got["path"] == str(dest) and (dest / "config.yaml").exists()
    assert set(got["files"]) == {"train_data", "config", "job_description"}
    out, _ = run_text(capsys, "dataset", "download", dataset_id, "-d", str(tmp_path / "d2"))
    assert f"3 files saved to {tmp_path / 'd2'}" in out


def test_dataset_create_refuses_an_invalid_folder_before_sending(
    platform: FakePlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = make_task(tmp_path / "task")
    with (task / "train.csv").open("a") as f:
        f.write("a question about the weather,weather\n")
    failure = run_json(capsys, "dataset", "create", str(task), code=2)
    assert failure["ok"] is False and failure["exit_code"] == 2
    assert any("weather" in f["message"] for f in failure["findings"])
    assert not platform.api_calls("POST", "/datasets")
    _, err = run_text(capsys, "dataset", "create", code=2)
    assert "give the task folder" in err
    _, err = run_text(capsys, "dataset", "create", str(task), "--data", str(task), code=2)
    assert "once" in err


def test_dataset_create_from_per_file_flags(
    platform: FakePlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "config.yaml").write_text("base:\n  task: classification\n")
    (folder / "job_description.json").write_text(
        json.dumps(
            {"task_description": "Route", "classes_description": {"billing": "b", "tech": "t"}}
        )
    )
    rows = [
        {"messages": [{"role": "user", "content": f"ticket {i}"},
                      {"role": "assistant", "content": label}]}
        for i, label in enumerate(["billing", "tech"] * 3)
    ]  # fmt: skip
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    flags = ["--config", str(folder / "config.yaml")]
    flags += ["--job-description", str(folder / "job_description.json")]
    created = run_json(capsys, "dataset", "create", *flags, "--test", str(folder / "test.jsonl"))
    body = platform.bodies["POST /datasets"][-1]
    assert created["id"].startswith("ds-") and set(body) == {
        "config",
        "job_description",
        "test_data",
    }
    _, err = run_text(capsys, "dataset", "create", *flags, code=2)
    assert "at least one of --train, --test, --traces" in err


def test_dataset_derive_and_download_metadata(
    platform: FakePlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parent = run_json(capsys, "dataset", "create", str(make_task(tmp_path / "task")))["id"]
    meta = tmp_path / "meta"
    got = run_json(capsys, "dataset", "download-metadata", parent, "-d", str(meta))
    assert yaml.safe_load((meta / "config.yaml").read_text())["tuning"]["num_train_epochs"] == 3
    assert json.loads((meta / "job_description.json").read_text())["task_description"]
    assert set(got["files"]) == {"config", "job_description"}

    config = yaml.safe_load((meta / "config.yaml").read_text())
    config["tuning"]["num_train_epochs"] = 6
    (meta / "config.yaml").write_text(yaml.safe_dump(config))
    child = run_json(
        capsys,
        "dataset",
        "generate-synthetic-data-train",
        parent,
        "--smoke",
        "--config",
        str(meta / "config.yaml"),
    )
    body = platform.bodies["POST /datasets/from-datasets-smoke"][0]
    assert body["from"] == parent and body["operation"] == "generate_synthetic_data_train"
    assert body["config"]["tuning"]["num_train_epochs"] == 6
    assert child["parent_dataset_id"] == parent
    out, _ = run_text(capsys, "dataset", "relabel-traces-test", parent)
    assert "created; follow it with `distil-sdk --base-url https://api.test dataset status" in out
    assert platform.bodies["POST /datasets/from-datasets"][0]["operation"] == "relabel_traces_test"
    _, err = run_text(capsys, "dataset", "relabel-traces-test", parent, "-c", "nope.yaml", code=2)
    assert "nope.yaml: no such file" in err


# ----------------------------------------------------------------------- teacher evaluation


def test_teacher_evaluation_create_wait_and_reads(
    platform: FakePlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = run_json(capsys, "dataset", "create", str(make_task(tmp_path / "task")))["id"]
    created = run_json(capsys, "teacher-evaluation", "create", dataset)
    assert created["dataset_id"] == dataset
    assert platform.bodies["POST /teacher-evaluations"][0] == {"from_dataset_id": dataset}

    # The reference's verb, and --wait: the outcome with the teacher's scores.
    done = run_json(capsys, "teacher-evaluation", "create-from-dataset", dataset, "--wait")
    assert done["status"] == "JOB_SUCCESS"
    assert done["metrics"]["teacher_performance"]["accuracy"] == 0.9
    out, err = run_text(capsys, "teacher-evaluation", "create", dataset, "--wait")
    assert "JOB_SUCCESS" in out and "teacher" in out and "0.900" in out
    assert "waiting for it" in err

    te = created["id"]
    assert [e["id"] for e in run_json(capsys, "teacher-evaluation", "list")][-1] == te
    assert run_json(capsys, "teacher-evaluation", "show", te)["dataset_id"] == dataset
    assert run_json(capsys, "teacher-evaluation", "status", te)["status"] == "JOB_PENDING"
    assert "step 1" in run_json(capsys, "teacher-evaluation", "logs", te)["logs"]
    metrics = run_json(capsys, "teacher-evaluation", "metrics", te)
    assert metrics["teacher_performance"]["accuracy"] == 0.9
    out, _ = run_text(capsys, "teacher-evaluation", "metrics", te)
    assert out.split()[:2] == ["MODEL", "ACCURACY"] and "0.900" in out

    target = tmp_path / "preds"
    target.mkdir()
    got = run_json(capsys, "teacher-evaluation", "download-predictions", te, str(target))
    path = target / f"{te}-teacher-evaluation-predictions.jsonl"
    assert got == {"id": te, "path": str(path), "rows": 1}
    assert json.loads(path.read_text())["prediction"] == "billing"


def test_teacher_evaluation_of_a_missing_dataset_exits_1(
    platform: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    failure = run_json(capsys, "teacher-evaluation", "create", "ds-404", code=1)
    assert "no dataset ds-404" in failure["error"]


def test_a_failed_job_exits_1(platform: FakePlatform, capsys: pytest.CaptureFixture[str]) -> None:
    record = platform._new("te", dataset_id="ds-1")
    platform.statuses[record["id"]] = ["JOB_FAILURE"]
    platform.logs[record["id"]] = "Traceback ...\nRuntimeError: teacher unreachable\n"
    assert run_json(capsys, "teacher-evaluation", "status", record["id"], code=1)["status"] == (
        "JOB_FAILURE"
    )
    failure = run_json(capsys, "teacher-evaluation", "status", record["id"], "--wait", code=1)
    assert failure["ok"] is False and "teacher unreachable" in failure["error"]


# ------------------------------------------------------------------------------------- SLM


def test_slm_create_wait_metrics_downloads(
    platform: FakePlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = run_json(capsys, "dataset", "create", str(make_task(tmp_path / "task")))["id"]
    done = run_json(capsys, "slm", "create", dataset, "--wait")
    slm = done["id"]
    assert done["status"] == "JOB_SUCCESS"
    assert done["metrics"]["tuned_model_performance"]["accuracy"] == 0.9
    assert platform.bodies["POST /slms/from-datasets"][0] == {"from": dataset}

    out, _ = run_text(capsys, "slm", "metrics", slm)
    assert "student-base" in out and "0.500" in out and "student-tuned" in out
    metrics = run_json(capsys, "slm", "metrics", slm)
    assert metrics["base_model_performance"]["accuracy"] == 0.5

    got = run_json(capsys, "slm", "download", slm, str(tmp_path / "model"))
    assert got["model_dir"] == str(tmp_path / "model" / "model")
    assert (tmp_path / "model" / "model" / "config.json").exists()
    assert (tmp_path / "model" / "model_client.py").exists()
    assert (tmp_path / "model" / "config.yaml").exists()

    out, _ = run_text(
        capsys, "slm", "download-predictions", slm, str(tmp_path / "p" / "tuned.jsonl")
    )
    assert "1 predictions" in out and (tmp_path / "p" / "tuned.jsonl").exists()

    smoke = run_json(capsys, "slm", "create-from-dataset", dataset, "--smoke")
    assert smoke["id"].startswith("slm-") and platform.bodies["POST /slms/from-datasets-smoke"]
    assert [s["id"] for s in run_json(capsys, "slm", "list")] == [smoke["id"], slm]
    _, err = run_text(capsys, "slm", "create", code=2)
    assert "give DATASET_ID" in err


def test_slm_create_without_wait_prints_how_to_follow(
    platform: FakePlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = run_json(capsys, "dataset", "create", str(make_task(tmp_path / "task")))["id"]
    out, _ = run_text(capsys, "slm", "create", dataset)
    assert out.startswith("SLM slm-")
    assert "follow it with `distil-sdk --base-url https://api.test slm status slm-" in out


def test_slm_create_wait_interrupted_leaves_the_job_running(
    platform: FakePlatform,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dataset = run_json(capsys, "dataset", "create", str(make_task(tmp_path / "task")))["id"]

    def ctrl_c(_: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_platform, "DistilClient", functools.partial(DistilClient, _sleep=ctrl_c))
    assert main(["slm", "create", dataset, "--wait"]) == 130
    err = capsys.readouterr().err
    (slm,) = [i for i in platform.entities if i.startswith("slm-")]
    assert f"interrupted: SLM {slm} keeps running on {API}" in err
    assert "no cancel route" in err
    assert f"distil-sdk --base-url {API} slm status {slm} --wait" in err
    assert not platform.api_calls("DELETE")


def test_slm_create_registers_a_model_folder(
    platform: FakePlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "model.tar").write_bytes(platform.tarball)
    (folder / "config.yaml").write_text("base:\n  task: classification\n")
    created = run_json(capsys, "slm", "create", "--data", str(folder))
    assert created["id"].startswith("slm-") and platform.bodies["POST /slms"]
    _, err = run_text(capsys, "slm", "create", "--data", str(tmp_path), code=2)
    assert "needs model.tar and config.yaml" in err


# ------------------------------------------------------------------ deployment and endpoints


def test_deployment_create_status_endpoint_delete(
    platform: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    slm = platform._new("slm", dataset_id="ds-1")["id"]
    created = run_json(capsys, "deployment", "create", slm)
    dep = created["id"]
    assert platform.bodies["POST /deployments/from-slms"][0] == {"from": slm}
    assert run_json(capsys, "deployment", "status", dep)["deployment_status"] == "JOB_PENDING"
    out, _ = run_text(capsys, "deployment", "status", dep)
    assert out.strip() == f"deployment {dep}: JOB_SUCCESS (endpoint running)"

    endpoint = run_json(capsys, "deployment", "endpoint", dep)
    assert endpoint == {"id": dep, "url": "https://dep.test/v1"}  # no key unless asked
    out, _ = run_text(capsys, "deployment", "endpoint", dep)
    assert "dep-secret-key" not in out and "--show-key" in out
    assert run_json(capsys, "deployment", "endpoint", dep, "--show-key")["api_key"] == (
        "dep-secret-key"
    )
    assert "step 1" in run_json(capsys, "deployment", "logs", dep)["logs"]
    deleted = run_json(capsys, "deployment", "delete", dep)
    assert deleted["deleted"] is True and deleted["endpoint_status"] == "stopped"
    assert platform.api_calls("DELETE", f"/deployments/{dep}")

    waited = run_json(capsys, "deployment", "create-from-slm", slm, "--wait")
    assert waited["deployment_status"] == "JOB_SUCCESS"


def test_inference_endpoint_create_list_show(
    platform: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    created = run_json(
        capsys,
        "inference-endpoint",
        "create",
        "--name",
        "support",
        "--fallback-model",
        "openai/gpt-4.1-mini",
        "--trace-sample-rate",
        "1",
    )
    assert created["unique_endpoint_name"] == "support-yeOdAS"
    assert platform.bodies["POST /inference-endpoints"][0] == {
        "name-prefix": "support",
        "fallback": {"model": "openai/gpt-4.1-mini"},
        "trace-sample-rate": 1.0,
    }
    dep = platform._new("dep", slm_id="slm-1")["id"]
    out, _ = run_text(
        capsys,
        "inference-endpoint",
        "create-from-deployment",
        dep,
        "--name",
        "serve",
        "--fallback-model",
        "openai/gpt-4.1-mini",
    )
    assert out.startswith("Endpoint Name:   serve-yeOdAS")
    assert platform.bodies["POST /inference-endpoints"][1]["primary"] == dep
    _, err = run_text(
        capsys,
        "inference-endpoint",
        "create",
        "--name",
        "own",
        "--fallback-model",
        "a/b",
        "--primary-url",
        "https://mine.test/v1",
        code=2,
    )
    assert "go together" in err

    listed = run_json(capsys, "inference-endpoint", "list")
    assert [e["unique_endpoint_name"] for e in listed] == ["serve-yeOdAS", "support-yeOdAS"]
    out, _ = run_text(capsys, "inference-endpoint", "list")
    assert out.split()[:3] == ["NAME", "TRACE", "SAMPLING"] and "support-yeOdAS" in out
    shown = run_json(capsys, "inference-endpoint", "show", "support-yeOdAS")
    assert shown["fallback"] == {"model": "openai/gpt-4.1-mini"}
    assert (
        "no inference endpoint nope"
        in run_json(capsys, "inference-endpoint", "show", "nope", code=1)["error"]
    )


def test_inference_endpoint_traces_and_download_traces(
    platform: FakePlatform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    platform.add_endpoint()
    platform.seed_traces(
        [[endpoint_record(1), endpoint_record(2, status=500)], [endpoint_record(3)]]
    )
    window = ["--from-start-time", "2026-09-01T00:00:00Z", "--to-start-time", "2026-09-30"]
    records = run_json(capsys, "inference-endpoint", "traces", ENDPOINT, *window)
    assert [r["id"] for r in records] == ["trace-1", "trace-2", "trace-3"]
    query = platform.api_calls("GET", f"/inference-endpoints/{ENDPOINT}/traces")[0].url.params
    assert query["from-start-time"] == "2026-09-01T00:00:00Z"
    assert query["to-start-time"] == "2026-09-30T00:00:00Z"  # a date is sent as UTC midnight
    out, _ = run_text(capsys, "inference-endpoint", "traces", ENDPOINT, "--count", "2")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["START", "TIME", "STATUS"] and len(lines) == 3
    assert "question 1" in lines[1] and "500" in lines[2]

    target = tmp_path / "raw.jsonl"
    got = run_json(
        capsys,
        "inference-endpoint",
        "download-traces",
        ENDPOINT,
        "--all",
        "--file-name",
        str(target),
    )
    assert got == {"name": ENDPOINT, "records": 3, "path": str(target)}
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["metadata"]["status"] for r in rows] == [200, 500, 200]
    assert json.loads(rows[0]["input"])["messages"][0]["content"] == "question 1"
    _, err = run_text(
        capsys, "inference-endpoint", "download-traces", ENDPOINT, "--all", "-c", "5", code=2
    )
    assert "--count N or --all" in err

    platform.seed_traces([[]])
    empty = run_json(capsys, "inference-endpoint", "download-traces", ENDPOINT)
    assert empty == {"name": ENDPOINT, "records": 0, "path": None}
    assert not list(tmp_path.glob("*-traces.jsonl"))


def test_api_keys_and_links(
    platform: FakePlatform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    platform.add_endpoint()
    out, _ = run_text(capsys, "api-keys", "create", "prod")
    secret = platform.api_keys["prod"]["secret"]
    assert secret not in out and "prod.json" in out  # the secret goes to the file, not the screen
    saved = json.loads((tmp_path / "prod.json").read_text())
    assert saved["secret"] == secret and saved["name"] == "prod"
    assert (tmp_path / "prod.json").stat().st_mode & 0o777 == 0o600
    _, err = run_text(capsys, "api-keys", "create", "prod", code=2)  # the file is not replaced
    assert "prod.json already exists" in err and len(platform.api_keys) == 1

    printed = run_json(capsys, "api-keys", "create", "ci", "--no-file")
    assert printed["secret"] == platform.api_keys["ci"]["secret"]
    assert not (tmp_path / "ci.json").exists()
    assert [k["name"] for k in run_json(capsys, "api-keys", "list")] == ["prod", "ci"]
    out, _ = run_text(capsys, "api-keys", "list")
    assert secret not in out and out.split()[:2] == ["NAME", "CREATED"]

    platform.link_conflicts = 1  # a key change still propagating: waited out
    linked = run_json(capsys, "inference-endpoint", "link-api-key", ENDPOINT, "prod")
    assert linked == {"name": ENDPOINT, "key_name": "prod", "linked": True}
    assert (ENDPOINT, "prod") in platform.links
    out, _ = run_text(capsys, "inference-endpoint", "unlink-api-key", ENDPOINT, "prod")
    assert out.strip() == f"API key prod unlinked from endpoint {ENDPOINT}"
    assert not platform.links
    assert run_json(capsys, "api-keys", "delete", "ci") == {"name": "ci", "deleted": True}
    assert (
        "no inference endpoint"
        in run_json(capsys, "inference-endpoint", "link-api-key", ENDPOINT, "gone", code=1)["error"]
    )


# ------------------------------------------------------------------------ credits and flags


def test_credits_and_its_alias(platform: FakePlatform, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, "credits")["balances"]["slms_from_datasets_post"] == 2
    out, _ = run_text(capsys, "credits-balance")
    lines = out.splitlines()
    assert lines[0].split() == ["ROUTE", "CALLS", "LEFT"]
    assert [line.split()[0] for line in lines[1:]] == sorted(platform.balances)
    platform.balances.clear()
    out, _ = run_text(capsys, "credits")
    assert out.strip() == "No metered endpoints."


def test_global_options_after_the_command_and_credentials(
    platform: FakePlatform, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISTIL_API_KEY")
    monkeypatch.delenv("DISTIL_BASE_URL")
    failure = run_json(capsys, "credits", code=2)
    assert "No credentials" in failure["error"]
    got = run_json(capsys, "credits", "--base-url", API, "--api-key", TOKEN)
    assert got["balances"]
    assert platform.api_calls()[-1].headers["authorization"] == f"Bearer {TOKEN}"
    out, _ = run_text(capsys, "--base-url", API, "--api-key", TOKEN, "credits", "--output", "json")
    assert json.loads(out)["balances"]
    # A wrong key is the platform's 401: exit 1, one line.
    failure = run_json(capsys, "credits", "--base-url", API, "--api-key", "wrong", code=1)
    assert failure["exit_code"] == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slm"]) == 2
    assert main(["slm", "frobnicate"]) == 2
    assert main(["deployment", "create"]) == 2
    assert main(["inference-endpoint", "create", "--name", "x"]) == 2
    assert "--fallback-model" in capsys.readouterr().err


# ----------------------------------------------------------------------------- old entities


def test_old_entities_are_readable_and_nothing_else(
    platform: FakePlatform, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # migrating-old-entities.md: seed and training datasets stay readable with `list`, `show`,
    # `download` and `download-metadata`; no other verb exists for them.
    listed = run_json(capsys, "seed-dataset", "list")
    assert [d["id"] for d in listed] == ["sd-old"]
    assert run_json(capsys, "training-dataset", "show", "td-old")["id"] == "td-old"
    saved = run_json(capsys, "seed-dataset", "download", "sd-old", str(tmp_path / "old"))
    assert (tmp_path / "old" / "train.jsonl").read_bytes() == b'{"question": "q", "answer": "a"}\n'
    assert saved["path"] == str(tmp_path / "old")
    urls = run_json(capsys, "seed-dataset", "download-metadata", "sd-old")
    assert urls["config_url"].endswith("config.yaml?sig=c")
    assert main(["seed-dataset", "create", "x"]) == 2  # no such verb: a usage error

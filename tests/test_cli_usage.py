"""Usage errors of `distil-sdk`: argparse's form (the usage of the command at fault, then
`distil-sdk COMMAND: error: MESSAGE`) and exit code 2, whether argparse or the command itself
found the problem; other failures exit 1 (docs/cli.md, "Exit codes")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from distil_sdk.cli import main

# Nothing listens here: a command that got as far as a request would fail with exit code 1.
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DISTIL_USERNAME", "DISTIL_PASSWORD", "DISTIL_LOG", "DISTIL_TOKEN_COMMAND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DISTIL_BASE_URL", UNREACHABLE)
    monkeypatch.setenv("DISTIL_API_KEY", "sk-test")


def usage_error(err: str, command: str) -> str:
    """The message of a usage error printed in argparse's form, checked."""
    prog = f"distil-sdk {command}".strip()
    assert "Traceback" not in err
    assert re.match(rf"usage: {re.escape(prog)}\s", err), err
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"{prog}: error: "), err
    return last.removeprefix(f"{prog}: error: ")


@pytest.mark.parametrize(
    ("argv", "command", "says"),
    [
        # found by argparse
        (["--bogus"], "", "unrecognized arguments: --bogus"),
        (["no-such-command"], "", "invalid choice: 'no-such-command'"),
        (["validate"], "validate", "required: TASK_DIR"),
        (["train", "x", "--local", "--remote"], "train", "not allowed with argument --local"),
        (["slm", "status"], "slm status", "required: ID"),
        (["predict", "m", "--engine", "foo"], "predict", "invalid choice: 'foo'"),
        (["predict"], "predict", "required: MODEL"),
        # unrecognized words are refused by the command they follow, not by distil-sdk
        (["slm", "download", "S1", "-d", "a", "b"], "slm download", "unrecognized arguments: b"),
        (["credits", "--bogus"], "credits", "unrecognized arguments: --bogus"),
        # values argparse now checks, before anything is sent
        (
            ["serve", "--port", "99999"],
            "serve",
            "a port is 0-65535 (0 picks a free one), got 99999",
        ),
        (
            ["inference-endpoint", "traces", "X", "--from-start-time", "yesterday"],
            "inference-endpoint traces",
            "not an ISO 8601 time: 'yesterday'",
        ),
        (
            [
                "inference-endpoint",
                "create-from-deployment",
                "D",
                "--name",
                "n",
                "--fallback-model",
                "o/m",
                "--trace-sample-rate",
                "2",
            ],
            "inference-endpoint create-from-deployment",
            "a rate is between 0 and 1, got 2",
        ),
        # found by the command
        (["dataset", "create"], "dataset create", "give the task folder"),
        (["inference-endpoint", "traces", "X", "--count", "0"], "inference-endpoint traces", "0"),
        (["predict", "no-such-model", "a text"], "predict", "MODEL no-such-model: no such"),
        (
            ["predict", "m", "--input", "nothing.csv"],
            "predict",
            "--input nothing.csv: no such file",
        ),
        (["evaluate", "no-such-model", "{labelled}"], "evaluate", "MODEL no-such-model: no such"),
    ],
)
def test_usage_errors_exit_2_in_argparse_form(
    argv: list[str],
    command: str,
    says: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    labelled = tmp_path / "test.csv"
    labelled.write_text("question,answer\na text,a\n")
    assert main([a.format(labelled=labelled) for a in argv]) == 2
    captured = capsys.readouterr()
    assert says in usage_error(captured.err, command)
    assert captured.out == ""


def test_a_refused_line_in_json_mode_still_prints_a_json_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["slm", "status", "--json"]) == 2
    captured = capsys.readouterr()
    body = json.loads(captured.out)
    assert body == {"ok": False, "error": body["error"], "exit_code": 2}
    assert "required: ID" in body["error"]
    assert "required: ID" in usage_error(captured.err, "slm status")


def test_a_failure_that_is_not_a_usage_error_exits_1_without_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["slm", "status", "S1"]) == 1  # the platform cannot be reached
    err = capsys.readouterr().err
    assert err.startswith("error: could not reach") and "usage:" not in err


def test_texts_after_an_option_are_texts(
    tiny_bert_classifier: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--json", "predict", str(tiny_bert_classifier), "a fee", "--top-k", "1", "a shirt"]
    assert main(argv) == 0
    assert [row["text"] for row in json.loads(capsys.readouterr().out)] == ["a fee", "a shirt"]
    assert main(["predict", str(tiny_bert_classifier), "a fee", "--top-k", "1", "--oops"]) == 2
    assert "unrecognized arguments: --oops" in usage_error(capsys.readouterr().err, "predict")


def test_an_invalid_task_counts_its_findings_in_good_english(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = tmp_path / "task"
    task.mkdir()
    (task / "job_description.json").write_text(
        json.dumps({"task_description": "Route.", "classes_description": {"a": "A", "b": "B"}})
    )
    (task / "train.csv").write_text("question,answer,notes\nq,a,\n")  # one error, one warning
    (task / "test.csv").write_text("question\nq\n")
    assert main(["dataset", "create", str(task)]) == 2
    last = capsys.readouterr().err.rstrip("\n").splitlines()[-1]
    assert last == (
        "error: the task is invalid (1 error, 1 warning); fix the errors above and try again"
    )


def test_help_texts_take_the_right_article(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slm", "--help"]) == 0
    out = capsys.readouterr().out
    assert "the job status of an SLM" in out and "the job log of an SLM" in out
    assert main(["dataset", "--help"]) == 0
    assert "the job status of a dataset" in capsys.readouterr().out


def test_a_library_warning_is_one_warning_line_not_pythons_source_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    import yaml

    example = Path(__file__).resolve().parent.parent / "examples" / "helpdesk-triage"
    task = Path(shutil.copytree(example, tmp_path / "task"))
    path = next(task.glob("config.y*ml"), task / "config.yaml")
    config = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    config.setdefault("tuning", {})["learnig_rate"] = 0.001  # a typo: a UserWarning
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", str(task)]) == 0
    err = capsys.readouterr().err
    assert "warning: Unknown key 'learnig_rate' in config section 'tuning'. Did you mean" in err
    assert "UserWarning" not in err and "sys.exit(main())" not in err

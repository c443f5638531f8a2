"""Counts in messages read as English: "on 1 text", "1 failed poll", "1 problem", never "(s)"."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import BaseModel

from distil_sdk._errors import APIConnectionError, APIError, JobWaitInterruptedError
from distil_sdk._polling import Poller
from distil_sdk._request import RequestSpec
from distil_sdk._responses import parse_model
from distil_sdk.inference._report import EvaluationReport
from distil_sdk.types.jobs import TrainingStatus
from test_client_support import FakeTime


def test_evaluating_a_single_text_says_on_1_text(request: pytest.FixtureRequest) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from distil_sdk.inference import LocalClassifier

    model: Path = request.getfixturevalue("tiny_bert_classifier")  # builds with torch
    clf = LocalClassifier.from_pretrained(model)
    report = clf.evaluate(["my card payment was charged a fee"], labels=["cards"])
    assert report.n_samples == 1
    first = str(report).splitlines()[0]
    assert first.endswith(" on 1 text"), first


@pytest.mark.parametrize(("n", "words"), [(1, "on 1 text"), (2, "on 2 texts")])
def test_report_table_and_plot_title_count_texts(n: int, words: str) -> None:
    report = EvaluationReport.from_predictions(["a"] * n, ["a"] * n, ["a", "b"])
    assert str(report).splitlines()[0] == f"accuracy: 1.000 {words}"
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    ax = report.plot()
    assert ax.get_title() == f"accuracy 1.000 {words}"


def _poller(fake: FakeTime, outage_budget: float | None = 900) -> Poller:
    return Poller(
        "training",
        "t1",
        timeout=None,
        poll_interval=2,
        max_interval=30,
        on_progress=None,
        progress=False,
        clock=fake.clock,
        outage_budget=outage_budget,
    )


@pytest.mark.parametrize(("failures", "words"), [(1, "1 failed poll over"), (2, "2 failed polls")])
def test_recovery_log_counts_failed_polls(
    caplog: pytest.LogCaptureFixture, failures: int, words: str
) -> None:
    fake = FakeTime()
    poller = _poller(fake)
    record = TrainingStatus.model_validate({"id": "t1", "status": "JOB_RUNNING"})
    poller.observe(record)
    for _ in range(failures):
        fake.sleep(poller.on_error(APIConnectionError("down", method="GET", url="x")))
    with caplog.at_level(logging.INFO, logger="distil_sdk"):
        poller.observe(record)
    recovered = [r.getMessage() for r in caplog.records if "answers again" in r.getMessage()]
    assert len(recovered) == 1 and words in recovered[0], recovered
    assert "(s)" not in recovered[0]


def test_outage_error_counts_one_failed_poll() -> None:
    poller = _poller(FakeTime(), outage_budget=0)
    with pytest.raises(JobWaitInterruptedError, match=r"\(1 failed poll; last error"):
        poller.on_error(APIConnectionError("down", method="GET", url="x"))


class _Two(BaseModel):
    a: int
    b: int


@pytest.mark.parametrize(
    ("data", "words"), [({"a": 1}, ": 1 problem: Field required"), ({}, ": 2 problems: ")]
)
def test_unexpected_answer_counts_problems(data: dict[str, int], words: str) -> None:
    spec = RequestSpec("GET", "/things/1")
    with pytest.raises(APIError) as info:
        parse_model(_Two, data, spec, "https://api.example")
    message = str(info.value)
    assert "unexpected _Two" in message and words in message and "(s)" not in message

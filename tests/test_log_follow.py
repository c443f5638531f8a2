"""The job log on the wait display: each line once, whatever the platform sends, and a log that
fails never ends a wait. Units of :class:`LogFollower` and :class:`Poller`, then both route
generations through respx with the platform's recorded answer shapes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from distil_sdk._errors import APIConnectionError, NotFoundError
from distil_sdk._log_follow import MAX_LINE_CHARS, LogFollower, log_text
from distil_sdk._polling import MAX_LOG_FAILURES, Poller, wait_sync
from distil_sdk.local._jobs.epochs import epoch_line, format_duration
from distil_sdk.types.jobs import JobStatus, TrainingStatus
from test_client_support import BASE, FakeTime, async_client, sync_client

RECORDED = Path(__file__).parent / "fixtures" / "platform" / "recorded"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _poller(stream: io.StringIO, fake: FakeTime | None = None) -> Poller:
    fake = fake or FakeTime()
    return Poller(
        "SLM",
        "s1",
        timeout=None,
        poll_interval=1,
        max_interval=1,
        on_progress=None,
        progress=True,
        clock=fake.clock,
        stream=stream,
    )


def _lines(n: int, start: int = 1) -> str:
    return "".join(f"line {i}\n" for i in range(start, start + n))


# ------------------------------------------------------------------------------ LogFollower


def test_a_growing_log_gives_each_line_once() -> None:
    follow = LogFollower()
    assert follow.feed(_lines(2)) == ["line 1", "line 2"]
    assert follow.feed(_lines(2)) == []
    assert follow.feed(_lines(4)) == ["line 3", "line 4"]


def test_a_sliding_tail_cut_mid_line_gives_only_the_new_lines() -> None:
    follow = LogFollower()
    follow.feed(_lines(6))
    # The platform serves the last bytes only: the start moved on, mid-way through line 3.
    assert follow.feed("e 3\n" + _lines(5, start=4)) == ["line 7", "line 8"]
    assert follow.feed(_lines(3, start=6)) == []


def test_repeated_lines_are_lined_up_by_the_longest_overlap() -> None:
    follow = LogFollower()
    follow.feed("A\nB\nA\nB\n")
    assert follow.feed("A\nB\nC\nD\n") == ["C", "D"]  # slid by two lines


def test_a_restarted_log_is_shown_from_its_start() -> None:
    follow = LogFollower()
    follow.feed(_lines(5))
    assert follow.feed("restarted\nline 1\n") == ["restarted", "line 1"]


def test_an_unterminated_last_line_waits_for_its_end_or_the_final_poll() -> None:
    follow = LogFollower()
    assert follow.feed("done 1\nstudent-tuned epo") == ["done 1"]
    assert follow.feed("done 1\nstudent-tuned epoch 1/2\nstudent-tuned epoch 2") == [
        "student-tuned epoch 1/2"
    ]
    assert follow.feed("done 1\nstudent-tuned epoch 1/2\nstudent-tuned epoch 2/2", final=True) == [
        "student-tuned epoch 2/2"
    ]


def test_a_message_appended_after_a_blank_line_does_not_break_the_overlap() -> None:
    # The local platform appends "\n[JOB_RUNNING] <stage message>" to a running job's log.
    follow = LogFollower()
    assert follow.feed(_lines(2) + "\n[JOB_RUNNING] training") == ["line 1", "line 2"]
    assert follow.feed(_lines(3) + "\n[JOB_RUNNING] packaging") == ["line 3"]
    assert follow.feed(_lines(3) + "\n[JOB_FAILURE] out of memory", final=True) == [
        "[JOB_FAILURE] out of memory"
    ]


def test_absent_or_blank_logs_change_nothing() -> None:
    follow = LogFollower()
    follow.feed(_lines(2))
    assert follow.feed(None) == [] and follow.feed("") == [] and follow.feed("\n \n") == []
    assert follow.feed(_lines(3)) == ["line 3"]


def test_a_flood_shows_its_last_lines_and_says_how_many_it_left_out() -> None:
    follow = LogFollower(max_lines=3)
    assert follow.feed(_lines(10)) == [
        "... (7 earlier log lines not shown)",
        "line 8",
        "line 9",
        "line 10",
    ]


def test_lines_are_made_safe_for_a_terminal() -> None:
    follow = LogFollower()
    long = "x" * (MAX_LINE_CHARS + 50)
    shown = follow.feed(f"\x1b[2J\x1b]0;title\x07red\n 10%\r 50%\r100% done\n{long}\n")
    assert shown[0] == "[2J]0;titlered"  # no ESC, no BEL: nothing drives the terminal
    assert shown[1] == "100% done"  # what a progress bar would leave on screen
    assert len(shown[2]) == MAX_LINE_CHARS and shown[2].endswith("…")


def test_log_text_reads_every_shape_the_platform_sends() -> None:
    assert log_text(None) is None
    assert log_text("a\nb") == "a\nb"
    assert log_text(["a", "b"]) == "a\nb\n"  # list items are whole lines


# ------------------------------------------------------------------------ the epoch line


def test_the_epoch_line_estimates_the_time_left_from_the_mean_epoch() -> None:
    line = epoch_line("student-tuned", 2, 5, 0.43121, [10.0, 20.0], eval_accuracy=0.9167)
    assert line == (
        "student-tuned epoch 2/5: loss 0.4312, eval_acc 0.917, 20.0s, about 45s left in this stage"
    )
    last = epoch_line("student-base", 3, 3, 0.1, [1.0, 1.0, 1.0])
    assert last == "student-base epoch 3/3: loss 0.1000, 1.0s, last epoch of this stage"
    assert [format_duration(s) for s in (0, 0.3, 59.4, 250, 3900)] == [
        "0s",
        "1s",
        "59s",
        "4m10s",
        "1h05m",
    ]


# ----------------------------------------------------------------------- Poller display


def _status(state: str, logs: Any = None) -> TrainingStatus:
    detail: dict[str, Any] = {"dag": state, "tasks": [{"name": "train", "status": state}]}
    if logs is not None:
        detail["logs"] = logs
    return TrainingStatus.model_validate({"id": "s1", "status": detail})


def test_off_a_terminal_log_lines_are_plain_lines_before_the_status() -> None:
    out = io.StringIO()
    poller = _poller(out)
    poller.observe(_status("JOB_RUNNING", "epoch 1\n"))
    poller.observe(_status("JOB_RUNNING", "epoch 1\nepoch 2\n"))
    poller.observe(_status("JOB_SUCCESS", "epoch 1\nepoch 2\nsaved"))
    assert out.getvalue().splitlines() == [
        "epoch 1",
        "SLM s1: JOB_RUNNING [0/1 stages, train] 00:00",
        "epoch 2",
        "saved",
        "SLM s1: JOB_SUCCESS [1/1 stages] 00:00",
    ]


def test_on_a_terminal_log_lines_go_above_the_rewritten_status_line() -> None:
    out = _Tty()
    poller = _poller(out)
    poller.observe(_status("JOB_RUNNING", "epoch 1\n"))
    poller.observe(_status("JOB_RUNNING", "epoch 1\n"))
    clear = "\r\033[K"
    status = "SLM s1: JOB_RUNNING [0/1 stages, train] 00:00"
    assert out.getvalue() == f"{clear}epoch 1\n{clear}{status}{clear}{status}"


def test_an_explicit_log_wins_over_the_record_and_progress_off_shows_nothing() -> None:
    out = io.StringIO()
    poller = _poller(out)
    poller.observe(_status("JOB_RUNNING", "from the record\n"), "fetched\n")
    assert out.getvalue().splitlines()[0] == "fetched"
    quiet = io.StringIO()
    off = _poller(quiet)
    off.progress = False
    off.observe(_status("JOB_RUNNING", "epoch 1\n"))
    assert quiet.getvalue() == "" and not off.wants_logs(_status("JOB_RUNNING"))


def test_a_failing_log_never_ends_the_wait_and_is_given_up_on() -> None:
    out = io.StringIO()
    fake = FakeTime()
    poller = _poller(out, fake)
    records = iter(
        [_status("JOB_PENDING")] + [_status("JOB_RUNNING")] * 5 + [_status("JOB_SUCCESS")]
    )
    calls: list[int] = []

    def logs() -> str | None:
        calls.append(1)
        raise APIConnectionError("connection reset")

    final = wait_sync(poller, lambda: next(records), fake.sleep, logs=logs)
    assert final.status is JobStatus.SUCCESS
    # Not asked while pending; then transient failures until MAX_LOG_FAILURES in a row.
    assert len(calls) == MAX_LOG_FAILURES and poller.logs_off


def test_a_log_route_the_platform_lacks_is_asked_once() -> None:
    fake = FakeTime()
    poller = _poller(io.StringIO(), fake)
    records = iter([_status("JOB_RUNNING")] * 3 + [_status("JOB_SUCCESS")])
    calls: list[int] = []

    def logs() -> str | None:
        calls.append(1)
        raise NotFoundError("no such route", status_code=404)

    assert wait_sync(poller, lambda: next(records), fake.sleep, logs=logs).status is (
        JobStatus.SUCCESS
    )
    assert len(calls) == 1


# --------------------------------------------------- respx: the platform's recorded shapes


def _recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return data


@respx.mock
def test_a_recorded_teacher_evaluation_status_shows_its_log_lines_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    running = _recorded("2025-05-14-teacher-evaluation-status-running.json")
    evaluation_id = running["teacher_evaluation_id"]
    recorded_log = running["logs"]  # three lines and "..." where the recording was cut
    grown = recorded_log.removesuffix("...") + "INFO:distillib:scoring 40/80\n"
    finished = _recorded("2025-06-30-teacher-evaluation-status.json")
    done = {
        **running,
        "status": "JOB_SUCCESS",
        "results": finished["results"],
        "logs": grown + "INFO:distillib:done",
    }
    respx.get(f"{BASE}/teacher-evaluations/{evaluation_id}/status").mock(
        side_effect=[
            httpx.Response(200, json=running),
            httpx.Response(200, json={**running, "logs": grown}),
            httpx.Response(200, json=done),
        ]
    )
    with sync_client() as client:
        client.v2.teacher_evaluations.wait(evaluation_id, progress=True)
    err = capsys.readouterr().err.splitlines()
    log_lines = [line for line in err if not line.startswith("teacher evaluation ")]
    first_three = recorded_log.splitlines()[:3]
    assert log_lines == [*first_three, "INFO:distillib:scoring 40/80", "INFO:distillib:done"]


@respx.mock
async def test_async_training_status_object_logs_are_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shape = _recorded("2025-05-14-training-status.json")  # {dag, start_time, end_time, tasks}
    training_id = shape["training_id"]

    def answer(dag: str, logs: str) -> httpx.Response:
        return httpx.Response(
            200, json={**shape, "status": {**shape["status"], "dag": dag, "logs": logs}}
        )

    respx.get(f"{BASE}/trainings/{training_id}/status").mock(
        side_effect=[
            answer("JOB_RUNNING", "student-tuned epoch 1/2: loss 0.5\n"),
            answer("JOB_SUCCESS", "student-tuned epoch 1/2: loss 0.5\nstudent-tuned epoch 2/2\n"),
        ]
    )
    async with async_client() as client:
        await client.v2.trainings.wait(training_id, progress=True)
    err = capsys.readouterr().err
    assert err.count("student-tuned epoch 1/2: loss 0.5\n") == 1
    assert err.count("student-tuned epoch 2/2\n") == 1


@respx.mock
def test_current_generation_wait_reads_the_logs_route_only_for_the_display(
    capsys: pytest.CaptureFixture[str],
) -> None:
    statuses = ["JOB_PENDING", "JOB_RUNNING", "JOB_RUNNING", "JOB_SUCCESS"]
    respx.get(f"{BASE}/slms/s1/status").mock(
        side_effect=[httpx.Response(200, json={"status": s}) for s in statuses * 2]
    )
    logs = respx.get(f"{BASE}/slms/s1/logs").mock(
        side_effect=[
            httpx.Response(200, json={"logs": "student-base epoch 1/1\n"}),
            httpx.Response(503, json={"detail": "busy"}),  # a bad poll: shown next time
            httpx.Response(200, json={"logs": "student-base epoch 1/1\nstudent-tuned epoch 1/1"}),
        ]
    )
    with sync_client() as client:
        assert client.slms.wait("s1", progress=True).status is JobStatus.SUCCESS
        # Not fetched while pending, once per later poll, never retried (the next poll asks).
        assert logs.call_count == 3
        shown = capsys.readouterr().err.splitlines()
        # Status lines end with the elapsed time (of the fake clock): compared without it.
        assert [line.removesuffix(line[-6:]) if "SLM" in line else line for line in shown] == [
            "SLM s1: JOB_PENDING",
            "student-base epoch 1/1",
            "SLM s1: JOB_RUNNING",
            "student-tuned epoch 1/1",
            "SLM s1: JOB_SUCCESS",
        ]
        client.slms.wait("s1", progress=False)
        assert logs.call_count == 3  # no display, no log requests


@respx.mock
async def test_async_current_generation_survives_a_missing_logs_route(
    capsys: pytest.CaptureFixture[str],
) -> None:
    respx.get(f"{BASE}/slms/s1/status").mock(
        side_effect=[
            httpx.Response(200, json={"status": s}) for s in ["JOB_RUNNING"] * 3 + ["JOB_SUCCESS"]
        ]
    )
    logs = respx.get(f"{BASE}/slms/s1/logs").mock(return_value=httpx.Response(404, json={}))
    async with async_client() as client:
        final = await client.slms.wait("s1", progress=True)
    assert final.status is JobStatus.SUCCESS and logs.call_count == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("SLM s1: JOB_SUCCESS ")

"""The default of ``progress=``: on in a terminal or a notebook, off in logs, DISTIL_NO_PROGRESS."""

from __future__ import annotations

import sys

import pytest

from _streams import TtyStream, without_progress_overrides
from distil_sdk._progress import progress_enabled, resolve_progress


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    without_progress_overrides(monkeypatch)


def test_terminal_on_pipe_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", TtyStream(tty=True))
    assert progress_enabled() and resolve_progress(None)
    monkeypatch.setattr(sys, "stderr", TtyStream(tty=False))
    assert not progress_enabled() and not resolve_progress(None)
    assert resolve_progress(True) and not resolve_progress(False)  # an explicit choice wins
    monkeypatch.setattr(sys, "stderr", None)  # pythonw, some daemons
    assert not progress_enabled()


def test_notebook_kernel_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", TtyStream(tty=False))
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    assert resolve_progress(None)


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_global_off_switch_wins_over_everything(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setattr(sys, "stderr", TtyStream(tty=True))
    monkeypatch.setenv("DISTIL_NO_PROGRESS", value)
    assert not resolve_progress(None) and not resolve_progress(True)
    monkeypatch.setenv("DISTIL_NO_PROGRESS", "0")
    assert resolve_progress(None)


@pytest.mark.parametrize(
    ("tty", "off", "shown"), [(True, "", True), (False, "", False), (True, "1", False)]
)
def test_wait_shows_progress_by_default_only_to_a_person(
    monkeypatch: pytest.MonkeyPatch, tty: bool, off: str, shown: bool
) -> None:
    import httpx
    import respx

    from test_client_support import BASE, FakeTime, sync_client

    stream = TtyStream(tty=tty)
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setenv("DISTIL_NO_PROGRESS", off)
    fake = FakeTime()
    with respx.mock:
        respx.get(f"{BASE}/trainings/t1/status").mock(
            side_effect=[
                httpx.Response(200, json={"id": "t1", "status": s, "message": "m"})
                for s in ("JOB_RUNNING", "JOB_SUCCESS")
            ]
        )
        with sync_client(fake) as client:
            client.v2.trainings.wait("t1")  # no progress= given
    assert ("training t1: JOB_SUCCESS" in stream.getvalue()) is shown


def test_download_bar_follows_the_same_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    from distil_sdk._download import _bar

    monkeypatch.setattr(sys, "stderr", TtyStream(tty=False))
    with _bar(None, 100, 0) as bar:
        assert bar is None  # piped: no bar, no "\r" junk in the log
    with _bar(True, 100, 0) as bar:
        assert bar is not None
    monkeypatch.setenv("DISTIL_NO_PROGRESS", "1")
    with _bar(True, 100, 0) as bar:
        assert bar is None

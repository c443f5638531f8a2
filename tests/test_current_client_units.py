"""Units of the current generation's client: the kept tarball layout, list shapes, file maps,
request bodies and override resolution."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import httpx
import pytest
import respx

from _current_platform import API, LAYOUT_FILES, TOKEN, FakePlatform, model_tarball
from distil_sdk import (
    DistilClient,
    DistilError,
    JobDescription,
    Override,
    TaskConfig,
    UnsafeArchiveError,
)
from distil_sdk._download import PART_NAME
from distil_sdk.resources._override import resolve_override
from distil_sdk.resources.datasets import dataset_files
from distil_sdk.resources.slms import extract_layout
from distil_sdk.types.entities import (
    CreatePreparedTracesRequest,
    DatasetDownload,
    DeriveDatasetRequest,
    InferenceEndpoint,
    JobLogs,
    StagingUrls,
)


def _part(dest: Path, data: bytes) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / PART_NAME).write_bytes(data)


def test_extract_layout_keeps_every_top_level_entry(tmp_path: Path) -> None:
    _part(tmp_path, model_tarball())
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "stale.bin").write_bytes(b"old")
    model = extract_layout(tmp_path)
    assert model == tmp_path / "model"
    for name, data in LAYOUT_FILES.items():
        assert (tmp_path / name).read_bytes() == data
    assert not (tmp_path / "model" / "stale.bin").exists()  # replaced whole
    assert not (tmp_path / PART_NAME).exists() and not (tmp_path / "model.tar").exists()


def test_extract_layout_unwraps_a_single_top_folder(tmp_path: Path) -> None:
    wrapped = {f"slm-42/{name}": data for name, data in LAYOUT_FILES.items()}
    _part(tmp_path, model_tarball(wrapped))
    assert extract_layout(tmp_path) == tmp_path / "model"
    assert (tmp_path / "Modelfile").read_bytes() == LAYOUT_FILES["Modelfile"]


def test_extract_layout_refuses_an_escaping_member(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    _part(tmp_path / "dest", buffer.getvalue())
    with pytest.raises(UnsafeArchiveError):
        extract_layout(tmp_path / "dest")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "dest" / "model").exists()


def test_download_model_resumes_an_interrupted_tarball(tmp_path: Path) -> None:
    with respx.mock(assert_all_called=False) as router:
        platform = FakePlatform(router)
        with DistilClient(base_url=API, api_key=TOKEN, _sleep=lambda _: None) as client:
            ds = client.datasets.create(
                {
                    "config": b"base:\n  task: classification\n",
                    "job_description": b"{}",
                    "train_data": b"",
                    "test_data": b"",
                },
                validate=False,
            )
            slm = client.slms.create(ds.id)
            # Half the tarball is already on disk from an earlier, interrupted call.
            _part(tmp_path / "out", platform.tarball[:1000])
            ranges: list[str | None] = []

            def partial(request: httpx.Request) -> httpx.Response:
                ranges.append(request.headers.get("range"))
                start = int(request.headers["range"].split("=")[1].rstrip("-"))
                total = len(platform.tarball)
                return httpx.Response(
                    206,
                    content=platform.tarball[start:],
                    headers={"content-range": f"bytes {start}-{total - 1}/{total}"},
                )

            platform.storage_hooks["/slm/model.tar"] = partial
            model = client.slms.download_model(slm.id, tmp_path / "out", progress=False)
    assert ranges == ["bytes=1000-"]
    assert (model / "config.json").read_bytes() == LAYOUT_FILES["model/config.json"]


def test_list_accepts_a_bare_array_or_an_object() -> None:
    with respx.mock(assert_all_called=True) as router:
        router.get(f"{API}/slms").mock(
            side_effect=[
                httpx.Response(200, json=[{"id": "slm-1", "dataset_id": "ds-1"}]),
                httpx.Response(200, json={"slms": [{"id": "slm-2"}]}),
                httpx.Response(200, json={"nothing": True}),
            ]
        )
        with DistilClient(base_url=API, api_key=TOKEN) as client:
            assert [s.dataset_id for s in client.slms.list()] == ["ds-1"]
            assert [s.id for s in client.slms.list()] == ["slm-2"]
            with pytest.raises(DistilError, match="did not return a list of SLMs"):
                client.slms.list()


def test_dataset_files_mapping_drops_unknown_fields_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    files: dict[str, bytes | str] = {
        "config": "base: {}\n",
        "job_description": b"{}",
        "unstructured_data": b'{"context": "an unlabelled text"}\n',
        "notes": b"not a dataset file",
    }
    with caplog.at_level("WARNING", logger="distil_sdk"):
        out = dataset_files(files, validate=False)
    # The seed's unlabelled texts become traces (a Dataset has no file for them); both moves
    # are said in the log.
    assert out == {
        "config": b"base: {}\n",
        "job_description": b"{}",
        "traces": b'{"messages": [{"role": "user", "content": "an unlabelled text"}]}\n',
    }
    assert "notes" in caplog.text and "traces.jsonl" in caplog.text


def test_request_bodies_use_wire_names_and_refuse_typos() -> None:
    body = DeriveDatasetRequest.model_validate(
        {"from": "ds-1", "operation": "relabel_traces_test", "config": None}
    ).to_body()
    assert body == {"from": "ds-1", "operation": "relabel_traces_test"}
    with pytest.raises(ValueError):
        DeriveDatasetRequest.model_validate({"from": "ds-1", "operation": "shuffle"})
    with pytest.raises(ValueError):
        DeriveDatasetRequest.model_validate(
            {"from": "ds-1", "operation": "relabel_traces_test", "confg": {}}
        )
    with pytest.raises(ValueError, match="exactly one"):
        CreatePreparedTracesRequest(traces_jsonl="u", inference_endpoint_name="e")


def test_response_models() -> None:
    urls = StagingUrls.model_validate({"train_data_jsonl": "https://s/1", "junk": 3})
    assert urls.urls == {"train_data_jsonl": "https://s/1"}
    assert InferenceEndpoint.model_validate({"unique_endpoint_name": "a-b"}).id == "a-b"
    assert JobLogs.model_validate({"logs": ["a", "b"]}).text == "a\nb"
    assert JobLogs.model_validate({"logs": None}).tail() == ""
    # Lines, as `tail -n` counts them (it counted characters once).
    log = JobLogs.model_validate({"logs": "epoch 1\nepoch 2\nepoch 3\nTraceback: boom\n"})
    assert log.tail(2) == "epoch 3\nTraceback: boom"
    assert log.tail(0) == "" and log.tail(99) == log.text.rstrip("\n")
    download = DatasetDownload.model_validate({"train_data_url": "u", "test_data_url": None})
    assert download.urls == {"train_data": "u"}


def test_resolve_override_kinds() -> None:
    config = TaskConfig.model_validate({"tuning": {"num_train_epochs": 2}})
    assert resolve_override(config, "config") == {
        "base": {"task": "classification"},
        "tuning": {"num_train_epochs": 2},
    }
    jd = JobDescription(task_description="t", classes_description={"a": "A", "b": "B"})
    resolved = resolve_override(jd, "job_description")
    assert resolved is not None and resolved["classes_description"] == {"a": "A", "b": "B"}
    assert resolve_override(None, "config") is None
    with pytest.raises(DistilError, match="takes an Override"):
        resolve_override(42, "config")
    with pytest.raises(DistilError, match="JobDescription was passed as config="):
        resolve_override(jd, "config")
    ov = Override("config", "dataset ds-1", {"base": {"task": "classification"}})
    ov["base"] = "oops"
    with pytest.raises(DistilError, match=r"base\.task"):
        resolve_override(ov, "config")


def test_a_listed_entity_does_not_claim_a_status_it_was_not_given() -> None:
    from distil_sdk.types.entities import SLM

    listed = SLM.model_validate({"id": "slm-1", "created_at": "2026-01-01", "dataset_id": "ds-1"})
    assert "status" not in repr(listed) and "dataset_id='ds-1'" in repr(listed)
    shown = SLM.model_validate({"id": "slm-1", "status": "JOB_RUNNING"})
    assert "status=<JobStatus.RUNNING" in repr(shown)

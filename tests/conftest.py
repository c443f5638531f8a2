"""Shared fixtures: tiny real models built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

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

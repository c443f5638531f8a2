"""LocalClassifier on a CUDA GPU: the same answers as on CPU, in the GPU's own dtypes.

Skipped where torch sees no CUDA device (CI has none); run on a GPU machine with
``pytest tests/test_inference_cuda.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from distil_sdk.inference import LocalClassifier  # noqa: E402
from tiny_models import generative_folder  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

TEXTS = [
    "my card payment was charged a fee",
    "hello",
    "a kettle for the kitchen with steel finish and a cotton shirt with long sleeves " * 3,
    "i want to change my pin number",
    "?",  # the shortest text (an empty one is refused)
    "hello",  # a repeat: computed once, returned twice
    "where is my new card it has not arrived",
]


def half_dtype() -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@pytest.fixture(scope="module")
def cpu_proba(tiny_bert_classifier: Path) -> np.ndarray:
    return LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu").predict_proba(TEXTS)


def test_auto_picks_cuda_and_half_precision(tiny_bert_classifier: Path) -> None:
    clf = LocalClassifier.from_pretrained(tiny_bert_classifier)
    assert clf.device.type == "cuda"
    assert clf.dtype == half_dtype()
    assert "cuda" in repr(clf)
    assert clf.batch_size == 128  # GPU default; 32 on CPU


def test_fp32_on_cuda_equals_cpu(tiny_bert_classifier: Path, cpu_proba: np.ndarray) -> None:
    clf = LocalClassifier.from_pretrained(
        tiny_bert_classifier, device="cuda", dtype="float32", batch_size=3
    )
    got = clf.predict_proba(TEXTS)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, cpu_proba, atol=1e-4)
    np.testing.assert_array_equal(got[1], got[5])


def test_half_precision_on_cuda_is_close_to_cpu(
    tiny_bert_classifier: Path, cpu_proba: np.ndarray
) -> None:
    clf = LocalClassifier.from_pretrained(tiny_bert_classifier, device="cuda", batch_size=2)
    got = clf.predict_proba(TEXTS)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, cpu_proba, atol=3e-2)
    # Order restored across length-sorted batches: a reversed input gives reversed rows.
    np.testing.assert_allclose(clf.predict_proba(TEXTS[::-1]), got[::-1], atol=1e-6)
    assert clf.predict(iter(TEXTS)).tolist() == [clf.labels[i] for i in got.argmax(axis=1)]


def test_generative_on_cuda_matches_cpu(tiny_llama: Path, tmp_path: Path) -> None:
    folder = generative_folder(tiny_llama, tmp_path / "model", ["billing", "cards", "shopping"])
    want = LocalClassifier.from_pretrained(folder, device="cpu", batch_size=2).predict_proba(TEXTS)
    fp32 = LocalClassifier.from_pretrained(folder, device="cuda", dtype="float32", batch_size=2)
    np.testing.assert_allclose(fp32.predict_proba(TEXTS), want, atol=1e-4)
    half = LocalClassifier.from_pretrained(folder, device="cuda", batch_size=4)
    assert half.dtype == half_dtype()
    np.testing.assert_allclose(half.predict_proba(TEXTS), want, atol=5e-2)

"""``LocalClassifier.from_pretrained(..., precision=...)``: the bf16 and ONNX Runtime int8 modes."""

from __future__ import annotations

import json
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import TINY_LABELS  # noqa: E402
from distil_sdk import DistilError  # noqa: E402
from distil_sdk._errors import ModelLoadError  # noqa: E402
from distil_sdk.inference import LocalClassifier, PrecisionCheckError  # noqa: E402
from distil_sdk.inference._precision import native_bf16_cpu  # noqa: E402
from tiny_models import CORPUS  # noqa: E402

needs_ort = pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(m) for m in ("onnx", "onnxruntime")),
    reason="needs the onnx extra: pip install 'distil-sdk[onnx]'",
)

needs_bf16 = pytest.mark.skipif(
    not native_bf16_cpu(), reason="needs a CPU with native bf16 (AVX512_BF16 or AMX)"
)
# Each fast mode with what it needs from this machine.
FAST_MODES = [
    pytest.param("bf16", marks=needs_bf16),
    pytest.param("int8", marks=needs_ort),
]

TEXTS = [*CORPUS, "a", "where is my card " * 10, "refund please"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("int8-cache")


@pytest.fixture(scope="module")
def int8_clf(tiny_bert_classifier: Path, cache: Path) -> LocalClassifier:
    return LocalClassifier.from_pretrained(
        tiny_bert_classifier, device="cpu", precision="int8", cache_dir=cache
    )


def test_default_stays_exact(tiny_bert_classifier: Path) -> None:
    clf = LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu")
    assert clf.precision == "exact"
    assert clf.precision_check is None
    assert "precision" not in repr(clf)


def _assert_self_checked(clf: LocalClassifier, exact: LocalClassifier, precision: str) -> None:
    """A fast copy: its precision shown, the exact labels, a passed built-in self-check."""
    assert clf.precision == precision and f"precision='{precision}'" in repr(clf)
    assert clf.labels == exact.labels == TINY_LABELS
    check = clf.precision_check
    assert check is not None and check.precision == precision
    assert check.source == "built-in" and check.n_texts >= 16
    assert check.agreement == 1.0 and 0 < check.max_prob_diff < 0.05


@needs_ort
def test_int8_loads_checks_and_keeps_label_order(
    int8_clf: LocalClassifier, tiny_bert_classifier: Path, cache: Path
) -> None:
    exact = LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu")
    _assert_self_checked(int8_clf, exact, "int8")

    want, got = exact.predict_proba(TEXTS), int8_clf.predict_proba(TEXTS)
    assert got.shape == (len(TEXTS), len(TINY_LABELS))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    # int8, not a copy of the exact model: close, but not equal.
    assert 0 < np.abs(got - want).max() < 0.05
    assert int8_clf.predict(TEXTS).tolist() == exact.predict(TEXTS).tolist()
    assert int8_clf("refund please").label == int8_clf.predict(["refund please"]).tolist()[0]
    # The export is cached once, completely, with no temporary folder left behind.
    assert [p.name.startswith("onnx-") for p in cache.iterdir()] == [True]
    assert (next(cache.iterdir()) / "model.int8.onnx").is_file()


@needs_ort
def test_second_load_reuses_the_cached_export(
    int8_clf: LocalClassifier, tiny_bert_classifier: Path, cache: Path
) -> None:
    cached = next(cache.glob("onnx-*/model.int8.onnx"))
    stamp = cached.stat().st_mtime_ns
    again = LocalClassifier.from_pretrained(
        tiny_bert_classifier, device="cpu", precision="int8", cache_dir=cache
    )
    assert cached.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.predict_proba(TEXTS), int8_clf.predict_proba(TEXTS))


@needs_ort
def test_caller_texts_and_job_description_texts(
    tiny_bert_classifier: Path, cache: Path, tmp_path: Path
) -> None:
    clf = LocalClassifier.from_pretrained(
        tiny_bert_classifier,
        device="cpu",
        precision="int8",
        cache_dir=cache,
        check_texts=["refund please", "refund please", "my card"],
    )
    assert clf.precision_check is not None
    assert (clf.precision_check.source, clf.precision_check.n_texts) == ("caller", 2)

    folder = Path(shutil.copytree(tiny_bert_classifier, tmp_path / "model"))
    (folder / "job_description.json").write_text(
        json.dumps(
            {
                "task_description": "Route the customer's message.",
                "classes_description": {
                    "billing": "Fees and charges. Refunds too.",
                    "cards": "Card delivery and PINs.",
                    "shopping": "Products for sale.",
                },
            }
        )
    )
    clf = LocalClassifier.from_pretrained(folder, device="cpu", precision="int8", cache_dir=cache)
    assert clf.precision_check is not None
    assert clf.precision_check.source == "job_description.json + built-in"
    # task + 3 names + 3 descriptions + 2 extra sentences of the first, + 16 built-in
    assert clf.precision_check.n_texts == 1 + 3 + 3 + 2 + 16


def _tied_model(source: Path, dest: Path) -> Path:
    """A copy whose labels 0 and 1 differ by less than one int8 or bf16 step; label 2 never wins.

    Pooler unit 0 is constant (tanh(5)) and the classifier rows of labels 0 and 1 differ only by
    1e-5 on that unit, where row 0 holds 0: fp32 always ranks label 1 first, while int8 rounds
    both rows to the same integers (and bf16 rounds both logits to the same 8-bit mantissa),
    ties the two logits and ranks label 0 first. So every label changes, whatever the text.
    """
    from transformers import AutoModelForSequenceClassification

    folder = Path(shutil.copytree(source, dest))
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        model.bert.pooler.dense.weight[0] = 0.0
        model.bert.pooler.dense.bias[0] = 5.0
        weight, bias = model.classifier.weight, model.classifier.bias
        weight[0, 0] = 0.0
        weight[1] = weight[0]
        weight[1, 0] = 1e-5
        # Logits near 8, where one bf16 step (0.0625) dwarfs the 1e-5 and one fp32 step does not.
        bias[0] = bias[1] = 8.0
        bias[2] = -100.0
    model.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.mark.parametrize("mode", FAST_MODES)
def test_refuses_when_labels_change(
    mode: str, tiny_bert_classifier: Path, cache: Path, tmp_path: Path
) -> None:
    folder = _tied_model(tiny_bert_classifier, tmp_path / "tied")
    exact = LocalClassifier.from_pretrained(folder, device="cpu")
    assert set(exact.predict(TEXTS)) == {TINY_LABELS[1]}

    with pytest.raises(PrecisionCheckError) as info:
        LocalClassifier.from_pretrained(folder, device="cpu", precision=mode, cache_dir=cache)
    assert isinstance(info.value, ModelLoadError) and isinstance(info.value, DistilError)
    assert info.value.check.agreement == 0.0
    message = str(info.value)
    assert str(folder) in message and "0.0%" in message and "min_agreement=1" in message
    assert f"precision={mode!r} refused" in message and "precision='exact'" in message

    # The caller may accept the loss; the measured agreement stays on the classifier.
    clf = LocalClassifier.from_pretrained(
        folder, device="cpu", precision=mode, cache_dir=cache, min_agreement=0.0
    )
    assert clf.precision_check is not None and clf.precision_check.agreement == 0.0
    assert set(clf.predict(TEXTS)) == {TINY_LABELS[0]}


@needs_bf16
def test_bf16_loads_checks_and_stays_close(tiny_bert_classifier: Path, tmp_path: Path) -> None:
    exact = LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu")
    clf = LocalClassifier.from_pretrained(
        tiny_bert_classifier, device="cpu", precision="bf16", cache_dir=tmp_path
    )
    _assert_self_checked(clf, exact, "bf16")

    want, got = exact.predict_proba(TEXTS), clf.predict_proba(TEXTS)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    # bf16 products, not a copy of the exact model: close, but not equal.
    assert 0 < np.abs(got - want).max() < 0.05
    assert clf.predict(TEXTS).tolist() == exact.predict(TEXTS).tolist()
    # Nothing is exported or cached in this mode.
    assert list(tmp_path.iterdir()) == []
    copy = pickle.loads(pickle.dumps(clf))
    assert copy.precision == "bf16"
    np.testing.assert_array_equal(copy.predict_proba(TEXTS), got)


def test_bf16_is_refused_where_the_cpu_would_emulate_it(
    tiny_bert_classifier: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import distil_sdk.inference._precision as precision

    monkeypatch.setattr(precision, "native_bf16_cpu", lambda: False)
    with pytest.raises(ValueError, match="native bf16") as info:
        LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu", precision="bf16")
    assert "precision='int8'" in str(info.value)


@needs_ort
def test_pickled_copy_reloads_in_int8(int8_clf: LocalClassifier) -> None:
    copy = pickle.loads(pickle.dumps(int8_clf))
    assert copy.precision == "int8"
    np.testing.assert_array_equal(copy.predict_proba(TEXTS), int8_clf.predict_proba(TEXTS))


def test_bad_arguments_fail_before_loading(tiny_bert_classifier: Path, tiny_llama: Path) -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        LocalClassifier.from_pretrained(tiny_bert_classifier, precision="fp8")
    with pytest.raises(ValueError, match="min_agreement must be between 0 and 1"):
        LocalClassifier.from_pretrained(tiny_bert_classifier, precision="int8", min_agreement=1.01)
    with pytest.raises(ValueError, match="fp32 model"):
        LocalClassifier.from_pretrained(
            tiny_bert_classifier, device="cpu", dtype="bfloat16", precision="int8"
        )
    with pytest.raises(ValueError, match="compile=True"):
        LocalClassifier.from_pretrained(
            tiny_bert_classifier, device="cpu", precision="int8", compile=True
        )
    with pytest.raises(ValueError, match="CPU serving mode"):
        LocalClassifier.from_pretrained(tiny_bert_classifier, device="meta", precision="int8")
    with pytest.raises(ValueError, match="CPU serving mode"):
        LocalClassifier.from_pretrained(tiny_bert_classifier, device="meta", precision="bf16")
    with pytest.raises(ValueError, match="compile=True"):
        LocalClassifier.from_pretrained(
            tiny_bert_classifier, device="cpu", precision="bf16", compile=True
        )


@pytest.mark.parametrize("mode", FAST_MODES)
def test_generative_models_are_refused(mode: str, tiny_llama: Path) -> None:
    with pytest.raises(ModelLoadError, match="sequence classifiers only"):
        LocalClassifier.from_pretrained(tiny_llama, device="cpu", precision=mode)


def test_missing_onnxruntime_names_the_extra(
    tiny_bert_classifier: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ModelLoadError, match=r"pip install 'distil-sdk\[onnx\]'"):
        LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu", precision="int8")

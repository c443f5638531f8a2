"""scikit-learn / pandas conventions of LocalClassifier, EvaluationReport, hub ids, quiet loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_LABELS
from distil_sdk import EvaluationReport, ModelLoadError
from distil_sdk.inference import LocalClassifier, MissingDependencyError, _report

pd = pytest.importorskip("pandas")

TEXTS = [
    "my card payment was charged a fee",
    "a cotton shirt with long sleeves",
    "where is my new card it has not arrived",
    "the novel tells the story of a family",
    "i want to change my pin number",
]
GOLD = ["billing", "shopping", "cards", "shopping", "cards"]


@pytest.fixture(scope="module")
def clf(tiny_bert_classifier: Path) -> LocalClassifier:
    return LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu")


def test_predict_and_predict_proba_are_numpy_arrays_over_classes(clf: LocalClassifier) -> None:
    assert isinstance(clf.classes_, np.ndarray)
    assert clf.classes_.tolist() == clf.labels == TINY_LABELS
    probs = clf.predict_proba(TEXTS)
    labels = clf.predict(TEXTS)
    assert isinstance(probs, np.ndarray) and isinstance(labels, np.ndarray)
    assert labels.shape == (len(TEXTS),)
    assert labels.tolist() == [TINY_LABELS[i] for i in probs.argmax(axis=1)]
    assert all(type(x) is str for x in labels.tolist())
    assert clf.predict("one text").shape == (1,)
    empty = clf.predict([])
    assert isinstance(empty, np.ndarray) and empty.shape == (0,)


def test_pandas_in_pandas_out_keeps_the_index(clf: LocalClassifier) -> None:
    index = pd.Index([40, 7, 13, 2, 99], name="row")
    series = pd.Series(TEXTS, index=index)
    labels = clf.predict(series)
    probs = clf.predict_proba(series)
    assert isinstance(labels, pd.Series) and labels.name == "label"
    assert labels.index.equals(index)
    assert labels.tolist() == clf.predict(TEXTS).tolist()
    assert isinstance(probs, pd.DataFrame) and list(probs.columns) == TINY_LABELS
    assert probs.index.equals(index)
    np.testing.assert_allclose(probs.to_numpy(), clf.predict_proba(TEXTS), atol=1e-6)
    # A DataFrame works through its text column; the assignment lines up by index.
    frame = pd.DataFrame({"id": range(5), "text": TEXTS}, index=index)
    frame["pred"] = clf.predict(frame)
    assert frame["pred"].tolist() == labels.tolist()
    assert [p.label for p in clf.classify(series)] == labels.tolist()
    with pytest.raises(ValueError, match="'text'"):
        clf.predict(pd.DataFrame({"a": TEXTS, "b": TEXTS}))


def test_evaluate_accepts_dataframes_files_and_texts_with_labels(
    clf: LocalClassifier, tmp_path: Path
) -> None:
    report = clf.evaluate(TEXTS, GOLD)
    assert isinstance(report, EvaluationReport)
    predicted = clf.predict(TEXTS).tolist()
    assert report.accuracy == pytest.approx(
        sum(p == g for p, g in zip(predicted, GOLD, strict=True)) / len(GOLD)
    )
    assert report.labels == TINY_LABELS and report.n_samples == 5
    # The confusion matrix counts each (gold, predicted) pair.
    for i, gold_label in enumerate(TINY_LABELS):
        for j, pred_label in enumerate(TINY_LABELS):
            want = sum(
                g == gold_label and p == pred_label for g, p in zip(GOLD, predicted, strict=True)
            )
            assert report.confusion_matrix[i][j] == want
    assert [row.label for row in report.per_class] == TINY_LABELS
    assert [row.support for row in report.per_class] == [1, 2, 2]

    assert clf.evaluate(pd.DataFrame({"text": TEXTS, "label": GOLD})) == report
    assert clf.evaluate(pd.DataFrame({"question": TEXTS, "answer": GOLD})) == report
    with pytest.raises(ValueError, match="label column"):
        clf.evaluate(pd.DataFrame({"text": TEXTS}))

    jsonl = tmp_path / "test.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps({"question": t, "answer": g}) + "\n"
            for t, g in zip(TEXTS, GOLD, strict=True)
        )
    )
    assert clf.evaluate(jsonl) == report
    csv = tmp_path / "sdk-columns.csv"
    pd.DataFrame({"text": TEXTS, "label": GOLD}).to_csv(csv, index=False)
    assert clf.evaluate(csv) == report
    parquet = tmp_path / "test.parquet"
    pytest.importorskip("pyarrow")
    pd.DataFrame({"text": TEXTS, "label": GOLD}).to_parquet(parquet)
    assert clf.evaluate(parquet) == report


def test_report_unknown_labels_and_pandas_views(clf: LocalClassifier) -> None:
    report = clf.evaluate(TEXTS[:2], ["billing", "not-a-class"])
    assert report.unknown_labels == ["not-a-class"]
    assert report.accuracy <= 0.5
    frame = report.to_pandas()
    assert list(frame.columns) == ["precision", "recall", "f1", "support"]
    assert list(frame.index) == [*TINY_LABELS, "macro avg", "weighted avg"]
    matrix = report.confusion_matrix_frame()
    assert matrix.to_numpy().tolist() == report.confusion_matrix
    assert "not-a-class" in report.to_table() and "accuracy:" in str(report)


def test_report_from_predictions_is_exact() -> None:
    report = EvaluationReport.from_predictions(
        ["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"]
    )
    assert report.accuracy == 0.75
    assert report.confusion_matrix == [[1, 1], [0, 2]]
    a, b = report.per_class
    assert (a.precision, a.recall) == (1.0, 0.5)
    assert (b.precision, b.recall) == pytest.approx((2 / 3, 1.0))
    assert report.macro_avg.f1 == pytest.approx((2 / 3 + 0.8) / 2)
    assert EvaluationReport.model_validate_json(report.model_dump_json()) == report


def test_plot_draws_and_saves_the_confusion_matrix(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report = EvaluationReport.from_predictions(["a", "b", "b"], ["a", "a", "b"], ["a", "b"])
    ax = report.plot(path=tmp_path / "cm.png")
    cells = sorted(t.get_text() for t in ax.texts)
    assert cells == ["0", "1", "1", "1"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shares = report.plot(normalize=True)
    assert sorted(t.get_text() for t in shares.texts) == ["0.00", "0.50", "0.50", "1.00"]


def test_plot_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real = importlib.import_module

    def fake(name: str, *args: object) -> object:
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib, "import_module", fake)
    report = EvaluationReport.from_predictions(["a"], ["a"], ["a"])
    with pytest.raises(MissingDependencyError, match=r"distil-sdk\[plot\]"):
        report.plot()
    assert _report.MissingDependencyError is MissingDependencyError


def _fake_hub_cache(root: Path, repo_id: str, model: Path) -> Path:
    """The on-disk layout huggingface_hub's cache uses: refs/main -> snapshots/<commit>/."""
    commit = "0" * 40
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(model, repo / "snapshots" / commit)
    return repo / "snapshots" / commit


def test_hub_id_resolved_from_the_local_cache(
    tiny_bert_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)  # "acme/tiny-cls" must not exist as a relative path
    snapshot = _fake_hub_cache(tmp_path / "hub", "acme/tiny-cls", tiny_bert_classifier)
    clf = LocalClassifier.from_pretrained("acme/tiny-cls", device="cpu")
    assert clf.model_path == snapshot and clf.labels == TINY_LABELS
    with pytest.raises(ModelLoadError, match=r"hf download acme/missing") as info:
        LocalClassifier.from_pretrained("acme/missing")
    assert str(tmp_path / "hub") in str(info.value)
    with pytest.raises(ModelLoadError, match="no such file or folder"):
        LocalClassifier.from_pretrained("./nowhere/at-all/x")


def test_loading_is_quiet_and_restores_progress_bars(
    tiny_bert_classifier: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu")
    err = capfd.readouterr().err
    assert "\r" not in err and "%|" not in err
    assert hf_logging.is_progress_bar_enabled()  # the caller's setting is left as it was


def test_text_column_names_the_dataframe_column(clf: LocalClassifier) -> None:
    index = pd.Index([40, 7, 13, 2, 99])
    # A `text` column is there too, holding other texts: `text_column` must win over it.
    frame = pd.DataFrame({"text": TEXTS[::-1], "body": TEXTS, "id": range(5)}, index=index)
    labels = clf.predict(frame, text_column="body")
    assert labels.index.equals(index)
    assert labels.tolist() == clf.predict(TEXTS).tolist()
    probs = clf.predict_proba(frame, text_column="body")
    np.testing.assert_allclose(probs.to_numpy(), clf.predict_proba(TEXTS), atol=1e-6)
    assert [p.label for p in clf.classify(frame, text_column="body")] == labels.tolist()
    gold = pd.DataFrame({"body": TEXTS, "label": GOLD})
    assert clf.evaluate(gold, text_column="body") == clf.evaluate(TEXTS, GOLD)
    assert clf.evaluate(gold, gold["label"], text_column="body") == clf.evaluate(TEXTS, GOLD)


def test_missing_text_column_lists_the_columns(clf: LocalClassifier) -> None:
    frame = pd.DataFrame({"id": range(5), "body": TEXTS})
    with pytest.raises(ValueError, match=r"no column 'message' \(its columns: id, body\)"):
        clf.predict(frame, text_column="message")
    with pytest.raises(ValueError, match=r"it has: id, body\. Pass text_column="):
        clf.predict_proba(frame)  # neither `text` nor one column: told to pass text_column=
    with pytest.raises(ValueError, match=r"no text column 'message'; it has: id, body"):
        clf.evaluate(frame.assign(label=GOLD), text_column="message")
    # Naming a column of something that has none is refused, never silently ignored.
    with pytest.raises(TypeError, match="text_column='body' names a DataFrame column"):
        clf.predict(TEXTS, text_column="body")
    with pytest.raises(TypeError, match="text_column='body' names a DataFrame column"):
        clf.evaluate(TEXTS, GOLD, text_column="body")

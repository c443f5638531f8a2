"""Calibrated probabilities and abstention (issue 30, parts 1-2): the temperature fit, ECE,
``calibration.json`` in the model folder, ``min_confidence`` in ``predict`` / ``classify`` /
pandas / the CLI, and the threshold for a target precision."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from distil_sdk import ModelLoadError
from distil_sdk.cli import main
from distil_sdk.inference import (
    Calibration,
    LocalClassifier,
    expected_calibration_error,
    reliability_bins,
    threshold_for_precision,
)
from distil_sdk.inference._calibration import (
    CALIBRATION_FILE,
    LIKELIHOOD_RATIO_GATE,
    TEMPERATURE_BOUNDS,
    apply_temperature,
    coverage_points,
    fit_sharpness,
    fit_temperature,
    precision_threshold,
)

TEXTS = [
    "my card payment was charged a fee",
    "where is my new card",
    "a cotton shirt with long sleeves",
    "why was I charged twice",
    "the kettle for the kitchen",
    "i want to change my pin number",
]
GOLD = ["billing", "cards", "shopping", "billing", "shopping", "cards"]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sampled(temperature: float, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits' softmax, and labels drawn from the softmax of the logits over ``temperature``:
    the probabilities are miscalibrated by exactly that temperature."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0, size=(n, 5))
    cumulative = _softmax(z / temperature).cumsum(axis=1)
    labels = (rng.random((n, 1)) > cumulative).sum(axis=1).clip(0, 4)  # inverse-CDF draws
    return _softmax(z), labels


# -- the fit and the figures ------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [0.7, 2.0])
def test_the_fit_recovers_a_known_temperature(temperature: float) -> None:
    probs, labels = _sampled(temperature, 4000)
    fitted, statistic, reason = fit_temperature(probs, labels)
    assert fitted == pytest.approx(temperature, rel=0.1)
    assert statistic > LIKELIHOOD_RATIO_GATE and "better" in reason
    # Applying it makes the rows better calibrated than they were.
    after = apply_temperature(probs, fitted)
    assert expected_calibration_error(after, labels) < expected_calibration_error(probs, labels)


def test_the_fit_cannot_blow_up_and_needs_rows() -> None:
    # Every row right and confident: the likelihood wants T -> 0; it stops at the bound.
    probs = np.array([[0.9, 0.05, 0.05]] * 40)
    fitted, _, _ = fit_temperature(probs, np.zeros(40, dtype=int))
    assert fitted == pytest.approx(TEMPERATURE_BOUNDS[0], rel=1e-3)
    fitted, statistic, reason = fit_temperature(probs[:5], np.zeros(5, dtype=int))
    assert (fitted, statistic) == (1.0, 0.0) and "fewer than" in reason


def test_a_gain_within_chance_keeps_the_raw_probabilities() -> None:
    # Half the rows right at 0.5 confidence: perfectly calibrated except for sampling noise.
    probs = np.array([[0.5, 0.5]] * 30 + [[0.6, 0.4]] * 30)
    labels = np.array([0, 1] * 15 + [0] * 18 + [1] * 12)
    fitted, statistic, reason = fit_temperature(probs, labels)
    assert fitted == 1.0 and statistic < LIKELIHOOD_RATIO_GATE and "chance" in reason


def test_sharpness_is_the_temperature_that_matches_the_teacher() -> None:
    z = np.random.default_rng(1).normal(0.0, 2.0, size=(300, 4))
    teacher = _softmax(z)
    student = _softmax(1.6 * z)  # the student is 1.6x sharper than its teacher
    assert fit_sharpness(student, teacher) == pytest.approx(1.6, rel=1e-3)
    assert np.allclose(apply_temperature(student, 1.6), teacher, atol=1e-6)


def test_ece_on_hand_computed_cases() -> None:
    # Right at 0.9 (gap 0.1), wrong at 0.8 (gap 0.8): (0.1 + 0.8) / 2.
    assert expected_calibration_error([[0.9, 0.1], [0.8, 0.2]], [0, 1]) == pytest.approx(0.45)
    # Four texts in the [0.7, 0.8) bin, mean confidence 0.75, three right: gap 0 .
    probs = [[0.7, 0.3], [0.8 - 1e-9, 0.2 + 1e-9], [0.75, 0.25], [0.75, 0.25]]
    assert expected_calibration_error(probs, [0, 0, 0, 1]) == pytest.approx(0.0, abs=1e-8)
    # 1.0 belongs to the last bin, 0.5 to [0.5, 0.6) (the tie goes to label 0: wrong).
    bins = reliability_bins([[1.0, 0.0], [0.5, 0.5]], [0, 1])
    assert [(b.lower, b.count, b.accuracy) for b in bins] == [(0.5, 1, 0.0), (0.9, 1, 1.0)]
    assert expected_calibration_error([[1.0, 0.0], [0.5, 0.5]], [0, 1]) == pytest.approx(0.25)


def test_temperature_keeps_the_ranking_and_follows_the_logits() -> None:
    z = np.random.default_rng(2).normal(size=(50, 3))
    probs = _softmax(z).astype(np.float32)
    assert apply_temperature(probs, 1.0) is probs
    hot = apply_temperature(probs, 2.5)
    assert hot.dtype == np.float32
    assert np.allclose(hot, _softmax(z / 2.5), atol=1e-6)
    assert (hot.argmax(axis=1) == probs.argmax(axis=1)).all()
    assert hot.max(axis=1).mean() < probs.max(axis=1).mean()


def test_a_calibration_survives_its_json_and_rejects_a_broken_one(tmp_path: Path) -> None:
    calibration = Calibration(
        method="temperature", temperature=1.5, rows=48, source="rows", details={"sharpness": 1.1}
    )
    calibration.save(tmp_path)
    data = json.loads((tmp_path / CALIBRATION_FILE).read_text())
    assert data["method"] == "temperature" and data["bins"] == 10
    assert Calibration.load(tmp_path) == calibration
    assert Calibration.load(tmp_path / "nowhere") is None
    for broken in ({"method": "platt"}, {"method": "temperature", "temperature": -1}, []):
        (tmp_path / CALIBRATION_FILE).write_text(json.dumps(broken))
        with pytest.raises(ValueError, match=CALIBRATION_FILE):
            Calibration.load(tmp_path)


# -- the threshold and the coverage ------------------------------------------------------------------
def test_the_threshold_is_the_lowest_that_reaches_the_target() -> None:
    confidence = [0.95, 0.9, 0.9, 0.8, 0.7, 0.6]
    correct = [True, True, False, True, True, False]
    # Answering down to 0.7: 4 of 5 right (0.8); down to 0.9: 2 of 3 (ties answered together).
    choice = precision_threshold(confidence, correct, 0.8)
    assert (choice.threshold, choice.coverage, choice.precision) == (0.7, 5 / 6, 0.8)
    threshold, coverage, precision = precision_threshold(confidence, correct, 0.95)
    assert (threshold, coverage, precision) == (0.95, 1 / 6, 1.0)
    never = precision_threshold([0.9, 0.8], [False, False], 0.5)
    assert not never.reached and never.threshold == math.inf and never.coverage == 0.0
    with pytest.raises(ValueError, match="target precision"):
        precision_threshold(confidence, correct, 95)


def test_accuracy_against_coverage() -> None:
    points = coverage_points([0.9, 0.8, 0.7, 0.6], [True, True, False, False], (1.0, 0.5))
    assert [(p.answered, p.threshold, p.accuracy) for p in points] == [
        (4, 0.6, 0.5),
        (2, 0.8, 1.0),
    ]
    # Shares that answer the same texts give one point.
    assert len(coverage_points([0.9, 0.8], [True, True], (1.0, 0.95, 0.9, 0.5))) == 2


def test_a_report_with_an_unreached_target_is_valid_json() -> None:
    from distil_sdk.inference import EvaluationReport

    report = EvaluationReport.from_predictions(
        ["a", "b"], ["b", "b"], ["a", "b"], confidences=[0.9, 0.8], target_precision=0.9
    )
    assert report.threshold is not None and not report.threshold.reached
    text = report.model_dump_json()
    assert "Infinity" not in text and json.loads(text)["threshold"]["threshold"] is None
    assert EvaluationReport.model_validate_json(text) == report
    assert "no min confidence reaches precision 0.9" in report.to_table()


# -- LocalClassifier ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw(tiny_bert_classifier: Path) -> LocalClassifier:
    return LocalClassifier.from_pretrained(tiny_bert_classifier)


@pytest.fixture(scope="module")
def calibrated_dir(tiny_bert_classifier: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("calibrated") / "model"
    shutil.copytree(tiny_bert_classifier, folder)
    # A tiny random model is nearly uniform: T = 0.05 spreads its probabilities out.
    Calibration(method="temperature", temperature=0.05, rows=10).save(folder)
    return folder


def test_the_folder_calibration_changes_probabilities_and_can_be_turned_off(
    raw: LocalClassifier, calibrated_dir: Path
) -> None:
    clf = LocalClassifier.from_pretrained(calibrated_dir)
    assert clf.calibration is not None and clf.temperature == 0.05
    assert "temperature=0.05" in repr(clf)
    base = raw.predict_proba(TEXTS)
    got = clf.predict_proba(TEXTS)
    assert not np.allclose(got, base, atol=1e-3)
    assert np.allclose(got, apply_temperature(base, 0.05), atol=1e-5)
    assert (clf.predict(TEXTS) == raw.predict(TEXTS)).all()  # the ranking never moves
    off = LocalClassifier.from_pretrained(calibrated_dir, calibrate=False)
    assert off.calibration is None and off.temperature == 1.0
    assert np.allclose(off.predict_proba(TEXTS), base)
    report = clf.evaluate(TEXTS, GOLD)
    assert report.calibrated is True and report.ece is not None
    assert report.mean_confidence == pytest.approx(float(got.max(axis=1).mean()))


def test_a_broken_calibration_file_names_itself(tmp_path: Path, tiny_bert_classifier: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert_classifier, folder)
    (folder / CALIBRATION_FILE).write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"calibration\.json.*calibrate=False"):
        LocalClassifier.from_pretrained(folder)
    assert LocalClassifier.from_pretrained(folder, calibrate=False).calibration is None


def _between(clf: LocalClassifier) -> float:
    """A threshold that some of ``TEXTS`` reach and some do not."""
    top = np.sort(clf.predict_proba(TEXTS).max(axis=1))
    assert top[0] < top[-1]
    return float((top[len(top) // 2 - 1] + top[len(top) // 2]) / 2)


def test_predict_and_classify_abstain_below_min_confidence(calibrated_dir: Path) -> None:
    clf = LocalClassifier.from_pretrained(calibrated_dir)
    threshold = _between(clf)
    confident = clf.predict_proba(TEXTS).max(axis=1) >= threshold
    labels = clf.predict(TEXTS)
    got = clf.predict(TEXTS, min_confidence=threshold)
    assert got.dtype == object
    assert [g is None for g in got] == (~confident).tolist()
    assert (got[confident] == labels[confident]).all()
    marked = clf.predict(TEXTS, min_confidence=threshold, no_answer="unsure")
    assert marked.tolist() == [
        lab if ok else "unsure" for lab, ok in zip(labels, confident, strict=True)
    ]
    predictions = clf.classify(TEXTS, min_confidence=threshold)
    assert [p.abstained for p in predictions] == (~confident).tolist()
    assert all((p.label is None) == p.abstained and p.scores for p in predictions)
    assert clf.classify(TEXTS[0], min_confidence=0.0).label == labels[0]
    assert all(label is None for label in clf.predict(TEXTS, min_confidence=math.inf))


def test_pandas_abstention_is_a_missing_value(calibrated_dir: Path) -> None:
    pd = pytest.importorskip("pandas")
    clf = LocalClassifier.from_pretrained(calibrated_dir)
    threshold = _between(clf)
    frame = pd.DataFrame({"body": TEXTS}, index=[10 + i for i in range(len(TEXTS))])
    got = clf.predict(frame, text_column="body", min_confidence=threshold)
    assert (
        isinstance(got, pd.Series) and got.name == "label" and list(got.index) == list(frame.index)
    )
    confident = clf.predict_proba(TEXTS).max(axis=1) >= threshold
    assert got.isna().tolist() == (~confident).tolist()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"min_confidence": 80}, "not 80"),
        ({"min_confidence": float("nan")}, "probability"),
        ({"no_answer": "unsure"}, "give both"),
        ({"min_confidence": 0.5, "no_answer": "cards"}, "not one of the model's labels"),
    ],
)
def test_bad_abstention_options_are_refused(
    raw: LocalClassifier, options: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        raw.predict(TEXTS, **options)  # type: ignore[arg-type]


def test_threshold_for_precision_matches_what_predict_then_answers(calibrated_dir: Path) -> None:
    clf = LocalClassifier.from_pretrained(calibrated_dir)
    labels = clf.predict(TEXTS)
    gold = [labels[0], labels[1], "shopping", "billing", labels[4], "cards"]
    for target in (0.5, 1.0):
        choice = threshold_for_precision(clf, TEXTS, gold, target=target)
        if not choice.reached:
            continue
        answered = clf.predict(TEXTS, min_confidence=choice.threshold)
        kept = [i for i, a in enumerate(answered) if a is not None]
        assert len(kept) / len(TEXTS) == pytest.approx(choice.coverage)
        precision = np.mean([answered[i] == gold[i] for i in kept])
        assert precision == pytest.approx(choice.precision) and precision >= target


# -- the CLI -----------------------------------------------------------------------------------------
def test_cli_predict_min_confidence_and_no_calibration(
    calibrated_dir: Path, raw: LocalClassifier, capsys: pytest.CaptureFixture[str]
) -> None:
    clf = LocalClassifier.from_pretrained(calibrated_dir)
    threshold = _between(clf)
    confident = clf.predict_proba(TEXTS).max(axis=1) >= threshold
    argv = ["--json", "predict", str(calibrated_dir), *TEXTS, "--min-confidence", str(threshold)]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["abstained"] for r in rows] == (~confident).tolist()
    assert [r["label"] is None for r in rows] == (~confident).tolist()
    assert main(["predict", str(calibrated_dir), *TEXTS, "--min-confidence", str(threshold)]) == 0
    assert capsys.readouterr().out.count("(no answer)") == int((~confident).sum())
    assert main(["--json", "predict", str(calibrated_dir), TEXTS[0], "--no-calibration"]) == 0
    score = json.loads(capsys.readouterr().out)[0]["score"]
    assert score == pytest.approx(float(raw.predict_proba(TEXTS[:1]).max()), abs=1e-6)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--min-confidence", "80"], "not 80"),
        (["--input", "x.csv", "--min-confidence", "0.5"], "apply to TEXT arguments"),
    ],
)
def test_cli_predict_refuses_a_bad_min_confidence(
    calibrated_dir: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["predict", str(calibrated_dir), "text", *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_evaluate_reports_calibration_coverage_and_the_threshold(
    calibrated_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    data = tmp_path / "test.csv"
    data.write_text(
        "question,answer\n" + "".join(f"{t},{g}\n" for t, g in zip(TEXTS, GOLD, strict=True))
    )
    plot = tmp_path / "cm.png"
    argv = ["evaluate", str(calibrated_dir), str(data), "--plot", str(plot)]
    assert main([*argv, "--target-precision", "0.5"]) == 0
    captured = capsys.readouterr()
    assert "ECE" in captured.out and "10 equal-width bins" in captured.out
    assert "accuracy against coverage" in captured.out and "precision 0.5" in captured.out
    reliability = tmp_path / "cm-reliability.png"
    assert str(reliability) in captured.err
    assert reliability.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["--json", *argv[:3], "--no-calibration"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calibrated"] is False and 0.0 <= report["ece"] <= 1.0
    assert report["coverage"][0]["coverage"] == 1.0


# -- training ----------------------------------------------------------------------------------------
def test_a_training_writes_the_calibration_the_classifier_applies(
    tiny_bert_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from distil_sdk.local import pipeline
    from distil_sdk.local.teachers import _recipes, embedded
    from distil_sdk.types.data import LabelledDataset
    from test_pipeline import FAST, TRAIN, Recorder, _bundle

    monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)
    monkeypatch.setenv("DISTIL_NUM_THREADS", "1")
    # Time: one recipe to cross-validate instead of ten, and no card images.
    one = (_recipes.Recipe(10.0),)
    choose = embedded.choose_recipe
    monkeypatch.setattr(embedded, "choose_recipe", lambda *a, **k: choose(*a, **k, candidates=one))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    bundle = _bundle(tiny_bert_encoder)
    # 27 gold rows: enough for the teacher's out-of-fold probabilities (5 folds).
    rows = [(f"{text} {word}", label) for text, label in TRAIN for word in ("", "now", "again")]
    bundle.train = LabelledDataset.from_lists([t for t, _ in rows], [y for _, y in rows])
    out = pipeline.run_training(bundle, tmp_path, Recorder(), options=FAST)
    calibration = Calibration.load(out.model_dir)
    assert calibration is not None and calibration.rows == len(rows)
    assert calibration.method in ("temperature", "identity") and calibration.reason
    assert {"teacher_temperature", "sharpness", "likelihood_ratio"} <= set(calibration.details)
    raw = LocalClassifier.from_pretrained(out.model_dir, calibrate=False).predict_proba(TEXTS)
    clf = LocalClassifier.from_pretrained(out.model_dir)
    assert clf.temperature == calibration.temperature
    assert np.allclose(clf.predict_proba(TEXTS), calibration.apply(raw), atol=1e-6)
    card = (out.model_dir / "README.md").read_text(encoding="utf-8")
    assert "## Calibration" in card and "| calibrated |" in card


def test_without_out_of_fold_evidence_the_calibration_is_the_identity() -> None:
    from types import SimpleNamespace

    from distil_sdk.local._jobs.calibration import fit_student_calibration

    # An LLM-style teacher: no recipe to refit, so nothing held out to calibrate on.
    run = SimpleNamespace(teacher=object())
    calibration = fit_student_calibration(run, None, None)  # type: ignore[arg-type]
    assert calibration.is_identity and "out-of-fold" in calibration.reason
    # A failure never fails the training: the identity, with the reason.
    broken = SimpleNamespace(teacher=SimpleNamespace(recipe_choice=object(), embed=len))
    calibration = fit_student_calibration(broken, None, None)  # type: ignore[arg-type]
    assert calibration.is_identity and calibration.reason.startswith("not fitted")


def _oof(
    confidence: float, wrong_every: int, rows: int = 300, fold_bias: float | None = None
) -> Any:
    """Out-of-fold evidence over 3 classes: ``confidence`` on the predicted class, which is
    wrong on every ``wrong_every``-th row."""
    from distil_sdk.local._jobs.calibration import OutOfFold

    labels = np.arange(rows) % 3
    predicted = np.where(np.arange(rows) % wrong_every == 0, (labels + 1) % 3, labels)
    probs = np.full((rows, 3), (1 - confidence) / 2)
    probs[np.arange(rows), predicted] = confidence
    return OutOfFold(probs, labels, fold_bias)


def test_without_a_fold_bias_out_of_fold_evidence_softens_but_never_sharpens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Out-of-fold models see fewer rows than the final teacher, so they look underconfident:
    with no unlabelled texts to measure by how much, their T < 1 is not applied (uncorrected,
    it doubled a short-text task's test ECE); their T > 1 is."""
    from types import SimpleNamespace

    from distil_sdk.local._jobs import calibration as stage

    monkeypatch.setattr(stage, "_sharpness", lambda run, student, transfer: (1.0, 64))
    run = SimpleNamespace(teacher=object())

    monkeypatch.setattr(stage, "teacher_out_of_fold", lambda run: _oof(0.5, 1000))
    underconfident = stage.fit_student_calibration(run, None, None)  # type: ignore[arg-type]
    assert underconfident.details["teacher_temperature_fitted"] < 0.9  # the fit says sharpen
    assert underconfident.temperature == 1.0 and underconfident.is_identity
    assert "only for softening" in underconfident.reason

    monkeypatch.setattr(stage, "teacher_out_of_fold", lambda run: _oof(0.98, 3))
    overconfident = stage.fit_student_calibration(run, None, None)  # type: ignore[arg-type]
    assert overconfident.temperature > 1.2 and not overconfident.is_identity


def stage_gate() -> float:
    from distil_sdk.inference._calibration import LIKELIHOOD_RATIO_GATE

    return LIKELIHOOD_RATIO_GATE


def test_the_fold_bias_corrects_the_out_of_fold_temperature(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The teacher at ``b x T_oof`` is the fold models at ``T_oof``: an underconfident teacher
    is sharpened by that much (never past 1), an overconfident one softened by the fold fits'
    own temperature, and a fit that does not beat ``1 / b`` by more than chance changes
    nothing."""
    from types import SimpleNamespace

    from distil_sdk.local._jobs import calibration as stage

    monkeypatch.setattr(stage, "_sharpness", lambda run, student, transfer: (1.0, 64))
    run = SimpleNamespace(teacher=object())
    plain = _oof(0.5, 1000)
    monkeypatch.setattr(stage, "teacher_out_of_fold", lambda run: _oof(0.5, 1000, fold_bias=1.5))
    corrected = stage.fit_student_calibration(run, None, None)  # type: ignore[arg-type]
    t_oof = corrected.details["teacher_temperature_fitted"]
    assert t_oof < 0.6
    assert corrected.temperature == pytest.approx(1.5 * t_oof)
    assert corrected.temperature < 1.0 and "fold bias 1.500" in corrected.reason
    # The fold models' own rows are what the out-of-fold ECE figures describe.
    assert corrected.ece_after < corrected.ece_before
    assert corrected.ece_before == pytest.approx(
        stage.expected_calibration_error(plain.probs, plain.labels)
    )

    # Overconfident fold models: the softening is theirs, not b times it (only towards 1).
    monkeypatch.setattr(stage, "teacher_out_of_fold", lambda run: _oof(0.98, 3, fold_bias=1.5))
    softened = stage.fit_student_calibration(run, None, None)  # type: ignore[arg-type]
    t_oof = softened.details["teacher_temperature_fitted"]
    assert t_oof > 1.2 and softened.temperature == pytest.approx(t_oof)
    # A fit that does not beat 1 / b (the raw teacher) by more than chance leaves it raw,
    # even where it would beat 1: the null is the bias-corrected one.
    slight = _oof(0.9, 10, fold_bias=1.4)
    slight.probs = stage.apply_temperature(slight.probs, 1.5)  # fold models under-confident
    t_oof, vs_one, _ = stage.fit_temperature(slight.probs, slight.labels)
    assert t_oof < 0.75 and vs_one >= stage_gate()
    monkeypatch.setattr(stage, "teacher_out_of_fold", lambda run: slight)
    raw = stage.fit_student_calibration(run, None, None)  # type: ignore[arg-type]
    assert raw.temperature == 1.0 and raw.is_identity
    assert "than 0.71 does" in raw.reason


# -- the docs ----------------------------------------------------------------------------------------
DOC = Path(__file__).resolve().parent.parent / "docs" / "inference.md"


def _blocks(heading: str) -> list[str]:
    import re

    text = DOC.read_text(encoding="utf-8")
    start = text.index("\n" + heading) + 1
    body = text[start : text.find("\n## ", start + len(heading))]
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


def test_the_snippets_of_the_calibration_and_abstention_sections_run(
    calibrated_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pd = pytest.importorskip("pandas")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(calibrated_dir, tmp_path / "model")
    (tmp_path / "test.csv").write_text(
        "question,answer\n" + "".join(f"{t},{g}\n" for t, g in zip(TEXTS, GOLD, strict=True))
    )
    clf = LocalClassifier.from_pretrained("model")
    namespace = {
        "clf": clf,
        "LocalClassifier": LocalClassifier,
        "df": pd.DataFrame({"text": TEXTS}),
    }
    blocks = _blocks("## Calibrated probabilities") + _blocks("## No answer below a confidence")
    assert len(blocks) == 3
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert namespace["raw"].temperature == 1.0
    assert namespace["df"]["label"].isna().all() == (clf.predict_proba(TEXTS).max() < 0.9)

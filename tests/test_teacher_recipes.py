"""The embedded teacher's per-task recipe choice (cross-validation over the labelled rows)."""

from __future__ import annotations

import numpy as np
import pytest

from distil_sdk.local.pipeline import student_findings
from distil_sdk.local.teachers._recipes import (
    DEFAULT_CANDIDATES,
    Recipe,
    choose_recipe,
    fit_recipe,
    predict_proba,
)


def _task(
    n_per_class: int, n_classes: int = 3, spread: float = 0.35, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors around one centre per class: (x_train, y_train, x_desc, x_pool)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, 16))

    def around(c: np.ndarray, n: int) -> np.ndarray:
        x = c + spread * np.linalg.norm(c) * rng.normal(size=(n, 16)) / 4
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    x = np.vstack([around(c, n_per_class) for c in centres])
    y = np.repeat(np.arange(n_classes), n_per_class)
    desc = np.vstack([around(c, 1) for c in centres])
    pool = np.vstack([around(c, 40) for c in centres])
    return x, y, desc, pool


def test_every_candidate_is_scored_and_the_best_is_chosen() -> None:
    x, y, desc, pool = _task(8)
    choice = choose_recipe(x, y, desc, pool, 3, seed=0, max_work=1e12)
    assert set(choice.cv_accuracy) == {r.name for r in DEFAULT_CANDIDATES}
    best = max(choice.cv_accuracy.values())
    assert choice.cv_accuracy[choice.recipe.name] == best
    # Among the candidates with the best accuracy, the lowest held-out log-loss wins.
    tied = [n for n, a in choice.cv_accuracy.items() if a == best]
    assert choice.cv_log_loss[choice.recipe.name] == min(choice.cv_log_loss[n] for n in tied)
    assert (choice.folds, choice.repeats) == (5, 3)  # 24 rows: 5 folds, repeated 3 times
    summary = choice.summary()
    assert choice.recipe.name in summary and "5-fold x3" in summary
    record = choice.to_json()
    assert record["recipe"]["name"] == choice.recipe.name
    assert record["cv_accuracy"][choice.recipe.name] == pytest.approx(best, abs=1e-4)


def test_cv_can_reject_self_training_that_hurts() -> None:
    # The unlabelled pool is one class's texts only, so self-training drags every fold toward
    # that class; plain logistic regression must win the cross-validation.
    x, y, desc, _ = _task(8, spread=1.2, seed=3)
    pool = np.repeat(desc[:1], 300, axis=0) + 0.01
    choice = choose_recipe(x, y, desc, pool, 3, seed=0, max_work=1e12)
    plain = max(v for k, v in choice.cv_accuracy.items() if "+st" not in k)
    trained = max(v for k, v in choice.cv_accuracy.items() if "+st" in k)
    if trained < plain:
        assert not choice.recipe.self_training
    assert choice.cv_accuracy[choice.recipe.name] >= plain


def test_without_unlabelled_texts_no_self_training_candidate_runs() -> None:
    x, y, desc, _ = _task(6)
    choice = choose_recipe(x, y, desc, np.zeros((0, 16)), 3, seed=0)
    assert choice.cv_accuracy and all("+st" not in name for name in choice.cv_accuracy)
    assert not choice.recipe.self_training


def test_too_few_rows_fall_back_to_the_given_recipe() -> None:
    x, y, desc, pool = _task(1)  # 3 labelled rows: nothing to validate on
    fallback = Recipe(10.0, self_training=True)
    choice = choose_recipe(x, y, desc, pool, 3, fallback=fallback)
    assert choice.recipe == fallback and choice.cv_accuracy == {}
    assert "fallback" in choice.reason and "fallback" in choice.summary()


def test_a_spent_budget_skips_the_self_training_candidates() -> None:
    x, y, desc, pool = _task(6)
    choice = choose_recipe(x, y, desc, pool, 3, seed=0, max_work=0.0)
    names = [r.name for r in DEFAULT_CANDIDATES]
    assert choice.skipped == [n for n in names if "+st" in n]
    assert set(choice.cv_accuracy) == {n for n in names if "+st" not in n}
    assert "skipped for time" in choice.summary()


def test_a_class_with_one_row_still_cross_validates() -> None:
    x, y, desc, pool = _task(4)
    keep = np.r_[0:4, 4:8, 8]  # class 2 has a single labelled row
    choice = choose_recipe(x[keep], y[keep], desc, pool, 3, seed=0, max_work=1e12)
    assert choice.cv_accuracy and choice.folds >= 2


def test_fit_recipe_self_trains_only_when_asked() -> None:
    x, y, desc, pool = _task(5)
    xg, yg = np.vstack([x, desc]), np.concatenate([y, np.arange(3)])
    plain = fit_recipe(Recipe(10.0), xg, yg, pool, 3, 0)
    trained = fit_recipe(Recipe(10.0, self_training=True, threshold=0.0), xg, yg, pool, 3, 0)
    probs = predict_proba(trained, pool, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert not np.allclose(predict_proba(plain, pool, 3), probs)


def test_student_below_teacher_is_reported() -> None:
    results = {"teacher": {"accuracy": 0.9}, "student-tuned": {"accuracy": 0.85}}
    (finding,) = student_findings(results, 40)
    assert "0.850 against 0.900" in finding and "2 of 40 test rows" in finding
    assert (
        student_findings({"teacher": {"accuracy": 0.8}, "student-tuned": {"accuracy": 0.8}}, 40)
        == []
    )
    assert student_findings({"student-tuned": {"accuracy": 0.8}}, 40) == []


def test_the_work_budget_is_counted_so_the_choice_does_not_depend_on_load() -> None:
    from distil_sdk.local.teachers._recipes import self_training_work

    x, y, desc, pool = _task(6)  # 18 rows: 5 folds x 3 repeats
    first_st = next(r for r in DEFAULT_CANDIDATES if r.self_training)
    one = self_training_work(first_st, 15, len(y), len(pool), 3)
    choice = choose_recipe(x, y, desc, pool, 3, seed=0, max_work=one * 1.5)
    ran = [n for n in choice.cv_accuracy if "+st" in n]
    assert ran == [first_st.name]
    assert choice.skipped == [r.name for r in DEFAULT_CANDIDATES if r.self_training][1:]
    again = choose_recipe(x, y, desc, pool, 3, seed=0, max_work=one * 1.5)
    assert again.to_json() | {"seconds": 0} == choice.to_json() | {"seconds": 0}


def test_scores_of_plain_candidates_are_reused_not_refitted() -> None:
    x, y, desc, pool = _task(6)
    plain = choose_recipe(x, y, desc, np.zeros((0, 16)), 3, seed=0)
    full = choose_recipe(x, y, desc, pool, 3, seed=0, max_work=1e12)
    reused = choose_recipe(x, y, desc, pool, 3, seed=0, max_work=1e12, known=plain)
    assert reused.to_json() | {"seconds": 0} == full.to_json() | {"seconds": 0}
    # The reused numbers are taken as given: a planted score shows up unchanged.
    plain.cv_accuracy["C=1"], plain.cv_log_loss["C=1"] = 1.0, 0.0
    planted = choose_recipe(x, y, desc, pool, 3, seed=0, max_work=1e12, known=plain)
    assert planted.cv_accuracy["C=1"] == 1.0 and planted.recipe.name == "C=1"

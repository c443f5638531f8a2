"""What ``mypy --strict`` must accept: results after a successful ``wait()`` are not Optional.

Type-checked only, never run (``mypy`` checks this folder, see ``[tool.mypy]`` in
pyproject.toml; ``tests/test_typed_results.py`` runs it too). Each ``assert_type`` fails the check
if the SDK's return types widen back to ``Optional``.
"""

from __future__ import annotations

from typing_extensions import assert_type

from distil_sdk import (
    AsyncDistilClient,
    CompletedEvaluationResults,
    CompletedSLMMetrics,
    CompletedTeacherEvaluationMetrics,
    CompletedTeacherEvaluationStatus,
    DistilClient,
    Metrics,
    TeacherEvaluationMetrics,
    TeacherEvaluationStatus,
    TrainedModel,
)


def current_generation(client: DistilClient, dataset_id: str) -> float:
    evaluation = client.teacher_evaluations.create(dataset_id)
    client.teacher_evaluations.wait(evaluation.id)
    teacher = client.teacher_evaluations.results(evaluation.id)
    assert_type(teacher, CompletedTeacherEvaluationMetrics)
    assert_type(teacher.teacher_performance, Metrics)
    # Still the wider type where code expects it (a subclass, nothing renamed).
    wider: TeacherEvaluationMetrics = teacher

    slm = client.slms.create(dataset_id)
    client.slms.wait(slm.id)
    scores = client.slms.results(slm.id)
    assert_type(scores, CompletedSLMMetrics)
    assert_type(scores.base_model_performance, Metrics)
    assert_type(scores.tuned_model_performance, Metrics)
    # accuracy itself stays Optional: a non-classification task's report has none.
    assert_type(scores.tuned_model_performance.accuracy, float | None)
    return (scores.tuned_model_performance.accuracy or 0.0) + len(wider.model_fields_set)


def models_generation(client: DistilClient, model_id: str, upload_id: str) -> float | None:
    evaluation = client.v2.teacher_evaluations.create(model_id, upload_id)
    done = client.v2.teacher_evaluations.wait(evaluation.id)
    assert_type(done, CompletedTeacherEvaluationStatus)
    assert_type(done.results, Metrics)
    wider: TeacherEvaluationStatus = done

    training = client.v2.trainings.create(model_id, upload_id)
    client.v2.trainings.wait(training.id)
    results = client.v2.trainings.evaluation_results(training.id)
    assert_type(results, CompletedEvaluationResults)
    assert_type(results.evaluation_results, dict[str, Metrics])
    assert_type(results.student_tuned, Metrics)
    assert_type(results["teacher"], Metrics)
    assert_type(wider.results, Metrics | None)
    return done.results.accuracy


async def async_client(client: AsyncDistilClient, dataset_id: str) -> float | None:
    teacher = await client.teacher_evaluations.results(dataset_id)
    assert_type(teacher.teacher_performance, Metrics)
    scores = await client.slms.results(dataset_id)
    assert_type(scores.tuned_model_performance, Metrics)
    done = await client.v2.teacher_evaluations.wait(dataset_id)
    assert_type(done.results, Metrics)
    results = await client.v2.trainings.evaluation_results(dataset_id)
    assert_type(results.student_tuned, Metrics)
    return done.results.macro_f1


def train_in_one_call(client: DistilClient) -> float | None:
    trained = client.train("my-task/", "runs/triage")
    assert_type(trained, TrainedModel)
    # The docs' trained.tuned_model.accuracy: the student scores are never None...
    assert_type(trained.tuned_model, Metrics)
    assert_type(trained.base_model, Metrics)
    assert_type(trained.tuned_model.accuracy, float | None)
    assert_type(trained.accuracy, float | None)
    # ...the teacher's are None when teacher_evaluation=False skipped it.
    assert_type(trained.teacher, Metrics | None)
    assert_type(trained.teacher_evaluation_id, str | None)
    return trained.base_model.macro_f1


async def train_in_one_call_async(client: AsyncDistilClient) -> float | None:
    trained = await client.train("my-task/", "runs/triage", teacher_evaluation=False)
    assert_type(trained, TrainedModel)
    assert_type(trained.tuned_model, Metrics)
    assert_type(trained.base_model, Metrics)
    assert_type(trained.teacher, Metrics | None)
    return trained.tuned_model.accuracy

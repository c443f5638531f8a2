"""Train a classifier on the bundled example task with the Python client, fully offline.

Run: python examples/train_with_client.py [TASK_DIR]
Swap ``DistilClient.local()`` for ``DistilClient()`` (with DISTIL_API_KEY, or DISTIL_USERNAME /
DISTIL_PASSWORD set) to run the same steps on the hosted distil labs platform.

Each stage is an entity made from the one before it, by id: the task's files are staged into a
Dataset, a TeacherEvaluation and an SLM are made from the dataset, and the SLM is downloaded.
``client.train(task_dir, "runs/...")`` does all of this in one call.
"""

import sys
from pathlib import Path

from distil_sdk import DistilClient, LocalClassifier

task_dir = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "helpdesk-triage")

with DistilClient.local() as client:
    dataset = client.datasets.create(task_dir)  # validated locally first, then staged
    evaluation = client.teacher_evaluations.create(dataset.id)
    client.teacher_evaluations.wait(evaluation.id)
    teacher = client.teacher_evaluations.results(evaluation.id).teacher_performance
    print(f"teacher accuracy: {teacher.accuracy:.3f}")

    slm = client.slms.create(dataset.id)
    client.slms.wait(slm.id)
    metrics = client.slms.results(slm.id)  # scores are never None after a successful wait
    print(f"base student accuracy:  {metrics.base_model_performance.accuracy:.3f}")
    print(f"tuned student accuracy: {metrics.tuned_model_performance.accuracy:.3f}")
    model_dir = client.slms.download_model(slm.id, "runs/helpdesk-triage")

classifier = LocalClassifier.from_pretrained(model_dir)
print(classifier.classify("The VPN keeps disconnecting when I work from home"))

"""Train a classifier on the bundled example task with the Python client, fully offline.

Run: python examples/train_with_client.py [TASK_DIR]
Swap ``DistilClient.local()`` for ``DistilClient()`` (with DISTIL_API_KEY or DISTIL_USERNAME /
DISTIL_PASSWORD set) to run the same steps on the hosted distil labs platform.
"""

import sys
from pathlib import Path

from distil_sdk import DistilClient, LocalClassifier

task_dir = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "helpdesk-triage")

with DistilClient.local() as client:
    model = client.v2.models.create(name="helpdesk-triage")
    upload = client.v2.uploads.create(model.id, task_dir)  # validated locally first
    evaluation = client.v2.teacher_evaluations.wait(
        client.v2.teacher_evaluations.create(model.id, upload.id).id
    )
    print(f"teacher accuracy: {evaluation.results.accuracy:.3f}")
    training = client.v2.trainings.wait(client.v2.trainings.create(model.id, upload.id).id)
    results = client.v2.trainings.evaluation_results(training.id)
    for name, metrics in results.evaluation_results.items():
        print(f"{name:>14}: accuracy {metrics.accuracy:.3f}")
    model_dir = client.v2.trainings.download_model(training.id, "runs/helpdesk-triage")

classifier = LocalClassifier.from_pretrained(model_dir)
print(classifier.classify("The VPN keeps disconnecting when I work from home"))

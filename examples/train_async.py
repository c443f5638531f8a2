"""The same workflow as train_with_client.py with AsyncDistilClient.

Run: python examples/train_async.py [TASK_DIR]
"""

import asyncio
import sys
from pathlib import Path

from distil_sdk import AsyncDistilClient, LocalClassifier


async def main(task_dir: Path) -> None:
    async with AsyncDistilClient.local() as client:
        model = await client.v2.models.create(name="helpdesk-triage-async")
        upload = await client.v2.uploads.create(model.id, task_dir)
        evaluation = await client.v2.teacher_evaluations.create(model.id, upload.id)
        evaluation = await client.v2.teacher_evaluations.wait(evaluation.id)
        print(f"teacher accuracy: {evaluation.results.accuracy:.3f}")
        training = await client.v2.trainings.create(model.id, upload.id)
        training = await client.v2.trainings.wait(training.id)
        results = await client.v2.trainings.evaluation_results(training.id)
        for name, metrics in results.evaluation_results.items():
            print(f"{name:>14}: accuracy {metrics.accuracy:.3f}")
        model_dir = await client.v2.trainings.download_model(
            training.id, "runs/helpdesk-triage-async"
        )
    classifier = LocalClassifier.from_pretrained(model_dir)
    print(classifier.predict(["I forgot my password", "The printer is jammed"]))


if __name__ == "__main__":
    asyncio.run(
        main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "helpdesk-triage"))
    )

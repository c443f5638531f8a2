"""The same workflow as train_with_client.py with AsyncDistilClient, in one call.

Run: python examples/train_async.py [TASK_DIR]
"""

import asyncio
import sys
from pathlib import Path

from distil_sdk import AsyncDistilClient, LocalClassifier


async def main(task_dir: Path) -> None:
    async with AsyncDistilClient.local() as client:
        # dataset -> teacher evaluation -> SLM -> download, each step awaited in turn
        trained = await client.train(task_dir, "runs/helpdesk-triage-async", force=True)
    if trained.teacher is not None:  # None only with teacher_evaluation=False
        print(f"teacher accuracy:       {trained.teacher.accuracy:.3f}")
    print(f"tuned student accuracy: {trained.tuned_model.accuracy:.3f}")  # never None here
    classifier = LocalClassifier.from_pretrained(trained.model_dir)
    print(classifier.predict(["I forgot my password", "The printer is jammed"]))


if __name__ == "__main__":
    asyncio.run(
        main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "helpdesk-triage"))
    )

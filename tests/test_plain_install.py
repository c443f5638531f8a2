"""The plain install (``pip install distil-sdk``) has the client, validation and the CLI, but
none of the local extra's packages: asking for ``LocalClassifier`` there names the extra to
install instead of failing on whichever module is missing first."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("missing", ["numpy", "torch", "transformers"])
def test_local_classifier_without_the_local_extra_names_it(missing: str) -> None:
    code = (
        "import sys\n"
        f"sys.modules[{missing!r}] = None  # as if it were not installed\n"
        "import distil_sdk\n"
        "distil_sdk.TaskBundle  # the client side still works\n"
        "try:\n"
        "    distil_sdk.LocalClassifier.from_pretrained('model')\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("MissingDependencyError ")
    assert "pip install 'distil-sdk[local]'" in run.stdout

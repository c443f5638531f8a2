"""``distil-sdk`` commands of today's routes, with the distil CLI's nouns and verbs.

``dataset``, ``teacher-evaluation``, ``slm``, ``deployment``, ``inference-endpoint``,
``api-keys`` and ``credits`` (alias ``credits-balance``), over ``client.datasets``,
``client.teacher_evaluations``, ``client.slms``, ``client.deployments``,
``client.inference_endpoints``, ``client.api_keys`` and ``client.credits``.
The verbs and flags are the platform CLI's (its reference: repository
``distil-labs/distil-cli-skill``, ``skills/distil-cli/references/execution/cli.md``), with the
short forms the SDK adds: ``create`` for ``create-from-dataset`` / ``create-from-slm``, a
positional ``DEST`` for ``--destination``, ``--wait`` on the creates and on ``status``.

Every command takes ``--json`` (the result alone on stdout) and the global options after the
command; the exit codes are `distil_sdk.cli`'s: a command that shows a failed job (``status``,
``show``, ``--wait``) exits 1.

The layers, each importing only those above it:

- ``_common``: the helpers every noun shares (names, follow commands, files given, a record and
  a job status as text, what a created job prints);
- ``_reads``: the reads every entity noun has (``list``, ``show``, ``status``, ``logs``, the
  downloads of metadata and predictions);
- ``_datasets``, ``_jobs`` (teacher evaluation and SLM), ``_serving`` (deployment and inference
  endpoint), ``_account`` (API keys and credits): each noun's own commands;
- ``_builder``: the argparse builder (``Noun``), the shared flags and the reads' verbs;
- ``_parser``: each noun's verbs, and `register`.
"""

from __future__ import annotations

from ._common import base_flag, follow_command
from ._parser import TEACHER_EVALUATION_VERBS, register

__all__ = ["TEACHER_EVALUATION_VERBS", "base_flag", "follow_command", "register"]

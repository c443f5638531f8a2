"""``distil-sdk compare OLD_MODEL NEW_MODEL TEST_FILE``: two models on one test set, keep or replace.

Both models predict every row of TEST_FILE (read as ``evaluate`` reads it); the table shows
accuracy, macro F1, ECE and per-class F1 side by side, and the last line the decision
(`distil_sdk.compare_models`). The exit code is 0 either way: the decision is in the output
(``--json``: ``"decision"``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._output import add_json_flag, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``compare`` to the ``distil-sdk`` parser."""
    compare = subparsers.add_parser(
        "compare",
        help="compare an old and a new model on one labelled test file: keep or replace",
        description="Score OLD_MODEL and NEW_MODEL on TEST_FILE (a labelled CSV/JSONL/Parquet "
        "file, as for evaluate) and print accuracy, macro F1, calibration error (ECE) and "
        "per-class F1 side by side, then whether to keep the old model or replace it.",
    )
    compare.add_argument("old", type=Path, metavar="OLD_MODEL", help="the model in use")
    compare.add_argument("new", type=Path, metavar="NEW_MODEL", help="the candidate")
    compare.add_argument("data", type=Path, metavar="TEST_FILE", help="labelled texts")
    compare.add_argument(
        "--text-column",
        default=None,
        metavar="NAME",
        help="the column holding the texts (default: question, else text)",
    )
    compare.add_argument(
        "--label-column",
        default=None,
        metavar="NAME",
        help="the column holding the gold labels (default: answer, else label)",
    )
    add_json_flag(compare)
    compare.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    from ..inference._compare import compare_models
    from ._batch import require_model
    from ._evaluate import read_labelled

    texts, gold, _ = read_labelled(args.data, args.text_column, args.label_column)
    for model in (args.old, args.new):
        require_model(model)
    result = compare_models(args.old, args.new, (texts, gold))
    emit(args, {"data": str(args.data), **result.to_dict()}, result.to_table())
    return 0

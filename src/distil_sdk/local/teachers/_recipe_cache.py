"""Recipe choices kept with the gold rows they were made on, for a retrain to reuse.

The embedded teacher chooses its recipe by cross-validation over the task's gold rows
(``_recipes``): seconds to minutes of CPU, the largest part of a retrain's teacher. With a few
rows added, the choice made on the earlier rows still stands: a retrain reuses the choice of an
earlier fit of the same task (same encoder, truncation, seed, classes and descriptions, and the
same kind of fit: with or without unlabelled texts) whose gold rows are all among the current
ones and make up at least `KEEP_SHARE` of them. More added rows than that, and the teacher
cross-validates again.

Example::

    lineage = RecipeLineage(cache / "recipes", task_hash, row_hashes)
    choice = lineage.earlier(pooled=True)      # None: cross-validate
    lineage.record(key, choice, pooled=True)
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..._fs import write_text_atomic
from ._recipes import RecipeChoice

logger = logging.getLogger("distil_sdk")

__all__ = ["KEEP_SHARE", "RecipeLineage", "row_hashes"]

T = TypeVar("T")

#: The earlier rows must be at least this share of the current ones (16 rows added to 32: 2/3).
KEEP_SHARE = 2 / 3


def row_hashes(texts: Sequence[str], labels: Sequence[str]) -> list[str]:
    """One hash per gold row (a relabelled row is another row)."""
    return [
        hashlib.sha256(f"{text}\0{label}".encode()).hexdigest()[:32]
        for text, label in zip(texts, labels, strict=True)
    ]


class RecipeLineage:
    """The recipe choices recorded for one task under ``folder`` (``None``: no cache)."""

    def __init__(self, folder: Path | None, task: str, rows: Sequence[str]) -> None:
        self.folder = folder
        self.task = task
        self.rows = frozenset(rows)

    def _dir(self, pooled: bool) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / "lineage" / f"{self.task}-{'pooled' if pooled else 'plain'}"

    def record(self, key: str, choice: RecipeChoice, *, pooled: bool) -> None:
        """Keep ``choice`` with this fit's gold rows (a failed write costs only speed)."""
        self.record_json(key, choice.to_json(), pooled=pooled)

    def record_json(self, key: str, data: Any, *, pooled: bool) -> None:
        """Keep any JSON-ready ``data`` with this fit's gold rows, under ``key``."""
        folder = self._dir(pooled)
        if folder is None:
            return
        body = {"rows": sorted(self.rows), "choice": data}
        try:
            write_text_atomic(folder / f"{key}.json", json.dumps(body), durable=False)
        except OSError as exc:
            logger.debug("recipe lineage write failed: %s", exc)

    def earlier(self, *, pooled: bool) -> RecipeChoice | None:
        """The choice of the largest earlier fit whose rows are all kept and at least
        `KEEP_SHARE` of the current ones, logged; ``None`` when there is none."""
        found = self.earlier_json(pooled=pooled, parse=RecipeChoice.from_json)
        if found is None:
            return None
        rows, choice = found
        logger.info(
            "%s (cross-validated on an earlier run's %d of these %d gold rows)",
            choice.summary(),
            rows,
            len(self.rows),
        )
        return choice

    def earlier_json(self, *, pooled: bool, parse: Callable[[Any], T]) -> tuple[int, T] | None:
        """``(rows, parse(data))`` of the largest earlier record whose rows are all kept and at
        least `KEEP_SHARE` of the current ones (``rows`` counts them; all of them: the same
        rows); ``None`` when there is none. A record ``parse`` rejects is skipped."""
        folder = self._dir(pooled)
        if folder is None or not folder.is_dir() or not self.rows:
            return None
        best: tuple[int, T] | None = None
        for path in folder.glob("*.json"):
            try:
                body = json.loads(path.read_text("utf-8"))
                rows = frozenset(body["rows"])
                data = parse(body["choice"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if not rows <= self.rows or len(rows) < KEEP_SHARE * len(self.rows):
                continue
            if best is None or len(rows) > best[0]:
                best = (len(rows), data)
        return best

"""What the two Ray batch test modules share: the texts, a tiny model's classifier, the
session's local Ray instance (2 CPUs) and a folder of Parquet files.

A pytest plugin (``pytest_plugins = ["_ray_batch_support"]``). Under ``--dist loadfile`` the
Ray modules run on one xdist worker and share one Ray instance (conftest.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distil_sdk.inference import LocalClassifier

BASE = [
    "my card payment was charged a fee",
    "",
    "a cotton shirt with long sleeves",
    "i want to change my pin number",
    "the novel tells the story of a family",
    "1234",
    "today was a normal day at work, or was it?",
]
# 140 distinct rows; small actor batches so both actors get several.
TEXTS = [f"{t} {i}" if i % 7 else t for i, t in enumerate(BASE * 20)]


@pytest.fixture(scope="module")
def clf(tiny_bert_classifier: Path) -> LocalClassifier:
    return LocalClassifier.from_pretrained(tiny_bert_classifier)


@pytest.fixture(scope="module")
def ray_local(ray_session: Any) -> Any:
    """The session's Ray instance (conftest's `ray_session`), with Ray Data's bars off."""
    pytest.importorskip("ray.data")
    ctx = ray_session.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    return ray_session


@pytest.fixture(scope="module")
def parquet_input(tmp_path_factory: pytest.TempPathFactory, ray_local: Any) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("ray-in") / "parts"
    folder.mkdir()
    # Three small files (Ray's reader packs them into one block, which predict_dataset must
    # split for the pool); an integer id and a nested column to keep.
    for part in range(3):
        rows = range(part * 50, min((part + 1) * 50, len(TEXTS)))
        pq.write_table(
            pa.table(
                {
                    "id": list(rows),
                    "text": [TEXTS[i] for i in rows],
                    "meta": [{"shop": f"s{i % 4}"} for i in rows],
                }
            ),
            folder / f"part-{part}.parquet",
        )
    return folder


def by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` sorted by their ``id``, each id once."""
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a row came out twice"
    return sorted(rows, key=lambda r: r["id"])

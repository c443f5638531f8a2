"""Examples, datasets and the task bundle (everything a Dataset holds for one task).

Example:
    >>> train = LabelledDataset.from_lists(["card declined", "fee on transfer"], ["card", "fee"])
    >>> len(train), train.labels
    (2, ['card', 'fee'])
"""

from __future__ import annotations

from ._bundle import TaskBundle
from ._datasets import Example, LabelledDataset, UnlabelledDataset
from ._traces import Traces

__all__ = ["Example", "LabelledDataset", "TaskBundle", "Traces", "UnlabelledDataset"]

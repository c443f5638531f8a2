"""``precision="bf16"``: the torch model's matrix products in bf16 on a CPU that has native bf16.

Only the ``nn.Linear`` weights are stored in bf16, and the forward pass runs under CPU autocast:
matrix products (and attention) take bf16 inputs with fp32 accumulation, while embeddings,
LayerNorm, softmax and the residual sums stay fp32. Measured on the shipped students this kept
labels far better than int8 (whose activations are quantized to 8 bits) and better than a whole
bf16 model (whose residual stream is rounded to 8 mantissa bits after every layer).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._cls_fastpath import cls_logits_fn
from ._precision import PrecisionCheck, checked_fast_copy

if TYPE_CHECKING:
    import torch

    from ._sequence import SequencePredictor

__all__ = ["bf16_predictor"]


class Bf16Logits:
    """``inputs -> logits`` of a bf16-weight copy under CPU autocast; plugs into ``SequencePredictor``."""

    def __init__(self, exact: SequencePredictor) -> None:
        import torch

        model = copy.deepcopy(exact.model)
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.to(torch.bfloat16)
        # A private predictor over the copy: same [CLS]-row fast path (checked on its first
        # batch against the copy's own forward), without the backend indirection.
        self.inner = copy.copy(exact)
        self.inner.model = model
        self.inner._backend = None
        self.inner._fast_logits = cls_logits_fn(model)
        self.inner._fast_checked = False

    def __call__(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.inner._logits(inputs).float()


def bf16_predictor(
    exact: SequencePredictor,
    folder: Path,
    *,
    check_texts: Sequence[str] | None,
    min_agreement: float,
) -> tuple[SequencePredictor, PrecisionCheck]:
    """A bf16 copy of ``exact`` (same tokenizer, labels and batching), checked against it."""
    return checked_fast_copy(
        exact,
        Bf16Logits(exact),
        folder,
        precision="bf16",
        check_texts=check_texts,
        min_agreement=min_agreement,
    )

"""Predictor for sequence-classification models (an encoder with a head and ``id2label``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ModelLoadError
from ._cls_fastpath import cls_logits_fn
from ._loading import load_tokenizer_and_model
from ._runtime import autocast, length_batches, to_device

if TYPE_CHECKING:
    import torch

__all__ = ["SequencePredictor"]

logger = logging.getLogger("distil_sdk")

# Cap on padded tokens per batch. On CPU the work is compute-bound and small batches stay in
# cache (measured: 2048 beats 8192 by ~10% on MiniLM); on GPU big batches fill the device.
CPU_MAX_TOKENS = 2048
GPU_MAX_TOKENS = 65536
# A CPU forward pass's fixed cost in padded tokens (MiniLM-L6 on 2 cores: about 4.6 ms against
# 0.1 ms a token): a batch whose padding costs more is split (`length_batches`). On a GPU the
# padding runs in parallel, so batches are never split for it.
CPU_BATCH_COST = 96


def model_max_length(tokenizer: Any, config: Any, requested: int | None) -> int:
    """The longest input the model accepts: tokenizer limit, else position embeddings."""
    limits = []
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:
        limits.append(tok_max)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    limit = min(limits) if limits else 512
    if requested is None:
        return limit
    if requested > limit:
        logger.warning(
            "max_length=%d exceeds the model's limit of %d; using %d", requested, limit, limit
        )
        return limit
    return requested


class SequencePredictor:
    """Batched, length-sorted softmax over a sequence classifier's logits."""

    kind = "sequence-classification"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        device: torch.device,
        dtype: torch.dtype,
        batch_size: int,
        max_length: int | None,
    ) -> None:
        from tokenizers import Tokenizer

        self.model = model
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        config = model.config
        self.labels: list[str] = [str(config.id2label[i]) for i in range(config.num_labels)]
        self.max_length = model_max_length(tokenizer, config, max_length)
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ModelLoadError("the model folder has no fast tokenizer (tokenizer.json)")
        # Our own copy of the Rust tokenizer: truncation set once, no padding (we pad per batch),
        # and the caller's tokenizer object left untouched.
        self._tokenizer = Tokenizer.from_str(backend.to_str())
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.max_length)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.uses_token_types = "token_type_ids" in getattr(tokenizer, "model_input_names", [])
        self.max_tokens = GPU_MAX_TOKENS if device.type != "cpu" else CPU_MAX_TOKENS
        self.batch_cost = CPU_BATCH_COST if device.type == "cpu" else None
        # Last layer on the [CLS] row only (exact; ~14% fewer FLOPs on 6-layer MiniLM), checked
        # against the model's own forward on the first batch in case a transformers release
        # changed the layer; a disagreement falls back to the full forward for good.
        self._fast_logits = cls_logits_fn(model)
        self._fast_checked = False
        # Another runtime computing the logits (``precision="int8"``: ONNX Runtime), or None.
        self._backend: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None

    def set_backend(self, backend: Callable[[dict[str, torch.Tensor]], torch.Tensor]) -> None:
        """Compute logits with ``backend`` instead of the torch model (tokenizing stays here)."""
        self._backend = backend
        self._fast_logits = None

    @classmethod
    def load(
        cls,
        folder: Path,
        *,
        device: torch.device,
        dtype: torch.dtype,
        batch_size: int,
        max_length: int | None,
        allow_pickle: bool,
        compile: bool,
    ) -> SequencePredictor:
        from transformers import AutoModelForSequenceClassification

        tokenizer, model = load_tokenizer_and_model(
            AutoModelForSequenceClassification,
            folder,
            folder,
            device=device,
            dtype=dtype,
            allow_pickle=allow_pickle,
            compile=compile,
        )
        return cls(
            model,
            tokenizer,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            max_length=max_length,
        )

    def predict_proba(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """Probabilities ``(len(texts), len(labels))`` in input order, and how many were truncated."""
        import torch

        # Each distinct text is computed once (first occurrence) and scattered back.
        first_index: dict[str, int] = {}
        inverse = np.fromiter(
            (first_index.setdefault(t, len(first_index)) for t in texts),
            dtype=np.intp,
            count=len(texts),
        )
        unique = list(first_index)
        encodings = self._tokenizer.encode_batch(unique)
        overflowed = np.fromiter((bool(e.overflowing) for e in encodings), bool, len(unique))
        truncated = int(overflowed[inverse].sum())  # per input text, duplicates included
        lengths = [len(e.ids) for e in encodings]
        out = np.empty((len(unique), len(self.labels)), dtype=np.float32)
        # On an accelerator the probabilities stay there until the end: a per-batch ``.cpu()``
        # would wait for each batch and leave the device idle while the next one is padded.
        pending: list[tuple[np.ndarray, torch.Tensor]] = []
        for index in length_batches(lengths, self.batch_size, self.max_tokens, self.batch_cost):
            width = max(lengths[i] for i in index)
            ids = np.full((len(index), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(index), width), dtype=np.int64)
            types = np.zeros((len(index), width), dtype=np.int64) if self.uses_token_types else None
            for row, i in enumerate(index):
                enc = encodings[i]
                ids[row, : lengths[i]] = enc.ids
                mask[row, : lengths[i]] = 1
                if types is not None:
                    types[row, : lengths[i]] = enc.type_ids
            inputs = {
                "input_ids": to_device(ids, self.device),
                "attention_mask": to_device(mask, self.device),
            }
            if types is not None:
                inputs["token_type_ids"] = to_device(types, self.device)
            with torch.inference_mode(), autocast(self.device, self.dtype):
                logits = self._logits(inputs)
            probs = torch.softmax(logits.float(), dim=-1)
            if self.device.type == "cpu":
                out[index] = probs.numpy()
            else:
                pending.append((index, probs))
        if pending:
            out[np.concatenate([i for i, _ in pending])] = (
                torch.cat([p for _, p in pending]).cpu().numpy()
            )
        if len(unique) == len(texts):
            return out, truncated
        return out[inverse], truncated

    def _logits(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's logits, through the [CLS]-row fast path where it is supported."""
        if self._backend is not None:
            return self._backend(inputs)
        if self._fast_logits is None:
            return self.model(**inputs).logits  # type: ignore[no-any-return]
        logits = self._fast_logits(
            inputs["input_ids"], inputs["attention_mask"], inputs.get("token_type_ids")
        )
        if not self._fast_checked:
            self._fast_checked = True
            reference = self.model(**inputs).logits
            if not _close(logits, reference):
                logger.warning(
                    "the [CLS]-only fast path disagrees with %s; using the full forward pass",
                    type(self.model).__name__,
                )
                self._fast_logits = None
                return reference  # type: ignore[no-any-return]
        return logits


def _close(fast: torch.Tensor, reference: torch.Tensor) -> bool:
    """Equal up to rounding: tight in fp32, loose enough for half-precision kernels."""
    import torch

    tol = 1e-3 if fast.dtype == reference.dtype == torch.float32 else 5e-2
    return bool(torch.allclose(fast.float(), reference.float(), rtol=tol, atol=tol))

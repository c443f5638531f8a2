"""The self-check of a fast (lower-precision) mode against the exact model, and its sample texts.

A fast mode is only as good as its agreement with the model it replaces, so every load measures
it: the same texts go through both, and the share of equal top labels and the largest probability
difference are logged and kept on the classifier. Under the caller's threshold the load fails.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ModelLoadError

if TYPE_CHECKING:
    import torch

    from ._sequence import SequencePredictor

__all__ = [
    "DEFAULT_MIN_AGREEMENT",
    "PRECISIONS",
    "PrecisionCheck",
    "PrecisionCheckError",
    "check_precision",
    "checked_fast_copy",
    "default_check_texts",
    "native_bf16_cpu",
    "resolve_check_texts",
    "validate_precision",
]

logger = logging.getLogger("distil_sdk")

PRECISIONS = ("exact", "bf16", "int8")
# Every check text must keep its label by default: the default sample is a few dozen texts, so
# one flip is already 2-4% and a looser default would let a broken export through.
DEFAULT_MIN_AGREEMENT = 1.0
# The sample stays small: the check runs the exact model too, on every load.
MAX_CHECK_TEXTS = 256

# Used when neither the caller nor the model folder gives texts: mixed topics and lengths, so
# both short and long inputs (several batch widths) go through the fast path.
FALLBACK_TEXTS = (
    "Where is my new card? It has not arrived yet.",
    "I was charged twice for the same purchase.",
    "Refund please.",
    "The battery lasts two days and the screen is bright, but the charger is slow.",
    "A cotton shirt with long sleeves, machine washable, available in five colours.",
    "The novel follows three generations of a family through war, exile and return.",
    "I have been feeling anxious for weeks and I cannot sleep at night.",
    "Today was a normal day at work; nothing special happened.",
    "How do I change my PIN?",
    "The kettle boils quickly and switches itself off; the steel finish is easy to clean.",
    "My transfer to a friend is still pending after three days. Why does it take so long, and "
    "can I cancel it and send the money again from another account without paying twice?",
    "ok",
    "Customer service never answered my emails, so I would like to close my account and move "
    "my savings elsewhere. Please tell me what I need to do and whether there is a fee for it. "
    "I have had this account for ten years and I am disappointed by how this was handled.",
    "Stainless steel water bottle, 750 ml, keeps drinks cold for 24 hours.",
    "I feel happy and relaxed after the holidays.",
    "The cash machine gave me less money than I asked for.",
)


@dataclass(frozen=True)
class PrecisionCheck:
    """How a fast mode compared with the exact model on the self-check texts at load time.

    Attributes:
        precision: the fast mode checked (``"bf16"`` or ``"int8"``).
        n_texts: distinct texts compared.
        agreement: share of texts whose top label is the same in both modes (0..1).
        max_prob_diff: largest absolute difference between the two modes' probabilities.
        source: where the texts came from (``"caller"``, a file name, or ``"built-in"``).
    """

    precision: str
    n_texts: int
    agreement: float
    max_prob_diff: float
    source: str


class PrecisionCheckError(ModelLoadError):
    """A fast mode's labels agree with the exact model's less often than the caller allows."""

    def __init__(self, message: str, check: PrecisionCheck) -> None:
        super().__init__(message)
        self.check = check


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 3]


def default_check_texts(folder: Path) -> tuple[list[str], str]:
    """Texts for the self-check when the caller gives none, and where they came from.

    The model folder's ``job_description.json`` (shipped inside every platform model archive)
    gives in-domain texts: the task description and each class description, whole and sentence
    by sentence, plus the class names. The built-in mixed texts are always added so the sample
    also holds short, long and off-topic inputs.
    """
    texts: list[str] = []
    source = "built-in"
    for path in (folder / "job_description.json", folder.parent / "job_description.json"):
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.debug("%s unreadable; self-check uses the built-in texts only", path)
            break
        if not isinstance(data, dict):
            break
        parts = [str(data.get("task_description") or "")]
        classes = data.get("classes_description")
        if isinstance(classes, dict):
            for name, description in classes.items():
                parts.append(str(name).replace("_", " "))
                parts.append(str(description))
                parts.extend(_sentences(str(description)))
        texts = [p for p in parts if p.strip()]
        source = f"{path.name} + built-in"
        break
    return list(dict.fromkeys([*texts, *FALLBACK_TEXTS])), source


def resolve_check_texts(check_texts: Sequence[str] | None, folder: Path) -> tuple[list[str], str]:
    """The caller's check texts (``"caller"``), or the defaults for ``folder``."""
    if check_texts is None:
        return default_check_texts(folder)
    if isinstance(check_texts, str):
        raise TypeError("check_texts must be a list of texts, not a single string")
    return [str(t) for t in check_texts], "caller"


def native_bf16_cpu() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512_BF16 or AMX); else bf16 is emulated."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def check_precision(
    exact_proba: Callable[[list[str]], np.ndarray],
    fast_proba: Callable[[list[str]], np.ndarray],
    texts: Sequence[str],
    *,
    precision: str,
    source: str,
    min_agreement: float,
    where: Path,
) -> PrecisionCheck:
    """Compare both modes on ``texts``; log the result and raise when agreement is too low.

    Raises:
        PrecisionCheckError: agreement under ``min_agreement`` (the message gives both figures).
    """
    unique = list(dict.fromkeys(texts))[:MAX_CHECK_TEXTS]
    if not unique:
        raise ValueError("check_texts is empty; give at least one text for the self-check")
    exact, fast = exact_proba(unique), fast_proba(unique)
    agreement = float(np.mean(exact.argmax(axis=1) == fast.argmax(axis=1)))
    check = PrecisionCheck(
        precision=precision,
        n_texts=len(unique),
        agreement=agreement,
        max_prob_diff=float(np.abs(exact - fast).max()),
        source=source,
    )
    logger.info(
        "%s self-check on %d texts (%s): labels agree on %.1f%% with the exact model, "
        "largest probability difference %.2e",
        precision,
        check.n_texts,
        source,
        100 * agreement,
        check.max_prob_diff,
    )
    if agreement < min_agreement:
        raise PrecisionCheckError(
            f"{where}: precision={precision!r} refused - its labels agree with the exact model "
            f"on {100 * agreement:.1f}% of {check.n_texts} self-check texts ({source}), under "
            f"min_agreement={min_agreement:g}; load with precision='exact', or pass "
            f"check_texts=[...] from your own data, or a lower min_agreement if that loss is "
            f"acceptable",
            check,
        )
    return check


def checked_fast_copy(
    exact: SequencePredictor,
    backend: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    folder: Path,
    *,
    precision: str,
    check_texts: Sequence[str] | None,
    min_agreement: float,
) -> tuple[SequencePredictor, PrecisionCheck]:
    """A copy of ``exact`` (same tokenizer, labels and batching) that computes its logits with
    ``backend``, self-checked against ``exact``; the copy drops the exact torch weights, so only
    the backend's model stays in memory."""
    import copy

    fast = copy.copy(exact)
    fast.set_backend(backend)
    texts, source = resolve_check_texts(check_texts, folder)
    check = check_precision(
        lambda t: exact.predict_proba(t)[0],
        lambda t: fast.predict_proba(t)[0],
        texts,
        precision=precision,
        source=source,
        min_agreement=min_agreement,
        where=folder,
    )
    fast.model = None
    fast._fast_logits = None
    return fast, check


def validate_precision(
    precision: str, min_agreement: float, device: Any, dtype: Any, compile: bool
) -> None:
    """Refuse a precision mode that cannot apply, before anything loads."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if not 0.0 <= min_agreement <= 1.0:
        raise ValueError(f"min_agreement must be between 0 and 1, got {min_agreement}")
    if precision == "exact":
        return
    if device.type != "cpu":
        raise ValueError(
            f"precision={precision!r} is a CPU serving mode; on {device} use dtype='auto' "
            "(bf16/fp16) for speed, or device='cpu'"
        )
    if dtype != torch.float32:
        raise ValueError(
            f"precision={precision!r} is built from the fp32 model; leave dtype='auto'"
        )
    if compile:
        raise ValueError(f"precision={precision!r} is its own runtime; compile=True does not apply")
    if precision == "bf16":
        if not native_bf16_cpu():
            raise ValueError(
                "precision='bf16' needs a CPU with native bf16 arithmetic (AVX512_BF16 or AMX); "
                "this one would emulate it, slower than the exact mode: use precision='int8'"
            )
        return
    from ._onnx_int8 import require_onnxruntime

    require_onnxruntime()

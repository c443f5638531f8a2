"""Predictor for generative students: score each label as the answer ``<output>LABEL</output>``.

Instead of free generation (which can answer outside the label set) the probability of every
label's continuation is computed and normalised over the labels. Work is shared three ways:

* the chat prompt's opening (system message, task and class descriptions - identical for every
  text) is run once and its key/value cache reused by every batch;
* each text's own tokens are run once per text, not once per (text, label) pair;
* the tokens every continuation shares (``<output>``) are appended to the text, so only the
  label-specific tail is run per label, on the text's cache (cropped back after each label).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ModelLoadError
from ._loading import load_tokenizer_and_model
from ._prompt import ModelPrompt, default_prompt, job_description_parts, output_continuation
from ._runtime import autocast, length_batches, to_device
from ._sequence import model_max_length

if TYPE_CHECKING:
    import torch

__all__ = ["GenerativePredictor", "render_prompt"]

logger = logging.getLogger("distil_sdk")

# Tokens taken back from the shared prompt opening, so a text that merges with the tokens before
# it (BPE across "<question>" and the text) rarely breaks the shared prefix.
_PREFIX_MARGIN = 3
# Upper bound on label-tail logits held at once (floats); bounds memory with many labels.
_LOGIT_BUDGET = 1 << 26


def render_prompt(
    tokenizer: Any, job_description: Any, text: str, prompt: ModelPrompt | None = None
) -> str:
    """The chat template applied to the prompt (``prompt``, default the SDK's own for
    ``job_description``), with its template options, ready for the assistant's answer."""
    prompt = prompt or default_prompt(job_description)
    messages = prompt.messages(text)
    options = dict(prompt.chat_template_kwargs)
    try:
        rendered = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **options
        )
    except Exception:  # templates without a system role (Gemma): fold it into the user turn
        if len(messages) < 2:
            raise
        merged = [
            {"role": "user", "content": messages[0]["content"] + "\n" + messages[1]["content"]}
        ]
        rendered = tokenizer.apply_chat_template(
            merged, tokenize=False, add_generation_prompt=True, **options
        )
    return str(rendered)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class GenerativePredictor:
    """Batched label scoring for a causal LM with a chat template."""

    kind = "generative"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        job_description: Any,
        *,
        device: torch.device,
        dtype: torch.dtype,
        batch_size: int,
        max_length: int | None,
        prompt: ModelPrompt | None = None,
    ) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ModelLoadError("the generative model's tokenizer has no chat template")
        self.model = model
        self.tokenizer = tokenizer
        self.job_description = job_description
        self.prompt = prompt or default_prompt(job_description)
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        _, classes = job_description_parts(job_description)
        self.labels: list[str] = list(classes)
        self.max_length = model_max_length(tokenizer, model.config, max_length)
        pad = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.pad_id = int(pad) if pad is not None else 0
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ModelLoadError("the generative model has no fast tokenizer (tokenizer.json)")
        from tokenizers import Tokenizer

        # Our own copy without truncation or padding: we truncate the text part ourselves.
        self._backend = Tokenizer.from_str(backend.to_str())
        self._backend.no_truncation()
        self._backend.no_padding()

        conts = [self._encode([output_continuation(label)])[0] for label in self.labels]
        shared = min(_common_prefix(conts[0], c) for c in conts)
        shared = min(shared, min(len(c) for c in conts) - 1)  # every label keeps >= 1 own token
        self.shared: list[int] = conts[0][:shared]
        self.tails: list[list[int]] = [c[shared:] for c in conts]

        probe_a, probe_b = self._encode([self._render("a"), self._render("b")])
        self.prefix: list[int] = probe_a[
            : max(0, _common_prefix(probe_a, probe_b) - _PREFIX_MARGIN)
        ]
        tail = _common_prefix(probe_a[::-1], probe_b[::-1])
        self.suffix_len = max(1, tail)  # tokens after the text (kept when truncating)
        self._prefix_cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        forward = getattr(model, "_orig_mod", model).forward  # torch.compile wraps the module
        self._forward_params = set(inspect.signature(forward).parameters)

    @classmethod
    def load(
        cls,
        folder: Path,
        gguf_file: str | None,
        job_description: Any,
        *,
        device: torch.device,
        dtype: torch.dtype,
        batch_size: int,
        max_length: int | None,
        allow_pickle: bool,
        compile: bool,
        prompt: ModelPrompt | None = None,
    ) -> GenerativePredictor:
        from transformers import AutoModelForCausalLM

        tokenizer, model = load_tokenizer_and_model(
            AutoModelForCausalLM,
            folder,
            folder / gguf_file if gguf_file else folder,
            device=device,
            dtype=dtype,
            allow_pickle=allow_pickle,
            compile=compile,
            gguf_file=gguf_file,
        )
        return cls(
            model,
            tokenizer,
            job_description,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            max_length=max_length,
            prompt=prompt,
        )

    def _forward(self, cache: Any, **inputs: Any) -> tuple[torch.Tensor, Any]:
        """Run the model; returns logits and the updated cache under either transformers API."""
        # transformers 5.x renamed ``past_key_values`` to ``cache`` (in arguments and outputs).
        name = "cache" if "cache" in self._forward_params else "past_key_values"
        if cache is not None:
            inputs[name] = cache
        out = self.model(**inputs)
        new_cache = getattr(out, "cache", None)
        return out.logits, new_cache if new_cache is not None else getattr(
            out, "past_key_values", None
        )

    def _render(self, text: str) -> str:
        return render_prompt(self.tokenizer, self.job_description, text, self.prompt)

    def _encode(self, strings: list[str]) -> list[list[int]]:
        # Chat templates carry their own special tokens; adding them again would double the BOS.
        return [enc.ids for enc in self._backend.encode_batch(strings, add_special_tokens=False)]

    def _shared_cache(self, rows: int) -> Any:
        """A fresh cache holding the shared prompt opening for ``rows`` rows."""
        import torch
        from transformers import DynamicCache

        if self._prefix_cache is None:
            ids = to_device(np.asarray([self.prefix], dtype=np.int64), self.device)
            with torch.inference_mode(), autocast(self.device, self.dtype):
                _, cache = self._forward(None, input_ids=ids, use_cache=True, logits_to_keep=1)
            self._prefix_cache = [(layer.keys, layer.values) for layer in cache.layers]
        return DynamicCache(
            [
                (k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1))
                for k, v in self._prefix_cache
            ]
        )

    def _prepare(self, text_ids: list[int]) -> tuple[list[int], bool]:
        budget = self.max_length - len(self.shared) - max(len(t) for t in self.tails)
        if len(text_ids) <= budget:
            return text_ids, False
        keep = budget - self.suffix_len
        if keep <= len(self.prefix):
            raise ValueError(
                f"max_length={self.max_length} is too short for the classification prompt "
                f"({len(self.prefix) + self.suffix_len} tokens before the text)"
            )
        return text_ids[:keep] + text_ids[-self.suffix_len :], True

    def predict_proba(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """Probabilities ``(len(texts), len(labels))`` in input order, and how many were truncated."""
        prepared = [self._prepare(ids) for ids in self._encode([self._render(t) for t in texts])]
        truncated = sum(1 for _, cut in prepared if cut)
        rows = [ids for ids, _ in prepared]
        out = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        tail_width = max(len(t) for t in self.tails)
        # Cap rows per batch so one label's tail logits stay within _LOGIT_BUDGET floats.
        vocab = int(self.model.config.vocab_size)
        cap = max(1, _LOGIT_BUDGET // max(1, tail_width * vocab))
        batch_size = min(self.batch_size, cap)
        lengths = [len(r) for r in rows]
        for index in length_batches(lengths, batch_size, 1 << 30):
            out[index] = self._score([rows[i] for i in index])
        return out, truncated

    def _score(self, rows: list[list[int]]) -> np.ndarray:
        import torch

        n_prefix = len(self.prefix)
        if not all(r[:n_prefix] == self.prefix for r in rows):
            n_prefix = 0  # a text merged into the shared opening: run this batch in full
        bodies = [r[n_prefix:] + self.shared for r in rows]
        batch, width = len(bodies), max(len(b) for b in bodies)
        # Left padding: every row ends at the same column, where the label tails start.
        ids = np.full((batch, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((batch, n_prefix + width), dtype=np.int64)
        mask[:, :n_prefix] = 1
        for i, body in enumerate(bodies):
            ids[i, width - len(body) :] = body
            mask[i, n_prefix + width - len(body) :] = 1
        positions = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
        cache = self._shared_cache(batch) if n_prefix else None
        with torch.inference_mode(), autocast(self.device, self.dtype):
            logits, cache = self._forward(
                cache,
                input_ids=to_device(ids, self.device),
                attention_mask=to_device(mask, self.device),
                position_ids=to_device(positions[:, n_prefix:], self.device),
                use_cache=True,
                logits_to_keep=1,
            )
            first = torch.log_softmax(logits[:, -1].float(), dim=-1)  # (batch, vocab)
            first_ids = torch.tensor([t[0] for t in self.tails], device=first.device)
            scores = first[:, first_ids]  # (batch, labels)
            rest = [t[1:] for t in self.tails]
            if max(len(t) for t in rest):
                scores = scores + self._score_tails(cache, mask, positions, rest)
        return torch.softmax(scores, dim=-1).cpu().numpy()

    def _score_tails(
        self, cache: Any, mask: np.ndarray, positions: np.ndarray, rest: list[list[int]]
    ) -> torch.Tensor:
        """Log-prob of each label's tail after its first token, ``(batch, labels)``.

        One forward per label over the whole batch, each cut back to the texts' cache afterwards:
        no padding between tails of different lengths and no per-label copies of the cache.
        """
        import copy

        import torch

        batch = mask.shape[0]
        croppable = bool(getattr(cache, "is_croppable", True))
        after = positions[:, -1:] + 1
        columns = []
        for tail, full in zip(rest, self.tails, strict=False):
            if not tail:
                columns.append(torch.zeros(batch, device=self.device))
                continue
            k = len(tail)
            # Inputs: the tail's tokens but its last; each position predicts the next tail token.
            inputs = np.tile(np.asarray(full[:k], dtype=np.int64), (batch, 1))
            tail_mask = np.concatenate([mask, np.ones((batch, k), dtype=np.int64)], axis=1)
            label_cache = cache if croppable else copy.deepcopy(cache)
            logits, _ = self._forward(
                label_cache,
                input_ids=to_device(inputs, self.device),
                attention_mask=to_device(tail_mask, self.device),
                position_ids=to_device(after + np.arange(k)[None, :], self.device),
                use_cache=True,
            )
            if croppable:
                cache.crop(-k)  # drop this tail: back to the texts alone
            logp = torch.log_softmax(logits.float(), dim=-1)
            targets = torch.tensor(tail, device=logp.device)
            columns.append(logp[:, torch.arange(k, device=logp.device), targets].sum(dim=-1))
        return torch.stack(columns, dim=1)

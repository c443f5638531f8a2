"""Text generation for ``ModelServer(..., generate=True)``: a chat LLM behind
``/v1/chat/completions``, as vLLM serves one.

The request's messages go through the model's chat template; ``max_tokens`` (or
``max_completion_tokens``), ``temperature`` (0: greedy), ``top_p``, ``stop``, ``seed``, ``logprobs``
and ``top_logprobs`` are honoured, ``n`` above 1 and streaming are refused, every other OpenAI
parameter is ignored. Requests run one at a time behind a lock: on a CPU one decoding step
already uses every core, so batching several requests would only add padding. The key/value
cache of the last request is kept, and a request that starts with the same tokens (a teacher's
system prompt and shots, a follow-up turn) only runs its own tail through the model.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._errors import ModelLoadError
from ._chat import message_text
from ._state import RETRY_AFTER_S, ApiError

if TYPE_CHECKING:
    import torch

__all__ = ["GENERATION_KIND", "GenerationParams", "TextGenerator", "chat_completion"]

#: `TextGenerator.kind`, what ``/info`` reports for a generating server.
GENERATION_KIND = "text-generation"
#: The reply budget of a request that names none (within the model's context).
DEFAULT_MAX_TOKENS = 1024
#: Tokens before a new one that its text is decoded with: enough for the tokenizer to tell a
#: word-initial piece (leading space) from the start of the text.
_WINDOW = 4


class GenerationParams(BaseModel):
    """The sampling parameters of a chat completion request; the others are ignored."""

    model_config = ConfigDict(extra="ignore")
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    chat_template_kwargs: dict[str, Any] | None = None

    @classmethod
    def of(cls, extra: Mapping[str, Any]) -> GenerationParams:
        """The parameters of a request's extra fields; a bad value is a 422 naming it.

        Raises:
            ApiError: 400 for ``n`` above 1.
        """
        try:
            params = cls.model_validate(dict(extra))
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        if (params.n or 1) > 1:
            raise ApiError(
                400, f"n={params.n} is not supported: this server answers one choice; send n=1"
            )
        return params

    @property
    def stops(self) -> list[str]:
        """The stop strings, empty ones left out."""
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or ())
        return [s for s in stops if s]


@dataclass
class Completion:
    """One generated reply: its text, why it ended, token counts and, when asked, logprobs."""

    content: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[dict[str, Any]] | None = None


@dataclass
class _Step:
    """One generated token with its log-probability and the top alternatives (ids)."""

    token: int
    logprob: float
    top: list[tuple[int, float]] = field(default_factory=list)


class TextGenerator:
    """A causal LM with a chat template that answers chat completions one at a time.

    Build it with `load` (a hub id, model folder or ``.gguf``) or `from_classifier` (the model of
    a loaded generative `LocalClassifier`, shared, not copied).

    Args:
        model: a transformers causal LM, in eval mode.
        tokenizer: its tokenizer, with a chat template.
        model_path: where it was loaded from (named in errors and the repr).
    """

    kind = GENERATION_KIND

    def __init__(self, model: Any, tokenizer: Any, model_path: Path | None = None) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ModelLoadError(
                f"{model_path or 'the model'}: its tokenizer has no chat template; serve a chat "
                "(instruct) model"
            )
        self.model, self.tokenizer, self.model_path = model, tokenizer, model_path
        parameter = next(model.parameters())
        self.device, self.dtype = parameter.device, parameter.dtype
        self.labels: list[str] = []  # no classes: /predict and /v1/classify refuse
        self.prompt = None
        self.precision = None
        config = model.config
        self.max_context = int(
            getattr(config, "max_position_embeddings", None) or tokenizer.model_max_length
        )
        self.eos_ids = _eos_ids(model, tokenizer)
        self.waiting = 0  # requests accepted and not yet answered (read on the event loop)
        self._lock = threading.Lock()
        # The token ids whose keys/values the kept cache holds, and that cache (under _lock).
        self._kept: tuple[list[int], Any] | None = None
        forward = inspect.signature(getattr(model, "_orig_mod", model).forward).parameters
        # transformers 5 renamed ``past_key_values`` to ``cache`` (arguments and outputs).
        self._cache_name = "cache" if "cache" in forward else "past_key_values"
        self._keep_last = "logits_to_keep" in forward

    @classmethod
    def load(
        cls,
        source: str | os.PathLike[str],
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        allow_pickle: bool = False,
    ) -> TextGenerator:
        """Load a chat LLM: a hub id in the local Hugging Face cache, a folder or a ``.gguf``.

        Raises:
            ModelLoadError: no model there, it is a LoRA adapter, or it has no chat template.
        """
        from ..inference._loading import (
            load_tokenizer_and_model,
            resolve_device,
            resolve_dtype,
            resolve_source,
        )
        from ..inference._runtime import limit_cpu_threads, require_local_extra

        require_local_extra()
        files = resolve_source(source)
        if files.adapter:
            raise ModelLoadError(
                f"{source}: a LoRA adapter; serve its merged model (or its base model) instead"
            )
        torch_device = resolve_device(device)
        if torch_device.type == "cpu":
            limit_cpu_threads()
        from transformers import AutoModelForCausalLM

        where = files.folder / files.gguf_file if files.gguf_file else files.folder
        tokenizer, model = load_tokenizer_and_model(
            AutoModelForCausalLM,
            files.folder,
            where,
            device=torch_device,
            dtype=resolve_dtype(dtype, torch_device),
            allow_pickle=allow_pickle,
            compile=False,
            gguf_file=files.gguf_file,
        )
        return cls(model, tokenizer, where)

    @classmethod
    def from_classifier(cls, classifier: Any) -> TextGenerator:
        """The causal LM inside a generative `LocalClassifier` (no second copy in memory).

        Raises:
            ValueError: ``classifier`` is not generative (a sequence classifier cannot write).
        """
        predictor = getattr(classifier, "_predictor", None)
        if getattr(classifier, "kind", None) != "generative" or predictor is None:
            raise ValueError(
                "generate=True needs a causal LM (a hub id, folder or .gguf, or a generative "
                f"LocalClassifier); got a {getattr(classifier, 'kind', type(classifier).__name__)}"
                " model"
            )
        return cls(predictor.model, predictor.tokenizer, getattr(classifier, "model_path", None))

    def __repr__(self) -> str:
        return f"TextGenerator(model_path={str(self.model_path)!r}, device={str(self.device)!r})"

    # -- serving ---------------------------------------------------------------------------------

    async def submit(
        self, messages: list[Any], params: GenerationParams, *, max_queue: int
    ) -> Completion:
        """`complete` in a worker thread; 429 when ``max_queue`` requests already wait."""
        if self.waiting >= max_queue:
            raise ApiError(
                429,
                f"the server's queue is full ({max_queue} requests waiting); retry later",
                {"Retry-After": RETRY_AFTER_S},
            )
        self.waiting += 1
        try:
            return await asyncio.to_thread(self.complete, messages, params)
        finally:
            self.waiting -= 1

    async def idle(self) -> None:
        """Return once no request is waiting or being answered (the server drains with it)."""
        while self.waiting:
            await asyncio.sleep(0.01)

    def complete(self, messages: list[Any], params: GenerationParams) -> Completion:
        """Generate the reply to ``messages`` (blocking; one request at a time).

        Raises:
            ApiError: 400 for messages without text or a prompt past the model's context.
        """
        prompt = self._prompt_ids(messages, params.chat_template_kwargs or {})
        room = self.max_context - len(prompt)
        wanted = params.max_completion_tokens or params.max_tokens
        if room < 1 or (wanted is not None and wanted > room):
            raise ApiError(
                400,
                f"this model's context holds {self.max_context} tokens: the messages take "
                f"{len(prompt)} and {wanted or 1} more were asked for; shorten the messages or "
                "lower max_tokens",
            )
        with self._lock:
            steps, finish = self._decode_steps(
                prompt, params, wanted or min(room, DEFAULT_MAX_TOKENS)
            )
        ids = [s.token for s in steps if s.token not in self.eos_ids]
        content = self.tokenizer.decode(ids, skip_special_tokens=True)
        cut = _first_stop(content, params.stops)
        if cut is not None:
            content, finish = content[:cut], "stop"
        logprobs = None
        if params.logprobs:
            kept = [s for s in steps if s.token not in self.eos_ids]
            logprobs = self._logprob_entries(prompt, kept, len(content))
        return Completion(content, finish, len(prompt), len(steps), logprobs)

    # -- internals -------------------------------------------------------------------------------

    def _prompt_ids(self, messages: list[Any], template_options: Mapping[str, Any]) -> list[int]:
        chat = [_message(m, i) for i, m in enumerate(messages)]
        if not chat:
            raise ApiError(400, 'messages is empty; send [{"role": "user", "content": "..."}]')
        try:
            text = self.tokenizer.apply_chat_template(
                chat, tokenize=False, add_generation_prompt=True, **template_options
            )
        except Exception:  # templates without a system role (Gemma): fold it into the next turn
            if chat[0]["role"] != "system" or len(chat) < 2:
                raise
            first = {
                "role": chat[1]["role"],
                "content": chat[0]["content"] + "\n\n" + chat[1]["content"],
            }
            text = self.tokenizer.apply_chat_template(
                [first, *chat[2:]], tokenize=False, add_generation_prompt=True, **template_options
            )
        # The template writes its own special tokens; adding them again would double the BOS.
        return list(self.tokenizer(str(text), add_special_tokens=False)["input_ids"])

    def _decode_steps(
        self, prompt: list[int], params: GenerationParams, budget: int
    ) -> tuple[list[_Step], str]:
        """Decode up to ``budget`` tokens with a KV cache: ``(steps, finish_reason)``."""
        import torch

        temperature = 1.0 if params.temperature is None else params.temperature
        top_p = 1.0 if params.top_p is None else params.top_p
        # A generator of its own: a request's seed must not depend on (or move) anyone else's.
        rng = torch.Generator(device=self.device)
        if params.seed is not None:
            rng.manual_seed(params.seed)
        else:
            rng.seed()
        top_k = (params.top_logprobs or 0) if params.logprobs else 0
        stops, steps, finish = params.stops, [], "length"
        cache, start = self._reuse(prompt)
        inputs = torch.tensor([prompt[start:]], device=self.device)
        with torch.inference_mode():
            for _ in range(budget):
                logits, cache = self._forward(inputs, cache)
                token = _pick(logits, temperature, top_p, rng)
                steps.append(_step(logits, token, top_k) if params.logprobs else _Step(token, 0.0))
                if token in self.eos_ids or (
                    stops and _first_stop(self._text(steps), stops) is not None
                ):
                    finish = "stop"
                    break
                inputs = torch.tensor([[token]], device=self.device)
        # The cache holds every token but the last one picked (never run through the model).
        self._kept = (prompt + [s.token for s in steps[:-1]], cache)
        return steps, finish

    def _reuse(self, prompt: list[int]) -> tuple[Any, int]:
        """The kept cache cropped to its common prefix with ``prompt``, and that prefix's
        length; ``(None, 0)`` when nothing is shared (or the cache cannot be cropped)."""
        kept, self._kept = self._kept, None  # a failure below must not leave a stale cache
        if kept is None:
            return None, 0
        ids, cache = kept
        shared = 0
        for a, b in zip(ids, prompt, strict=False):
            if a != b:
                break
            shared += 1
        shared = min(shared, len(prompt) - 1)  # the last prompt token must run: its logits
        crop = getattr(cache, "crop", None)
        if shared <= 0 or not callable(crop):
            return None, 0
        try:
            crop(shared)
        except Exception:  # caches that cannot be cut (sliding windows, recurrent state)
            return None, 0
        return cache, shared

    def _forward(self, inputs: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        """The last position's logits (float32) and the updated cache."""
        extra: dict[str, Any] = {self._cache_name: cache} if cache is not None else {}
        if self._keep_last:
            extra["logits_to_keep"] = 1
        out = self.model(input_ids=inputs, use_cache=True, **extra)
        new_cache = getattr(out, "cache", None)
        if new_cache is None:
            new_cache = getattr(out, "past_key_values", None)
        return out.logits[0, -1].float(), new_cache

    def _text(self, steps: Sequence[_Step]) -> str:
        ids = [s.token for s in steps if s.token not in self.eos_ids]
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def _piece(self, before: list[int], token: int) -> str:
        """The text ``token`` adds after ``before`` (decoded with a few tokens before it, so a
        word-initial piece keeps its space)."""
        window = before[-_WINDOW:]
        head = self.tokenizer.decode(window, skip_special_tokens=True)
        whole = self.tokenizer.decode([*window, token], skip_special_tokens=True)
        return str(whole[len(head) :] if whole.startswith(head) else whole)

    def _logprob_entries(
        self, prompt: list[int], steps: list[_Step], length: int
    ) -> list[dict[str, Any]]:
        """OpenAI's ``logprobs.content`` for the tokens of the first ``length`` characters."""
        entries: list[dict[str, Any]] = []
        before, at = list(prompt), 0
        for step in steps:
            if at >= length:
                break
            piece = self._piece(before, step.token)[: length - at]
            top = [_entry(self._piece(before, t), lp) for t, lp in step.top]
            entries.append({**_entry(piece, step.logprob), "top_logprobs": top})
            before.append(step.token)
            at += len(piece)
        return entries


async def chat_completion(
    generator: TextGenerator,
    messages: list[Any],
    extra: Mapping[str, Any],
    *,
    model_name: str,
    max_queue: int,
) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` answer to a request (its messages and extra fields)."""
    params = GenerationParams.of(extra)
    reply = await generator.submit(messages, params, max_queue=max_queue)
    logprobs = {"content": reply.logprobs} if reply.logprobs is not None else None
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "logprobs": logprobs,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def _message(message: Any, position: int) -> dict[str, str]:
    if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
        raise ApiError(
            400, f'messages[{position}] is not a message; send {{"role": ..., "content": ...}}'
        )
    content = message.get("content")
    # An assistant turn that only called tools has no content.
    text = (
        ""
        if content is None and message["role"] == "assistant"
        else message_text(content, position)
    )
    return {"role": message["role"], "content": text}


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """The tokens that end a reply: the tokenizer's EOS and the model's generation EOS ids."""
    ids: set[int] = set()
    config = getattr(model, "generation_config", None)
    for value in (getattr(config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return frozenset(ids)


def _pick(logits: torch.Tensor, temperature: float, top_p: float, rng: torch.Generator) -> int:
    """Greedy at temperature 0, else a sample from the nucleus ``top_p`` at ``temperature``."""
    import torch

    if temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the most likely tokens until their mass reaches top_p (the first always stays).
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= top_p
        sorted_probs[outside] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=rng))


def _step(logits: torch.Tensor, token: int, top_k: int) -> _Step:
    import torch

    logprobs = torch.log_softmax(logits, dim=-1)
    top: list[tuple[int, float]] = []
    if top_k:
        values, ids = torch.topk(logprobs, top_k)
        top = [(int(i), float(v)) for i, v in zip(ids, values, strict=True)]
    return _Step(token, float(logprobs[token]), top)


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the earliest stop string starts in ``text``, or ``None``."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None

"""The LLM teacher: few-shot classification and synthetic data over an OpenAI-compatible chat API.

Chosen by the local platform when ``DISTIL_TEACHER_BASE_URL`` is set (see
`distil_sdk.local.teachers.make_teacher`). Environment:

- ``DISTIL_TEACHER_BASE_URL``: the API root, e.g. ``http://localhost:11434/v1`` (Ollama);
- ``DISTIL_TEACHER_API_KEY``: bearer token, when the server needs one;
- ``DISTIL_TEACHER_MODEL``: the model, when ``base.teacher_model_name`` is not set;
- ``DISTIL_TEACHER_CONCURRENCY`` (default 4), ``DISTIL_TEACHER_TIMEOUT`` (seconds, default 120),
  ``DISTIL_TEACHER_CACHE_DIR`` (default ``~/.cache/distil_sdk/llm-teacher``; on the local
  platform it replaces the job's own cache, so every job of the server shares one);
- ``DISTIL_TEACHER_MAX_TOKENS``: the reply budget of one classification (default 128; a small
  model that rambles past its answer costs that many tokens per text).

Example::

    teacher = LLMTeacher(ChatClient("http://localhost:11434/v1", "qwen2.5:7b"))
    teacher.fit(job, train, config)
    probs = teacher.predict_proba(["my card was declined"])   # columns in job.labels order
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..._errors import DistilError
from ...inference._prompt import build_classification_messages, output_continuation
from ._base import normalise_rows
from ._chat import ChatClient, ChatRequest, ChatResult, Message, env_number
from ._synthgen import SYNTHGEN_KEYS, generate_examples

if TYPE_CHECKING:
    from ...types.data import LabelledDataset, UnlabelledDataset
    from ...types.task import JobDescription, TaskConfig

__all__ = ["LLMTeacher", "build_few_shot_messages", "match_label"]

logger = logging.getLogger("distil_sdk.local.teachers")

ENV_MODEL = "DISTIL_TEACHER_MODEL"
ENV_MAX_TOKENS = "DISTIL_TEACHER_MAX_TOKENS"

# Long product descriptions would otherwise dominate a few-shot prompt and the context window.
_MAX_EXEMPLAR_CHARS = 600
_MAX_TEXT_CHARS = 4000
_OUTPUT_RE = re.compile(r"<output>\s*(.*?)\s*(?:</output>|$)", re.IGNORECASE | re.DOTALL)
# Below this similarity a reply is "no label" rather than a misspelt one.
_CLOSE_MATCH_CUTOFF = 0.75


class LLMTeacher:
    """A few-shot classifier (and synthetic data writer) backed by a chat LLM.

    Args:
        chat: the client for the LLM server (holds the base URL, model, key, cache, limits).
        max_tokens: the reply budget for one classification.
    """

    def __init__(self, chat: ChatClient, *, max_tokens: int = 128) -> None:
        self.chat = chat
        self.max_tokens = max_tokens
        self.labels: list[str] = []
        self._job: JobDescription | None = None
        self._shots: list[tuple[str, str]] = []

    @classmethod
    def from_env(
        cls,
        config: TaskConfig,
        env: Mapping[str, str] | None = None,
        *,
        cache_dir: Path | str | None = None,
    ) -> LLMTeacher:
        """The teacher for ``config.base.teacher_model_name`` on ``DISTIL_TEACHER_BASE_URL``
        (``DISTIL_TEACHER_MAX_TOKENS`` its reply budget).

        Raises:
            DistilError: no model name in the config or ``DISTIL_TEACHER_MODEL``.
            ValueError: ``DISTIL_TEACHER_MAX_TOKENS`` (or another number) is not a whole
                number >= 1.
        """
        env = os.environ if env is None else env
        model = config.base.teacher_model_name or env.get(ENV_MODEL)
        if not model:
            raise DistilError(
                "the LLM teacher needs a model name: set base.teacher_model_name in the task's "
                f"config or {ENV_MODEL} in the server's environment"
            )
        max_tokens = env_number(env, ENV_MAX_TOKENS, 128, int)
        if max_tokens < 1:
            raise ValueError(f"{ENV_MAX_TOKENS}={max_tokens} must be a whole number >= 1")
        return cls(ChatClient.from_env(model, env, cache_dir=cache_dir), max_tokens=max_tokens)

    def __repr__(self) -> str:
        return f"LLMTeacher({self.chat!r}, labels={self.labels!r})"

    def close(self) -> None:
        """Release the HTTP pool and the cache."""
        self.chat.close()

    def describe(self) -> str:
        """The teacher as the model card names it (the model, never the server's URL or key)."""
        return f"the LLM teacher `{self.chat.model}` (few-shot prompts over a chat API)"

    def config_keys(self, config: TaskConfig) -> frozenset[str]:
        """The ``config.yaml`` keys this teacher reads; the ``synthgen`` ones only when
        ``synthgen.train_generation_target`` asks for synthetic examples."""
        keys = {
            "base.teacher_model_name",
            "base.random_seed",
            "evaluation.num_few_shot_examples",
            "synthgen.train_generation_target",
        }
        return frozenset(keys | SYNTHGEN_KEYS if config.synthgen.generation_target > 0 else keys)

    # -- Teacher protocol ----------------------------------------------------------------------

    def fit(self, job: JobDescription, train: LabelledDataset, config: TaskConfig) -> None:
        """Keep the job and ``evaluation.num_few_shot_examples`` train rows per class as shots."""
        self._job = job
        self.labels = list(job.labels)
        k = config.evaluation.num_few_shot_examples
        rng = random.Random(_seed(config))
        by_label: dict[str, list[str]] = {label: [] for label in self.labels}
        for text, label in zip(train.texts, train.labels, strict=True):
            if label in by_label:
                by_label[label].append(text)
        picked = {label: rng.sample(texts, min(k, len(texts))) for label, texts in by_label.items()}
        # Interleave the classes so the last shot before the question is not always one class.
        self._shots = [
            (picked[label][i], label)
            for i in range(k)
            for label in self.labels
            if i < len(picked[label])
        ]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities from the LLM's answers (logprobs when the server returns them).

        A reply that names no class gets one corrective follow-up; if that fails too the row is
        uniform and a warning is logged.
        """
        job = self._fitted_job()
        conversations = [build_few_shot_messages(job, self._shots, t) for t in texts]
        requests = [
            ChatRequest(m, temperature=0.0, max_tokens=self.max_tokens, logprobs=True)
            for m in conversations
        ]
        results = self.chat.complete_many(requests)
        probs = np.zeros((len(texts), len(self.labels)))
        retry_rows: list[int] = []
        for i, result in enumerate(results):
            row = self._scores(result)
            if row is None:
                retry_rows.append(i)
            else:
                probs[i] = row
        if retry_rows:
            corrective = (
                "That is not one of the classes. Answer with exactly one of: "
                + ", ".join(self.labels)
                + ", inside <output></output> tags."
            )
            follow_ups = [
                ChatRequest(
                    [
                        *conversations[i],
                        {"role": "assistant", "content": results[i].content},
                        {"role": "user", "content": corrective},
                    ],
                    temperature=0.0,
                    max_tokens=self.max_tokens,
                    logprobs=True,
                )
                for i in retry_rows
            ]
            for i, result in zip(retry_rows, self.chat.complete_many(follow_ups), strict=True):
                row = self._scores(result)
                if row is None:
                    logger.warning(
                        "teacher reply names no class (%r); using a uniform distribution",
                        result.content[:100],
                    )
                    row = np.full(len(self.labels), 1.0 / len(self.labels))
                probs[i] = row
        return normalise_rows(probs)

    def synthesize(
        self,
        job: JobDescription,
        train: LabelledDataset,
        unlabelled: UnlabelledDataset | None,
        config: TaskConfig,
        *,
        target: int | None = None,
        exclude: Sequence[str] = (),
    ) -> LabelledDataset:
        """Write ``target`` new examples (default ``synthgen.train_generation_target``), each
        confirmed by the teacher; none close to a ``train`` text or one of ``exclude``.

        See `distil_sdk.local.teachers._synthgen.generate_examples` for the rules.
        """
        from ...types.data import LabelledDataset

        if self._job is not job:
            self.fit(job, train, config)
        texts, labels = generate_examples(
            self.chat,
            job,
            train,
            unlabelled.texts if unlabelled is not None else [],
            config.synthgen,
            label_fn=self.predict_proba,
            seed=_seed(config),
            target=target,
            exclude=exclude,
        )
        return LabelledDataset.from_lists(texts, labels)

    # -- internals -----------------------------------------------------------------------------

    def _fitted_job(self) -> JobDescription:
        if self._job is None:
            raise DistilError("LLMTeacher.fit() must run before predict_proba()")
        return self._job

    def _scores(self, result: ChatResult) -> np.ndarray | None:
        """One row of probabilities for a reply, or ``None`` when it names no class."""
        answer, offset = extract_answer(result.content)
        label = match_label(answer, self.labels)
        if label is None:
            return None
        row = np.zeros(len(self.labels))
        row[self.labels.index(label)] = 1.0
        if result.logprobs:
            spread = _logprob_scores(result, offset, label, self.labels)
            if spread is not None:
                return spread
        return row


def build_few_shot_messages(
    job: JobDescription, shots: Sequence[tuple[str, str]], text: str
) -> list[Message]:
    """The platform's classification chat for ``text``, with the shots as earlier turns.

    The system and final user messages are the platform's own prompt (the one generative
    students are trained on), so the LLM teacher and a generative student read the same task.
    """
    *messages, question = build_classification_messages(job, _truncate(text, _MAX_TEXT_CHARS))
    for shot_text, shot_label in shots:
        shot = f"<question>{_truncate(shot_text, _MAX_EXEMPLAR_CHARS)}</question>"
        messages.append({"role": "user", "content": shot})
        messages.append({"role": "assistant", "content": output_continuation(shot_label)})
    messages.append(question)
    return messages


def extract_answer(content: str) -> tuple[str, int]:
    """The answer inside ``<output>...</output>`` (or the bare reply) and its offset in ``content``."""
    found = _OUTPUT_RE.search(content)
    if found:
        return found.group(1), found.start(1)
    stripped = content.lstrip()
    return stripped.strip(), len(content) - len(stripped)


def match_label(answer: str, labels: Sequence[str]) -> str | None:
    """The class an answer names: exact up to case/spacing/underscores, contained, or closest."""
    key = _squash(answer)
    if not key:
        return None
    squashed = {_squash(label): label for label in labels}
    if key in squashed:
        return squashed[key]
    # "The answer is billing." - exactly one class named inside the reply.
    words = f" {_words(answer)} "
    inside = [label for label in labels if f" {_words(label)} " in words]
    if len(inside) == 1:
        return inside[0]
    close = difflib.get_close_matches(key, list(squashed), n=1, cutoff=_CLOSE_MATCH_CUTOFF)
    return squashed[close[0]] if close else None


def _logprob_scores(
    result: ChatResult, offset: int, label: str, labels: Sequence[str]
) -> np.ndarray | None:
    """Spread probability over classes from the top alternatives at the answer's first token.

    An alternative token goes to the classes whose name starts with it (shared evenly), or all to
    the chosen class when that is one of them - the model's later tokens settled the tie.
    """
    tokens = result.logprobs or ()
    if "".join(t.token for t in tokens) != result.content:
        return None  # the tokens do not spell the reply, so offsets would be meaningless
    position = 0
    for token in tokens:
        end = position + len(token.token)
        if end > offset and _squash(result.content[offset:end]):
            break
        position = end
    else:
        return None
    lead = result.content[position:offset]  # part of the token before the answer, e.g. ">"
    scores = np.zeros(len(labels))
    chosen = labels.index(label)
    alternatives = dict(token.top)
    alternatives.setdefault(token.token, token.logprob)
    for alt, logprob in alternatives.items():
        if not alt.startswith(lead):
            continue
        prefix = _squash(alt[len(lead) :])
        if not prefix:
            continue
        matches = [j for j, name in enumerate(labels) if _squash(name).startswith(prefix)]
        if not matches:
            continue
        p = math.exp(logprob)
        if chosen in matches:
            scores[chosen] += p
        else:
            scores[matches] += p / len(matches)
    if scores[chosen] <= 0:
        return None
    normalised: np.ndarray = scores / scores.sum()
    return normalised


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def _words(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def _seed(config: TaskConfig) -> int:
    return config.base.random_seed or 0

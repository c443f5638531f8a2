"""Synthetic example generation for the LLM teacher, following the task's ``synthgen`` settings.

Per class the LLM is shown positive exemplars (train rows of the class), negative exemplars (rows
of other classes, with their labels) and unlabelled texts from the domain, and asked for several
new examples at ``teacher_temperature``. Replies are parsed leniently (a JSON list, or numbered /
bulleted lines); empty texts, duplicates and near-duplicates (character-trigram Jaccard
similarity to a kept or seed text >= ``validation_similarity_threshold``) are dropped; then the
teacher labels what is left and only examples whose label agrees with the requested class stay.
Rounds repeat for the classes still short of their share of ``generation_target``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from itertools import chain, zip_longest
from typing import TYPE_CHECKING, Any

import numpy as np

from ._chat import ChatClient, ChatRequest, Message

if TYPE_CHECKING:
    from ...types.data import LabelledDataset
    from ...types.task import JobDescription, SynthgenConfig

__all__ = ["SYNTHGEN_KEYS", "class_targets", "generate_examples", "parse_examples"]

logger = logging.getLogger("distil_sdk.local.teachers")

LabelFn = Callable[[Sequence[str]], np.ndarray]

#: The ``synthgen`` keys `generate_examples` reads (the model card lists the others as unused).
SYNTHGEN_KEYS: frozenset[str] = frozenset(
    f"synthgen.{key}"
    for key in (
        "train_generation_target",
        "generation_in_single_call",
        "generation_iteration_size",
        "match_generated_distribution_to_seed",
        "teacher_temperature",
        "teacher_max_tokens",
        "validation_similarity_threshold",
        "num_positive_exemplars_per_generation",
        "num_negative_exemplars_per_generation",
        "num_unlabelled_exemplars_per_generation",
    )
)

_MAX_EXEMPLAR_CHARS = 600
_LIST_MARKER = re.compile(r"^\s*(?:\d+\s*[.):]|[-*\u2022])\s*")
_TEXT_KEYS = ("text", "example", "input", "question", "content")
# A code fence with its language ("```json"), and a letter or digit: what every example has.
_FENCE = re.compile(r"```[\w+-]*")
_WORD = re.compile(r"[^\W_]")
_MEMBER = re.compile(r'^[\w -]+"\s*:\s*(.*)$')


def generate_examples(
    chat: ChatClient,
    job: JobDescription,
    train: LabelledDataset,
    unlabelled: Sequence[str],
    synthgen: SynthgenConfig,
    *,
    label_fn: LabelFn,
    seed: int = 0,
    target: int | None = None,
    exclude: Sequence[str] = (),
) -> tuple[list[str], list[str]]:
    """New ``(texts, labels)``: up to ``target`` examples (default
    ``synthgen.generation_target``), teacher-confirmed.

    ``label_fn`` scores texts with probabilities in ``job.labels`` order (the teacher's
    ``predict_proba``). Texts too close to a ``train`` text or one of ``exclude`` (the other
    split's, say) are dropped like near-duplicates. Calls go out in batches of
    ``generation_iteration_size``; the whole run makes at most twice the calls the classes'
    targets need (one per ``generation_in_single_call`` texts of a class), then stops with a
    warning - a model that keeps repeating itself must not loop forever.
    """
    labels = list(job.labels)
    target = synthgen.generation_target if target is None else target
    if target <= 0 or not labels:
        return [], []
    per_call = synthgen.generation_in_single_call
    targets = class_targets(
        labels,
        train.labels,
        target,
        match_seed=synthgen.match_generated_distribution_to_seed,
    )
    prompts = _PromptSampler(job, train, unlabelled, synthgen, seed)
    max_tokens = min(synthgen.teacher_max_tokens, 256 * (per_call + 1))
    seen = _NearDuplicates(synthgen.validation_similarity_threshold)
    for text in chain(train.texts, exclude):
        seen.add(text)
    kept: dict[str, list[str]] = {label: [] for label in labels}
    # Twice the calls the classes' targets need when every text is kept; no more.
    budget = 2 * sum(math.ceil(n / per_call) for n in targets.values())
    calls = 0
    while calls < budget:
        asked = _labels_to_ask(targets, kept, per_call)
        asked = asked[: min(synthgen.generation_iteration_size, budget - calls)]
        if not asked:
            break
        requests = [
            ChatRequest(
                prompts.messages(label),
                temperature=synthgen.teacher_temperature,
                max_tokens=max_tokens,
                # A distinct seed per call: equal prompts must not share one cache entry.
                seed=(seed + calls + i) % 2**31,
            )
            for i, label in enumerate(asked)
        ]
        calls += len(requests)
        candidates = [
            (text, label)
            for label, reply in zip(asked, chat.complete_many(requests), strict=True)
            for text in parse_examples(reply.content)
            if seen.add(text)
        ]
        _keep_confirmed(candidates, label_fn, labels, targets, kept)
        made = sum(map(len, kept.values()))
        logger.info("synthetic generation: %d/%d examples after %d calls", made, target, calls)
    _warn_if_short(sum(map(len, kept.values())), target, calls)
    texts = [text for label in labels for text in kept[label]]
    return texts, [label for label in labels for _ in kept[label]]


def _labels_to_ask(targets: dict[str, int], kept: dict[str, list[str]], per_call: int) -> list[str]:
    """One label per call still needed, round-robin over the classes still short, so a
    truncated batch serves them all."""
    wanted = [
        [label] * math.ceil((targets[label] - len(kept[label])) / per_call) for label in targets
    ]
    return [label for group in zip_longest(*wanted) for label in group if label is not None]


def _keep_confirmed(
    candidates: list[tuple[str, str]],
    label_fn: LabelFn,
    labels: list[str],
    targets: dict[str, int],
    kept: dict[str, list[str]],
) -> None:
    """Add to ``kept`` the candidates the teacher labels as the class they were written for,
    up to each class's target.

    The class must be the teacher's one most likely class: a tie is no confirmation (a teacher
    that names no class answers a uniform row, whose argmax would be the first class).
    """
    if not candidates:
        return
    probs = np.asarray(label_fn([text for text, _ in candidates]), dtype=float)
    for (text, label), row in zip(candidates, probs, strict=True):
        asked = labels.index(label)
        others = np.delete(row, asked)
        confirmed = not others.size or row[asked] > others.max()
        if confirmed and len(kept[label]) < targets[label]:
            kept[label].append(text)


def _warn_if_short(made: int, target: int, calls: int) -> None:
    if made < target:
        logger.warning(
            "synthetic generation made %d of %d examples in %d calls (the model repeats itself "
            "or the teacher disagrees with it); continuing with those",
            made,
            target,
            calls,
        )


def class_targets(
    labels: Sequence[str], seed_labels: Sequence[str], target: int, *, match_seed: bool
) -> dict[str, int]:
    """How many examples each class gets: uniform, or proportional to the seed labels.

    Largest-remainder rounding, so the counts always sum to ``target``; ties go to the earlier
    class.
    """
    counts = Counter(seed_labels)
    weights = [float(counts[label]) if match_seed else 1.0 for label in labels]
    total = sum(weights)
    if total <= 0:
        weights, total = [1.0] * len(labels), float(len(labels))
    shares = [target * w / total for w in weights]
    out = [math.floor(s) for s in shares]
    by_remainder = sorted(range(len(labels)), key=lambda i: (out[i] - shares[i], i))
    for i in by_remainder[: target - sum(out)]:
        out[i] += 1
    return dict(zip(labels, out, strict=True))


def parse_examples(content: str) -> list[str]:
    """The example texts in a reply: a JSON list (of strings or objects), else list lines.

    Debris of a reply that is neither (a code fence and its language, a line that only opens a
    JSON object or list, punctuation without a word) is not an example; of a JSON member line
    (``"text": "..."``) the value is.
    """
    start, end = content.find("["), content.rfind("]")
    if 0 <= start < end:
        try:
            items = json.loads(content[start : end + 1])
        except ValueError:
            items = None
        if isinstance(items, list):
            return [t for t in (_item_text(item) for item in items) if _WORD.search(t)]
    lines = [line.strip() for line in _FENCE.sub("\n", content).splitlines()]
    lines = [line for line in lines if line and not line.endswith((":", "[", "{"))]
    marked = [line for line in lines if _LIST_MARKER.match(line)]
    # When the model numbered its examples, unnumbered lines are chatter ("Sure! Here...").
    picked = marked or lines
    texts = (_clean(_LIST_MARKER.sub("", line, count=1)) for line in picked)
    # A member of a broken JSON object ('"text": "the example",'): its value.
    texts = (_clean(m.group(1)) if (m := _MEMBER.match(t)) else t for t in texts)
    return [t for t in texts if _WORD.search(t)]


class _NearDuplicates:
    """Texts seen so far, answering "is this new?" by exact and trigram-Jaccard similarity.

    An inverted index from trigram to texts keeps each lookup to the texts that share a trigram.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._exact: set[str] = set()
        self._sizes: list[int] = []
        self._postings: defaultdict[str, list[int]] = defaultdict(list)

    def add(self, text: str) -> bool:
        """Record ``text``; ``False`` (and nothing recorded) when empty or too close to one seen."""
        norm = " ".join(text.casefold().split())
        if not norm or norm in self._exact:
            return False
        grams = _trigrams(norm)
        if self.threshold <= 1.0:
            shared = Counter(chain.from_iterable(self._postings.get(g, ()) for g in grams))
            for other, inter in shared.items():
                if inter / (len(grams) + self._sizes[other] - inter) >= self.threshold:
                    return False
        self._exact.add(norm)
        index = len(self._sizes)
        self._sizes.append(len(grams))
        for gram in grams:
            self._postings[gram].append(index)
        return True


class _PromptSampler:
    """Builds generation prompts, drawing fresh exemplars for every call from a seeded RNG.

    Seeded so a restarted job asks the same questions again and the chat cache answers them.
    """

    def __init__(
        self,
        job: JobDescription,
        train: LabelledDataset,
        unlabelled: Sequence[str],
        synthgen: SynthgenConfig,
        seed: int,
    ) -> None:
        self.job = job
        self.per_call = synthgen.generation_in_single_call
        self.rows = list(zip(train.texts, train.labels, strict=True))
        self.unlabelled = list(unlabelled)
        self.n_pos = synthgen.num_positive_exemplars_per_generation
        self.n_neg = synthgen.num_negative_exemplars_per_generation
        self.n_unl = synthgen.num_unlabelled_exemplars_per_generation
        self.rng = random.Random(seed)
        classes = "\n".join(f"- {name}: {desc}" for name, desc in job.classes.items())
        self.system = (
            "You write realistic, varied training data for a text classifier.\n\n"
            f"Task: {job.task_description}\n\nClasses:\n{classes}"
        )
        extra = getattr(job, "synthetic_data_generation_instructions", None)
        if isinstance(extra, str) and extra.strip():
            self.system += f"\n\nInstructions for writing examples: {extra.strip()}"

    def messages(self, label: str) -> list[Message]:
        """The chat asking for ``per_call`` new examples of ``label``."""
        positives = self._sample([t for t, lab in self.rows if lab == label], self.n_pos)
        negatives = self._sample([(t, lab) for t, lab in self.rows if lab != label], self.n_neg)
        unlabelled = self._sample(self.unlabelled, self.n_unl)
        description = self.job.classes.get(label, "")
        parts = [
            f'Write {self.per_call} new texts that belong to the class "{label}" ({description}).'
        ]
        if positives:
            parts.append(
                f'Examples of "{label}":\n' + "\n".join(f"- {_short(t)}" for t in positives)
            )
        if negatives:
            parts.append(
                "Examples of other classes (the new texts must NOT belong to these):\n"
                + "\n".join(f"- [{lab}] {_short(t)}" for t, lab in negatives)
            )
        if unlabelled:
            parts.append(
                "Unlabelled texts from the same domain, for style and topic:\n"
                + "\n".join(f"- {_short(t)}" for t in unlabelled)
            )
        parts.append(
            "Each new text must differ from the examples and from each other in wording and "
            f"content. Reply with a JSON list of {self.per_call} strings and nothing else."
        )
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": "\n\n".join(parts)},
        ]

    def _sample(self, items: Sequence[Any], k: int) -> list[Any]:
        return self.rng.sample(list(items), min(max(k, 0), len(items)))


def _item_text(item: Any) -> str:
    if isinstance(item, dict):
        values = [item.get(k) for k in _TEXT_KEYS] + list(item.values())
        item = next((v for v in values if isinstance(v, str)), "")
    return _clean(item) if isinstance(item, str) else ""


def _clean(text: str) -> str:
    # A line of a broken JSON list ends with its separator: '"text",'.
    return text.strip().rstrip(",").strip().strip("\"'\u201c\u201d").strip()


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_EXEMPLAR_CHARS else text[:_MAX_EXEMPLAR_CHARS] + "..."


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(max(1, len(text) - 2))}

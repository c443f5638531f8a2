"""Task variants built at run time from the shared task folders (for bench_offline_training.py).

The shared tasks are kept out of this repository on purpose (defaults must not be tuned to
them), and so are these variants: each builder reads task folders in the platform format
(``job_description.json``, ``train.csv``, ``test.csv``, ``unstructured.csv``) and returns a
:class:`~distil_sdk.types.data.TaskBundle` that :func:`write_variant` writes to a temporary
folder. Every builder is deterministic for a given ``seed``.

* :func:`few_shot` (``<task>-4shot``): ``shots`` train rows per class, drawn with ``seed``.
* :func:`merged` (``merged``): the label sets of several tasks as one task (train and test
  concatenated, class descriptions kept, unlabelled texts pooled and subsampled).
* :func:`long_texts` (``long``): each row joined with another row of the same class and split;
  unlabelled texts are joined with another random unlabelled text (their classes are unknown,
  so a pair may mix classes, as long real-world posts sometimes do).
* :func:`intent_clusters` (``intent-77``): a speed / scale check, **not** a natural task. Short
  sentences cut from the shared texts, labelled by k-means clusters of their all-MiniLM-L6-v2
  embeddings (77 classes, 8 train rows per class, 40 test rows per class, ~1000 unlabelled). It
  matches the shape of a 77-class intent task (616 labelled rows, ~3000 test rows) so the flow's
  time on many classes and many test rows can be measured; its accuracies say little about real
  intent data (cluster labels favour exactly the frozen-embedding view of the texts).
* `short_few` (``short-7``, ``short-16`` in bench_confidence.py): the shape of an unseen task
  with few rows of short texts and more classes. Sentences cut from the shared labelled texts
  keep their text's label; ``classes`` labels are drawn with ``seed`` from every shared class
  with enough sentences, and whole source texts go to one split only (no post is split
  between train and test).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from distil_sdk.types.data import LabelledDataset, TaskBundle, UnlabelledDataset
from distil_sdk.types.task import JobDescription

__all__ = [
    "SHARED_TASKS",
    "few_shot",
    "intent_clusters",
    "long_texts",
    "merged",
    "short_few",
    "split_sentences",
    "write_variant",
]

#: The task folders under ``<shared>/datasets``.
SHARED_TASKS = ("banking-routing", "ecommerce", "mental-health")

Embed = Callable[[Sequence[str]], np.ndarray]


def _by_class(data: LabelledDataset) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for example in data:
        out[example.answer].append(example.question)
    return out


def few_shot(bundle: TaskBundle, shots: int, seed: int) -> TaskBundle:
    """The same task with at most ``shots`` train rows per class (drawn with ``seed``).

    Test and unlabelled rows are kept as they are.
    """
    if shots < 1:
        raise ValueError(f"shots must be at least 1, got {shots}")
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[str] = []
    per_class = _by_class(bundle.train)
    for label in bundle.labels:  # job-description order: stable whatever the file order
        rows = per_class.get(label, [])
        for text in rng.sample(rows, min(shots, len(rows))):
            texts.append(text)
            labels.append(label)
    return TaskBundle(
        bundle.job_description,
        LabelledDataset.from_lists(texts, labels),
        bundle.test,
        bundle.unstructured,
    )


def merged(bundles: Sequence[TaskBundle], seed: int, *, unlabelled: int = 1000) -> TaskBundle:
    """One task whose classes are the union of ``bundles``' classes.

    Train and test rows are concatenated, class descriptions kept, and the unlabelled texts
    pooled and subsampled to ``unlabelled`` (with ``seed``).

    Raises:
        ValueError: two tasks share a class name (the merged labels would be ambiguous).
    """
    classes: dict[str, str] = {}
    for bundle in bundles:
        for label, description in bundle.job_description.classes_description.items():
            if label in classes:
                raise ValueError(f"class {label!r} appears in more than one task; rename it")
            classes[label] = description
    job = JobDescription(
        task_description=(
            "Classify the text (a bank customer request, a product description or a forum "
            "comment) into one of the provided classes."
        ),
        classes_description=classes,
    )

    def concat(parts: Sequence[LabelledDataset]) -> LabelledDataset:
        return LabelledDataset.from_lists(
            [t for p in parts for t in p.texts], [lab for p in parts for lab in p.labels]
        )

    pool = [t for b in bundles if b.unstructured is not None for t in b.unstructured.texts]
    pool = list(dict.fromkeys(pool))
    rng = random.Random(seed)
    sample = rng.sample(pool, min(unlabelled, len(pool)))
    return TaskBundle(
        job,
        concat([b.train for b in bundles]),
        concat([b.test for b in bundles]),
        UnlabelledDataset.from_lists(sample),
    )


def _join_same_class(data: LabelledDataset, rng: random.Random, sep: str) -> LabelledDataset:
    per_class = _by_class(data)
    texts: list[str] = []
    for example in data:
        partners = [t for t in per_class[example.answer] if t != example.question]
        partner = rng.choice(partners) if partners else example.question
        texts.append(f"{example.question}{sep}{partner}")
    return LabelledDataset.from_lists(texts, list(data.labels))


def long_texts(bundle: TaskBundle, seed: int, *, sep: str = "\n\n") -> TaskBundle:
    """The same task with every text about twice as long.

    Each train and test row is joined with another row of the same class *from the same split*
    (the test set never borrows train texts); each unlabelled text is joined with another
    random unlabelled text. Row counts stay the same.
    """
    rng = random.Random(seed)
    train = _join_same_class(bundle.train, rng, sep)
    test = _join_same_class(bundle.test, rng, sep)
    unstructured = None
    if bundle.unstructured is not None:
        pool = list(bundle.unstructured.texts)
        order = list(range(len(pool)))
        rng.shuffle(order)
        # Pair each text with the next one in a shuffled cycle: no text is joined with itself.
        partner = {order[i]: order[(i + 1) % len(order)] for i in range(len(order))}
        unstructured = UnlabelledDataset.from_lists(
            [f"{pool[i]}{sep}{pool[partner[i]]}" for i in range(len(pool))]
        )
    return TaskBundle(bundle.job_description, train, test, unstructured)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def split_sentences(text: str, *, min_words: int = 4, max_words: int = 25) -> list[str]:
    """The sentences of ``text`` with ``min_words`` to ``max_words`` words (others dropped)."""
    out = []
    for piece in _SENTENCE_END.split(text):
        sentence = " ".join(piece.split())
        if min_words <= len(sentence.split()) <= max_words:
            out.append(sentence)
    return out


def intent_clusters(
    bundles: Sequence[TaskBundle],
    embed: Embed,
    seed: int,
    *,
    classes: int = 77,
    train_per_class: int = 8,
    test_per_class: int = 40,
    unlabelled: int = 1000,
    max_sentences: int = 12000,
    cluster_seed: int = 0,
) -> TaskBundle:
    """A many-class task of short sentences labelled by k-means clusters (speed/scale check).

    Sentences are cut from every text of ``bundles`` (:func:`split_sentences`, deduplicated; at
    most ``max_sentences``, drawn with ``cluster_seed``), embedded with ``embed`` and clustered
    by k-means into ``classes * 1.3`` clusters (``cluster_seed``); the ``classes`` largest
    become the labels, so every class has enough rows. Each class's description quotes the
    sentence nearest its centre (that sentence is then left out of the rows). Train, test and
    unlabelled rows are drawn per class with ``seed``: the clusters are the same for every
    seed, the split is not.

    Raises:
        ValueError: too few sentences for ``classes`` classes of the requested size.
    """
    from sklearn.cluster import KMeans

    need = train_per_class + test_per_class + 1
    pool: list[str] = []
    for bundle in bundles:
        texts = list(bundle.train.texts) + list(bundle.test.texts)
        if bundle.unstructured is not None:
            texts += list(bundle.unstructured.texts)
        for text in texts:
            pool.extend(split_sentences(text))
    pool = list(dict.fromkeys(pool))
    if len(pool) > max_sentences:
        pool = random.Random(cluster_seed).sample(pool, max_sentences)
    if len(pool) < classes * need:
        raise ValueError(
            f"{len(pool)} sentences are too few for {classes} classes of {need} rows; "
            "lower classes or the rows per class"
        )
    x = np.asarray(embed(pool), dtype=np.float64)
    k = int(classes * 1.3)
    km = KMeans(n_clusters=k, n_init=3, random_state=cluster_seed).fit(x)
    members: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(km.labels_):
        members[int(c)].append(i)
    largest = sorted(members, key=lambda c: (-len(members[c]), c))[:classes]
    if len(members[largest[-1]]) < need:
        raise ValueError(
            f"the {classes}th largest cluster has only {len(members[largest[-1]])} sentences "
            f"(need {need}); raise max_sentences or lower the rows per class"
        )
    rng = random.Random(seed)
    descriptions: dict[str, str] = {}
    train: tuple[list[str], list[str]] = ([], [])
    test: tuple[list[str], list[str]] = ([], [])
    rest: list[str] = []
    for rank, cluster in enumerate(sorted(largest)):
        label = f"intent_{rank:02d}"
        rows = members[cluster]
        centre = km.cluster_centers_[cluster]
        nearest = min(rows, key=lambda i: float(np.sum((x[i] - centre) ** 2)))
        descriptions[label] = f'Messages like: "{pool[nearest]}"'
        others = [i for i in rows if i != nearest]
        rng.shuffle(others)
        for i in others[:train_per_class]:
            train[0].append(pool[i])
            train[1].append(label)
        for i in others[train_per_class : train_per_class + test_per_class]:
            test[0].append(pool[i])
            test[1].append(label)
        rest.extend(pool[i] for i in others[train_per_class + test_per_class :])
    job = JobDescription(
        task_description="Classify the short message into one of the provided intents.",
        classes_description=descriptions,
    )
    return TaskBundle(
        job,
        LabelledDataset.from_lists(*train),
        LabelledDataset.from_lists(*test),
        UnlabelledDataset.from_lists(rng.sample(rest, min(unlabelled, len(rest)))),
    )


def _sentences_by_text(
    bundles: Sequence[TaskBundle], max_words: int
) -> tuple[dict[str, list[list[str]]], dict[str, str], list[str]]:
    """Per class, the sentences of each labelled text (one list per text, texts in file
    order); every class's description; the sentences of the unlabelled texts of the tasks.
    A sentence seen under two classes, or twice, is kept once at most (ambiguous ones never)."""
    owner: dict[str, set[str]] = defaultdict(set)
    per_text: dict[str, list[list[str]]] = defaultdict(list)
    descriptions: dict[str, str] = {}
    unlabelled: list[str] = []
    for bundle in bundles:
        descriptions.update(bundle.job_description.classes_description)
        for data in (bundle.train, bundle.test):
            for example in data:
                sentences = split_sentences(example.question, max_words=max_words)
                per_text[example.answer].append(sentences)
                for sentence in sentences:
                    owner[sentence].add(example.answer)
        if bundle.unstructured is not None:
            for text in bundle.unstructured.texts:
                unlabelled.extend(split_sentences(text, max_words=max_words))
    seen: set[str] = set()
    clean: dict[str, list[list[str]]] = {}
    for label, texts in per_text.items():
        clean[label] = []
        for sentences in texts:
            kept = [s for s in sentences if len(owner[s]) == 1 and s not in seen]
            seen.update(kept)
            if kept:
                clean[label].append(kept)
    return clean, descriptions, [s for s in dict.fromkeys(unlabelled) if s not in seen]


def _deal(
    texts: list[list[str]], rng: random.Random, sizes: Sequence[int]
) -> tuple[list[list[str]], list[str]] | None:
    """Deal whole texts (shuffled) into splits of ``sizes`` sentences, in order: the splits
    and the sentences left over; ``None`` when the texts run out first (a text straddling a
    split's end gives it what fits and loses the rest)."""
    texts = [list(t) for t in texts]
    rng.shuffle(texts)
    splits: list[list[str]] = []
    for size in sizes:
        split: list[str] = []
        while len(split) < size:
            if not texts:
                return None
            sentences = texts.pop()
            rng.shuffle(sentences)
            split.extend(sentences[: size - len(split)])
        splits.append(split)
    return splits, [s for t in texts for s in t]


def short_few(
    bundles: Sequence[TaskBundle],
    seed: int,
    *,
    classes: int = 7,
    train_per_class: int = 14,
    test_per_class: int = 16,
    unlabelled: int = 500,
    max_words: int = 20,
) -> TaskBundle:
    """A task of short texts, few rows per class and classes drawn from several tasks.

    Each labelled text of ``bundles`` is cut into sentences of 4 to ``max_words`` words
    (`split_sentences`) that keep the text's label; a sentence found under two labels is
    dropped. Labels are drawn in an order shuffled with ``seed`` until ``classes`` of them
    can be dealt: per class the source texts are shuffled and dealt whole, test rows first
    (``test_per_class``), then train rows (``train_per_class``), so no text has sentences in
    both; a text that straddles the end of a split loses its other sentences, and a class
    whose texts run out is passed over. Each class keeps its description. The unlabelled
    texts are the chosen classes' sentences left over and sentences of the source tasks'
    unlabelled texts, at most ``unlabelled`` of them.

    Raises:
        ValueError: fewer than ``classes`` labels have enough sentences.
    """
    per_text, descriptions, extra = _sentences_by_text(bundles, max_words)
    rng = random.Random(seed)
    order = sorted(per_text)
    rng.shuffle(order)
    dealt: dict[str, tuple[list[list[str]], list[str]]] = {}
    for label in order:
        if len(dealt) < classes:
            split = _deal(per_text[label], rng, (test_per_class, train_per_class))
            if split is not None:
                dealt[label] = split
    if len(dealt) < classes:
        raise ValueError(
            f"only {len(dealt)} classes have {test_per_class} + {train_per_class} sentences of "
            f"at most {max_words} words; lower classes ({classes}) or the rows per class"
        )
    chosen = sorted(dealt)
    test = [(s, label) for label in chosen for s in dealt[label][0][0]]
    train = [(s, label) for label in chosen for s in dealt[label][0][1]]
    pool = list(dict.fromkeys([s for label in chosen for s in dealt[label][1]] + extra))
    job = JobDescription(
        task_description="Classify the short text into one of the provided classes.",
        classes_description={label: descriptions[label] for label in chosen},
    )
    return TaskBundle(
        job,
        LabelledDataset.from_lists([t for t, _ in train], [lab for _, lab in train]),
        LabelledDataset.from_lists([t for t, _ in test], [lab for _, lab in test]),
        UnlabelledDataset.from_lists(rng.sample(pool, min(unlabelled, len(pool)))),
    )


def write_variant(bundle: TaskBundle, folder: Path) -> Path:
    """Write ``bundle`` as a task folder (CSV files) and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    return bundle.to_dir(folder, format="csv")

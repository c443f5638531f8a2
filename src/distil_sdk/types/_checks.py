"""The content checks behind `TaskBundle.validate`.

Severities follow what the distil labs platform does with an upload: what it rejects is an
error here (unknown labels, a class missing from train or test, a class below the per-class
example floor, empty texts, texts shared by train and test, rows over
``synthgen.validation_max_total_length``); what it accepts but usually hurts is a warning.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from ._chat import CHAT_ROW_SHAPE, conversation_problem, message_text
from ._limits import find_surrogate
from ._traces import observation_format_of
from ._words import plural
from .validation import Finding

if TYPE_CHECKING:
    from ._bundle import TaskBundle
    from ._datasets import Example, LabelledDataset, UnlabelledDataset
    from ._traces import Traces

# The platform has no hard row minimum but recommends 20+ diverse training examples.
RECOMMENDED_MIN_TRAIN_ROWS = 20
# Largest class / smallest class in train above which the imbalance is flagged.
IMBALANCE_RATIO = 5.0
# Beyond this many findings of one code in one file, the rest are summarised in one finding.
MAX_FINDINGS_PER_CODE = 20


def _err(
    code: str, file: str, message: str, row: int | None = None, column: str | None = None
) -> Finding:
    return Finding(severity="error", code=code, file=file, row=row, column=column, message=message)


def _empty_text(file: str, row: int, column: str) -> Finding:
    return _err(
        "empty_text",
        file,
        "the text is empty or only whitespace; fill it in or delete the row.",
        row=row,
        column=column,
    )


def _surrogate(file: str, row: int, column: str | None = None) -> Finding:
    return _err(
        "lone_surrogate",
        file,
        "holds a lone surrogate character (e.g. \\ud800), which cannot be encoded as UTF-8 "
        "or uploaded; remove it.",
        row=row,
        column=column,
    )


def _check_strings(value: object, file: str) -> list[Finding]:
    """A lone surrogate anywhere in a job description or config built in memory."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and find_surrogate(item) is not None:
            return [
                _err(
                    "lone_surrogate",
                    file,
                    "a value holds a lone surrogate character (e.g. \\ud800), which cannot "
                    "be encoded as UTF-8 or uploaded; remove it.",
                )
            ]
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return []


def _warn(
    code: str, file: str, message: str, row: int | None = None, column: str | None = None
) -> Finding:
    return Finding(
        severity="warning", code=code, file=file, row=row, column=column, message=message
    )


def _name(dataset: LabelledDataset | UnlabelledDataset, split: str) -> str:
    return dataset.source or split


def check_bundle(bundle: TaskBundle) -> list[Finding]:
    """All findings for ``bundle``: reading findings first, then content checks, capped."""
    findings: list[Finding] = []
    splits: list[tuple[str, LabelledDataset | UnlabelledDataset | Traces | None]] = [
        ("train", bundle.train),
        ("test", bundle.test),
        ("unstructured", bundle.unstructured),
        ("traces", bundle.traces),
    ]
    for split, dataset in splits:
        if dataset is not None:
            # In-memory datasets have no file name: name them after their split.
            findings += [
                f if f.file else f.model_copy(update={"file": split}) for f in dataset.findings
            ]
    findings += _check_strings(bundle.job_description.model_dump(), "job_description.json")
    findings += _check_strings(bundle.config.model_dump(), "config.yaml")
    findings += _check_config(bundle)
    findings += _check_job_description(bundle)
    for split in ("train", "test"):
        rows: LabelledDataset = getattr(bundle, split)
        if not rows.examples:
            findings.append(_empty_split(bundle, split))
        elif bundle.task == "classification":
            findings += _check_labelled(bundle, split)
        else:
            findings += _check_conversations(bundle, split)
    if bundle.task == "classification":
        findings += _check_classes(bundle)
    findings += _check_overlap(bundle)
    if bundle.unstructured is not None:
        findings += _check_unstructured(bundle, bundle.unstructured)
    if bundle.traces is not None:
        findings += bundle.traces.check(
            observation_format_of(bundle.config), bundle.config.synthgen.validation_max_total_length
        )
    return _cap(findings)


# What each stage does with an empty split (data-preparation/overview.md, "Empty splits").
_EMPTY_SPLIT = {
    "train": 'the train split is empty: finetuning refuses it ("Finetuning needs a training set, '
    'and this job has none"); generate synthetic data first, or add training examples.',
    "test": "the test split is empty: teacher evaluation refuses it, and training gives a model "
    'with no scores ("not available"); add test examples to get them.',
}


def _empty_split(bundle: TaskBundle, split: str) -> Finding:
    dataset: LabelledDataset = getattr(bundle, split)
    return _warn("empty_split", _name(dataset, f"{split}.jsonl"), _EMPTY_SPLIT[split])


def _check_job_description(bundle: TaskBundle) -> list[Finding]:
    from .task import job_description_findings

    return job_description_findings(bundle.job_description, bundle.task, config=bundle.config)


def _check_conversations(bundle: TaskBundle, split: str) -> list[Finding]:
    """Rows of a task other than classification: the task's conversation rules, the length
    limit, repeated rows."""
    dataset: LabelledDataset = getattr(bundle, split)
    file = _name(dataset, split)
    tools = [t.model_dump() for t in bundle.job_description.tools or []]
    max_length = bundle.config.synthgen.validation_max_total_length
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for i, example in enumerate(dataset.examples):
        row = dataset.row_of(i)
        problem = conversation_problem(
            example.messages,
            bundle.task,
            tools,
            max_tool_calls_per_turn=bundle.config.synthgen.max_tool_calls_per_turn,
        )
        if problem:
            findings.append(
                _err("invalid_messages", file, f"{problem}.", row=row, column="messages")
            )
        length = _row_length(example)
        if length > max_length:
            findings.append(_too_long(file, row, length, max_length))
        key = _row_key(example)
        if key in seen:
            findings.append(
                _warn(
                    "duplicate_text",
                    file,
                    f"the same row as row {seen[key]}; delete one copy.",
                    row=row,
                    column="messages",
                )
            )
        else:
            seen[key] = row
    return findings


def _row_length(example: Example) -> int:
    """Characters the platform counts against the limit: every turn's text (+ context)."""
    if example.conversation is None:
        return len(example.question) + len(example.answer)
    context = example.conversation.get("context")
    extra = len(context) if isinstance(context, str) else 0
    return extra + sum(len(message_text(m)) for m in example.messages if isinstance(m, dict))


def _row_key(example: Example) -> str:
    """What "identical rows" compares: the whole conversation."""
    if example.conversation is None:
        return json.dumps([example.question, example.answer], ensure_ascii=False)
    return json.dumps(example.conversation, ensure_ascii=False, sort_keys=True)


def _too_long(file: str, row: int, length: int, max_length: int) -> Finding:
    return _err(
        "text_too_long",
        file,
        f"the row has {length} characters, over "
        f"synthgen.validation_max_total_length ({max_length}); shorten "
        "the text or raise the limit in config.yaml.",
        row=row,
        column="question",
    )


def _check_config(bundle: TaskBundle) -> list[Finding]:
    findings = [
        _warn(
            "renamed_config_key",
            "config.yaml",
            f"{old} is the previous platform's name; it was read as {new}. Rename it."
            if new
            else f"{old} is no longer used by the platform and was ignored; remove it.",
            column=old,
        )
        for old, new in bundle.config.renamed_keys()
    ]
    return findings + [
        _warn(
            "unknown_config_key",
            "config.yaml",
            f"this key is not documented.{bundle.config.suggestion(key)} It is sent to the "
            "platform as is - check its spelling.",
            column=key,
        )
        for key in bundle.config.unknown_keys()
    ]


def _check_labelled(bundle: TaskBundle, split: str) -> list[Finding]:
    dataset: LabelledDataset = getattr(bundle, split)
    file = _name(dataset, split)
    labels = bundle.job_description.labels
    known = set(labels)
    max_length = bundle.config.synthgen.validation_max_total_length
    findings: list[Finding] = []
    first_seen: dict[str, tuple[int, str]] = {}
    for i, example in enumerate(dataset.examples):
        row = dataset.row_of(i)
        if example.conversation is not None:
            problem = conversation_problem(example.messages, "classification", None)
            if problem:
                findings.append(
                    _err(
                        "invalid_messages",
                        file,
                        f"{problem}; a classification row is {CHAT_ROW_SHAPE}.",
                        row=row,
                        column="messages",
                    )
                )
                continue
        if not example.question.strip():
            findings.append(_empty_text(file, row, "question"))
        if not example.answer.strip():
            findings.append(
                _err(
                    "empty_label",
                    file,
                    f"the label is empty; set one of: {', '.join(labels)}.",
                    row=row,
                    column="answer",
                )
            )
        elif example.answer not in known:
            findings.append(
                _err(
                    "unknown_label",
                    file,
                    _unknown_label_message(example.answer, labels),
                    row=row,
                    column="answer",
                )
            )
        if find_surrogate(example.question + example.answer) is not None:
            findings.append(_surrogate(file, row))
        # The platform counts question + answer (+ context) against the limit.
        length = _row_length(example)
        if length > max_length:
            findings.append(_too_long(file, row, length, max_length))
        if example.question.strip() and example.question in first_seen:
            first_row, first_label = first_seen[example.question]
            if first_label == example.answer:
                findings.append(
                    _warn(
                        "duplicate_text",
                        file,
                        f"the same text as row {first_row}; "
                        "delete one copy (duplicates weigh that example twice).",
                        row=row,
                        column="question",
                    )
                )
            else:
                findings.append(
                    _warn(
                        "conflicting_labels",
                        file,
                        f"the same text as row "
                        f"{first_row} but labelled {example.answer!r} instead of "
                        f"{first_label!r}; keep the right label only.",
                        row=row,
                        column="answer",
                    )
                )
        else:
            first_seen.setdefault(example.question, (row, example.answer))
    return findings


def _unknown_label_message(label: str, labels: list[str]) -> str:
    close = [x for x in labels if x.strip().lower() == label.strip().lower()]
    close = close or difflib.get_close_matches(label, labels, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"the label {label!r} is not a class in job_description.json; {hint}use one of: "
        f"{', '.join(labels)} (or add the class to classes_description)."
    )


def _check_classes(bundle: TaskBundle) -> list[Finding]:
    synthgen = bundle.config.synthgen
    # Each generation call samples this many examples of the class (and as many of the others).
    floor = max(
        synthgen.num_positive_exemplars_per_generation,
        synthgen.num_negative_exemplars_per_generation,
        1,
    )
    labels = bundle.job_description.labels
    train_file = _name(bundle.train, "train")
    test_file = _name(bundle.test, "test")
    train_counts = Counter(bundle.train.labels)
    test_counts = Counter(bundle.test.labels)
    findings: list[Finding] = []
    for label in labels if bundle.train.examples else ():
        count = train_counts[label]
        if count == 0:
            findings.append(
                _err(
                    "class_without_examples",
                    train_file,
                    f"the class {label!r} has no training example; a populated train split "
                    f"must hold every class: add at least {floor}.",
                    column="answer",
                )
            )
        elif count < floor:
            # Not refused today: every job lowers the exemplar counts to the rows it has
            # (configuration.md); a thin class still gives generation little to imitate.
            findings.append(
                _warn(
                    "too_few_examples",
                    train_file,
                    f"the class {label!r} has "
                    f"{plural(count, 'training example')}, fewer than the {floor} each "
                    "generation call "
                    "samples (synthgen.num_positive/negative_exemplars_per_generation; the "
                    "platform lowers it to the rows there are). Add more.",
                    column="answer",
                )
            )
        if bundle.test.examples and test_counts[label] == 0:
            findings.append(
                _err(
                    "class_missing_from_test",
                    test_file,
                    f"the class {label!r} "
                    "has no test example; the platform needs every class in the "
                    "test set. Add at least one.",
                    column="answer",
                )
            )
    if 0 < len(bundle.train) < RECOMMENDED_MIN_TRAIN_ROWS:
        findings.append(
            _warn(
                "few_rows",
                train_file,
                f"only {plural(len(bundle.train), 'training row')}; "
                f"{RECOMMENDED_MIN_TRAIN_ROWS}+ diverse examples give a better "
                "teacher and student.",
            )
        )
    present = [train_counts[label] for label in labels if train_counts[label] > 0]
    if len(present) >= 2 and max(present) > IMBALANCE_RATIO * min(present):
        big = max(labels, key=lambda x: train_counts[x])
        small = min((x for x in labels if train_counts[x] > 0), key=lambda x: train_counts[x])
        findings.append(
            _warn(
                "class_imbalance",
                train_file,
                f"{big!r} has {plural(train_counts[big], 'example')} "
                f"but {small!r} only {train_counts[small]} (more than "
                f"{IMBALANCE_RATIO:g}x); add examples of the small classes, or set "
                "synthgen.match_generated_distribution_to_seed knowingly.",
                column="answer",
            )
        )
    return findings


def _check_overlap(bundle: TaskBundle) -> list[Finding]:
    """Rows in both train and test: the platform rejects them, and they inflate test scores
    (classification compares the texts, other tasks the whole conversation)."""
    if bundle.task != "classification":
        train_keys = {_row_key(e): bundle.train.row_of(i) for i, e in enumerate(bundle.train)}
        return [
            _err(
                "train_test_overlap",
                _name(bundle.test, "test"),
                f"the same row is in {_name(bundle.train, 'train')} row "
                f"{train_keys[_row_key(e)]}; remove it from one of the two files.",
                row=bundle.test.row_of(i),
                column="messages",
            )
            for i, e in enumerate(bundle.test)
            if _row_key(e) in train_keys
        ]
    train_rows: dict[str, int] = {}
    for i, text in enumerate(bundle.train.texts):
        if text.strip():
            train_rows.setdefault(text, bundle.train.row_of(i))
    test_file = _name(bundle.test, "test")
    train_file = _name(bundle.train, "train")
    return [
        _err(
            "train_test_overlap",
            test_file,
            f"the same text is in {train_file} row "
            f"{train_rows[text]}; remove it from one of the two files (a test text seen in "
            "training makes the scores meaningless).",
            row=bundle.test.row_of(i),
            column="question",
        )
        for i, text in enumerate(bundle.test.texts)
        if text in train_rows
    ]


def _check_unstructured(bundle: TaskBundle, pool: UnlabelledDataset) -> list[Finding]:
    file = _name(pool, "unstructured")
    synthgen = bundle.config.synthgen
    # Today's Dataset has no file for unlabelled texts: say where they go (never silently).
    findings: list[Finding] = [
        _warn(
            "unstructured_as_traces",
            file,
            "today's Dataset has no file for unlabelled texts: the "
            f"{plural(len(pool), 'text goes', 'texts go')} to "
            "traces.jsonl, one user message each (trace_processing.observation_format "
            f"{observation_format_of(bundle.config)!r}); teachers label them from there "
            "(the local one directly, the hosted one with relabel_traces_train).",
        )
    ]
    need = synthgen.num_unlabelled_exemplars_per_generation
    if len(pool) < need:
        findings.append(
            _err(
                "too_few_rows",
                file,
                f"{plural(len(pool), 'unlabelled row')}; the platform "
                f"needs at least {need} (synthgen.num_unlabelled_exemplars_per_"
                "generation). Add rows or leave the file out.",
            )
        )
    test_texts = set(bundle.test.texts)
    seen: set[str] = set()
    for i, text in enumerate(pool.texts):
        row = pool.row_of(i)
        if not text.strip():
            findings.append(_empty_text(file, row, "context"))
            continue
        if find_surrogate(text) is not None:
            findings.append(_surrogate(file, row, "context"))
        if len(text) > synthgen.validation_max_total_length:
            findings.append(
                _warn(
                    "text_too_long",
                    file,
                    f"{plural(len(text), 'character')}, over "
                    "synthgen.validation_max_total_length "
                    f"({synthgen.validation_max_total_length}); it may be skipped "
                    "or truncated. Shorten it.",
                    row=row,
                    column="context",
                )
            )
        if text in test_texts:
            findings.append(
                _warn(
                    "test_text_in_unstructured",
                    file,
                    "this text is also in the test set; remove it here so the test stays unseen.",
                    row=row,
                    column="context",
                )
            )
        if text in seen:
            findings.append(
                _warn(
                    "duplicate_text",
                    file,
                    "a repeat of an earlier row; delete it.",
                    row=row,
                    column="context",
                )
            )
        seen.add(text)
    return findings


def _cap(findings: list[Finding]) -> list[Finding]:
    """Keep the first MAX_FINDINGS_PER_CODE findings per (file, code, severity) and one line
    for the rest, so a file with 10 000 bad rows gives a readable report."""
    kept: list[Finding] = []
    dropped: dict[tuple[str | None, str, str], list[Finding]] = defaultdict(list)
    counts: Counter[tuple[str | None, str, str]] = Counter()
    for finding in findings:
        key = (finding.file, finding.code, finding.severity)
        counts[key] += 1
        if counts[key] <= MAX_FINDINGS_PER_CODE:
            kept.append(finding)
        else:
            dropped[key].append(finding)
    for (file, code, severity), rest in dropped.items():
        rows = [f.row for f in rest if f.row is not None]
        span = f" (rows {rows[0]}-{rows[-1]})" if len(rows) > 1 else ""
        span = f" (row {rows[0]})" if len(rows) == 1 else span
        kept.append(
            Finding(
                severity=severity,  # type: ignore[arg-type]
                code=code,
                file=file,
                message=f"{len(rest)} more like the above{span}; fix those too.",
            )
        )
    return kept

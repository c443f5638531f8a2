"""Task types (distil_sdk.types._task_types) and the per-task job description check.

The rules come from the platform reference, ``distil-labs/distil-cli-skill``,
``skills/distil-cli/references/``: task-types.md (newest version, 4 task types),
migrating-old-entities.md (newest, commit 8848a333), job-description.md (newest, commit
074bf216), data-preparation/chat-completion.md and configuration.md (commit 8848a333).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from distil_sdk.types import Finding, JobDescription, SynthgenConfig, TaskConfig
from distil_sdk.types._task_types import (
    DEFAULT_TASK_TYPE,
    RETIRED_TASK_TYPES,
    TASK_TYPE_KEY,
    TASK_TYPES,
    TaskType,
    is_task_type,
    parse_task_type,
    task_type_error,
    task_type_from_config,
)
from distil_sdk.types.task import job_description_findings

CLASSES = {"billing": "Charges and invoices.", "tech": "Computer problems."}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        },
    }
]


def _jd(**keys: object) -> JobDescription:
    return JobDescription.from_bytes(json.dumps({"task_description": "Do the task.", **keys}))


def _where(findings: list[Finding]) -> list[tuple[str, str, str | None, str | None]]:
    return [(f.severity, f.code, f.file, f.column) for f in findings]


# -- the task types ----------------------------------------------------------------------------


def test_the_four_task_types_and_where_they_are_read() -> None:
    # task-types.md: "`base.task` in `config.yaml` selects the task", table of four values.
    assert set(TASK_TYPES) == {
        "classification",
        "question-answering",
        "chat-completion",
        "chat-completion-agentic",
    }
    assert set(get_args(TaskType)) == set(TASK_TYPES)
    assert TASK_TYPE_KEY == "base.task"
    assert DEFAULT_TASK_TYPE == "classification"
    assert all(is_task_type(t) for t in TASK_TYPES)
    assert not is_task_type("question-answering-open-book") and not is_task_type(3)


def test_every_retired_name_has_a_replacement_among_the_task_types() -> None:
    # migrating-old-entities.md: "Task types a Dataset does not accept (question-answering-open-
    # book, question-answering-closed-book, information-extraction, question-answering-open-book-
    # synthetic-context, question-answering-legacy): set base.task: question-answering and drop
    # context from the rows ... A multi-turn tool-calling task maps to chat-completion or
    # chat-completion-agentic."
    assert {
        name for name, r in RETIRED_TASK_TYPES.items() if r.replacements == ("question-answering",)
    } == {
        "question-answering-open-book",
        "question-answering-closed-book",
        "information-extraction",
        "question-answering-open-book-synthetic-context",
        "question-answering-legacy",
    }
    assert RETIRED_TASK_TYPES["multi-turn-tool-calling-closed-book"].replacements == (
        "chat-completion",
        "chat-completion-agentic",
    )
    assert RETIRED_TASK_TYPES["tool-calling-closed-book"].replacements == ("chat-completion",)
    for retired in RETIRED_TASK_TYPES.values():
        assert retired.replacements and all(r in TASK_TYPES for r in retired.replacements)
    assert not set(RETIRED_TASK_TYPES) & set(TASK_TYPES)


def test_parse_task_type_refuses_retired_and_unknown_names() -> None:
    assert parse_task_type("chat-completion-agentic") == "chat-completion-agentic"
    with pytest.raises(ValueError, match="retired task type") as info:
        parse_task_type("question-answering-closed-book")
    assert "use 'question-answering' instead (drop the 'context' column" in str(info.value)
    with pytest.raises(ValueError, match="'qa' is not a task type; use one of: ") as info:
        parse_task_type("qa")
    assert all(t in str(info.value) for t in TASK_TYPES)
    assert task_type_error(None) is not None and "must be a string" in str(task_type_error(None))
    assert task_type_error("classification") is None


def test_task_type_from_plain_config_data() -> None:
    assert task_type_from_config({"base": {"task": "question-answering"}}) == "question-answering"
    assert task_type_from_config({"tuning": {}}) == "classification"
    assert task_type_from_config(None) == "classification"
    with pytest.raises(ValueError, match="use 'chat-completion'"):
        task_type_from_config({"base": {"task": "tool-calling-closed-book"}})


# -- job_description_findings ------------------------------------------------------------------
# job-description.md § Fields by task type; "Unknown fields are rejected at validation."


@pytest.mark.parametrize(
    ("task", "keys"),
    [
        (
            "classification",
            {
                "classes_description": CLASSES,
                "synthetic_data_generation_instructions": "Short emails.",
                "trace_processing_instructions": "Keep typos.",
            },
        ),
        (
            "question-answering",
            {
                "llm_as_a_judge_instructions": "good if correct",
                "trace_processing_instructions": "x",
            },
        ),
        ("chat-completion", {}),
        ("chat-completion", {"tools": None}),
        ("chat-completion", {"tools": []}),
        ("chat-completion", {"tools": TOOLS, "llm_as_a_judge_instructions": "good if right"}),
        ("chat-completion-agentic", {"tools": TOOLS}),
    ],
)
def test_a_job_description_that_fits_its_task_has_no_findings(
    task: str, keys: dict[str, object]
) -> None:
    assert job_description_findings(_jd(**keys), task) == []


def test_classification_needs_classes_description() -> None:
    # job-description.md: classification is {"task_description", "classes_description", ...}.
    findings = job_description_findings(_jd(), "classification")
    assert _where(findings) == [
        ("error", "missing_key", "job_description.json", "classes_description")
    ]
    assert "add one entry per class" in findings[0].message


def test_classification_refuses_judge_instructions() -> None:
    # job-description.md: llm_as_a_judge_instructions is for "every task type except
    # classification, where the create fails if it is sent".
    findings = job_description_findings(
        _jd(classes_description=CLASSES, llm_as_a_judge_instructions="x"), "classification"
    )
    assert _where(findings) == [
        ("error", "key_not_allowed", "job_description.json", "llm_as_a_judge_instructions")
    ]
    assert "remove it" in findings[0].message and "label accuracy" in findings[0].message


@pytest.mark.parametrize("tools", [None, []])
def test_agentic_chat_completion_needs_tools(tools: object) -> None:
    # job-description.md: tools "is REQUIRED for chat-completion-agentic. chat-completion may
    # omit the field (or pass null or [])".
    keys = {} if tools is None else {"tools": tools}
    findings = job_description_findings(_jd(**keys), "chat-completion-agentic", file="jd.json")
    assert _where(findings) == [("error", "missing_key", "jd.json", "tools")]
    assert "requires tools" in findings[0].message
    assert job_description_findings(_jd(**keys), "chat-completion") == []


@pytest.mark.parametrize(
    ("task", "keys", "column"),
    [
        ("question-answering", {"classes_description": CLASSES}, "classes_description"),
        ("chat-completion", {"classes_description": CLASSES}, "classes_description"),
        ("question-answering", {"tools": TOOLS}, "tools"),
        ("classification", {"classes_description": CLASSES, "tools": TOOLS}, "tools"),
    ],
)
def test_a_key_of_another_task_type_is_an_error(
    task: str, keys: dict[str, object], column: str
) -> None:
    findings = job_description_findings(_jd(**keys), task)
    assert _where(findings) == [("error", "key_not_allowed", "job_description.json", column)]
    assert f"not a field of a {task} job description" in findings[0].message
    assert "remove it" in findings[0].message


def test_an_unknown_key_is_an_error() -> None:
    # job-description.md: "Unknown fields are rejected at validation."
    jd = _jd(classes_description=CLASSES, task_descripton="typo")
    assert jd.model_extra == {"task_descripton": "typo"}  # still read and kept
    findings = job_description_findings(jd, "classification")
    assert _where(findings) == [("error", "unknown_key", "job_description.json", "task_descripton")]
    assert "rejects unknown fields" in findings[0].message


def test_the_previous_platforms_qa_keys_must_be_removed() -> None:
    # migrating-old-entities.md: "A QA job description with text in input_description or
    # context_description: remove the two keys."
    jd = _jd(input_description="An invoice.", context_description="")
    assert jd.input_description == "An invoice."
    findings = job_description_findings(jd, "question-answering")
    assert _where(findings) == [
        ("error", "retired_key", "job_description.json", "input_description"),
        ("warning", "retired_key", "job_description.json", "context_description"),
    ]
    assert all("remove it" in f.message for f in findings)


@pytest.mark.parametrize("task", ["question-answering-open-book", "summarise"])
def test_a_retired_or_unknown_task_is_one_finding_on_the_config(task: str) -> None:
    findings = job_description_findings(_jd(classes_description=CLASSES), task)
    assert _where(findings) == [("error", "invalid_task_type", "config.yaml", "base.task")]


def test_the_task_type_of_a_config_feeds_the_check() -> None:
    config = TaskConfig.from_text("base:\n  task: question-answering\n")
    jd = _jd(llm_as_a_judge_instructions="good if correct")
    assert job_description_findings(jd, config.task_type, config=config) == []
    assert _where(job_description_findings(jd, TaskConfig().task_type)) == [
        ("error", "missing_key", "job_description.json", "classes_description"),
        ("error", "key_not_allowed", "job_description.json", "llm_as_a_judge_instructions"),
    ]


@pytest.mark.parametrize(
    ("tools", "cap", "bad"),
    [
        (TOOLS, None, False),
        (TOOLS, 1, False),
        (TOOLS, "unlimited", False),
        (TOOLS, 0, True),
        (None, None, False),
        (None, 0, False),
        (None, 2, True),
        (None, "unlimited", True),
    ],
)
def test_max_tool_calls_per_turn_must_match_the_declared_tools(
    tools: object, cap: int | str | None, bad: bool
) -> None:
    # configuration.md § Cross-field validation: "synthgen.max_tool_calls_per_turn must match
    # whether the job description declares tools"; chat-completion.md: "(default: 1 with tools
    # declared, 0 without)".
    config = TaskConfig(
        base={"task": "chat-completion"}, synthgen=SynthgenConfig(max_tool_calls_per_turn=cap)
    )  # type: ignore[arg-type]
    jd = _jd() if tools is None else _jd(tools=tools)
    findings = job_description_findings(jd, "chat-completion", config=config)
    if bad:
        assert _where(findings) == [
            ("error", "tool_calls_mismatch", "config.yaml", "synthgen.max_tool_calls_per_turn")
        ]
    else:
        assert findings == []


# -- the reference's own job descriptions ------------------------------------------------------
# tests/fixtures/reference/job-description/*: copied byte for byte from job-description.md
# (074bf216 / id 70977242510), § Fields by task type (see tests/fixtures/reference/SOURCES.md).

REFERENCE = Path(__file__).parent / "fixtures" / "reference" / "job-description"


@pytest.mark.parametrize("task", ["classification", "question-answering"])
def test_the_reference_job_descriptions_read_and_fit_their_task(task: str) -> None:
    path = REFERENCE / task / "job_description.json"
    jd = JobDescription.from_file(path)
    assert job_description_findings(jd, task) == []
    assert json.loads(jd.to_json()) == json.loads(path.read_text())  # nothing added or lost


def test_the_reference_qa_job_description_is_not_a_classification_one() -> None:
    jd = JobDescription.from_file(REFERENCE / "question-answering" / "job_description.json")
    assert jd.labels == []
    assert [f.column for f in job_description_findings(jd, "classification")] == [
        "classes_description",
        "llm_as_a_judge_instructions",
    ]

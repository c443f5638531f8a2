"""Each validation finding, produced by one small bad file written to tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distil_sdk._errors import DataValidationError
from distil_sdk.types import Finding, TaskBundle, ValidationReport

CLASSES = {"card": "Card problems", "fee": "Unexpected fees"}
GOOD_TRAIN = "question,answer\n" + "".join(
    f"card question {i},card\nfee question {i},fee\n" for i in range(10)
)
GOOD_TEST = "question,answer\ntest card,card\ntest fee,fee\n"


def write_task(root: Path, **files: str | bytes | None) -> Path:
    """A clean task folder, with ``files`` replacing (or, when ``None``, removing) files."""
    content: dict[str, str | bytes | None] = {
        "job_description.json": json.dumps(
            {"task_description": "Route.", "classes_description": CLASSES}
        ),
        "train.csv": GOOD_TRAIN,
        "test.csv": GOOD_TEST,
    }
    content.update({name.replace("__", "."): value for name, value in files.items()})
    root.mkdir(parents=True, exist_ok=True)
    for name, value in content.items():
        if value is None:
            continue
        data = value.encode() if isinstance(value, str) else value
        (root / name).write_bytes(data)
    return root


def findings_for(tmp_path: Path, **files: str | bytes | None) -> list[Finding]:
    return TaskBundle.from_dir(write_task(tmp_path / "task", **files)).validate().findings


def only(findings: list[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, findings
    return matching[0]


def fatal_findings(tmp_path: Path, **files: str | bytes | None) -> list[Finding]:
    with pytest.raises(DataValidationError) as info:
        TaskBundle.from_dir(write_task(tmp_path / "task", **files))
    return info.value.report.findings


def test_clean_task_has_no_findings(tmp_path: Path) -> None:
    assert findings_for(tmp_path) == []


# -- reading -----------------------------------------------------------------------------------


def test_bom_is_a_warning_and_stripped(tmp_path: Path) -> None:
    findings = findings_for(tmp_path, train__csv=b"\xef\xbb\xbf" + GOOD_TRAIN.encode())
    finding = only(findings, "bom")
    assert (finding.severity, finding.file) == ("warning", "train.csv")
    assert [f.code for f in findings] == ["bom"]  # the header still reads as 'question'


def test_undecodable_bytes_are_located(tmp_path: Path) -> None:
    train = GOOD_TRAIN.encode() + "caf\xe9 latin-1,card\n".encode("latin-1")
    finding = only(findings_for(tmp_path, train__csv=train), "not_utf8")
    assert (finding.severity, finding.row, finding.column) == ("error", 22, "question")
    assert "UTF-8" in finding.message


def test_utf16_file_is_an_error(tmp_path: Path) -> None:
    findings = findings_for(tmp_path, test__csv=GOOD_TEST.encode("utf-16"))
    assert only(findings, "not_utf8").file == "test.csv"


def test_csv_syntax_error(tmp_path: Path) -> None:
    finding = only(
        findings_for(tmp_path, test__csv=GOOD_TEST + '"bad" quoting,fee\n'), "csv_syntax"
    )
    assert (finding.severity, finding.row) == ("error", 4)
    assert "double quotes" in finding.message


def test_ragged_row(tmp_path: Path) -> None:
    finding = only(
        findings_for(tmp_path, test__csv=GOOD_TEST + "one, two, three,fee\n"), "ragged_row"
    )
    assert (finding.severity, finding.file, finding.row) == ("error", "test.csv", 4)
    assert "4 fields but the header has 2" in finding.message


def test_extra_column_is_a_warning(tmp_path: Path) -> None:
    test = "question,answer,notes\ntest card,card,\ntest fee,fee,checked\n"
    finding = only(findings_for(tmp_path, test__csv=test), "extra_column")
    assert (finding.severity, finding.row, finding.column) == ("warning", 1, "notes")


def test_missing_column_is_fatal_and_suggests_rename(tmp_path: Path) -> None:
    findings = fatal_findings(tmp_path, train__csv=GOOD_TRAIN.replace("question,", "Question,"))
    finding = only(findings, "missing_column")
    assert (finding.file, finding.row, finding.column) == ("train.csv", 1, "question")
    assert "rename 'Question' to 'question'" in finding.message


def test_duplicate_column_is_fatal(tmp_path: Path) -> None:
    findings = fatal_findings(tmp_path, test__csv="question,answer,answer\na,card,fee\n")
    assert only(findings, "duplicate_column").column == "answer"


def test_empty_file_is_fatal(tmp_path: Path) -> None:
    assert only(fatal_findings(tmp_path, test__csv=""), "empty_file").file == "test.csv"


def test_fatal_report_lists_every_file(tmp_path: Path) -> None:
    findings = fatal_findings(
        tmp_path, test__csv="", train__csv=None, job_description__json="{oops"
    )
    # A missing train file is an empty split (today's Dataset), not a fatal finding.
    assert {(f.code, f.file) for f in findings} == {
        ("empty_file", "test.csv"),
        ("invalid_json", "job_description.json"),
    }


def test_both_csv_and_jsonl_is_ambiguous(tmp_path: Path) -> None:
    finding = only(
        fatal_findings(tmp_path, train__jsonl='{"question": "a", "answer": "card"}\n'),
        "ambiguous_file",
    )
    assert "train.csv and train.jsonl" in finding.message


def test_missing_split_is_an_empty_split(tmp_path: Path) -> None:
    finding = only(findings_for(tmp_path, test__csv=None), "empty_split")
    assert (finding.severity, finding.file) == ("warning", "test.jsonl")
    assert "teacher evaluation refuses it" in finding.message


def test_missing_job_description_is_fatal(tmp_path: Path) -> None:
    finding = only(fatal_findings(tmp_path, job_description__json=None), "missing_file")
    assert "job_description.json" in finding.message


def test_jsonl_problems(tmp_path: Path) -> None:
    lines = [
        '{"question": "test card", "answer": "card"}',
        '{"question": "test fee", "answer": "fee", "source": "crm"}',
        '{"question": "broken", "answer": "fee"',
        '["question", "answer"]',
        '{"question": "no answer"}',
        '{"question": 42, "answer": "fee"}',
        '{"question": ["a list"], "answer": "fee"}',
        "",
        '{"messages": [{"role": "user", "content": "chat format"},'
        ' {"role": "assistant", "content": "card"}]}',
    ]
    bundle = TaskBundle.from_dir(
        write_task(tmp_path / "t", test__csv=None, test__jsonl="\n".join(lines) + "\n")
    )
    assert bundle.test.texts == ["test card", "test fee", "42", "chat format"]
    got = {(f.code, f.severity, f.row, f.column) for f in bundle.validate().findings}
    assert got == {
        ("extra_column", "warning", 2, "source"),
        ("invalid_json", "error", 3, None),
        ("invalid_json", "error", 4, None),
        ("missing_field", "error", 5, "answer"),
        ("not_a_string", "warning", 6, "question"),
        ("not_a_string", "error", 7, "question"),
    }


def test_jsonl_with_no_readable_line_is_fatal(tmp_path: Path) -> None:
    findings = fatal_findings(tmp_path, test__csv=None, test__jsonl='[{"question": "a"}]\n')
    assert only(findings, "invalid_json").row == 1


# -- content -----------------------------------------------------------------------------------


def test_unknown_label_suggests_the_close_class(tmp_path: Path) -> None:
    finding = only(findings_for(tmp_path, test__csv=GOOD_TEST + "another,Fee \n"), "unknown_label")
    assert (finding.severity, finding.file, finding.row, finding.column) == (
        "error",
        "test.csv",
        4,
        "answer",
    )
    assert "did you mean 'fee'" in finding.message


def test_empty_text_and_empty_label(tmp_path: Path) -> None:
    findings = findings_for(tmp_path, test__csv=GOOD_TEST + '"   ",fee\nsome text,\n')
    assert (only(findings, "empty_text").row, only(findings, "empty_label").row) == (4, 5)


def test_class_without_training_example(tmp_path: Path) -> None:
    train = "question,answer\n" + "".join(f"card {i},card\n" for i in range(20))
    finding = only(findings_for(tmp_path, train__csv=train), "class_without_examples")
    assert (finding.severity, finding.file) == ("error", "train.csv")
    assert "'fee'" in finding.message


def test_class_below_the_per_class_floor(tmp_path: Path) -> None:
    train = "question,answer\n" + "".join(f"card {i},card\n" for i in range(6)) + "one fee,fee\n"
    config = "synthgen:\n  num_positive_exemplars_per_generation: 2\n"
    findings = findings_for(tmp_path, train__csv=train, config__yaml=config)
    thin = only(findings, "too_few_examples")  # lowered by the platform today: a warning
    assert (thin.severity, "fewer than the 2" in thin.message) == ("warning", True)
    assert only(findings, "few_rows").severity == "warning"
    assert only(findings, "class_imbalance").severity == "warning"


def test_class_missing_from_test(tmp_path: Path) -> None:
    finding = only(
        findings_for(tmp_path, test__csv="question,answer\nx,card\n"), "class_missing_from_test"
    )
    assert "'fee'" in finding.message


def test_empty_split_is_a_warning(tmp_path: Path) -> None:
    finding = only(findings_for(tmp_path, test__csv="question,answer\n"), "empty_split")
    assert (finding.severity, finding.file) == ("warning", "test.csv")


def test_duplicates_and_conflicts_within_a_split(tmp_path: Path) -> None:
    findings = findings_for(tmp_path, test__csv=GOOD_TEST + "test card,card\ntest fee,card\n")
    duplicate, conflict = only(findings, "duplicate_text"), only(findings, "conflicting_labels")
    assert (duplicate.severity, duplicate.row) == ("warning", 4)
    assert "row 2" in duplicate.message
    assert (conflict.row, conflict.severity) == (5, "warning")


def test_train_test_overlap_is_an_error(tmp_path: Path) -> None:
    finding = only(
        findings_for(tmp_path, test__csv=GOOD_TEST + "fee question 3,fee\n"), "train_test_overlap"
    )
    assert (finding.severity, finding.file, finding.row) == ("error", "test.csv", 4)
    assert "train.csv row 9" in finding.message


def test_text_longer_than_validation_max_total_length(tmp_path: Path) -> None:
    findings = findings_for(tmp_path, config__yaml="synthgen:\n  validation_max_total_length: 12\n")
    too_long = [f for f in findings if f.code == "text_too_long"]
    assert too_long and all(f.severity == "error" for f in too_long)
    assert "validation_max_total_length (12)" in too_long[0].message


def test_class_imbalance(tmp_path: Path) -> None:
    train = (
        "question,answer\n"
        + "".join(f"card {i},card\n" for i in range(30))
        + ("fee 1,fee\nfee 2,fee\n")
    )
    finding = only(findings_for(tmp_path, train__csv=train), "class_imbalance")
    assert "'card' has 30" in finding.message and "'fee' only 2" in finding.message


def test_unstructured_checks(tmp_path: Path) -> None:
    pool = "context\nsome text\nsome text\n   \ntest card\n"
    findings = findings_for(tmp_path, unstructured__csv=pool)
    assert only(findings, "duplicate_text").row == 3
    assert only(findings, "empty_text").row == 4
    assert only(findings, "test_text_in_unstructured").severity == "warning"


def test_unknown_config_key_is_reported(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="learnig_rate"):
        findings = findings_for(tmp_path, config__yaml="tuning:\n  learnig_rate: 0.1\n")
    finding = only(findings, "unknown_config_key")
    assert (finding.severity, finding.column) == ("warning", "tuning.learnig_rate")


def test_many_findings_are_capped(tmp_path: Path) -> None:
    test = GOOD_TEST + "".join(f"x {i},nope\n" for i in range(30))
    unknown = [f for f in findings_for(tmp_path, test__csv=test) if f.code == "unknown_label"]
    assert len(unknown) == 21
    assert unknown[-1].row is None and unknown[-1].message.startswith("10 more")


def test_payload_gives_the_same_findings_as_the_folder(tmp_path: Path) -> None:
    root = write_task(tmp_path / "t", test__csv=GOOD_TEST + "one,two,three\nx,nope\n")
    from_dir = TaskBundle.from_dir(root)
    from_payload = TaskBundle.from_upload_payload(from_dir.to_upload_payload())
    # The payload re-serialises only the readable rows, so compare codes and files.
    assert {(f.code, f.file) for f in from_dir.validate().findings} >= {
        (f.code, f.file) for f in from_payload.validate().findings
    }
    body = from_dir.to_upload_payload()
    body["test_data"]["content"] = (root / "test.csv").read_text()
    assert TaskBundle.from_upload_payload(body).validate() == from_dir.validate()


def test_in_memory_findings_name_the_split() -> None:
    from distil_sdk.types import JobDescription, LabelledDataset

    jd = JobDescription(task_description="t", classes_description=CLASSES)
    train = LabelledDataset.from_records([{"question": "a", "answer": "card"}, {"question": "b"}])
    bundle = TaskBundle(jd, train, LabelledDataset.from_lists(["c"], ["nope"]))
    findings = bundle.validate().findings
    assert only(findings, "missing_field").file == "train"
    assert (only(findings, "unknown_label").file, only(findings, "unknown_label").row) == (
        "test",
        1,
    )


# -- the report --------------------------------------------------------------------------------


def test_report_api(tmp_path: Path) -> None:
    report = TaskBundle.from_dir(
        write_task(tmp_path / "t", test__csv=GOOD_TEST + "x,nope\ntest card,card\n")
    ).validate()
    assert not report.ok
    assert [f.code for f in report.errors] == ["unknown_label"]
    assert [f.code for f in report.warnings] == ["duplicate_text"]
    assert report.summary().startswith("1 error, 1 warning: test.csv row 4, column answer:")
    table = report.to_table().splitlines()
    assert table[0].split() == ["SEVERITY", "CODE", "FILE", "ROW", "COLUMN", "MESSAGE"]
    assert table[1].split()[:5] == ["error", "unknown_label", "test.csv", "4", "answer"]
    dumped = json.loads(json.dumps(report.model_dump()))
    assert ValidationReport.model_validate(dumped) == report
    with pytest.raises(DataValidationError) as info:
        report.raise_for_errors()
    assert info.value.report is report and "unknown_label" in str(info.value)


def test_warnings_do_not_block() -> None:
    report = ValidationReport(findings=[Finding(severity="warning", code="bom", message="m")])
    assert report.ok
    report.raise_for_errors()
    assert ValidationReport().to_table() == "No problems found."
    assert ValidationReport().summary() == "0 errors, 0 warnings."


# -- the names other tools use, and English --------------------------------------------------


def test_text_and_label_columns_are_named_with_the_rename_to_make(tmp_path: Path) -> None:
    findings = fatal_findings(
        tmp_path,
        train__csv=GOOD_TRAIN.replace("question,answer", "text,label"),
        test__csv=GOOD_TEST.replace("question,answer", "text,label"),
    )
    got = {(f.file, f.column): f.message for f in findings if f.code == "missing_column"}
    assert set(got) == {
        (file, col) for file in ("train.csv", "test.csv") for col in ("question", "answer")
    }
    assert (
        "rename 'text' to 'question' (the platform's name for the input text)"
        in got[("train.csv", "question")]
    )
    assert (
        "rename 'label' to 'answer' (the platform's name for the label)"
        in got[("test.csv", "answer")]
    )
    # Renaming is the advice: no "remove it" warning for the very columns to rename.
    assert [f for f in findings if f.code == "extra_column"] == []
    summary = DataValidationError(ValidationReport(findings=findings)).args[0]
    assert "train.csv row 1, column question: " in summary


def test_a_text_column_in_unstructured_is_named_as_context(tmp_path: Path) -> None:
    findings = fatal_findings(tmp_path, unstructured__csv="text\nsome text\n")
    finding = only(findings, "missing_column")
    assert (finding.file, finding.column) == ("unstructured.csv", "context")
    assert "rename 'text' to 'context'" in finding.message


def test_jsonl_with_text_and_label_keys_gives_one_finding_per_rename(tmp_path: Path) -> None:
    lines = "".join(
        json.dumps({"text": t, "label": a}) + "\n"
        for t, a in [("test card", "card"), ("test fee", "fee"), ("a third", "fee")]
    )
    findings = fatal_findings(tmp_path, test__csv=None, test__jsonl=lines)
    got = sorted((f.code, f.file, f.row, f.column) for f in findings)
    assert got == [
        ("missing_field", "test.jsonl", 1, "answer"),
        ("missing_field", "test.jsonl", 1, "question"),
    ]
    question = next(f for f in findings if f.column == "question")
    assert question.message.startswith(
        "the key 'question' is missing: 3 lines (this is the first) have 'text' instead; "
        "rename 'text' to 'question' on every line"
    )
    assert question.message.endswith("The lines were skipped.")


def test_a_missing_column_without_a_known_rename_takes_an_article(tmp_path: Path) -> None:
    finding = only(
        fatal_findings(tmp_path, test__csv="question,category\nx,card\n"), "missing_column"
    )
    assert "; add an 'answer' column." in finding.message
    finding = only(fatal_findings(tmp_path, test__csv="body,answer\nx,card\n"), "missing_column")
    assert "; add a 'question' column." in finding.message


def test_a_number_where_text_belongs_takes_an_article(tmp_path: Path) -> None:
    lines = '{"question": {"a": 1}, "answer": "fee"}\n{"question": "ok", "answer": "card"}\n'
    bundle = TaskBundle.from_dir(write_task(tmp_path / "t", test__csv=None, test__jsonl=lines))
    finding = only(bundle.validate().findings, "not_a_string")
    assert finding.message.startswith("is a dict, expected text")
    from distil_sdk.types import LabelledDataset

    records = LabelledDataset.from_records([7, {"question": "ok", "answer": "card"}])
    assert only(records.findings, "not_a_record").message.startswith("is an int, not a mapping")


def test_counts_in_messages_are_singular_for_one(tmp_path: Path) -> None:
    train = "question,answer\n" + "".join(f"card {i},card\n" for i in range(6)) + "one fee,fee\n"
    config = "synthgen:\n  num_positive_exemplars_per_generation: 2\n"
    findings = findings_for(tmp_path, train__csv=train, config__yaml=config)
    assert "has 1 training example, fewer than the 2" in only(findings, "too_few_examples").message
    assert "'card' has 6 examples but 'fee' only 1" in only(findings, "class_imbalance").message
    pool = findings_for(
        tmp_path / "pool",
        unstructured__csv="context\nan unlabelled text\n",
        config__yaml="synthgen:\n  num_unlabelled_exemplars_per_generation: 2\n",
    )
    assert "the 1 text goes to traces.jsonl" in only(pool, "unstructured_as_traces").message
    assert only(pool, "too_few_rows").message.startswith("1 unlabelled row; ")


def test_one_finding_over_the_cap_names_its_row_not_a_span(tmp_path: Path) -> None:
    from distil_sdk.types._checks import MAX_FINDINGS_PER_CODE

    blanks = '"   ",card\n' * (MAX_FINDINGS_PER_CODE + 1)
    findings = findings_for(tmp_path, test__csv=GOOD_TEST + blanks)
    rest = [f for f in findings if f.code == "empty_text" and f.row is None]
    last_row = 3 + MAX_FINDINGS_PER_CODE + 1  # header and two good rows, then the blanks
    assert [f.message for f in rest] == [f"1 more like the above (row {last_row}); fix those too."]

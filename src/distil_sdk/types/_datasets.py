"""Examples and datasets: labelled rows (any task type's chat rows) and unlabelled texts.

Datasets read CSV or JSONL (by suffix) tolerantly: rows that cannot be read are skipped and
described in `LabelledDataset.findings`; only a file that cannot become a dataset at all
(empty, a required column missing...) raises `DataValidationError`.

Example:
    >>> train = LabelledDataset.from_lists(["card declined", "fee on transfer"], ["card", "fee"])
    >>> len(train), train.labels
    (2, ['card', 'fee'])
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from .._errors import DataValidationError
from ._chat import chat_row, dump_chat
from ._io import (
    ParsedTable,
    TableFormat,
    atomic_write_text,
    dump_table,
    parse_records,
    parse_table,
    table_format,
)
from ._limits import LIMITS, file_too_large
from .validation import Finding, ValidationReport

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Example", "LabelledDataset", "TextFormat", "UnlabelledDataset"]

#: ``"chat"`` is JSONL whose rows are chat conversations (the platform's current format).
TextFormat = Literal["csv", "jsonl", "chat"]

_T = TypeVar("_T", bound="_Table[Any]")
_Item = TypeVar("_Item")


class Example(BaseModel):
    """One labelled example: the input text (``question``) and its class or answer
    (``answer``).

    A row read from chat JSONL keeps the row as written in ``conversation`` (every turn, tool
    calls, extra keys such as ``context``); ``question`` is then its last user turn and
    ``answer`` its final assistant turn. Written back as chat rows, ``conversation`` is what is
    written, so multi-turn rows of chat-completion tasks travel unchanged.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str
    answer: str
    conversation: dict[str, Any] | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation's messages (a user and an assistant turn for a flat row)."""
        if self.conversation is not None:
            return list(self.conversation["messages"])
        return list(chat_row(self.question, self.answer)["messages"])


def _missing_file(path: Path, exc: OSError) -> DataValidationError:
    finding = Finding(
        severity="error",
        code="missing_file",
        file=path.name,
        message=f"cannot read {path}: {exc.strerror or exc}; check the path.",
    )
    return DataValidationError(ValidationReport(findings=[finding]))


class _Table(Generic[_Item]):
    """What both datasets share: reading, writing, and where each row came from."""

    COLUMNS: ClassVar[tuple[str, ...]]
    _NOUN: ClassVar[str]

    _source: str | None = None
    _format: TableFormat | None = None
    _chat: bool = False
    _rows: list[int] | None = None
    _findings: tuple[Finding, ...] = ()

    def _items(self) -> list[_Item]:
        raise NotImplementedError

    def _values(self) -> list[tuple[str, ...]]:
        raise NotImplementedError

    @classmethod
    def _build(cls: type[_T], records: list[dict[str, Any]]) -> _T:
        raise NotImplementedError

    @property
    def source(self) -> str | None:
        """The file name this dataset was read from (``None`` when built in memory)."""
        return self._source

    @property
    def format(self) -> TableFormat | None:
        """``"csv"`` or ``"jsonl"`` when read from a file."""
        return self._format

    @property
    def findings(self) -> list[Finding]:
        """Problems found while reading (skipped rows, BOM, bad bytes...)."""
        return list(self._findings)

    def row_of(self, index: int) -> int:
        """The row a user sees for the item at ``index`` (see docs/task-format.md)."""
        if self._rows is not None and len(self._rows) == len(self):
            return self._rows[index]
        return index + 1  # built or changed in memory: the 1-based position

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[_Item]:
        return iter(self._items())

    def __getitem__(self, index: int) -> _Item:
        return self._items()[index]

    def __repr__(self) -> str:
        where = f", source={self._source!r}" if self._source else ""
        return f"{type(self).__name__}({len(self)} {self._NOUN}{where})"

    @classmethod
    def _from_parsed(cls: type[_T], parsed: ParsedTable, *, source: str | None) -> _T:
        if parsed.fatal:
            raise DataValidationError(ValidationReport(findings=parsed.findings))
        dataset = cls._build([values for _, values in parsed.records])
        dataset._source = source
        dataset._format = parsed.format if source else None
        dataset._chat = parsed.chat
        dataset._rows = [row for row, _ in parsed.records]
        dataset._findings = tuple(parsed.findings)
        return dataset

    @classmethod
    def from_file(cls: type[_T], path: str | Path) -> _T:
        """Read a ``.csv`` (with a header row) or ``.jsonl`` file.

        Raises:
            DataValidationError: the file is missing, empty or lacks a required column.
        """
        path = Path(path)
        fmt = table_format(path)
        try:
            size = path.stat().st_size
            if size > LIMITS.max_data_file_bytes:  # refused before it is read into memory
                limit = file_too_large(
                    size, LIMITS.max_data_file_bytes, "DISTIL_MAX_DATA_FILE_BYTES"
                )
                finding = Finding(
                    severity="error", code=limit.code, file=path.name, message=limit.message
                )
                raise DataValidationError(ValidationReport(findings=[finding]))
            data = path.read_bytes()
        except OSError as exc:
            raise _missing_file(path, exc) from exc
        return cls.from_bytes(data, format=fmt, file=path.name)

    @classmethod
    def from_bytes(cls: type[_T], data: bytes | str, *, format: TableFormat, file: str) -> _T:
        """Read CSV or JSONL content; ``file`` is the name used in findings."""
        parsed = parse_table(data, file=file, format=format, columns=cls.COLUMNS)
        return cls._from_parsed(parsed, source=file)

    @classmethod
    def from_records(cls: type[_T], records: Iterable[Mapping[str, Any]]) -> _T:
        """Build from mappings with the dataset's columns; unusable records become findings."""
        parsed = parse_records(records, file=None, columns=cls.COLUMNS)
        return cls._from_parsed(parsed, source=None)

    def to_text(self, format: TextFormat = "csv") -> str:
        """The CSV (with header) or JSONL content of this dataset.

        ``"chat"`` writes the platform's current rows: chat conversations for labelled data
        (``{"messages": [user, assistant]}``), ``{"context": ...}`` for unlabelled data.
        """
        if format == "chat":
            if self.COLUMNS == ("question", "answer"):
                return dump_chat(self._values())
            format = "jsonl"
        return dump_table(self._values(), columns=self.COLUMNS, format=format)

    def to_file(self, path: str | Path) -> Path:
        """Write CSV or JSONL (by suffix) atomically; returns the path. A dataset read from
        chat rows is written as chat rows again."""
        fmt: TextFormat = table_format(path)
        if fmt == "jsonl" and self._chat:
            fmt = "chat"
        return atomic_write_text(path, self.to_text(fmt))

    def to_csv(self, path: str | Path) -> Path:
        """Write a CSV file with a header row, atomically (temporary file + rename)."""
        return atomic_write_text(path, self.to_text("csv"))

    def to_jsonl(self, path: str | Path) -> Path:
        """Write one JSON object per line, atomically (temporary file + rename)."""
        return atomic_write_text(path, self.to_text("jsonl"))

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame with the dataset's columns (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self._values(), columns=list(self.COLUMNS))

    @classmethod
    def _records_from_pandas(
        cls, df: pd.DataFrame, mapping: dict[str, str]
    ) -> list[dict[str, Any]]:
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is a dev dependency
            raise ImportError("from_pandas needs pandas: pip install pandas") from exc
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
        missing = [src for src in mapping.values() if src not in df.columns]
        if missing:
            raise ValueError(
                f"the DataFrame has no column {missing[0]!r} (columns: "
                f"{', '.join(map(str, df.columns))}); pass the column name"
            )
        frame = df[list(mapping.values())].rename(columns={v: k for k, v in mapping.items()})
        records: list[dict[str, Any]] = frame.to_dict("records")
        return records

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _Table)
            and type(self) is type(other)
            and (self._values() == other._values())
        )

    __hash__ = None  # type: ignore[assignment]  # mutable container


class LabelledDataset(_Table[Example]):
    """Labelled examples (columns ``question`` = text, ``answer`` = class).

    Example:
        >>> ds = LabelledDataset.from_file("my-task/train.csv")  # doctest: +SKIP
        >>> ds = LabelledDataset.from_lists(["where is my card?"], ["card_arrival"])
        >>> ds.to_jsonl("train.jsonl")  # doctest: +SKIP
        >>> [e.answer for e in ds]
        ['card_arrival']
    """

    COLUMNS: ClassVar[tuple[str, ...]] = ("question", "answer")
    _NOUN: ClassVar[str] = "examples"

    def __init__(self, examples: Iterable[Example] = ()) -> None:
        self.examples: list[Example] = list(examples)

    def _items(self) -> list[Example]:
        return self.examples

    def _values(self) -> list[tuple[str, ...]]:
        return [(e.question, e.answer) for e in self.examples]

    @classmethod
    def _build(cls, records: list[dict[str, Any]]) -> LabelledDataset:
        return cls(
            Example(question=r["question"], answer=r["answer"], conversation=r.get("conversation"))
            for r in records
        )

    def to_text(self, format: TextFormat = "csv") -> str:
        """The CSV (with header) or JSONL content; ``"chat"``: chat rows, each row read from
        chat JSONL written as it was read (see `Example`)."""
        if format != "chat":
            return super().to_text(format)
        return "".join(
            json.dumps(e.conversation, ensure_ascii=False) + "\n"
            if e.conversation is not None
            else dump_chat([(e.question, e.answer)])
            for e in self.examples
        )

    @property
    def texts(self) -> list[str]:
        """The input texts, in order."""
        return [e.question for e in self.examples]

    @property
    def labels(self) -> list[str]:
        """The labels, in order."""
        return [e.answer for e in self.examples]

    @classmethod
    def from_lists(cls, texts: Sequence[str], labels: Sequence[str]) -> LabelledDataset:
        """Pair ``texts[i]`` with ``labels[i]``; the two must have the same length."""
        if len(texts) != len(labels):
            raise ValueError(
                f"got {len(texts)} texts but {len(labels)} labels; pass one label per text"
            )
        return cls(Example(question=t, answer=a) for t, a in zip(texts, labels, strict=True))

    @classmethod
    def from_pandas(
        cls, df: pd.DataFrame, text_column: str = "question", label_column: str = "answer"
    ) -> LabelledDataset:
        """Build from a DataFrame (pandas is imported only here)."""
        return cls.from_records(
            cls._records_from_pandas(df, {"question": text_column, "answer": label_column})
        )


class UnlabelledDataset(_Table[str]):
    """Unlabelled in-domain texts (column ``context``) that the teacher labels.

    Example:
        >>> pool = UnlabelledDataset.from_lists(["my card hasn't arrived", "fee?"])
        >>> pool.texts[0]
        "my card hasn't arrived"
    """

    COLUMNS: ClassVar[tuple[str, ...]] = ("context",)
    _NOUN: ClassVar[str] = "texts"

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.texts: list[str] = list(texts)

    def _items(self) -> list[str]:
        return self.texts

    def _values(self) -> list[tuple[str, ...]]:
        return [(t,) for t in self.texts]

    @classmethod
    def _build(cls, records: list[dict[str, Any]]) -> UnlabelledDataset:
        return cls(r["context"] for r in records)

    @classmethod
    def from_lists(cls, texts: Sequence[str]) -> UnlabelledDataset:
        """Build from a list of texts."""
        return cls(texts)

    @classmethod
    def from_pandas(cls, df: pd.DataFrame, text_column: str = "context") -> UnlabelledDataset:
        """Build from a DataFrame (pandas is imported only here)."""
        return cls.from_records(cls._records_from_pandas(df, {"context": text_column}))

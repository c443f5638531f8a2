"""The base of the task models: pydantic's errors become the SDK's own.

Building a `JobDescription` or `TaskConfig` (or a section) with bad values, or
assigning one, raises `DataValidationError` - a ``DistilError`` and a
``ValueError`` - naming each bad key, with pydantic's ``ValidationError`` chained as the cause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic._internal._model_construction import ModelMetaclass

from .._errors import DataValidationError
from .validation import Finding, ValidationReport

_M = TypeVar("_M", bound="_SdkModel")
_R = TypeVar("_R")


def findings_from_pydantic(
    exc: ValidationError, file: str | None, code: str, prefix: str = ""
) -> list[Finding]:
    """One finding per pydantic error, located by its dotted key path."""
    findings = []
    for err in exc.errors():
        column = prefix + ".".join(str(p) for p in err["loc"]) or None
        got = (
            f" (got {_short(err['input'])})"
            if "input" in err and not isinstance(err["input"], dict)
            else ""
        )
        where = f"in {file}" if file else "where it is set"
        findings.append(
            Finding(
                severity="error",
                code=code,
                file=file,
                column=column,
                message=f"{err['msg']}{got}; fix this value {where}"
                + (" or remove it to use the default." if column else "."),
            )
        )
    return findings


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _SdkModelMeta(ModelMetaclass):
    # Only a caller's ``Model(...)`` goes through the metaclass: pydantic builds nested models
    # without it, so a nested error stays pydantic's and is reported once, by the outer model.
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return _sdk_errors(cls, lambda: super(_SdkModelMeta, cls).__call__(*args, **kwargs))  # type: ignore[arg-type]


class _SdkModel(BaseModel, metaclass=_SdkModelMeta):
    """Pydantic model whose validation errors are `DataValidationError`."""

    #: Finding code and the dotted prefix of keys in findings ("tuning." for a section).
    _error_code: ClassVar[str] = "invalid_config"
    _error_prefix: ClassVar[str] = ""

    def __setattr__(self, name: str, value: Any) -> None:
        _sdk_errors(type(self), lambda: super(_SdkModel, self).__setattr__(name, value))

    @classmethod
    def model_validate(cls: type[_M], obj: Any, *args: Any, **kwargs: Any) -> _M:
        """Pydantic's ``model_validate``; errors are `DataValidationError`."""
        return _sdk_errors(cls, lambda: super(_SdkModel, cls).model_validate(obj, *args, **kwargs))

    @classmethod
    def _validate_file(cls: type[_M], raw: Any, file: str, code: str) -> _M:
        """Validate what a file held; findings name ``file`` and the dotted key."""
        try:
            return super().model_validate(raw)
        except ValidationError as exc:
            findings = findings_from_pydantic(exc, file, code, cls._error_prefix)
            raise DataValidationError(ValidationReport(findings=findings)) from exc


def _sdk_errors(cls: type[_SdkModel], action: Callable[[], _R]) -> _R:
    try:
        return action()
    except ValidationError as exc:
        findings = findings_from_pydantic(exc, None, cls._error_code, cls._error_prefix)
        detail = "; ".join(f"{f.column}: {f.message}" if f.column else f.message for f in findings)
        message = f"invalid {cls.__name__}: {detail}"
        raise DataValidationError(ValidationReport(findings=findings), message) from exc

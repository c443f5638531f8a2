"""The SDK's exception family.

Every error the SDK raises on purpose derives from `DistilError`, so callers can catch
one type. HTTP failures carry the status code, the server's message, the request method and
URL - never the credentials used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from .types.validation import ValidationReport

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DataValidationError",
    "DistilError",
    "GoneError",
    "InternalServerError",
    "JobFailedError",
    "JobNotFinishedError",
    "JobResultsMissingError",
    "JobTimeoutError",
    "JobWaitInterruptedError",
    "ModelLoadError",
    "NotFoundError",
    "OverrideError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "UnsafeArchiveError",
]


class DistilError(Exception):
    """Base class of every exception raised by ``distil_sdk``."""


class APIError(DistilError):
    """A problem talking to the platform (connection, timeout or an error status)."""

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url


class APIConnectionError(APIError):
    """The request never got an HTTP response (DNS, refused, reset...)."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class APIStatusError(APIError):
    """The platform answered with a 4xx/5xx status.

    Attributes:
        status_code: the HTTP status.
        body: the decoded JSON body when there is one, else the text (truncated).
        response: the `httpx.Response`, when available.
        request_id: the server's id of the request (``x-request-id``, or AWS's
            ``x-amzn-requestid``), to quote when asking for support; ``None`` when it sent none.
    """

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str | None = None,
        url: str | None = None,
        body: Any = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status_code = status_code
        self.body = body
        self.response = response
        headers = response.headers if response is not None else {}
        self.request_id: str | None = headers.get("x-request-id") or headers.get("x-amzn-requestid")

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        return f"{self.status_code}: {self.message}{where}"


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401: missing, wrong or expired credentials."""


class PaymentRequiredError(APIStatusError):
    """402: out of credits. ``route_key`` names the metered route that is exhausted (the key of
    ``client.credits.balances()``), when the SDK knows it."""

    route_key: str | None = None


class PermissionDeniedError(APIStatusError):
    """403."""


class NotFoundError(APIStatusError):
    """404."""


class ConflictError(APIStatusError):
    """409."""


class GoneError(APIStatusError):
    """410."""


class UnprocessableEntityError(APIStatusError):
    """422: the platform rejected the request body (for uploads: the findings are in ``body``)."""


class RateLimitError(APIStatusError):
    """429."""


class InternalServerError(APIStatusError):
    """5xx."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_ERRORS.get(status_code, APIStatusError)


class JobFailedError(DistilError):
    """A platform job (upload, teacher evaluation, training) ended in failure or was stopped."""

    def __init__(self, message: str, *, job_id: str, status: str, record: Any = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.status = status
        self.record = record


class JobNotFinishedError(DistilError):
    """What was asked of a job (its results, its model) does not exist because it has not succeeded.

    The platform answers such a request with HTTP 200, ``null`` in place of the results or link,
    and a message; this error carries that message (`platform_message`) and the job id.
    """

    def __init__(
        self, message: str, *, job_id: str, platform_message: str | None = None, record: Any = None
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.platform_message = platform_message
        self.record = record


class JobResultsMissingError(JobNotFinishedError):
    """A job succeeded, yet the platform's answer holds no results where they belong.

    Raised where the SDK promises non-Optional results: ``client.v2.teacher_evaluations.wait()``,
    ``client.v2.trainings.evaluation_results()``, ``client.teacher_evaluations.results()`` and
    ``client.slms.results()`` (an uploaded SLM, which nothing evaluated, has none). A subclass of
    `JobNotFinishedError`, so ``except JobNotFinishedError`` catches every "no results".
    """


class JobTimeoutError(DistilError, TimeoutError):
    """``wait()`` gave up before the job reached a final status."""

    def __init__(self, message: str, *, job_id: str, last_record: Any = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.last_record = last_record


class JobWaitInterruptedError(DistilError):
    """``wait()`` lost contact with the platform for longer than its outage budget.

    The job itself keeps running on the platform: call ``wait(job_id)`` again to resume. The
    last transient error is chained as ``__cause__``; ``last_record`` is the last status seen.
    """

    def __init__(self, message: str, *, job_id: str, last_record: Any = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.last_record = last_record


class DataValidationError(DistilError, ValueError):
    """A task bundle has errors that the platform would reject. ``report`` lists them all."""

    def __init__(self, report: ValidationReport, message: str | None = None) -> None:
        self.report = report
        super().__init__(message or report.summary())


class OverrideError(DistilError, ValueError):
    """An override would silently drop settings of the parent's file (``dropped`` lists them):
    the platform replaces the whole file, so a key left out reverts to its default."""

    def __init__(self, message: str, *, dropped: list[str]) -> None:
        super().__init__(message)
        self.dropped = dropped


class UnsafeArchiveError(DistilError, ValueError):
    """An archive holds a member that would escape the extraction folder or is not a plain file."""


class ModelLoadError(DistilError, OSError):
    """A model folder or archive is missing a file or holds a corrupt one (the file is named)."""

"""Bases and shared reads of the current generation's wire models (see `.entities`)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from .jobs import JobStatus, TrainingTask

__all__ = ["DownloadMetadata", "EntityStatus", "JobLogs"]


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_body(self) -> dict[str, Any]:
        """The JSON body: wire names (``from``), optional fields left out rather than null."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# ------------------------------------------------------------------------------ shared reads


class EntityStatus(_Response):
    """``GET /<collection>/{id}/status`` of a dataset, teacher evaluation or SLM.

    The reference documents ``status`` only; ``id`` and ``message`` are read when present (the
    ``/models`` generation sends both), and so are per-stage ``tasks`` (the local platform sends
    them; ``wait(progress=True)`` shows them).
    """

    id: str | None = None
    status: JobStatus
    message: str | None = None
    stages: list[TrainingTask] = Field(
        default_factory=list, validation_alias=AliasChoices("tasks", "stages"), alias="tasks"
    )

    @property
    def tasks(self) -> list[TrainingTask]:
        """Per-stage progress (empty when the platform does not report stages)."""
        return self.stages


class JobLogs(_Response):
    """``GET /<collection>/{id}/logs``: the job's log (a string; a list of lines is joined)."""

    logs: Any = None

    @property
    def text(self) -> str:
        """The whole log as one string ("" when there is none yet)."""
        if self.logs is None:
            return ""
        if isinstance(self.logs, str):
            return self.logs
        if isinstance(self.logs, list):
            return "\n".join(str(line) for line in self.logs)
        return str(self.logs)

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log, as ``tail -n`` gives them: a crash's cause is
        near the end, though not always last."""
        if lines <= 0:
            return ""
        return "\n".join(self.text.splitlines()[-lines:])


class DownloadMetadata(_Response):
    """``GET /<collection>/{id}/download-metadata``: presigned URLs of the entity's own
    ``config.yaml`` and ``job_description.json`` (null until ready). Free of credits."""

    config_url: str | None = None
    job_description_url: str | None = None


class _Entity(_Response):
    id: str
    created_at: str | None = None
    # The list carries no status; GET /<collection>/{id} adds it.
    status: JobStatus | None = None

    def __repr_args__(self) -> Any:
        # What the answer left out is not shown as None: a listed entity has no status (the
        # platform's list carries none), which "status=None" would misstate.
        return [(k, v) for k, v in super().__repr_args__() if v is not None]

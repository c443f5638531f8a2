"""Teachers for the local platform and the factory that picks one.

``DISTIL_TEACHER_BASE_URL`` set in the environment selects the LLM teacher (any OpenAI-compatible
chat API; model = ``base.teacher_model_name``, key from ``DISTIL_TEACHER_API_KEY``). Otherwise the
embedded teacher is used: a few-shot classifier over a local sentence encoder.
``DISTIL_TEACHER_CACHE_DIR``, when set, is where the LLM teacher caches its replies instead of
the job's own folder, so the jobs of a server ask each question once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ._base import (
    SupportsLinearHead,
    SupportsSynthesis,
    SupportsUnlabelled,
    Teacher,
    normalise_rows,
    prior_weights,
    teacher_config_keys,
    teacher_description,
)

if TYPE_CHECKING:
    from ...types.task import TaskConfig

__all__ = [
    "SupportsLinearHead",
    "SupportsSynthesis",
    "SupportsUnlabelled",
    "Teacher",
    "make_teacher",
    "normalise_rows",
    "prior_weights",
    "teacher_config_keys",
    "teacher_description",
]

TEACHER_BASE_URL_ENV = "DISTIL_TEACHER_BASE_URL"
TEACHER_CACHE_DIR_ENV = "DISTIL_TEACHER_CACHE_DIR"
#: The embedded teacher's contrastively tuned encoder candidate: ``auto`` (default: where it is
#: cheap), ``on`` (whatever it costs) or ``off``.
TEACHER_CONTRASTIVE_ENV = "DISTIL_TEACHER_CONTRASTIVE"
_CONTRASTIVE = {"auto": None, "on": True, "off": False}


def _contrastive_setting(env: Mapping[str, str]) -> bool | None:
    value = env.get(TEACHER_CONTRASTIVE_ENV, "").strip().lower() or "auto"
    if value not in _CONTRASTIVE:
        raise ValueError(
            f"{TEACHER_CONTRASTIVE_ENV}={value!r} is not a setting: use auto (the default), on "
            "or off"
        )
    return _CONTRASTIVE[value]


def make_teacher(
    config: TaskConfig,
    env: Mapping[str, str] | None = None,
    *,
    cache_dir: Path | None = None,
    embedding_cache_dir: Path | None = None,
) -> Teacher:
    """The teacher for a task: the LLM teacher when ``DISTIL_TEACHER_BASE_URL`` is set, else embedded
    (its contrastive encoder candidate set by ``DISTIL_TEACHER_CONTRASTIVE``: auto, on or off).

    Example::

        teacher = make_teacher(bundle.config)
        teacher.fit(bundle.job_description, bundle.train, bundle.config)
        probs = teacher.predict_proba(bundle.test.texts)
    """
    env = os.environ if env is None else env
    teacher_name: str | None = getattr(getattr(config, "base", None), "teacher_model_name", None)
    if env.get(TEACHER_BASE_URL_ENV):
        # Imported lazily: the LLM teacher pulls in an HTTP client the embedded path never needs.
        from .llm import LLMTeacher

        # The LLM teacher caches replies under cache_dir so a re-run job does not pay twice; the
        # user's DISTIL_TEACHER_CACHE_DIR wins (from_env reads it when cache_dir is None).
        own = None if env.get(TEACHER_CACHE_DIR_ENV) else cache_dir
        return LLMTeacher.from_env(config, env, cache_dir=own)
    from .embedded import EmbeddedTeacher

    # The embedded teacher keeps sentence embeddings under embedding_cache_dir (content-keyed).
    return EmbeddedTeacher(
        encoder_name=teacher_name,
        disk_cache=embedding_cache_dir,
        contrastive=_contrastive_setting(env),
    )

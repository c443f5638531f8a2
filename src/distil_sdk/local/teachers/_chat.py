"""A small client for OpenAI-compatible ``/chat/completions`` servers, used by the LLM teacher.

Any server that speaks the OpenAI chat API works: a local Ollama, vLLM or llama.cpp server, or
a hosted one. The client adds what a teacher labelling thousands of texts needs:

- a concurrency limit (a thread pool plus a semaphore, so two callers cannot exceed it either);
- retries with exponential backoff and jitter on connection errors, timeouts, 408, 429 and
  5xx, honouring ``Retry-After`` (the platform client's policy from ``_http``);
- an on-disk SQLite cache keyed by the request, so a restarted job does not pay twice.

The API key is sent as ``Authorization: Bearer ...`` and is kept out of reprs, logs and errors.

Example::

    chat = ChatClient("http://localhost:11434/v1", "qwen2.5:7b", cache_dir=Path("cache"))
    [reply] = chat.complete_many([ChatRequest([{"role": "user", "content": "hi"}])])
    print(reply.content)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from ..._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    status_error_class,
)
from ..._http import RETRY_STATUSES, error_message, retry_delay

__all__ = ["ChatClient", "ChatRequest", "ChatResult", "TokenLogprob", "env_number"]

logger = logging.getLogger("distil_sdk.local.teachers")

Message = dict[str, str]

ENV_BASE_URL = "DISTIL_TEACHER_BASE_URL"
ENV_API_KEY = "DISTIL_TEACHER_API_KEY"
ENV_CONCURRENCY = "DISTIL_TEACHER_CONCURRENCY"
ENV_CACHE_DIR = "DISTIL_TEACHER_CACHE_DIR"
ENV_TIMEOUT = "DISTIL_TEACHER_TIMEOUT"


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token, its log-probability and the server's top alternatives."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to make. ``seed`` is sent only when set (not every server has it)."""

    messages: Sequence[Message]
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int | None = None
    logprobs: bool = False


@dataclass(frozen=True)
class ChatResult:
    """The first choice of a completion: its text and, when the server returned them, logprobs."""

    content: str
    logprobs: tuple[TokenLogprob, ...] | None = None


class ChatClient:
    """A concurrency-limited, retried, disk-cached client for ``POST {base_url}/chat/completions``.

    Args:
        base_url: the API root, e.g. ``http://localhost:11434/v1`` (``/chat/completions`` is
            appended).
        model: the model name the server knows.
        api_key: sent as a bearer token when set; never logged or shown in ``repr``.
        concurrency: the most requests in flight at once.
        cache_dir: folder of the SQLite response cache; ``None`` disables caching.
        timeout: seconds per request.
        max_retries: retries after the first attempt for transient failures.
        sleep: how to wait between retries (tests inject a no-op).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        concurrency: int = 4,
        cache_dir: Path | str | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self._url = f"{self.base_url}/chat/completions"
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(concurrency)
        # Some servers reject `logprobs`; after the first 400 we stop asking for them.
        self._logprobs_supported = True
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))
        )
        self._cache = _ResponseCache(Path(cache_dir)) if cache_dir is not None else None

    @classmethod
    def from_env(
        cls,
        model: str,
        env: Mapping[str, str] | None = None,
        *,
        cache_dir: Path | str | None = None,
    ) -> ChatClient:
        """Build a client from ``DISTIL_TEACHER_*`` environment variables.

        ``DISTIL_TEACHER_BASE_URL`` (required), ``DISTIL_TEACHER_API_KEY``,
        ``DISTIL_TEACHER_CONCURRENCY`` (default 4), ``DISTIL_TEACHER_TIMEOUT`` (seconds, default
        120) and ``DISTIL_TEACHER_CACHE_DIR`` (used when ``cache_dir`` is not given; default
        ``~/.cache/distil_sdk/llm-teacher``). ``env`` defaults to ``os.environ``.
        """
        env = os.environ if env is None else env
        base_url = env.get(ENV_BASE_URL)
        if not base_url:
            raise ValueError(f"{ENV_BASE_URL} is not set: point it at an OpenAI-compatible API")
        if cache_dir is None:
            cache_dir = env.get(ENV_CACHE_DIR) or (
                Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "distil_sdk"
                / "llm-teacher"
            )
        return cls(
            base_url,
            model,
            env.get(ENV_API_KEY) or None,
            concurrency=env_number(env, ENV_CONCURRENCY, 4, int),
            timeout=env_number(env, ENV_TIMEOUT, 120.0, float),
            cache_dir=cache_dir,
        )

    def __repr__(self) -> str:
        return (
            f"ChatClient(base_url={self.base_url!r}, model={self.model!r}, "
            f"concurrency={self.concurrency}, cache={self._cache is not None})"
        )

    def close(self) -> None:
        """Close the HTTP connection pool and the cache."""
        self._http.close()
        if self._cache is not None:
            self._cache.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------

    def complete(self, request: ChatRequest) -> ChatResult:
        """Run one completion (from the cache when it holds the same request)."""
        key = self._cache_key(request)
        if self._cache is not None:
            hit = self._cache.get(key)
            if hit is not None:
                return _result_from_record(hit)
        record = self._send_with_retries(request)
        if self._cache is not None:
            self._cache.put(key, record)
        return _result_from_record(record)

    def complete_many(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        """Run several completions concurrently (at most ``concurrency`` at once), in order.

        The first failure cancels the requests that have not started and is raised.
        """
        if len(requests) <= 1 or self.concurrency == 1:
            return [self.complete(r) for r in requests]
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="llm-teacher")
        try:
            futures: list[Future[ChatResult]] = [pool.submit(self.complete, r) for r in requests]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for fut in done:
                error = fut.exception()
                if error is not None:
                    raise error  # `finally` cancels the requests that have not started
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # -- internals -----------------------------------------------------------------------------

    def _cache_key(self, request: ChatRequest) -> str:
        material = {
            "base_url": self.base_url,
            "model": self.model,
            "messages": list(request.messages),
            "temperature": request.temperature,
            "seed": request.seed,
            "max_tokens": request.max_tokens,
            "logprobs": request.logprobs,
        }
        blob = json.dumps(material, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _send_with_retries(self, request: ChatRequest) -> dict[str, Any]:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=_wait,
            retry=retry_if_exception(_is_retryable),
            sleep=self._sleep,
            reraise=True,
            before_sleep=_log_retry,
        )
        try:
            return retrying(self._send_once, request)
        except BadRequestError:
            if not (request.logprobs and self._logprobs_supported):
                raise
            # Hosted models without logprobs answer 400 to the whole request; one-hot labels
            # from the text are still useful, so retry without them and remember.
            logger.info("teacher server rejected logprobs; continuing without them")
            self._logprobs_supported = False
            return retrying(self._send_once, replace(request, logprobs=False))

    def _send_once(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.logprobs and self._logprobs_supported:
            body["logprobs"] = True
            body["top_logprobs"] = 5
        with self._slots:
            try:
                response = self._http.post(self._url, json=body)
            except httpx.TimeoutException as exc:
                raise APITimeoutError(
                    f"the teacher server did not answer within the timeout: {exc}",
                    method="POST",
                    url=self._url,
                ) from exc
            except httpx.TransportError as exc:
                raise APIConnectionError(
                    f"could not reach the teacher server ({type(exc).__name__}: {exc}); "
                    f"check {ENV_BASE_URL}",
                    method="POST",
                    url=self._url,
                ) from exc
        if response.status_code >= 400:
            raise _status_error(response, self._url)
        try:
            payload = response.json()
            choice = payload["choices"][0]
            content = choice.get("message", {}).get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise APIStatusError(
                "the teacher server's reply is not an OpenAI chat completion: "
                f"{response.text[:200]!r}",
                status_code=response.status_code,
                method="POST",
                url=self._url,
            ) from exc
        return {"content": content, "logprobs": _logprobs_record(choice.get("logprobs"))}


class _ResponseCache:
    """A thread-safe SQLite key/value store of completion records (WAL: other processes read)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(folder / "chat-cache.sqlite3", check_same_thread=False)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, record TEXT)"
            )

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM completions WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        record: dict[str, Any] = json.loads(row[0])
        return record

    def put(self, key: str, record: dict[str, Any]) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO completions (key, record) VALUES (?, ?)",
                (key, json.dumps(record, ensure_ascii=False)),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _logprobs_record(raw: Any) -> list[Any] | None:
    """The OpenAI ``choice.logprobs.content`` list as plain ``[token, logprob, [[t, lp]...]]``."""
    if not isinstance(raw, dict) or not isinstance(raw.get("content"), list):
        return None
    out: list[Any] = []
    for item in raw["content"]:
        try:
            top = [[str(t["token"]), float(t["logprob"])] for t in item.get("top_logprobs") or []]
            out.append([str(item["token"]), float(item["logprob"]), top])
        except (KeyError, TypeError, ValueError):
            return None  # a malformed entry: fall back to the text alone
    return out


def _result_from_record(record: dict[str, Any]) -> ChatResult:
    raw = record.get("logprobs")
    logprobs = (
        tuple(TokenLogprob(t, lp, tuple((a, b) for a, b in top)) for t, lp, top in raw)
        if raw is not None
        else None
    )
    return ChatResult(str(record.get("content") or ""), logprobs)


def _status_error(response: httpx.Response, url: str) -> APIStatusError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:2000]
    # OpenAI-style servers nest the message: {"error": {"message": ...}}.
    detail = body.get("error") if isinstance(body, dict) else None
    message = error_message(detail if isinstance(detail, dict) else body, response)
    hint = " (check DISTIL_TEACHER_API_KEY)" if response.status_code in (401, 403) else ""
    return status_error_class(response.status_code)(
        f"teacher server error: {message[:300]}{hint}",
        status_code=response.status_code,
        method="POST",
        url=url,
        body=body,
        response=response,
    )


def _is_retryable(exc: BaseException) -> bool:
    # A chat completion creates nothing on the server, so every transient failure is safe to
    # replay (unlike the platform's POSTs in _http).
    if isinstance(exc, APIConnectionError):
        return True
    return isinstance(exc, APIStatusError) and exc.status_code in RETRY_STATUSES


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    response = exc.response if isinstance(exc, APIStatusError) else None
    return retry_delay(state.attempt_number, response)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    wait_s = state.next_action.sleep if state.next_action is not None else 0.0
    logger.warning(
        "teacher request failed (%s); retry %d in %.1fs", exc, state.attempt_number, wait_s
    )


def env_number(env: Mapping[str, str], name: str, default: Any, kind: Callable[[str], Any]) -> Any:
    """``env[name]`` read with ``kind`` (``default`` when unset or empty).

    Raises:
        ValueError: the value does not parse, naming the variable.
    """
    raw = env.get(name)
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc

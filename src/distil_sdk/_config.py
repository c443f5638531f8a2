"""Client configuration: documented environment variables, defaults, logging switch.

Both clients resolve their settings here so they read the environment the same way.

| variable | meaning |
|---|---|
| ``DISTIL_BASE_URL`` | API root (default ``https://api.distillabs.ai``) |
| ``DISTIL_API_KEY`` | a fixed bearer token; wins over the two below |
| ``DISTIL_TOKEN_COMMAND`` | a command printing a fresh token, run again when one is rejected |
| ``DISTIL_USERNAME`` / ``DISTIL_PASSWORD`` | Cognito ``USER_PASSWORD_AUTH`` credentials |
| ``DISTIL_COGNITO_URL`` / ``DISTIL_COGNITO_CLIENT_ID`` | override the Cognito endpoint / app client |
| ``DISTIL_ARCHIVE_MAX_SIZE`` / ``_MAX_MEMBERS`` / ``_MAX_RATIO`` | model archive limits (see ``_archive``) |
| ``DISTIL_LOG`` | ``debug`` or ``info``: log the SDK's HTTP traffic to stderr (never the token) |
| ``DISTIL_NO_PROGRESS`` | ``1``: no progress display anywhere (``wait()``, downloads, batch) |
| ``DISTIL_RAY_LOG_LEVEL`` | batch prediction on Ray: its console log level (default ``WARNING``) |
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from ._auth import (
    DEFAULT_COGNITO_CLIENT_ID,
    DEFAULT_COGNITO_URL,
    Auth,
    CognitoPasswordAuth,
    CommandTokenProvider,
    ProviderAuth,
    TokenAuth,
)
from ._errors import DistilError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "Settings",
    "resolve_settings",
]

DEFAULT_BASE_URL = "https://api.distillabs.ai"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_MAX_RETRIES = 2

logger = logging.getLogger("distil_sdk")


@dataclass(frozen=True)
class Settings:
    """What a client needs to talk to the platform."""

    base_url: str
    auth: Auth
    timeout: httpx.Timeout
    max_retries: int


def resolve_settings(
    base_url: str | None,
    api_key: str | None,
    username: str | None,
    password: str | None,
    cognito_url: str | None,
    cognito_client_id: str | None,
    timeout: float | httpx.Timeout | None,
    max_retries: int | None,
    env: Mapping[str, str] | None = None,
    *,
    token_provider: Callable[[], str] | None = None,
) -> Settings:
    """Merge arguments with the environment (arguments win) and pick the auth flow."""
    env = os.environ if env is None else env
    setup_logging(env)
    url = (base_url or env.get("DISTIL_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise DistilError(f"base_url must start with http:// or https://, got {url!r}")
    if token_provider is not None and not callable(token_provider):
        raise DistilError(
            f"token_provider must be a callable returning a token, got {type(token_provider).__name__}"
        )
    given = [n for n, v in (("api_key", api_key), ("token_provider", token_provider)) if v]
    if len(given) > 1 or (given and (username or password)):
        raise DistilError(
            "pass only one kind of credentials: api_key=, token_provider=, or username= and password="
        )

    def cognito(user: str, pwd: str) -> CognitoPasswordAuth:
        return CognitoPasswordAuth(
            user,
            pwd,
            url=cognito_url or env.get("DISTIL_COGNITO_URL") or DEFAULT_COGNITO_URL,
            client_id=cognito_client_id
            or env.get("DISTIL_COGNITO_CLIENT_ID")
            or DEFAULT_COGNITO_CLIENT_ID,
        )

    # Arguments first, then the environment: a fixed key, a token command, username/password.
    auth: Auth
    user = username or env.get("DISTIL_USERNAME")
    pwd = password or env.get("DISTIL_PASSWORD")
    command = env.get("DISTIL_TOKEN_COMMAND", "").strip()
    if api_key:
        auth = TokenAuth(api_key)
    elif token_provider is not None:
        auth = ProviderAuth(token_provider)
    elif username and password:
        auth = cognito(username, password)
    elif env.get("DISTIL_API_KEY"):
        auth = TokenAuth(env["DISTIL_API_KEY"])
    elif command:
        provider = CommandTokenProvider(command)
        auth = ProviderAuth(provider, name=provider.__name__)
    elif user and pwd:
        auth = cognito(user, pwd)
    else:
        raise DistilError(
            "No credentials: pass api_key=... (or set DISTIL_API_KEY), username and password "
            "(DISTIL_USERNAME / DISTIL_PASSWORD), or token_provider=... (DISTIL_TOKEN_COMMAND). "
            "For the embedded platform use DistilClient.local()."
        )
    if timeout is None:
        resolved_timeout = DEFAULT_TIMEOUT
    elif isinstance(timeout, httpx.Timeout):
        resolved_timeout = timeout
    else:
        resolved_timeout = httpx.Timeout(timeout)
    retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
    if retries < 0:
        raise DistilError(f"max_retries must be >= 0, got {retries}")
    return Settings(base_url=url, auth=auth, timeout=resolved_timeout, max_retries=retries)


def setup_logging(env: Mapping[str, str]) -> None:
    """Honour ``DISTIL_LOG``: attach one stderr handler to the ``distil_sdk`` logger."""
    level = env.get("DISTIL_LOG", "").strip().lower()
    if level not in ("debug", "info"):
        return
    logger.setLevel(logging.DEBUG if level == "debug" else logging.INFO)
    # Idempotent: creating many clients must not multiply the log lines.
    if not any(getattr(h, "_distil_sdk", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s %(levelname)s] %(message)s"))
        handler._distil_sdk = True  # type: ignore[attr-defined]
        logger.addHandler(handler)

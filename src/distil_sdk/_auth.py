"""Credentials: a static bearer token, Cognito ``USER_PASSWORD_AUTH`` with refresh, or a
caller's token provider (a callable, or the command in ``DISTIL_TOKEN_COMMAND``).

The platform's access tokens last about an hour while a training takes hours, so only the two
renewable kinds survive a long ``wait()``. An `Auth` says whether it holds a valid token,
and builds the request that obtains a new one (the sync and async transports in ``_http`` send
it, so both clients share one implementation of the flow) - or, for a provider, fetches one
itself. The transports hold the single-flight lock: concurrent calls share one login.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
from collections.abc import Callable
from typing import Any, Protocol

from ._errors import DistilError
from ._request import RequestSpec  # not via _http, which reaches back here through _config

__all__ = [
    "DEFAULT_COGNITO_CLIENT_ID",
    "DEFAULT_COGNITO_URL",
    "Auth",
    "CognitoPasswordAuth",
    "CommandTokenProvider",
    "ProviderAuth",
    "TokenAuth",
]

DEFAULT_COGNITO_URL = "https://cognito-idp.eu-central-1.amazonaws.com"
DEFAULT_COGNITO_CLIENT_ID = "4569nvlkn8dm0iedo54nbta6fd"

# Refresh this long before the announced expiry, so a token never expires in flight.
REFRESH_MARGIN_S = 60.0


class Auth(Protocol):
    """What the transports need from a credential."""

    refreshable: bool

    def token(self, now: float) -> str | None:
        """A token valid at ``now`` (a monotonic clock reading), or None when one must be fetched."""

    def invalidate(self, token: str | None) -> None:
        """Forget the cached token if it is still ``token`` (the server rejected that one)."""

    def refresh_request(self) -> RequestSpec | None:
        """The request that obtains a new token, or None when `fetch` gets one itself."""

    def accept(self, data: Any, now: float) -> str:
        """Store the token from the decoded answer to `refresh_request` and return it."""

    def fetch(self, now: float) -> str:
        """Obtain, store and return a new token without an HTTP request of ours."""


class TokenAuth:
    """A fixed bearer token (``DISTIL_API_KEY``)."""

    refreshable = False

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self, now: float) -> str | None:
        return self._token

    def invalidate(self, token: str | None) -> None:
        # A static key cannot be renewed; the 401 reaches the caller as AuthenticationError.
        pass

    def refresh_request(self) -> RequestSpec | None:
        raise DistilError("a static API key cannot be refreshed")

    def accept(self, data: Any, now: float) -> str:
        raise DistilError("a static API key cannot be refreshed")

    def fetch(self, now: float) -> str:
        raise DistilError("a static API key cannot be refreshed")

    def __repr__(self) -> str:
        return "TokenAuth(token='***')"


class CognitoPasswordAuth:
    """Username/password through AWS Cognito's ``InitiateAuth`` (``USER_PASSWORD_AUTH``).

    The access token is cached until ``REFRESH_MARGIN_S`` before its ``ExpiresIn`` and fetched
    again when the platform answers 401/403.

    Example:
        >>> auth = CognitoPasswordAuth("me@example.com", "secret")
        >>> auth
        CognitoPasswordAuth(username='me@example.com', client_id='4569nvlkn8dm0iedo54nbta6fd')
    """

    refreshable = True

    def __init__(
        self,
        username: str,
        password: str,
        *,
        url: str = DEFAULT_COGNITO_URL,
        client_id: str = DEFAULT_COGNITO_CLIENT_ID,
    ) -> None:
        self.username = username
        self._password = password
        self.url = url
        self.client_id = client_id
        self._token: str | None = None
        self._expires_at = 0.0
        # Guards the cache; the transports make concurrent logins wait for one (single flight).
        self._lock = threading.Lock()

    def token(self, now: float) -> str | None:
        with self._lock:
            if self._token is not None and now < self._expires_at:
                return self._token
            return None

    def invalidate(self, token: str | None) -> None:
        with self._lock:
            # A token another caller already renewed stays: only the rejected one is dropped.
            if token is None or token == self._token:
                self._token = None

    def fetch(self, now: float) -> str:
        raise DistilError("Cognito tokens are obtained with refresh_request()")

    def refresh_request(self) -> RequestSpec | None:
        body = {
            "AuthParameters": {"USERNAME": self.username, "PASSWORD": self._password},
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": self.client_id,
        }
        return RequestSpec(
            "POST",
            self.url,
            content=json.dumps(body).encode(),
            headers={
                "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
                "Content-Type": "application/x-amz-json-1.1",
            },
            auth=False,
            # InitiateAuth changes no state on the server, so replaying it is safe.
            idempotent=True,
            is_auth=True,
        )

    def accept(self, data: Any, now: float) -> str:
        result = data.get("AuthenticationResult") if isinstance(data, dict) else None
        token = result.get("AccessToken") if isinstance(result, dict) else None
        if not isinstance(token, str) or not token:
            challenge = data.get("ChallengeName") if isinstance(data, dict) else None
            hint = (
                f" (Cognito asks for the challenge {challenge!r}; complete it in the web app)"
                if challenge
                else ""
            )
            raise DistilError(f"Cognito returned no access token for {self.username!r}{hint}")
        expires_in = result.get("ExpiresIn", 3600) if isinstance(result, dict) else 3600
        lifetime = float(expires_in) if isinstance(expires_in, (int, float)) else 3600.0
        with self._lock:
            self._token = token
            self._expires_at = now + max(lifetime - REFRESH_MARGIN_S, lifetime / 2)
        return token

    def __repr__(self) -> str:
        return f"CognitoPasswordAuth(username={self.username!r}, client_id={self.client_id!r})"


class ProviderAuth:
    """Tokens from a caller's callable, called again whenever the platform rejects one.

    Use it for short-lived tokens minted elsewhere (a secrets manager, an SSO helper). The token
    is kept until the platform answers 401/403, then the callable is called once more.

    Example:
        >>> auth = ProviderAuth(lambda: "fresh-token")
        >>> auth.fetch(0.0)
        'fresh-token'
    """

    refreshable = True

    def __init__(self, provider: Callable[[], str], *, name: str | None = None) -> None:
        self._provider = provider
        self.name = name or getattr(provider, "__name__", None) or type(provider).__name__
        self._token: str | None = None
        self._lock = threading.Lock()

    def token(self, now: float) -> str | None:
        with self._lock:
            return self._token

    def invalidate(self, token: str | None) -> None:
        with self._lock:
            if token is None or token == self._token:
                self._token = None

    def refresh_request(self) -> RequestSpec | None:
        return None

    def accept(self, data: Any, now: float) -> str:
        raise DistilError("a token provider is called, not answered")

    def fetch(self, now: float) -> str:
        try:
            token = self._provider()
        except DistilError:
            raise
        except Exception as exc:
            raise DistilError(
                f"the token provider {self.name} failed: {type(exc).__name__}: {exc}; fix it or "
                "pass api_key= / username= and password= instead"
            ) from exc
        if not isinstance(token, str) or not token.strip():
            raise DistilError(
                f"the token provider {self.name} returned {type(token).__name__} instead of a "
                "non-empty token string"
            )
        token = token.strip()
        with self._lock:
            self._token = token
        return token

    def __repr__(self) -> str:
        return f"ProviderAuth(provider={self.name!r})"


class CommandTokenProvider:
    """A token provider that runs a command (``DISTIL_TOKEN_COMMAND``) and reads its stdout.

    The command is split like a shell would (no shell is started) and must print the token.

    Example:
        >>> CommandTokenProvider("echo my-token")()  # doctest: +SKIP
        'my-token'
    """

    def __init__(self, command: str, *, timeout: float = 120.0) -> None:
        self.command = command
        self.timeout = timeout
        self.__name__ = f"command {command.split()[0] if command.split() else command!r}"

    def __call__(self) -> str:
        try:
            argv = shlex.split(self.command)
            # The user's own command, split without a shell.
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            raise DistilError(f"DISTIL_TOKEN_COMMAND could not run {self.__name__}: {exc}") from exc
        if done.returncode != 0:
            # stderr, not stdout: stdout is where a token would be.
            err = done.stderr.strip()[-500:]
            raise DistilError(
                f"DISTIL_TOKEN_COMMAND ({self.__name__}) exited with {done.returncode}: {err}"
            )
        token = done.stdout.strip()
        if not token:
            raise DistilError(f"DISTIL_TOKEN_COMMAND ({self.__name__}) printed no token")
        return token

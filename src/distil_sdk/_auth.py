"""Token providers: a static bearer token, or Cognito ``USER_PASSWORD_AUTH`` with refresh.

A provider never performs I/O itself. It says whether it holds a valid token, builds the request
that obtains a new one, and accepts the decoded answer; the sync and async transports in
``_http`` send that request. This keeps the two clients on one implementation of the flow.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Protocol

from ._errors import DistilError
from ._http import RequestSpec

__all__ = [
    "DEFAULT_COGNITO_CLIENT_ID",
    "DEFAULT_COGNITO_URL",
    "Auth",
    "CognitoPasswordAuth",
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

    def invalidate(self) -> None:
        """Forget the cached token (the server rejected it)."""

    def refresh_request(self) -> RequestSpec:
        """The request that obtains a new token."""

    def accept(self, data: Any, now: float) -> str:
        """Store the token from the decoded answer to :meth:`refresh_request` and return it."""


class TokenAuth:
    """A fixed bearer token (``DISTIL_API_KEY``)."""

    refreshable = False

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self, now: float) -> str | None:
        return self._token

    def invalidate(self) -> None:
        # A static key cannot be renewed; the 401 reaches the caller as AuthenticationError.
        pass

    def refresh_request(self) -> RequestSpec:
        raise DistilError("a static API key cannot be refreshed")

    def accept(self, data: Any, now: float) -> str:
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
        # Guards the cache only; concurrent refreshes are harmless (both tokens are valid).
        self._lock = threading.Lock()

    def token(self, now: float) -> str | None:
        with self._lock:
            if self._token is not None and now < self._expires_at:
                return self._token
            return None

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def refresh_request(self) -> RequestSpec:
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

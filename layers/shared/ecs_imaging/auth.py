"""IAM tokens and the process-wide token cache.

A token is valid for 24 hours, so a warm Lambda container asks IAM once a day per
credential. The cache is keyed by everything that makes a token different, refreshes
a token some minutes before it expires, and lets one thread fetch while the others
wait for its answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import clock, config, http
from .credentials import PasswordCredentials, get_credentials
from .errors import CloudAuthError, CloudError

logger = logging.getLogger(__name__)

# Not documented: a margin that keeps a token from expiring in the middle of a run.
REFRESH_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class TokenKey:
    """What makes one token different from another."""

    iam_endpoint: str
    domain_name: str
    user_name: str
    project: str


@dataclass(frozen=True)
class Token:
    """A project-scoped IAM token; its value never appears in a repr or a log."""

    value: str = field(repr=False)
    project_id: str
    expires_at: datetime

    def is_fresh(self, now: datetime) -> bool:
        """True while the token is comfortably far from its expiry."""
        return now < self.expires_at - REFRESH_MARGIN


class TokenCache:
    """Tokens by key, with one fetch at a time per key; `fetches` counts IAM calls."""

    def __init__(self) -> None:
        self.fetches = 0
        self._tokens: dict[TokenKey, Token] = {}
        self._locks: dict[TokenKey, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: TokenKey, fetch: Callable[[], Token]) -> Token:
        """The cached token for `key`, fetching a new one when it is missing or stale."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            token = self._tokens.get(key)
            if token is not None and token.is_fresh(clock.now()):
                return token
            token = fetch()
            self._tokens[key] = token
            self.fetches += 1

        return token

    def drop(self, key: TokenKey, token: Token) -> None:
        """Forget `token` if it is still the cached one (another thread may have refreshed)."""
        with self._guard:
            if self._tokens.get(key) == token:
                del self._tokens[key]

    def clear(self) -> None:
        """Forget every token."""
        with self._guard:
            self._tokens.clear()


class _Fetch:
    """A deferred IAM call, so the cache decides whether it happens."""

    def __init__(self, settings: config.Settings, credentials: PasswordCredentials) -> None:
        self.settings = settings
        self.credentials = credentials

    def __call__(self) -> Token:
        return request_password_token(self.settings, self.credentials)


token_cache = TokenCache()


def get_token(settings: config.Settings | None = None) -> tuple[TokenKey, Token]:
    """A valid token for the configured credentials and project, cached per process."""
    settings = settings or config.get_settings()
    credentials = get_credentials(settings)
    key = _key_for(settings, credentials)
    try:
        return key, token_cache.get(key, _Fetch(settings, credentials))
    except CloudAuthError:
        # The password may have been rotated: read the secret once more, then retry.
        fresh = get_credentials(settings, fresh=True)
        if fresh == credentials:
            raise
        key = _key_for(settings, fresh)

        return key, token_cache.get(key, _Fetch(settings, fresh))


def request_password_token(settings: config.Settings, credentials: PasswordCredentials) -> Token:
    """Ask IAM for a project-scoped token with the password method."""
    scope = (
        {"project": {"id": settings.project_id}}
        if settings.project_id
        else {"project": {"name": settings.project_name}}
    )
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": credentials.user_name,
                        "password": credentials.password.get_secret_value(),
                        "domain": {"name": credentials.domain_name},
                    }
                },
            },
            "scope": scope,
        }
    }

    response = http.send(
        "POST",
        f"{settings.iam_endpoint}/v3/auth/tokens",
        params={"nocatalog": "true"},
        headers={"Content-Type": "application/json;charset=utf8"},
        json=body,
        idempotent=True,
    )

    return _parse_token(response.headers.get("X-Subject-Token"), response.json())


def _parse_token(value: str | None, body: object) -> Token:
    try:
        token = body["token"]  # type: ignore[index]
        project_id = str(token["project"]["id"])
        expires_at = datetime.fromisoformat(str(token["expires_at"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError) as exc:
        raise CloudError(f"IAM answered a token without a usable body: {exc!r}") from None
    if not value:
        raise CloudError("IAM answered without an X-Subject-Token header.")
    logger.debug("Got a token", extra={"project_id": project_id, "expires_at": str(expires_at)})

    return Token(value=value, project_id=project_id, expires_at=expires_at)


def _key_for(settings: config.Settings, credentials: PasswordCredentials) -> TokenKey:
    return TokenKey(
        iam_endpoint=settings.iam_endpoint,
        domain_name=credentials.domain_name,
        user_name=credentials.user_name,
        project=settings.project_id or settings.project_name,
    )

"""IAM tokens, project id look-ups and the process-wide cache of both.

A token is valid for 24 hours, so a warm Lambda container asks IAM once a day per
credential. The cache is keyed by everything that makes a token different, refreshes
a token some minutes before it expires, and lets one thread fetch while the others
wait for its answer. Access keys need no token: their requests are signed (see
`signer`), and only the project id may have to be looked up, once per key.
"""

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from . import clock, config, http, signer
from .credentials import (
    AccessKeyCredentials,
    Agency,
    PasswordCredentials,
    get_credentials,
)
from .errors import CloudAuthError, CloudError, ConfigurationError, InvalidRequest

logger = logging.getLogger(__name__)

# Not documented: a margin that keeps a token from expiring in the middle of a run.
REFRESH_MARGIN = timedelta(minutes=10)
# IAM's answer to a token request scoped to a project name or id it does not know.
PROJECT_NOT_FOUND = "IAM.1109"

CredentialsT = TypeVar("CredentialsT", PasswordCredentials, AccessKeyCredentials)
ResultT = TypeVar("ResultT")


class TokenKey(NamedTuple):
    """What makes one token different from another; no project: the user's domain."""

    iam_endpoint: str
    domain_name: str
    user_name: str
    project: str | None
    agency: Agency | None = None


class ProjectKey(NamedTuple):
    """What a project id look-up with an access key depends on."""

    iam_endpoint: str
    access_key: str
    project_name: str


@dataclass(frozen=True)
class Token:
    """An IAM token; its value never appears in a repr or a log."""

    value: str = field(repr=False)
    project_id: str  # empty for a token scoped to a domain, as is project_name
    expires_at: datetime
    project_name: str = ""

    def is_fresh(self, now: datetime) -> bool:
        """True while the token is comfortably far from its expiry."""
        return now < self.expires_at - REFRESH_MARGIN


class TokenCache:
    """Tokens and looked-up project ids, one IAM request at a time per key.

    `fetches` counts token requests, `lookups` project id look-ups.
    """

    def __init__(self) -> None:
        self.fetches = 0
        self.lookups = 0
        self._tokens: dict[TokenKey, Token] = {}
        self._project_ids: dict[ProjectKey, str] = {}
        self._locks: dict[tuple[type, TokenKey | ProjectKey], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: TokenKey, fetch: Callable[[], Token]) -> Token:
        """The cached token for `key`, fetched when it is missing or stale."""
        with self._lock_for(key):
            token = self._tokens.get(key)
            if token is not None and token.is_fresh(clock.now()):
                return token
            token = fetch()
            with self._guard:
                self._tokens[key] = token
                self.fetches += 1

        return token

    def project_id(self, key: ProjectKey, look_up: Callable[[], str]) -> str:
        """The project id for `key`, looked up on first use; ids never change."""
        with self._lock_for(key):
            found = self._project_ids.get(key)
            if found is not None:
                return found
            found = look_up()
            with self._guard:
                self._project_ids[key] = found
                self.lookups += 1

        return found

    def drop(self, key: TokenKey, token: Token) -> None:
        """Forget `token` unless another thread has replaced it already."""
        with self._guard:
            if self._tokens.get(key) == token:
                del self._tokens[key]

    def clear(self) -> None:
        """Forget every token and project id."""
        with self._guard:
            self._tokens.clear()
            self._project_ids.clear()

    def _lock_for(self, key: TokenKey | ProjectKey) -> threading.Lock:
        # With the class: named tuples of two classes are equal when their fields are.
        with self._guard:
            return self._locks.setdefault((type(key), key), threading.Lock())


token_cache = TokenCache()


def get_token(settings: config.Settings | None = None) -> tuple[TokenKey, Token]:
    """A valid token for the password (and agency) configured, cached per process."""
    settings = settings or config.get_settings()
    credentials = get_credentials(settings)
    if not isinstance(credentials, PasswordCredentials):
        raise ConfigurationError("An access key signs each request; it has no token.")

    return retry_with_fresh_credentials(
        settings, credentials, functools.partial(_cached_token, settings)
    )


def get_project_id(settings: config.Settings | None = None) -> str:
    """The project id in ECS and IMS paths: configured, from the token, or looked up."""
    settings = settings or config.get_settings()
    if settings.project_id:
        return settings.project_id

    credentials = get_credentials(settings)
    if isinstance(credentials, AccessKeyCredentials):
        return retry_with_fresh_credentials(
            settings, credentials, functools.partial(find_project_id, settings)
        )

    return get_token(settings)[1].project_id


def find_project_id(
    settings: config.Settings,
    credentials: AccessKeyCredentials,
) -> str:
    """The configured project id, or the one IAM knows by the project's name."""
    if settings.project_id:
        return settings.project_id

    key = ProjectKey(settings.iam_endpoint, credentials.access_key, settings.project_name)

    return token_cache.project_id(key, lambda: request_project_id(settings, credentials))


def retry_with_fresh_credentials(
    settings: config.Settings,
    credentials: CredentialsT,
    attempt: Callable[[CredentialsT], ResultT],
) -> ResultT:
    """Run `attempt`; after an authentication failure, again with re-read credentials.

    The re-read bypasses every cache, so a rotated secret is seen at once. Credentials
    that did not change, or changed their kind, get no second attempt.
    """
    try:
        return attempt(credentials)
    except CloudAuthError:
        fresh = get_credentials(settings, fresh=True)
        if fresh == credentials or not isinstance(fresh, type(credentials)):
            raise
        logger.debug("Trying once more with re-read credentials")

        return attempt(fresh)


def request_password_token(
    settings: config.Settings,
    credentials: PasswordCredentials,
) -> Token:
    """Ask IAM for a project-scoped token with the password method."""
    identity = _password_identity(credentials)

    return _request_token(settings, identity, _project_scope(settings))


def request_agency_token(
    settings: config.Settings,
    agency: Agency,
    user_token: Token,
) -> Token:
    """Ask IAM for a token of the delegating account's project, through the agency."""
    delegating: dict[str, str | None]
    if agency.domain_id:
        delegating = {"domain_id": agency.domain_id}
    else:
        delegating = {"domain_name": agency.domain_name}
    identity = {
        "methods": ["assume_role"],
        "assume_role": {**delegating, "agency_name": agency.name},
    }

    return _request_token(settings, identity, _project_scope(settings), user_token)


def request_project_id(
    settings: config.Settings,
    credentials: AccessKeyCredentials,
) -> str:
    """Ask IAM, with a signed request, for the id of the configured project."""
    url = f"{settings.iam_endpoint}/v3/projects"
    query = {"name": settings.project_name}
    signed = signer.sign("GET", url, credentials, params=query)
    response = http.send("GET", signed.url, headers=signed.headers)

    found = _read_project_ids(response.json(), settings.project_name)
    if not found:
        raise ConfigurationError(
            f"IAM knows no project {settings.project_name!r} for this access key; fix "
            f"{config.PROJECT_NAME} or {config.REGION}, or set {config.PROJECT_ID}."
        )
    if len(found) > 1:
        raise ConfigurationError(
            f"IAM knows {len(found)} projects named {settings.project_name!r}; "
            f"set {config.PROJECT_ID} to the one to use."
        )
    logger.debug("Found the project id", extra={"project_id": found[0]})

    return found[0]


def _cached_token(
    settings: config.Settings, credentials: PasswordCredentials
) -> tuple[TokenKey, Token]:
    key = TokenKey(
        iam_endpoint=settings.iam_endpoint,
        domain_name=credentials.domain_name,
        user_name=credentials.user_name,
        project=settings.project_id or settings.project_name,
        agency=credentials.agency,
    )
    agency = credentials.agency
    if agency is None:
        fetch = functools.partial(request_password_token, settings, credentials)
    else:
        fetch = functools.partial(_fetch_agency_token, settings, credentials, agency)

    return key, token_cache.get(key, fetch)


def _fetch_agency_token(
    settings: config.Settings, credentials: PasswordCredentials, agency: Agency
) -> Token:
    key, user_token = _cached_user_token(settings, credentials)
    try:
        return request_agency_token(settings, agency, user_token)
    except CloudAuthError:
        # IAM may revoke the user's token before it expires: get a new one, once.
        token_cache.drop(key, user_token)
        _, user_token = _cached_user_token(settings, credentials)

        return request_agency_token(settings, agency, user_token)


def _cached_user_token(
    settings: config.Settings, credentials: PasswordCredentials
) -> tuple[TokenKey, Token]:
    # Scoped to the user's own domain: assume_role needs no project of the user's own.
    domain = credentials.domain_name
    key = TokenKey(settings.iam_endpoint, domain, credentials.user_name, project=None)
    identity = _password_identity(credentials)
    scope = {"domain": {"name": domain}}

    return key, token_cache.get(key, lambda: _request_token(settings, identity, scope))


def _request_token(
    settings: config.Settings,
    identity: dict[str, Any],
    scope: dict[str, Any],
    user_token: Token | None = None,
) -> Token:
    headers = {"Content-Type": "application/json;charset=utf8"}
    if user_token is not None:
        headers["X-Auth-Token"] = user_token.value

    try:
        response = http.send(
            "POST",
            f"{settings.iam_endpoint}/v3/auth/tokens",
            params={"nocatalog": "true"},
            headers=headers,
            json={"auth": {"identity": identity, "scope": scope}},
            idempotent=True,
        )
    except InvalidRequest as exc:
        if exc.error_code == PROJECT_NOT_FOUND and "project" in scope:
            raise _unknown_project(settings) from None
        raise

    token = _parse_token(response.headers.get("X-Subject-Token"), response.json(), scope)
    if "project" in scope:
        _check_project_region(settings, token)

    return token


def _unknown_project(settings: config.Settings) -> ConfigurationError:
    value = settings.project_id or settings.project_name

    return ConfigurationError(f"IAM knows no project {value!r}; fix {settings.project_variable}.")


def _check_project_region(settings: config.Settings, token: Token) -> None:
    # IAM scopes a token to a project id of any region, but ECS and IMS serve the
    # projects of their own region only.
    region = settings.region
    if token.project_name == region or token.project_name.startswith(f"{region}_"):
        return

    value = settings.project_id or settings.project_name
    raise ConfigurationError(
        f"{settings.project_variable} {value!r} names project {token.project_name!r}, "
        f"which does not belong to region {region!r}."
    )


def _password_identity(credentials: PasswordCredentials) -> dict[str, Any]:
    user = {
        "name": credentials.user_name,
        "password": credentials.password.get_secret_value(),
        "domain": {"name": credentials.domain_name},
    }

    return {"methods": ["password"], "password": {"user": user}}


def _project_scope(settings: config.Settings) -> dict[str, Any]:
    if settings.project_id:
        return {"project": {"id": settings.project_id}}

    return {"project": {"name": settings.project_name}}


def _parse_token(value: str | None, body: object, scope: dict[str, Any]) -> Token:
    try:
        token = body["token"]  # type: ignore[index]
        project = token["project"] if "project" in scope else {"id": "", "name": ""}
        project_id, project_name = str(project["id"]), str(project["name"])
        expires_at = datetime.fromisoformat(str(token["expires_at"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError) as exc:
        raise CloudError(f"IAM answered a token without a usable body: {exc!r}") from None
    if not value:
        raise CloudError("IAM answered without an X-Subject-Token header.")
    logger.debug("Got a token", extra={"project_id": project_id, "expires_at": str(expires_at)})

    return Token(
        value=value, project_id=project_id, expires_at=expires_at, project_name=project_name
    )


def _read_project_ids(body: object, project_name: str) -> list[str]:
    try:
        projects = body["projects"]  # type: ignore[index]
        found = [str(p["id"]) for p in projects if p.get("name") == project_name]
    except (KeyError, TypeError, AttributeError) as exc:
        raise CloudError(f"IAM answered an unusable project list: {exc!r}") from None

    return found

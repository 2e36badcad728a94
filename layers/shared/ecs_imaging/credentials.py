"""Cloud credentials: from the Secrets Manager secret in Lambda, from `OS_*` locally.

In Lambda the secret is read through the AWS Parameters and Secrets Lambda
Extension's local HTTP endpoint, so no boto3 is imported on the common path. After
an authentication failure it is read once more straight from Secrets Manager, which
picks up a rotated password before the extension's cache would.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from . import config
from .errors import ConfigurationError

logger = logging.getLogger(__name__)

_ENVIRONMENT_SOURCE = "environment"


class PasswordCredentials(BaseModel):
    """An IAM user's password credentials; the JSON shape of the secret."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    user_name: str = Field(min_length=1, max_length=64)
    password: SecretStr = Field(min_length=1)
    domain_name: str = Field(min_length=1, max_length=64)


_cache: dict[str, PasswordCredentials] = {}
_lock = threading.Lock()


def get_credentials(
    settings: config.Settings | None = None, *, fresh: bool = False
) -> PasswordCredentials:
    """The credentials to ask IAM for a token; `fresh` bypasses every cache."""
    settings = settings or config.get_settings()
    source = settings.credentials_secret_arn or _ENVIRONMENT_SOURCE
    with _lock:
        if not fresh and source in _cache:
            return _cache[source]

    if source == _ENVIRONMENT_SOURCE:
        credentials = _from_environment()
    elif fresh:
        credentials = parse_secret(_read_secret_from_secrets_manager(source), source)
    else:
        credentials = parse_secret(_read_secret_through_extension(source), source)

    with _lock:
        _cache[source] = credentials

    return credentials


def forget_credentials() -> None:
    """Drop every cached credential (tests and the local engine)."""
    with _lock:
        _cache.clear()


def parse_secret(text: str, source: str) -> PasswordCredentials:
    """Parse the secret's JSON without ever echoing a value from it."""
    try:
        document: Any = json.loads(text)
    except ValueError:
        raise ConfigurationError(f"The secret {source!r} is not JSON.") from None
    try:
        return PasswordCredentials.model_validate(document)
    except ValidationError as exc:
        # NOTE: pydantic's own message quotes the input; name the fields only.
        fields = sorted({".".join(map(str, e["loc"])) or "(root)" for e in exc.errors()})
        raise ConfigurationError(
            f"The secret {source!r} lacks or has invalid fields: {', '.join(fields)}; "
            "expected user_name, password and domain_name."
        ) from None


def _from_environment() -> PasswordCredentials:
    user_name = config.read(config.OS_USERNAME)
    password = config.read(config.OS_PASSWORD)
    domain_name = config.read(config.OS_USER_DOMAIN_NAME) or config.read(config.OS_DOMAIN_NAME)
    missing = [
        name
        for name, value in (
            (config.OS_USERNAME, user_name),
            (config.OS_PASSWORD, password),
            (config.OS_USER_DOMAIN_NAME, domain_name),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(
            f"No cloud credentials: set {', '.join(missing)}, or "
            f"{config.CREDENTIALS_SECRET_ARN} in Lambda."
        )

    return PasswordCredentials(
        user_name=user_name or "",
        password=SecretStr(password or ""),
        domain_name=domain_name or "",
    )


def _read_secret_through_extension(secret_arn: str) -> str:
    session_token = config.read(config.AWS_SESSION_TOKEN)
    if not session_token:
        raise ConfigurationError(
            f"{config.CREDENTIALS_SECRET_ARN} is set but this is not a Lambda "
            f"environment ({config.AWS_SESSION_TOKEN} is missing)."
        )
    url = f"http://localhost:{config.extension_port()}/secretsmanager/get"
    response = httpx.get(
        url,
        params={"secretId": secret_arn},
        headers={"X-Aws-Parameters-Secrets-Token": session_token},
        timeout=5.0,
    )
    if response.status_code != 200:
        raise ConfigurationError(
            f"The secrets extension could not read {secret_arn!r} (HTTP {response.status_code})."
        )
    logger.debug("Read the credentials secret through the extension")

    return str(response.json()["SecretString"])


def _read_secret_from_secrets_manager(secret_arn: str) -> str:
    # NOTE: imported here so that the handlers' cold start never pays for boto3.
    import boto3

    client = boto3.client("secretsmanager")
    answer = client.get_secret_value(SecretId=secret_arn)
    logger.debug("Read the credentials secret from Secrets Manager")

    return str(answer["SecretString"])

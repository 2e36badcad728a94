"""Cloud credentials: from the Secrets Manager secret in Lambda, from variables locally.

Two kinds: an IAM user's password, optionally with an agency through which it acts
in a delegating account, and an access key (AK/SK; a temporary one carries a
security token). The secret's JSON picks its kind by the fields it has.

In Lambda the secret is read through the AWS Parameters and Secrets Lambda
Extension's local HTTP endpoint, so no boto3 is imported on the common path. After
an authentication failure it is read once more straight from Secrets Manager, which
picks up rotated credentials before the extension's cache would.
"""

import json
import logging
import re
import threading
from typing import Annotated, Any, NamedTuple

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from . import config
from .errors import ConfigurationError

logger = logging.getLogger(__name__)

_ENVIRONMENT_SOURCE = "environment"
_PASSWORD_FIELDS = ("user_name", "password", "domain_name")
_KEY_PAIR_FIELDS = ("access_key", "secret_key")
_ACCESS_KEY_FIELDS = (*_KEY_PAIR_FIELDS, "security_token")
_AGENCY_FIELDS = ("agency_name", "agency_domain_name", "agency_domain_id")
_PASSWORD_VARIABLES = (config.OS_USERNAME, config.OS_PASSWORD)
_ACCESS_KEY_VARIABLES = (
    config.OS_ACCESS_KEY,
    config.OS_SECRET_KEY,
    config.OS_SECURITY_TOKEN,
)
_AGENCY_VARIABLES = (
    config.AGENCY_NAME,
    config.AGENCY_DOMAIN_NAME,
    config.AGENCY_DOMAIN_ID,
)
_DOMAIN_ID_PATTERN = r"^[0-9a-f]{32}$"


class Agency(NamedTuple):
    """An agency of a delegating account, which is named by its domain name or id."""

    name: str
    domain_name: str | None = None
    domain_id: str | None = None


class PasswordCredentials(BaseModel):
    """An IAM user's password, maybe with an agency; one JSON shape of the secret."""

    # Built when first used: a cold start pays for one kind of credentials only.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    user_name: str = Field(min_length=1, max_length=64)
    password: SecretStr = Field(min_length=1)
    domain_name: str = Field(min_length=1, max_length=64)
    agency_name: str | None = Field(default=None, min_length=1, max_length=64)
    agency_domain_name: str | None = Field(default=None, min_length=1, max_length=64)
    agency_domain_id: str | None = Field(default=None, pattern=_DOMAIN_ID_PATTERN)

    @property
    def agency(self) -> Agency | None:
        """The agency to act through, or None to act in the user's own account."""
        if self.agency_name is None:
            return None

        return Agency(self.agency_name, self.agency_domain_name, self.agency_domain_id)


class AccessKeyCredentials(BaseModel):
    """An access key pair; the other JSON shape of the secret."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    access_key: str = Field(min_length=1, max_length=128)
    secret_key: SecretStr = Field(min_length=1)
    security_token: Annotated[SecretStr, Field(min_length=1)] | None = None

    @property
    def is_temporary(self) -> bool:
        """True for a temporary key, which is valid only with its security token."""
        return self.security_token is not None


Credentials = PasswordCredentials | AccessKeyCredentials

_cache: dict[str, Credentials] = {}
_lock = threading.Lock()


def get_credentials(
    settings: config.Settings | None = None,
    *,
    fresh: bool = False,
) -> Credentials:
    """The credentials for IAM and the signer; `fresh` bypasses every cache."""
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
    credentials = _add_agency_from_environment(credentials, source)

    with _lock:
        _cache[source] = credentials

    return credentials


def forget_credentials() -> None:
    """Drop every cached credential (tests and the local engine)."""
    with _lock:
        _cache.clear()


def parse_secret(text: str, source: str) -> Credentials:
    """Parse the secret's JSON without ever echoing a value from it."""
    try:
        document: Any = json.loads(text)
    except ValueError:
        raise ConfigurationError(f"The secret {source!r} is not JSON.") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"The secret {source!r} is not a JSON object.")

    model = _choose_secret_model(document, source)
    try:
        credentials = model.model_validate(document)
    except ValidationError as exc:
        raise _describe_invalid_fields(exc, model, source) from None
    if isinstance(credentials, PasswordCredentials):
        agency = {name: getattr(credentials, name) for name in _AGENCY_FIELDS}
        _check_agency(agency, f"The secret {source!r}")

    return credentials


def _choose_secret_model(
    document: dict[str, Any], source: str
) -> type[PasswordCredentials] | type[AccessKeyCredentials]:
    password_fields = [name for name in _PASSWORD_FIELDS if name in document]
    key_fields = [name for name in _ACCESS_KEY_FIELDS if name in document]
    agency_fields = [name for name in _AGENCY_FIELDS if name in document]
    if password_fields and key_fields:
        mixed = ", ".join(password_fields + key_fields)
        raise ConfigurationError(
            f"The secret {source!r} mixes password and access key fields ({mixed}); keep one kind."
        )
    if key_fields and agency_fields:
        raise ConfigurationError(
            f"The secret {source!r} has {', '.join(agency_fields)} next to an access "
            "key; an agency needs password credentials."
        )
    if key_fields:
        return AccessKeyCredentials
    if password_fields or agency_fields:
        return PasswordCredentials

    raise ConfigurationError(
        f"The secret {source!r} has neither {_join(_PASSWORD_FIELDS)} "
        f"nor {_join(_KEY_PAIR_FIELDS)}."
    )


def _describe_invalid_fields(
    exc: ValidationError, model: type[BaseModel], source: str
) -> ConfigurationError:
    # NOTE: pydantic's own message quotes the input; name the fields only.
    fields = sorted({".".join(map(str, e["loc"])) or "(root)" for e in exc.errors()})
    required = _PASSWORD_FIELDS if model is PasswordCredentials else _KEY_PAIR_FIELDS

    return ConfigurationError(
        f"The secret {source!r} lacks or has invalid fields: {', '.join(fields)}; "
        f"expected {_join(required)}."
    )


def _from_environment() -> Credentials:
    password_set = [name for name in _PASSWORD_VARIABLES if config.read(name)]
    key_set = [name for name in _ACCESS_KEY_VARIABLES if config.read(name)]
    if password_set and key_set:
        raise ConfigurationError(
            f"Both a password ({', '.join(password_set)}) and an access key "
            f"({', '.join(key_set)}) are set; unset one kind."
        )

    if key_set:
        return _access_key_from_environment()

    return _password_from_environment()


def _password_from_environment() -> PasswordCredentials:
    user_name = config.read(config.OS_USERNAME)
    password = config.read(config.OS_PASSWORD)
    domain_name = config.read(config.OS_USER_DOMAIN_NAME) or config.read(config.OS_DOMAIN_NAME)
    if not (user_name or password):
        raise ConfigurationError(
            f"No cloud credentials: set {config.OS_USERNAME}, {config.OS_PASSWORD} and "
            f"{config.OS_USER_DOMAIN_NAME}, or {config.OS_ACCESS_KEY} and "
            f"{config.OS_SECRET_KEY}, or {config.CREDENTIALS_SECRET_ARN} in Lambda."
        )
    _require_variables(
        (config.OS_USERNAME, user_name),
        (config.OS_PASSWORD, password),
        (config.OS_USER_DOMAIN_NAME, domain_name),
    )

    return PasswordCredentials(
        user_name=user_name or "",
        password=SecretStr(password or ""),
        domain_name=domain_name or "",
    )


def _access_key_from_environment() -> AccessKeyCredentials:
    access_key = config.read(config.OS_ACCESS_KEY)
    secret_key = config.read(config.OS_SECRET_KEY)
    security_token = config.read(config.OS_SECURITY_TOKEN)
    _require_variables(
        (config.OS_ACCESS_KEY, access_key),
        (config.OS_SECRET_KEY, secret_key),
    )

    return AccessKeyCredentials(
        access_key=access_key or "",
        secret_key=SecretStr(secret_key or ""),
        security_token=SecretStr(security_token) if security_token else None,
    )


def _require_variables(*pairs: tuple[str, str | None]) -> None:
    missing = ", ".join(name for name, value in pairs if not value)
    if missing:
        raise ConfigurationError(f"Incomplete cloud credentials: set {missing}.")


def _add_agency_from_environment(credentials: Credentials, source: str) -> Credentials:
    agency = {name: config.read(name) for name in _AGENCY_VARIABLES}
    if not any(agency.values()):
        return credentials
    _check_agency(agency, "The environment")

    if isinstance(credentials, AccessKeyCredentials):
        raise ConfigurationError(
            f"{config.AGENCY_NAME} is set, but an agency needs password credentials, "
            "not an access key."
        )
    if credentials.agency is not None:
        raise ConfigurationError(
            f"Both the secret {source!r} and {config.AGENCY_NAME} name an agency; keep one."
        )
    domain_id = agency[config.AGENCY_DOMAIN_ID]
    if domain_id and not re.fullmatch(_DOMAIN_ID_PATTERN, domain_id):
        raise ConfigurationError(f"{config.AGENCY_DOMAIN_ID} is not a domain id: {domain_id!r}.")

    update = dict(zip(_AGENCY_FIELDS, agency.values(), strict=True))

    return credentials.model_copy(update=update)


def _check_agency(agency: dict[str, str | None], where: str) -> None:
    """An agency needs its name and one of the delegating domain's name or id."""
    (name_key, name), (domain_key, domain_name), (id_key, domain_id) = agency.items()
    if not (name or domain_name or domain_id):
        return
    if not name:
        raise ConfigurationError(f"{where} sets an agency domain but not {name_key}.")
    if not (domain_name or domain_id):
        raise ConfigurationError(
            f"{where} sets {name_key} but not the delegating account: set {domain_key} or {id_key}."
        )
    if domain_name and domain_id:
        raise ConfigurationError(f"{where} sets both {domain_key} and {id_key}; keep one.")


def _join(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}"


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

"""Every environment variable the package reads, read when first needed.

Locally the `OS_*` variables that openstacksdk users already have are honoured; an
`ECS_IMAGING_*` variable wins over its `OS_*` counterpart. `OS_CLOUD` and
`OS_CLIENT_CONFIG_FILE` are read by the local engine only, which turns a clouds.yaml
entry into the `OS_*` variables below.
"""

import functools
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple
from urllib.parse import urlsplit

from .errors import ConfigurationError

CLOUD = "ECS_IMAGING_CLOUD"
REGION = "ECS_IMAGING_REGION"
PROJECT_ID = "ECS_IMAGING_PROJECT_ID"
PROJECT_NAME = "ECS_IMAGING_PROJECT_NAME"
IAM_ENDPOINT = "ECS_IMAGING_IAM_ENDPOINT"
ECS_ENDPOINT = "ECS_IMAGING_ECS_ENDPOINT"
IMS_ENDPOINT = "ECS_IMAGING_IMS_ENDPOINT"
CREDENTIALS_SECRET_ARN = "ECS_IMAGING_CREDENTIALS_SECRET_ARN"  # noqa: S105 - a name
DEADLINE_MINUTES = "ECS_IMAGING_DEADLINE_MINUTES"
MIN_WAIT_SECONDS = "ECS_IMAGING_MIN_WAIT_SECONDS"
MAX_WAIT_SECONDS = "ECS_IMAGING_MAX_WAIT_SECONDS"
HTTP_TIMEOUT_SECONDS = "ECS_IMAGING_HTTP_TIMEOUT_SECONDS"
CA_BUNDLE = "ECS_IMAGING_CA_BUNDLE"
EVENT_BUS_NAME = "ECS_IMAGING_EVENT_BUS_NAME"
PIPELINE_STATE_MACHINE_ARN = "ECS_IMAGING_PIPELINE_STATE_MACHINE_ARN"
RUN_STATE_TABLE = "ECS_IMAGING_RUN_STATE_TABLE"
WEBHOOK_TOPIC_URNS = "ECS_IMAGING_WEBHOOK_TOPIC_URNS"
WEBHOOK_CERTIFICATE_HOSTS = "ECS_IMAGING_WEBHOOK_CERTIFICATE_HOSTS"
WEBHOOK_SUBSCRIBE_HOSTS = "ECS_IMAGING_WEBHOOK_SUBSCRIBE_HOSTS"
WEBHOOK_EVENTGRID_TOKEN = "ECS_IMAGING_WEBHOOK_EVENTGRID_TOKEN"  # noqa: S105 - a name
PIPELINE_USER_NAMES = "ECS_IMAGING_PIPELINE_USER_NAMES"
PIPELINE_USER_IDS = "ECS_IMAGING_PIPELINE_USER_IDS"
OS_AUTH_URL = "OS_AUTH_URL"
OS_REGION_NAME = "OS_REGION_NAME"
OS_PROJECT_ID = "OS_PROJECT_ID"
OS_PROJECT_NAME = "OS_PROJECT_NAME"
OS_USERNAME = "OS_USERNAME"
OS_PASSWORD = "OS_PASSWORD"  # noqa: S105 - the variable's name, not a password
OS_USER_DOMAIN_NAME = "OS_USER_DOMAIN_NAME"
OS_DOMAIN_NAME = "OS_DOMAIN_NAME"
OS_ACCESS_KEY = "OS_ACCESS_KEY"
OS_SECRET_KEY = "OS_SECRET_KEY"  # noqa: S105 - the variable's name, not a key
OS_SECURITY_TOKEN = "OS_SECURITY_TOKEN"  # noqa: S105 - the variable's name
OS_CLOUD = "OS_CLOUD"
OS_CLIENT_CONFIG_FILE = "OS_CLIENT_CONFIG_FILE"
OS_CLIENT_SECURE_FILE = "OS_CLIENT_SECURE_FILE"
AGENCY_NAME = "ECS_IMAGING_AGENCY_NAME"
AGENCY_DOMAIN_NAME = "ECS_IMAGING_AGENCY_DOMAIN_NAME"
AGENCY_DOMAIN_ID = "ECS_IMAGING_AGENCY_DOMAIN_ID"
EXTENSION_HTTP_PORT = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"
AWS_SESSION_TOKEN = "AWS_SESSION_TOKEN"  # noqa: S105 - the variable's name
TRACE_DISABLED = "POWERTOOLS_TRACE_DISABLED"

_REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+$")
_PROJECT_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")


class Cloud(StrEnum):
    """The two clouds whose IMS and ECS APIs the package speaks."""

    OTC = "otc"
    HUAWEI = "huawei"

    def endpoint(self, service: str, region: str) -> str:
        """The public endpoint of a service in a region."""
        domain = "otc.t-systems.com" if self is Cloud.OTC else "myhuaweicloud.com"
        return f"https://{service}.{region}.{domain}"


class Settings(NamedTuple):
    """Where the cloud is and how the pipeline paces itself."""

    cloud: Cloud
    region: str
    project_name: str
    project_id: str | None
    iam_endpoint: str
    ecs_endpoint: str
    ims_endpoint: str
    credentials_secret_arn: str | None
    deadline_minutes: int = 60
    min_wait_seconds: int = 10
    max_wait_seconds: int = 120
    http_timeout_seconds: float = 10.0
    event_bus_name: str = "default"
    # A PEM file of CAs trusted besides the system's; http.get_client loads it.
    ca_bundle: str | None = None
    # The variable the token's project scope came from, for messages naming the fix.
    project_variable: str = PROJECT_NAME


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return load_settings(os.environ)


def reset_settings() -> None:
    """Forget the settings read so far (tests and the local engine change them)."""
    get_settings.cache_clear()


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build and check the settings from a mapping of environment variables."""
    cloud = _read_cloud(environ)
    region_variable, region = _lookup(environ, REGION, OS_REGION_NAME)
    if not region:
        raise ConfigurationError(f"Set {REGION} (or {OS_REGION_NAME}), e.g. 'eu-de'.")
    if not _REGION_PATTERN.match(region):
        raise ConfigurationError(f"{region_variable} is not a region name: {region!r}.")

    project_variable, project_name = _lookup(environ, PROJECT_NAME, OS_PROJECT_NAME)
    project_name = project_name or region
    if not (project_name == region or project_name.startswith(f"{region}_")):
        raise ConfigurationError(
            f"Project {project_name!r} does not belong to region {region!r}; "
            f"fix {project_variable} or {region_variable}."
        )
    id_variable, project_id = _lookup(environ, PROJECT_ID, OS_PROJECT_ID)
    if project_id and not _PROJECT_ID_PATTERN.match(project_id):
        raise ConfigurationError(f"{id_variable} is not a project id: {project_id!r}.")
    # The token is scoped by the id when one is set, else by the name, else the region.
    scope_names = (PROJECT_ID, OS_PROJECT_ID, PROJECT_NAME, OS_PROJECT_NAME, region_variable)
    scope_variable, _ = _lookup(environ, *scope_names)

    min_wait = _read_int(environ, MIN_WAIT_SECONDS, 10, 1, 3600)
    max_wait = _read_int(environ, MAX_WAIT_SECONDS, 120, 1, 3600)
    if min_wait > max_wait:
        raise ConfigurationError(
            f"{MIN_WAIT_SECONDS} {min_wait!r} is above {MAX_WAIT_SECONDS} {max_wait!r}."
        )

    return Settings(
        cloud=cloud,
        region=region,
        project_name=project_name,
        project_id=project_id or None,
        iam_endpoint=_endpoint(environ, "iam", cloud, region),
        ecs_endpoint=_endpoint(environ, "ecs", cloud, region),
        ims_endpoint=_endpoint(environ, "ims", cloud, region),
        credentials_secret_arn=environ.get(CREDENTIALS_SECRET_ARN) or None,
        deadline_minutes=_read_int(environ, DEADLINE_MINUTES, 60, 1, 24 * 60),
        min_wait_seconds=min_wait,
        max_wait_seconds=max_wait,
        http_timeout_seconds=float(_read_int(environ, HTTP_TIMEOUT_SECONDS, 10, 1, 60)),
        event_bus_name=environ.get(EVENT_BUS_NAME) or "default",
        ca_bundle=environ.get(CA_BUNDLE, "").strip() or None,
        project_variable=scope_variable,
    )


def extension_port(environ: Mapping[str, str] | None = None) -> int:
    """The local port of the AWS Parameters and Secrets Lambda Extension."""
    return _read_int(environ or os.environ, EXTENSION_HTTP_PORT, 2773, 1, 65535)


def pipeline_state_machine_arn() -> str:
    """The per-server pipeline's ARN, for the functions that start or list its runs."""
    value = read(PIPELINE_STATE_MACHINE_ARN)
    if not value:
        raise ConfigurationError(f"Set {PIPELINE_STATE_MACHINE_ARN} to the pipeline's ARN.")

    return value


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the handlers trace with X-Ray: when POWERTOOLS_TRACE_DISABLED is false.

    Unset means off, unlike in Powertools: a Tracer costs each cold start the X-Ray
    SDK and botocore, even one that has nothing to send.
    """
    value = (environ if environ is not None else os.environ).get(TRACE_DISABLED, "")

    return value.strip().lower() in ("false", "0", "no", "off")


def read(name: str) -> str | None:
    """One raw environment variable, for the few modules that need just one."""
    return os.environ.get(name) or None


def _read_cloud(environ: Mapping[str, str]) -> Cloud:
    value = environ.get(CLOUD, Cloud.OTC.value).strip().lower()
    try:
        return Cloud(value)
    except ValueError:
        choices = ", ".join(repr(c.value) for c in Cloud)
        raise ConfigurationError(f"{CLOUD} must be one of {choices}, not {value!r}.") from None


def _endpoint(environ: Mapping[str, str], service: str, cloud: Cloud, region: str) -> str:
    names = {"iam": (IAM_ENDPOINT, OS_AUTH_URL), "ecs": (ECS_ENDPOINT,), "ims": (IMS_ENDPOINT,)}
    name, value = _lookup(environ, *names[service])
    if not value:
        return cloud.endpoint(service, region)
    if not _is_allowed_endpoint(value):
        raise ConfigurationError(
            f"{name} must be an https:// URL (plain http only on this machine), not {value!r}."
        )

    # OS_AUTH_URL usually ends in /v3; the token path adds it again.
    return value.rstrip("/").removesuffix("/v3")


def _is_allowed_endpoint(value: str) -> bool:
    # Parsed, not prefix-matched: "http://127.0.0.1@host" and
    # "http://localhost.example" must not pass for loopback.
    try:
        url = urlsplit(value)
        hostname = url.hostname
    except ValueError:
        return False
    if not hostname or url.username is not None or url.password is not None:
        return False

    return url.scheme == "https" or (
        url.scheme == "http" and hostname in ("127.0.0.1", "localhost", "::1")
    )


def _read_int(
    environ: Mapping[str, str],
    name: str,
    default: int,
    low: int,
    high: int,
) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, not {value!r}.")

    return value


def _lookup(environ: Mapping[str, str], *names: str) -> tuple[str, str]:
    """The first of `names` that is set and its value, or the first name and ""."""
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return name, value

    return names[0], ""

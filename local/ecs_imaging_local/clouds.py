"""The clouds.yaml entry that `OS_CLOUD` names, as the variables the library reads.

openstacksdk users keep their credentials there; the local engine honours the file
where openstacksdk looks for it, and a `secure.yaml` beside it for the secrets.
Variables already set win over the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from ecs_imaging import config
from ecs_imaging.errors import ConfigurationError

# Keys of a cloud's `auth` block; the first of two keys for one variable wins.
# `ak` and `sk` are how otcextensions users keep an access key.
_AUTH_VARIABLES = (
    ("auth_url", config.OS_AUTH_URL),
    ("username", config.OS_USERNAME),
    ("password", config.OS_PASSWORD),
    ("user_domain_name", config.OS_USER_DOMAIN_NAME),
    ("domain_name", config.OS_USER_DOMAIN_NAME),
    ("project_name", config.OS_PROJECT_NAME),
    ("project_id", config.OS_PROJECT_ID),
    ("ak", config.OS_ACCESS_KEY),
    ("sk", config.OS_SECRET_KEY),
    ("security_token", config.OS_SECURITY_TOKEN),
)


def cloud_variables(
    environ: Mapping[str, str],
    directories: Sequence[Path] | None = None,
) -> dict[str, str]:
    """The variables of the cloud that `OS_CLOUD` names, minus those already set."""
    name = environ.get(config.OS_CLOUD, "").strip()
    if not name:
        return {}

    folders = default_directories() if directories is None else list(directories)
    path = _find_file(environ, config.OS_CLIENT_CONFIG_FILE, "clouds.yaml", folders)
    if path is None:
        tried = ", ".join(str(folder / "clouds.yaml") for folder in folders)
        raise ConfigurationError(
            f"{config.OS_CLOUD} is {name!r}, but there is no clouds.yaml; tried {tried}."
        )
    entry = _read_cloud(path, name)
    secure = _find_file(environ, config.OS_CLIENT_SECURE_FILE, "secure.yaml", folders)
    if secure is not None:
        entry = _merge(entry, _read_clouds(secure).get(name) or {})

    variables = _map_to_variables(entry, path)

    return {key: value for key, value in variables.items() if not environ.get(key)}


def default_directories() -> list[Path]:
    """Where openstacksdk looks, in its order: here, the user's and the system's."""
    return [Path.cwd(), Path.home() / ".config" / "openstack", Path("/etc/openstack")]


def _find_file(
    environ: Mapping[str, str],
    variable: str,
    file_name: str,
    folders: Sequence[Path],
) -> Path | None:
    explicit = environ.get(variable, "").strip()
    if explicit and not Path(explicit).is_file():
        raise ConfigurationError(f"{variable} names {explicit!r}, which is not a file.")
    if explicit:
        return Path(explicit)

    return next((f / file_name for f in folders if (f / file_name).is_file()), None)


def _read_cloud(path: Path, name: str) -> dict[str, Any]:
    clouds = _read_clouds(path)
    entry = clouds.get(name)
    if not isinstance(entry, dict):
        known = ", ".join(sorted(map(str, clouds))) or "none"
        raise ConfigurationError(
            f"{config.OS_CLOUD} is {name!r}, but {path} has no such cloud ({known})."
        )

    return entry


def _read_clouds(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"Cannot read {path}: {type(exc).__name__}.") from None
    clouds = document.get("clouds") if isinstance(document, dict) else None
    if not isinstance(clouds, dict):
        raise ConfigurationError(f"{path} has no 'clouds' mapping.")

    return clouds


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value

    return merged


def _map_to_variables(entry: dict[str, Any], path: Path) -> dict[str, str]:
    auth = entry.get("auth") or {}
    if not isinstance(auth, dict):
        raise ConfigurationError(f"The cloud's 'auth' in {path} is not a mapping.")

    found = [(f"auth.{key}", auth.get(key), name) for key, name in _AUTH_VARIABLES]
    found.append(("region_name", entry.get("region_name"), config.OS_REGION_NAME))
    variables: dict[str, str] = {}
    for key, value, name in found:
        if value is None or name in variables:
            continue
        if isinstance(value, dict | list):
            raise ConfigurationError(f"The cloud's {key} in {path} is not a plain value.")
        variables[name] = str(value)

    return variables

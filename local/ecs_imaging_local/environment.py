"""Point the library at the emulator or at the real cloud, for the length of a block."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from ecs_imaging import clock, config, credentials, http

from .emulator import Emulator

# Handlers log at WARNING locally so that the engine's own lines stay readable.
QUIET = {
    "POWERTOOLS_SERVICE_NAME": "ecs-imaging",
    "POWERTOOLS_METRICS_NAMESPACE": "EcsImaging",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def emulator_environment(emulator: Emulator) -> dict[str, str]:
    """The variables that send every library call to the emulator."""
    endpoints = emulator.endpoints
    secrets = emulator.credentials

    return {
        config.CLOUD: "otc",
        config.REGION: emulator.region,
        config.IAM_ENDPOINT: endpoints["iam"],
        config.ECS_ENDPOINT: endpoints["ecs"],
        config.IMS_ENDPOINT: endpoints["ims"],
        config.OS_USERNAME: secrets.user_name,
        config.OS_PASSWORD: secrets.password,
        config.OS_USER_DOMAIN_NAME: secrets.domain_name,
    }


@contextmanager
def configured(variables: Mapping[str, str], emulator: Emulator | None = None) -> Iterator[None]:
    """Set `variables` (plus the quiet defaults), follow the emulator's clock if any."""
    saved = dict(os.environ)
    os.environ.update({**QUIET, **variables})
    _forget_settings()
    clock.use_clock(emulator.clock.now if emulator is not None else None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        _forget_settings()
        clock.use_clock(None)


def _forget_settings() -> None:
    config.reset_settings()
    credentials.forget_credentials()
    http.close_client()

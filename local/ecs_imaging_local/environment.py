"""Point the library at the emulator or at the real cloud, for the length of a block."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from ecs_imaging import clock, config, credentials, http, webhook

from .emulator import Emulator

# The local engine creates each table of the template under its logical id.
RUN_STATE_TABLE = "RunStateTable"

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


def webhook_environment(emulator: Emulator) -> dict[str, str]:
    """The variables that make the webhook take the emulator's SMN for the real one.

    It accepts the emulator's topic, fetches the signing certificate from its
    127.0.0.1 port (the webhook compares host and port), and trusts the CA that
    issued the port's TLS certificate besides the system's.
    """
    return {
        webhook.TOPIC_URNS: emulator.smn.topic_urn,
        webhook.CERTIFICATE_HOSTS: emulator.smn.certificate_host,
        config.RUN_STATE_TABLE: RUN_STATE_TABLE,
        config.CA_BUNDLE: emulator.smn.ca_bundle,
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
    webhook.reset_webhook_settings()
    webhook.forget_signing_keys()

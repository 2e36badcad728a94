"""A whole run with each way of authenticating, against the emulator."""

from collections.abc import Iterator

import pytest
from ecs_imaging import auth, config
from ecs_imaging_local.emulator import Emulator
from ecs_imaging_local.engine import LocalEngine
from ecs_imaging_local.environment import configured, emulator_environment

STOPPED = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
TIME_SCALE = 0.004


def _without_password(variables: dict[str, str]) -> dict[str, str]:
    dropped = (config.OS_USERNAME, config.OS_PASSWORD, config.OS_USER_DOMAIN_NAME)
    return {name: value for name, value in variables.items() if name not in dropped}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(time_scale=TIME_SCALE, seed=7) as emulator:
        auth.token_cache.clear()
        yield emulator


def _run(emulator: Emulator, variables: dict[str, str]):
    with configured(variables, emulator), LocalEngine(time_scale=TIME_SCALE) as engine:
        return engine.run({"server_id": STOPPED}, "auth-mode")


def test_a_run_signed_with_access_keys_asks_iam_for_no_token(emulator):
    variables = _without_password(emulator_environment(emulator))
    variables[config.OS_ACCESS_KEY] = emulator.credentials.access_key
    variables[config.OS_SECRET_KEY] = emulator.credentials.secret_key

    result = _run(emulator, variables)

    assert result.status == "SUCCEEDED", result.cause
    assert emulator.counters["iam.token"] == 0
    assert len(emulator.images()) == 1


def test_a_run_with_temporary_keys_sends_the_security_token(emulator):
    access_key, secret_key, security_token = emulator.issue_temporary_keys()
    variables = _without_password(emulator_environment(emulator))
    variables.update(
        {
            config.OS_ACCESS_KEY: access_key,
            config.OS_SECRET_KEY: secret_key,
            config.OS_SECURITY_TOKEN: security_token,
        }
    )

    result = _run(emulator, variables)

    assert result.status == "SUCCEEDED", result.cause


def test_a_run_with_a_wrong_secret_key_fails_before_any_change(emulator):
    variables = _without_password(emulator_environment(emulator))
    variables[config.OS_ACCESS_KEY] = emulator.credentials.access_key
    variables[config.OS_SECRET_KEY] = "not-the-secret-key"

    result = _run(emulator, variables)

    assert result.status == "FAILED"
    assert result.error == "CloudAuthError"
    assert "not-the-secret-key" not in (result.cause or "")
    assert emulator.images() == []

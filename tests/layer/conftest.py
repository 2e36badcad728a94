import os
from collections.abc import Iterator

import pytest
import respx
from ecs_imaging import auth, clock, config, credentials, http
from support.cloud import IAM, PASSWORD, token_response


@pytest.fixture(autouse=True)
def fresh_library(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("ECS_IMAGING_", "OS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv(config.REGION, "eu-de")
    monkeypatch.setenv(config.OS_USERNAME, "ecs-imaging")
    monkeypatch.setenv(config.OS_PASSWORD, PASSWORD)
    monkeypatch.setenv(config.OS_USER_DOMAIN_NAME, "OTC-EU-DE-00000000001000000001")
    monkeypatch.setattr(http, "BACKOFF_CAP_SECONDS", 0.01)
    _forget()
    yield
    _forget()


def _forget() -> None:
    config.reset_settings()
    credentials.forget_credentials()
    http.close_client()
    auth.token_cache.clear()
    clock.use_clock(None)


@pytest.fixture
def cloud() -> Iterator[respx.MockRouter]:
    """respx routes for the public OTC endpoints; an unrouted request fails the test."""
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{IAM}/v3/auth/tokens", name="token").mock(return_value=token_response())
        yield router

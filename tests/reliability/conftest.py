from collections.abc import Iterator

import pytest
from ecs_imaging_local import reliability, stage
from ecs_imaging_local.reliability import Verdict
from ecs_imaging_local.stage import SharedEngine, Stage


@pytest.fixture(scope="session")
def verdicts() -> dict[str, list[Verdict]]:
    """Every verdict of this session by suite, for the security checks to scan."""
    return {"faults": [], "bad inputs": []}


@pytest.fixture(scope="module")
def shared_engine() -> Iterator[SharedEngine]:
    with stage.shared_engine() as shared:
        yield shared


@pytest.fixture(scope="module")
def shared_stage(shared_engine: SharedEngine) -> Iterator[Stage]:
    with stage.staged(shared_engine, reliability.SERVERS) as shared:
        yield shared

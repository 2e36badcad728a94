"""A run's id tells apart two executions that share a name, 90 days or more apart."""

import pytest
from ecs_imaging import naming, pipeline
from ecs_imaging.models import RunContext
from ecs_imaging_local.emulator import ServerSpec
from support.emulator import frozen_emulator

SERVER = ServerSpec("5e1d7c2a-8b3f-4a6e-9c0d-2f4b6a8c0e13", "db-01", "SHUTOFF", 10)
ARN = "arn:aws:states:eu-central-1:123456789012:execution:ImagePipeline:stop-5e1d7c2a"


@pytest.fixture
def emulator():
    with frozen_emulator(SERVER) as emulator:
        yield emulator


def _prepared(started: str) -> RunContext:
    state = pipeline.prepare_server({"server_id": SERVER.id}, ARN, execution_started=started)

    return RunContext.model_validate(state["run"])


def test_the_run_id_is_that_of_the_execution_and_its_start():
    first = naming.run_id_for(ARN, "2026-09-01T02:00:00.000Z")

    assert first == naming.run_id_for(ARN, "2026-09-01T02:00:00.000Z")
    assert first != naming.run_id_for(ARN, "2026-12-04T02:00:00.000Z")
    assert len(first) == 32


def test_a_name_used_again_after_90_days_makes_its_own_image(emulator):
    earlier = _prepared("2026-09-01T02:00:00.000Z")
    first = pipeline.create_image(earlier)
    emulator.clock.advance(3600)  # the first image is long done
    later = _prepared("2026-12-04T02:00:00.000Z")

    second = pipeline.create_image(later)

    assert later.run_id != earlier.run_id
    assert second.adopted is False
    assert second.job_id != first.job_id
    assert emulator.counters["ims.create_image"] == 2


def test_a_repeated_create_of_one_execution_adopts_its_image(emulator):
    run = _prepared("2026-12-04T02:00:00.000Z")
    first = pipeline.create_image(run)
    emulator.clock.advance(first.wait_seconds)

    again = pipeline.create_image(_prepared("2026-12-04T02:00:00.000Z"))

    assert again.adopted is True
    assert again.image_id is not None
    assert emulator.counters["ims.create_image"] == 1

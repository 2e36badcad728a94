"""The image job's checks on a frozen emulator clock that moves by each wait."""

import math
import uuid

import pytest
from ecs_imaging import pipeline
from ecs_imaging.models import JobStatus, RunContext
from ecs_imaging_local.emulator import ServerSpec
from support.emulator import frozen_emulator

SERVER = ServerSpec("3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60", "web-01", "SHUTOFF", 15)


@pytest.fixture
def emulator():
    with frozen_emulator(SERVER) as emulator:
        yield emulator


def _image(emulator, **options):
    state = pipeline.prepare_server({"server_id": SERVER.id, **options}, str(uuid.uuid4()))
    run = RunContext.model_validate(state["run"])
    checks = [pipeline.create_image(run)]
    while checks[-1].status not in (JobStatus.SUCCESS, JobStatus.FAIL):
        emulator.clock.advance(checks[-1].wait_seconds)
        checks.append(pipeline.check_image_job(run, checks[-1]))

    return checks


def _job(emulator, job_id):
    return next(job for job in emulator.jobs() if job.id == job_id)


def test_first_image_is_seen_done_soon_after_its_job_ends(emulator):
    checks = _image(emulator)

    job = _job(emulator, checks[-1].job_id)
    assert checks[-1].status is JobStatus.SUCCESS
    assert len(checks) - 1 <= 4
    # Seen done sooner after the end than the shortest wait (10 s by default).
    assert emulator.clock.monotonic() - job.end < 10


def _shown_seconds(emulator, image_id):
    """How long the image took by its timestamps as IMS shows them (whole seconds)."""
    image = next(image for image in emulator.images() if image.id == image_id)
    clock = emulator.clock
    shown = [
        clock.at(moment).replace(microsecond=0) for moment in (image.created_at, image.updated_at)
    ]

    return round((shown[1] - shown[0]).total_seconds())


def test_second_image_first_waits_as_long_as_the_first_took(emulator):
    first = _image(emulator)
    took = _shown_seconds(emulator, first[-1].image_id)
    assert abs(took - _job(emulator, first[-1].job_id).duration) < 2

    second = _image(emulator, max_wait_seconds=600)

    assert second[0].history_seconds == [took]
    assert second[0].wait_seconds == math.ceil(took * 0.8)
    assert len(second) - 1 <= 4

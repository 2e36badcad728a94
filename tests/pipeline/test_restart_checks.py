"""Check restart step by step, on an emulator whose clock moves only when told to."""

import uuid
from datetime import timedelta

import pytest
from ecs_imaging import clock, ecs, pipeline
from ecs_imaging.models import JobStatus, RestartCheck, RunContext, RunOutcome
from ecs_imaging.session import CloudSession
from ecs_imaging_local.emulator import ServerSpec
from support.emulator import frozen_emulator

STOPPED = ServerSpec("7d4e2b1a-9c3f-4e5d-8a6b-0c1d2e3f4a51", "batch-01", "SHUTOFF", 10)
SETTLED = 60


@pytest.fixture
def emulator():
    with frozen_emulator(STOPPED) as emulator:
        yield emulator


def _restart_begun(minutes_ago: float) -> tuple[RunContext, RunOutcome]:
    state = pipeline.prepare_server({"server_id": STOPPED.id}, str(uuid.uuid4()))
    run = RunContext.model_validate(state["run"])
    started = clock.to_timestamp(clock.now() - timedelta(minutes=minutes_ago))
    restart = RestartCheck(
        job_id=None,
        status=JobStatus.RUNNING,
        attempts=1,
        started_at=started,
        checked_at=started,
        wait_seconds=10,
    )

    return run, RunOutcome(outcome="IMAGED", server_id=STOPPED.id, restart=restart)


def test_a_server_still_powering_on_is_waited_for(emulator):
    emulator.faults.start_server(STOPPED.id)  # settles only when the clock moves
    run, outcome = _restart_begun(minutes_ago=1)

    checked = pipeline.check_restart(run, outcome)

    assert checked.restart.status is JobStatus.RUNNING
    assert emulator.counters.get("ecs.start", 0) == 0


def test_a_server_powering_on_for_15_minutes_fails_the_restart(emulator):
    emulator.faults.start_server(STOPPED.id)
    run, outcome = _restart_begun(minutes_ago=16)

    checked = pipeline.check_restart(run, outcome)

    assert checked.restart.status is JobStatus.FAIL
    assert "15 minutes after it was started" in checked.restart.fail_reason


def test_a_stopped_server_whose_start_answer_was_lost_is_asked_again(emulator):
    run, outcome = _restart_begun(minutes_ago=1)

    checked = pipeline.check_restart(run, outcome)

    assert (checked.restart.status, checked.restart.attempts) == (JobStatus.RUNNING, 2)
    assert checked.restart.job_id is not None
    assert emulator.counters["ecs.start"] == 1


def test_a_server_its_owner_stopped_after_a_successful_start_is_not_started_again(emulator):
    session = CloudSession()
    run, outcome = _restart_begun(minutes_ago=0)
    job_id = ecs.start_server(session, STOPPED.id)
    emulator.clock.advance(SETTLED)
    ecs.stop_server(session, STOPPED.id)  # the owner's own stop
    emulator.clock.advance(SETTLED)
    outcome = outcome.model_copy(
        update={"restart": outcome.restart.model_copy(update={"job_id": job_id})}
    )

    checked = pipeline.check_restart(run, outcome)

    assert emulator.counters["ecs.start"] == 1
    assert checked.restart.status is not JobStatus.FAIL

"""A run knows its own stop by the mark it leaves on the server before asking ECS.

Each step is called as a repeated Lambda invocation would call it, on an emulator
whose clock moves only when told to.
"""

import logging
import uuid

import pytest
from ecs_imaging import auth, clock, ecs, pipeline
from ecs_imaging.models import RunContext, ServerCheck
from ecs_imaging.session import CloudSession
from ecs_imaging_local.emulator import Emulator, ServerSpec
from ecs_imaging_local.environment import configured, emulator_environment

FROZEN = 1e6
RUNNING = ServerSpec("c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62", "app-02", "ACTIVE", 10)
SETTLED = 60


@pytest.fixture
def emulator():
    with (
        Emulator(time_scale=FROZEN, seed=7, servers=[RUNNING]) as emulator,
        configured(emulator_environment(emulator), emulator),
    ):
        auth.token_cache.clear()
        yield emulator


def _prepared(**options) -> RunContext:
    state = pipeline.prepare_server({"server_id": RUNNING.id, **options}, str(uuid.uuid4()))

    return RunContext.model_validate(state["run"])


def _mark(emulator):
    return emulator.server(RUNNING.id).metadata.get(ecs.STOP_MARK)


def test_stop_marks_the_server_with_the_run_before_stopping_it(emulator):
    run = _prepared()
    assert run.stopped_by_pipeline is False

    state = pipeline.stop_server(run)

    assert state["run"]["stopped_by_pipeline"] is True
    assert _mark(emulator) == run.run_id
    assert emulator.counters["ecs.stop"] == 1


def test_a_repeated_stop_after_its_stop_settled_knows_the_stop_is_its_own(emulator):
    run = _prepared()
    pipeline.stop_server(run)  # its answer lost: the state machine never saw it
    emulator.clock.advance(SETTLED)

    repeated = pipeline.stop_server(run)

    assert repeated["server"]["stopped"] is True
    assert repeated["run"]["stopped_by_pipeline"] is True
    assert emulator.counters["ecs.stop"] == 1


def test_a_repeated_stop_while_the_server_powers_off_knows_the_stop_is_its_own(emulator):
    run = _prepared()
    pipeline.stop_server(run)

    repeated = pipeline.stop_server(run)

    assert repeated["server"]["task_state"] == "powering-off"
    assert repeated["run"]["stopped_by_pipeline"] is True
    assert emulator.counters["ecs.stop"] == 1


def test_a_repeated_server_check_knows_the_stop_it_asked_for(emulator):
    run = _prepared()
    # Someone else's start had the server busy; it has settled running since.
    checked_at = clock.to_timestamp(clock.now())
    previous = ServerCheck(status="ACTIVE", stopped=False, checked_at=checked_at, wait_seconds=10)
    pipeline.check_server(run, previous)
    emulator.clock.advance(SETTLED)

    repeated = pipeline.check_server(run, previous)

    assert repeated["run"]["stopped_by_pipeline"] is True
    assert emulator.counters["ecs.stop"] == 1


def test_a_stop_by_someone_else_is_never_taken_for_the_runs(emulator):
    run = _prepared()
    ecs.stop_server(CloudSession(), RUNNING.id)
    emulator.clock.advance(SETTLED)

    state = pipeline.stop_server(run)
    record = pipeline.handle_failure({"run": state["run"], "error": {"Error": "Boom"}})

    assert state["run"]["stopped_by_pipeline"] is False
    assert '"restore":"nothing to restore"' in record.cause
    assert emulator.server(RUNNING.id).status == "SHUTOFF"
    assert _mark(emulator) is None


def test_a_run_failing_after_its_stop_starts_the_server_and_removes_its_mark(emulator):
    run = _prepared()
    pipeline.stop_server(run)  # the step failed after asking: $.run still says no
    emulator.clock.advance(SETTLED)

    record = pipeline.handle_failure(
        {"run": run.model_dump(mode="json"), "error": {"Error": "CloudTransientError"}}
    )

    assert '"stopped_by_pipeline":true' in record.cause
    assert '"restore":"server started again"' in record.cause
    assert emulator.counters["ecs.start"] == 1
    assert _mark(emulator) is None


def test_the_mark_of_another_run_is_neither_trusted_nor_removed(emulator):
    other = _prepared()
    pipeline.stop_server(other)
    emulator.clock.advance(SETTLED)
    run = _prepared()

    record = pipeline.handle_failure({"run": run.model_dump(mode="json"), "error": {}})

    assert '"stopped_by_pipeline":false' in record.cause
    assert emulator.counters.get("ecs.start", 0) == 0
    assert _mark(emulator) == other.run_id


def test_a_mark_that_cannot_be_removed_is_logged_and_the_run_goes_on(emulator, caplog):
    run = _prepared()
    pipeline.stop_server(run)
    emulator.clock.advance(SETTLED)
    emulator.faults.fail_calls("ecs.delete_metadata", status=503, count=None)

    with caplog.at_level(logging.WARNING, logger="ecs_imaging.ecs"):
        record = pipeline.handle_failure({"run": run.model_dump(mode="json"), "error": {}})

    assert '"restore":"server started again"' in record.cause
    assert _mark(emulator) == run.run_id
    [warning] = [r for r in caplog.records if r.message == "Stop mark left on the server"]
    assert warning.error == "CloudTransientError"


def test_removing_a_mark_that_is_already_gone_is_not_an_error(emulator):
    run = _prepared()
    pipeline.stop_server(run)
    server = ecs.show_server(CloudSession(), RUNNING.id)
    session = CloudSession()
    ecs.clear_stop_mark(session, server, run.run_id)

    ecs.clear_stop_mark(session, server, run.run_id)

    assert emulator.counters["ecs.delete_metadata"] == 2
    assert _mark(emulator) is None

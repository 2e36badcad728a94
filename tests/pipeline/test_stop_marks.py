"""A run knows its own stop by the mark it leaves on the server before asking ECS.

Each step is called as a repeated Lambda invocation would call it, on an emulator
whose clock moves only when told to.
"""

import logging
import uuid

import pytest
from ecs_imaging import clock, ecs, pipeline
from ecs_imaging.errors import CloudThrottled, ServerBusy
from ecs_imaging.models import RunContext, ServerCheck
from ecs_imaging.session import CloudSession
from ecs_imaging_local.emulator import ServerSpec
from support.emulator import frozen_emulator

RUNNING = ServerSpec("c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62", "app-02", "ACTIVE", 10)
SETTLED = 60


@pytest.fixture
def emulator():
    with frozen_emulator(RUNNING) as emulator:
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


# A stop ECS refused, or one still under way when the run fails.


def _owner_stops() -> None:
    ecs.stop_server(CloudSession(), RUNNING.id)


def _throttled_stop_then_the_owners(emulator) -> dict:
    """The run's stop throttled (429 proves ECS accepted nothing), the owner's stop,
    then the step again as the Task's Retry runs it."""
    run = _prepared()
    emulator.faults.throttle("ecs.stop", count=1)
    with pytest.raises(CloudThrottled):
        pipeline.stop_server(run)
    _owner_stops()
    emulator.clock.advance(SETTLED)

    return pipeline.stop_server(run)


def test_a_throttled_stop_then_the_owners_stop_is_not_taken_for_the_runs(emulator):
    retried = _throttled_stop_then_the_owners(emulator)

    assert emulator.counters["ecs.stop"] == 2  # the run's refused stop, the owner's
    assert retried["run"]["stopped_by_pipeline"] is False


def test_a_throttled_stop_then_the_owners_stop_never_leads_to_a_start(emulator):
    retried = _throttled_stop_then_the_owners(emulator)

    # Any later failure (or Finalize run) restores what the run "stopped".
    record = pipeline.handle_failure({"run": retried["run"], "error": {"Error": "Boom"}})

    assert emulator.counters.get("ecs.start", 0) == 0, record.cause
    assert emulator.server(RUNNING.id).task_state is None
    assert emulator.server(RUNNING.id).status == "SHUTOFF"


def test_a_stop_refused_as_busy_after_the_mark_never_leads_to_a_start(emulator, monkeypatch):
    # The owner's stop lands between the run's look at the server and its stop:
    # ECS answers Ecs.0100 (ServerBusy), which Stop server's Catch sends to
    # Handle failure with $.run unchanged.
    marking = ecs.mark_stopped_by

    def mark_then_owner_stops(session, server_id, run_id):
        marking(session, server_id, run_id)
        _owner_stops()

    run = _prepared()
    monkeypatch.setattr(ecs, "mark_stopped_by", mark_then_owner_stops)
    with pytest.raises(ServerBusy):
        pipeline.stop_server(run)
    monkeypatch.undo()
    emulator.clock.advance(SETTLED)

    record = pipeline.handle_failure(
        {"run": run.model_dump(mode="json"), "error": {"Error": "ServerBusy"}}
    )

    assert '"stopped_by_pipeline":false' in record.cause
    assert emulator.counters.get("ecs.start", 0) == 0
    assert emulator.server(RUNNING.id).status == "SHUTOFF"


def test_handle_failure_while_the_runs_stop_powers_off_leaves_it_for_reconcile(emulator):
    # The stop was accepted but its answer lost, and every retry failed too (an
    # ECS 5xx burst): Handle failure runs while the run's own stop powers off.
    run = _prepared()
    pipeline.stop_server(run)
    assert emulator.server(RUNNING.id).task_state == "powering-off"

    record = pipeline.handle_failure(
        {"run": run.model_dump(mode="json"), "error": {"Error": "CloudTransientError"}}
    )
    emulator.clock.advance(SETTLED)

    stopped_and_forgotten = (
        emulator.server(RUNNING.id).status == "SHUTOFF" and '"reconcile":false' in record.cause
    )
    assert not stopped_and_forgotten, record.cause


def test_a_stop_timed_out_run_leaves_no_server_stopped_unannounced(emulator):
    # Server stop timed out: the deadline passed while the soft stop hung and the
    # hard stop Check server asked for was still under way.
    run = _prepared()
    state = pipeline.stop_server(run)
    server_check = state["server"]

    record = pipeline.handle_failure(
        {
            "run": state["run"],
            "server": server_check,
            "error": {"Error": "ServerStopTimedOut", "Cause": "{}"},
        }
    )
    emulator.clock.advance(SETTLED)

    assert emulator.server(RUNNING.id).status == "ACTIVE" or '"reconcile":true' in record.cause
    assert _mark(emulator) == run.run_id or emulator.server(RUNNING.id).status == "ACTIVE"


@pytest.mark.parametrize("odd", [123, None, ["x"], {"run": "x"}, "x" * 10000, ""])
def test_an_odd_stop_mark_is_neither_trusted_nor_in_the_way(emulator, odd):
    emulator.server(RUNNING.id).metadata[ecs.STOP_MARK] = odd
    run = _prepared()

    state = pipeline.stop_server(run)
    emulator.clock.advance(SETTLED)
    record = pipeline.handle_failure({"run": state["run"], "error": {"Error": "Boom"}})

    assert '"restore":"server started again"' in record.cause
    assert _mark(emulator) is None


@pytest.mark.parametrize("odd", [123, ["x"], "x" * 10000])
def test_an_odd_stop_mark_on_a_stopped_server_starts_nothing(emulator, odd):
    ecs.stop_server(CloudSession(), RUNNING.id)
    emulator.clock.advance(SETTLED)
    emulator.server(RUNNING.id).metadata[ecs.STOP_MARK] = odd
    run = _prepared()

    record = pipeline.handle_failure({"run": run.model_dump(mode="json"), "error": {}})

    assert '"stopped_by_pipeline":false' in record.cause
    assert emulator.counters.get("ecs.start", 0) == 0


def test_a_failed_soft_stop_waits_for_a_server_powering_off_instead_of_a_hard_stop(emulator):
    emulator.faults.fail_next_server_job("Ecs.0611", "The guest did not shut down.", action="stop")
    state = pipeline.stop_server(_prepared())
    emulator.clock.advance(11)  # the run's soft stop has failed
    _owner_stops()  # and the owner's is under way

    powering_off = pipeline.check_server(
        RunContext.model_validate(state["run"]), ServerCheck.model_validate(state["server"])
    )

    assert powering_off["server"]["hard_stop"] is False
    assert [job.stop_type for job in emulator.server_jobs()] == ["SOFT", "SOFT"]


def test_an_ignored_soft_stop_turns_hard_only_after_the_whole_grace(emulator):
    emulator.faults.ignore_soft_stop(RUNNING.id)
    # The stop is asked for late in a second, which its timestamp rounds down.
    emulator.clock.advance((0.9 - emulator.clock.now().microsecond / 1e6) % 1)
    state = pipeline.stop_server(_prepared())
    run, check = (
        RunContext.model_validate(state["run"]),
        ServerCheck.model_validate(state["server"]),
    )

    emulator.clock.advance(pipeline.SOFT_STOP_GRACE_SECONDS - 0.5)
    early = pipeline.check_server(run, check)
    emulator.clock.advance(1)
    late = pipeline.check_server(run, ServerCheck.model_validate(early["server"]))

    assert early["server"]["hard_stop"] is False
    assert late["server"]["hard_stop"] is True

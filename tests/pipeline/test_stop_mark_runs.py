"""The stop-mark defects through the real state machine on the local engine."""

from ecs_imaging_local.emulator import ecs, faults

RUNNING = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"  # app-02
SOFT_STOP_SECONDS = 10.0


def _owner_stops_when_the_runs_stop_is_throttled(bench, monkeypatch):
    # The owner's console stop lands right after ECS throttled the run's stop.
    state = bench.emulator._state
    rejecting = faults.rejection

    def rejection(fault):
        if fault.scope == "ecs.stop":
            server = state.servers[RUNNING]
            now = state.clock.monotonic()
            server.task_state, server.settles_at = "powering-off", now + SOFT_STOP_SECONDS
        return rejecting(fault)

    monkeypatch.setattr(faults, "rejection", rejection)
    bench.emulator.faults.throttle("ecs.stop", count=1)


def test_a_run_never_starts_a_server_its_owner_stopped_after_a_throttled_stop(bench, monkeypatch):
    _owner_stops_when_the_runs_stop_is_throttled(bench, monkeypatch)

    result = bench.run({"server_id": RUNNING})

    assert bench.emulator.counters["ecs.stop"] == 1  # only the throttled one reached ECS
    assert result.output.get("server_restarted") is False, result.output
    assert bench.emulator.counters["ecs.start"] == 0


def test_a_run_whose_stop_outlasts_its_deadline_leaves_no_server_stopped_unannounced(
    bench, monkeypatch
):
    # A guest that takes two minutes to shut down (updates at shutdown, say),
    # and a run allowed one minute.
    monkeypatch.setitem(ecs.STOP_SECONDS, "SOFT", 120.0)

    result = bench.run({"server_id": RUNNING, "deadline_minutes": 1})
    bench.emulator.clock.advance(600)

    assert result.error == "ServerStopTimedOut", result.cause
    left_stopped = bench.emulator.server(RUNNING).status == "SHUTOFF"
    assert not (left_stopped and result.cause_json["reconcile"] is False), result.cause

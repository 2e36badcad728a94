"""A server the run stopped is seen running again before the run ends; a start ECS
fails is asked for again, and after three the run fails and leaves it to reconcile."""

from ecs_imaging_local.reconcile import reconcile

RUNNING = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"  # app-02
NO_CAPACITY = ("Ecs.0001", "The flavor is sold out in this availability zone.")
SETTLED = 60


def _fail_starts(bench, count):
    for _ in range(count):
        bench.emulator.faults.fail_next_server_job(*NO_CAPACITY, action="start")


def test_the_run_ends_once_the_server_it_started_is_running(bench):
    result = bench.run({"server_id": RUNNING})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["server_restarted"] is True
    assert result.output["restart"]["status"] == "SUCCESS"
    assert "Check restart" in result.states_entered
    assert bench.emulator.server(RUNNING).status == "ACTIVE"


def test_a_run_that_stopped_nothing_checks_no_restart(bench):
    stopped = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"  # web-01

    result = bench.run({"server_id": stopped})

    assert result.output["restart"] is None
    assert "Check restart" not in result.states_entered


def test_a_start_ecs_failed_is_asked_for_again(bench):
    _fail_starts(bench, 1)

    result = bench.run({"server_id": RUNNING})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["restart"]["attempts"] == 2
    assert bench.emulator.server(RUNNING).status == "ACTIVE"
    assert "Image Created" in bench.event_types()


def test_three_failed_starts_fail_the_run_with_the_image_kept_and_the_server_left(bench):
    _fail_starts(bench, 3)

    result = bench.run({"server_id": RUNNING})

    cause = result.cause_json
    assert (result.status, result.error) == ("FAILED", "ServerRestartFailed")
    assert cause["image_id"] == bench.emulator.images()[0].id
    assert cause["restore"].startswith("server left stopped")
    assert cause["reconcile"] is True
    assert NO_CAPACITY[1] in cause["detail"]["message"]
    assert cause["error_code"] == NO_CAPACITY[0]
    assert bench.emulator.server(RUNNING).status == "SHUTOFF"


def test_reconcile_starts_the_server_whose_restart_failed(bench):
    _fail_starts(bench, 3)
    bench.run({"server_id": RUNNING})

    report = reconcile(bench.engine)
    bench.emulator.clock.advance(SETTLED)

    assert [run["server_restarted"] for run in report["reconciled"]] == [True]
    assert bench.emulator.server(RUNNING).status == "ACTIVE"


def test_a_start_whose_answer_was_lost_is_known_as_the_runs_own(bench):
    bench.emulator.faults.drop_connection("ecs.start")

    result = bench.run({"server_id": RUNNING})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["server_restarted"] is True
    assert bench.emulator.counters["ecs.start"] == 1
    assert bench.emulator.server(RUNNING).status == "ACTIVE"

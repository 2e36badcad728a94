"""How a run reacts to each kind of cloud error, through the real state machine."""

import pytest

STOPPED = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"  # web-01
RUNNING = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"  # app-02


def _jobs(bench):
    return len(bench.emulator.jobs())


@pytest.mark.parametrize("scope", ["iam.token", "ecs.show_server", "ims.show_job"])
def test_throttling_on_reads_is_retried_and_the_run_succeeds(bench, scope):
    bench.emulator.faults.throttle(scope, count=2)

    result = bench.run({"server_id": STOPPED})

    assert result.status == "SUCCEEDED"
    assert len(bench.emulator.images()) == 1


def test_throttled_create_is_retried_because_nothing_was_accepted(bench):
    bench.emulator.faults.throttle("ims.create_image", count=1)

    result = bench.run({"server_id": STOPPED})

    assert result.status == "SUCCEEDED"
    assert bench.emulator.counters["ims.create_image"] == 2
    assert _jobs(bench) == 1
    assert len(bench.emulator.images()) == 1


def test_server_busy_on_create_is_retried_and_the_run_succeeds(bench):
    bench.emulator.faults.reject_calls(
        "ims.create_image", code="IMG.0010", message="The ECS has tasks in progress."
    )

    result = bench.run({"server_id": RUNNING})

    assert result.status == "SUCCEEDED"
    assert result.states_entered.count("Create image") == 1  # its Retry, not a new entry
    assert bench.emulator.counters["ims.create_image"] == 2
    assert len(bench.emulator.images()) == 1
    assert result.output["server_restarted"] is True


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "IMG.0005", "ResourceNotFound"),
        (400, "IMG.0001", "InvalidRequest"),
        (403, "IMG.0026", "PermissionDenied"),
    ],
)
def test_a_refused_create_fails_at_once_and_starts_the_server_again(bench, status, code, error):
    bench.emulator.faults.reject_calls(
        "ims.create_image", status=status, code=code, message="Refused.", count=None
    )

    result = bench.run({"server_id": RUNNING})
    bench.emulator.clock.advance(60)

    assert (result.status, result.error) == ("FAILED", error)
    assert bench.emulator.counters["ims.create_image"] == 1
    assert _jobs(bench) == 0
    assert result.cause_json["restore"] == "server started again"
    assert bench.emulator.server(RUNNING).status == "ACTIVE"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_on_job_polls_are_retried(bench, status):
    bench.emulator.faults.fail_calls("ims.show_job", status=status, count=2)

    result = bench.run({"server_id": STOPPED})

    assert result.status == "SUCCEEDED"


def test_5xx_on_create_fails_the_run_and_leaves_a_stopped_server_stopped(bench):
    bench.emulator.faults.fail_calls("ims.create_image", status=503, count=None)

    result = bench.run({"server_id": RUNNING})

    assert result.status == "FAILED"
    assert result.error == "CloudTransientError"
    assert _jobs(bench) == 0
    assert result.cause_json["restore"].startswith("server left stopped")
    assert result.cause_json["reconcile"] is True
    assert bench.emulator.counters["ecs.start"] == 0


def test_dropped_connection_after_create_never_makes_a_second_image(bench):
    bench.emulator.faults.drop_connection("ims.create_image")

    result = bench.run({"server_id": RUNNING})

    assert len(bench.emulator.images()) == 1
    assert _jobs(bench) == 1
    assert result.status == "FAILED"
    assert bench.emulator.counters["ecs.start"] == 0


def test_server_deleted_mid_run_fails_with_resource_not_found(bench):
    bench.emulator.faults.delete_server(RUNNING, at_next_image_job=True)

    result = bench.run({"server_id": RUNNING})

    assert result.status == "FAILED"
    assert result.error in {"ResourceNotFound", "ImageJobFailed"}
    assert result.cause_json["restore"] == "server not started: it no longer exists"


def test_server_started_by_someone_else_while_imaging_is_not_stopped_again(bench):
    bench.emulator.faults.start_server(STOPPED, at_next_image_job=True)

    result = bench.run({"server_id": STOPPED})

    assert bench.emulator.counters["ecs.stop"] == 0
    assert result.output is None or result.output.get("server_restarted") is False


def test_require_stopped_emulator_refusal_stops_the_server_under_allow_running(bench):
    bench.emulator.require_stopped = True

    result = bench.run({"server_id": RUNNING, "stop_policy": "allow-running"})

    assert result.status == "SUCCEEDED"
    assert bench.emulator.counters["ecs.stop"] == 1
    assert result.output["server_restarted"] is True
    assert len(bench.emulator.images()) == 1


def test_a_revoked_token_mid_run_is_replaced(bench):
    bench.emulator.faults.revoke_tokens()

    result = bench.run({"server_id": STOPPED})

    assert result.status == "SUCCEEDED"

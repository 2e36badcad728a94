"""Executions of the real state machine on the local engine against the emulator."""

import json
from collections.abc import Iterator

import pytest
from ecs_imaging import ecs
from ecs_imaging.session import CloudSession
from ecs_imaging_local import deliveries
from ecs_imaging_local.engine import FLEET_STATE_MACHINE

from functions.webhook import app as webhook_app

STOPPED = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"  # web-01, 15 GB
RUNNING = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"  # app-02, 10 GB
SWEEP_TAG = "auto-image=nightly"


def _started_servers(bench):
    return bench.emulator.counters.get("ecs.start", 0)


def test_run_images_a_stopped_server_and_leaves_it_stopped(bench):
    result = bench.run({"server_id": STOPPED})

    assert result.status == "SUCCEEDED"
    assert result.output["outcome"] == "IMAGED"
    [image] = bench.emulator.images()
    assert image.id == result.output["image_id"]
    assert image.status == "active"
    assert image.name.startswith("web-01-")
    assert bench.emulator.server(STOPPED).status == "SHUTOFF"
    assert _started_servers(bench) == 0


def test_run_stops_a_running_server_and_starts_it_again(bench):
    result = bench.run({"server_id": RUNNING})

    assert result.status == "SUCCEEDED"
    assert result.output["server_restarted"] is True
    assert "Stop server" in result.states_entered
    assert bench.emulator.counters["ecs.stop"] == 1
    assert _started_servers(bench) == 1
    assert len(bench.emulator.images()) == 1


def test_run_tags_the_image_with_its_run_and_the_user_tags(bench):
    result = bench.run({"server_id": STOPPED, "tags": {"owner": "ops"}})

    [image] = bench.emulator.images()
    assert "owner=ops" in image.tags
    assert f"ecs-imaging-server={STOPPED}" in image.tags
    assert any(tag.startswith("ecs-imaging-run=") for tag in image.tags)
    assert result.output["image_name"] == image.name


def test_failed_image_job_reports_code_and_reason_and_restores_the_server(bench):
    bench.emulator.faults.fail_next_image_job(
        error_code="IMG.0006", fail_reason="The system disk cannot be used."
    )

    result = bench.run({"server_id": RUNNING})

    assert result.status == "FAILED"
    assert result.error == "ImageJobFailed"
    cause = result.cause_json
    assert cause["error_code"] == "IMG.0006"
    assert cause["fail_reason"] == "The system disk cannot be used."
    assert cause["restore"] == "server started again"
    assert _started_servers(bench) == 1
    assert bench.emulator.images() == []


def test_stuck_image_job_times_out_and_leaves_the_server_stopped(bench):
    bench.emulator.faults.stick_next_image_job()

    result = bench.run({"server_id": RUNNING, "deadline_minutes": 2})

    assert result.status == "FAILED"
    assert result.error == "ImageJobTimedOut"
    cause = result.cause_json
    assert cause["job_id"]
    assert cause["server_id"] == RUNNING
    assert cause["stopped_by_pipeline"] is True
    assert _started_servers(bench) == 0
    assert bench.emulator.server(RUNNING).status == "SHUTOFF"


def test_create_step_invoked_twice_makes_one_image(bench):
    bench.engine.faults.after_success["CreateImageFunction"] = 1

    result = bench.run({"server_id": STOPPED})

    creates = [i for i in bench.engine.invocations if i.function_name == "CreateImageFunction"]
    assert len(creates) == 2
    assert creates[1].result["adopted"] is True
    assert result.status == "SUCCEEDED"
    assert len(bench.emulator.images()) == 1
    assert bench.emulator.counters["ims.create_image"] == 1


def test_revoked_token_is_replaced_mid_run(bench):
    bench.run({"server_id": STOPPED}, name="first")
    bench.emulator.revoke_tokens()

    result = bench.run({"server_id": STOPPED}, name="second")

    assert result.status == "SUCCEEDED"
    assert bench.emulator.counters["iam.token"] == 2


def test_require_stopped_policy_skips_a_running_server(bench):
    result = bench.run({"server_id": RUNNING, "stop_policy": "require-stopped"})

    assert result.status == "SUCCEEDED"
    assert result.output["outcome"] == "SKIPPED"
    assert "running" in result.output["reason"]
    assert bench.emulator.counters.get("ecs.stop", 0) == 0
    assert bench.emulator.images() == []


@pytest.mark.parametrize(
    ("run_input", "named"),
    [
        ({}, "server_id is required"),
        ({"server_id": "web-01"}, "'web-01'"),
        ({"server_id": STOPPED, "image_name": " bad"}, "image_name"),
        ({"server_id": STOPPED, "stop_policy": "reboot"}, "'reboot'"),
        ({"server_id": STOPPED, "deadline_minutes": 0}, "deadline_minutes"),
        ({"server_id": STOPPED, "min_wait_seconds": 90, "max_wait_seconds": 30}, "90"),
        ({"server_id": STOPPED, "tags": {"ecs-imaging-run": "x"}}, "reserved"),
        ({"server_id": STOPPED, "description": "<script>"}, "description"),
        ({"server_id": STOPPED, "serverid": "x"}, "serverid is not a known field"),
        (["not", "an", "object"], "(input)"),
    ],
)
def test_bad_input_fails_at_once_naming_the_field_with_nothing_changed(bench, run_input, named):
    result = bench.run(run_input)

    assert result.status == "FAILED"
    assert result.error == "InvalidInput"
    assert named in json.loads(result.cause)["errorMessage"]
    assert result.states_entered == ["Prepare server", "Announce rejected run", "Run rejected"]
    assert bench.emulator.counters.get("ecs.stop", 0) == 0
    assert bench.emulator.counters.get("ims.create_image", 0) == 0


def test_unknown_server_fails_before_any_change(bench):
    result = bench.run({"server_id": "00000000-0000-4000-8000-000000000000"})

    assert result.status == "FAILED"
    assert result.error == "ResourceNotFound"
    assert bench.emulator.counters.get("ims.create_image", 0) == 0


def test_no_secret_reaches_the_execution_history(bench):
    bench.emulator.faults.fail_next_image_job(error_code="IMG.0006", fail_reason="x")
    results = [
        bench.run({"server_id": RUNNING}, name="a"),
        bench.run({"server_id": STOPPED}, name="b"),
    ]

    secrets = [bench.emulator.credentials.password, *bench.emulator.issued_tokens]
    for result in results:
        text = json.dumps(result.history, default=str)
        assert not [secret for secret in secrets if secret in text]


def test_two_runs_for_one_server_at_once_make_one_image_and_one_skip(bench):
    first = bench.engine.start({"server_id": RUNNING}, "first")
    second = bench.engine.start({"server_id": RUNNING}, "second")

    results = [bench.engine.wait(first), bench.engine.wait(second)]

    outcomes = sorted(result.output["outcome"] for result in results)
    assert outcomes == ["IMAGED", "SKIPPED"]
    assert len(bench.emulator.images()) == 1
    assert bench.emulator.counters["ecs.stop"] == 1
    assert _started_servers(bench) == 1


@pytest.fixture
def webhook() -> Iterator[None]:
    """The webhook handler, with its AWS clients made anew in this test's moto."""
    webhook_app._build_start.cache_clear()
    webhook_app._stepfunctions.cache_clear()
    yield
    webhook_app._build_start.cache_clear()
    webhook_app._stepfunctions.cache_clear()


def test_a_stop_event_and_a_sweep_for_one_server_at_once_make_one_image_and_one_skip(
    bench, webhook
):
    # 40 GB: the image job of whichever run locks first outlasts the other's start.
    server_id = bench.emulator.add_server(
        name="both-01", status="SHUTOFF", system_disk_gb=40, tags=[SWEEP_TAG]
    )
    trace = deliveries.stop_trace("trace-both-01", server_id, "ops-user")
    published = bench.emulator.smn.publish(json.dumps(trace))
    sweep_input = {"tag": SWEEP_TAG, "slot": "2026-12-04T02:00:00Z", "max_concurrency": 5}

    sweep = bench.engine.start(sweep_input, "sweep", FLEET_STATE_MACHINE)
    answer = deliveries.deliver(deliveries.smn_request(published))
    [name] = answer["executions"]
    executions = bench.engine.state_machine_arn().replace(":stateMachine:", ":execution:")
    event_run = bench.engine.wait(f"{executions}:{name}")
    swept = bench.engine.wait(sweep)

    [sweep_run] = swept.output["runs"]
    assert (answer["status"], answer["result"]) == (200, "started")
    assert (event_run.status, swept.status) == ("SUCCEEDED", "SUCCEEDED")
    assert sorted([event_run.output["outcome"], sweep_run["outcome"]]) == ["IMAGED", "SKIPPED"]
    images = [i for i in bench.emulator.images() if f"ecs-imaging-server={server_id}" in i.tags]
    assert len(images) == 1
    assert bench.emulator.counters["ims.create_image"] == 1
    assert bench.emulator.counters["smn.signing_cert"] == 1


def test_the_lock_is_released_at_every_end(bench):
    bench.emulator.faults.fail_next_image_job(error_code="IMG.0006", fail_reason="x")
    failed = bench.run({"server_id": STOPPED}, name="fails")

    succeeded = bench.run({"server_id": STOPPED}, name="after-failure")

    assert failed.status == "FAILED"
    assert succeeded.output["outcome"] == "IMAGED"


def test_a_server_someone_else_is_stopping_is_imaged_and_left_stopped(bench):
    session = CloudSession()
    ecs.stop_server(session, RUNNING)

    result = bench.run({"server_id": RUNNING})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["server_restarted"] is False
    assert bench.emulator.counters["ecs.stop"] == 1
    assert _started_servers(bench) == 0
    assert bench.emulator.server(RUNNING).status == "SHUTOFF"


def test_a_server_someone_else_is_starting_is_stopped_by_the_run_and_restarted(bench):
    session = CloudSession()
    ecs.start_server(session, STOPPED)

    result = bench.run({"server_id": STOPPED})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["server_restarted"] is True
    assert bench.emulator.counters["ecs.stop"] == 1

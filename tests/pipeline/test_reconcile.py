"""Reconcile on the local engine: runs that ended before their image jobs did."""

import time

import boto3
from ecs_imaging_local.reconcile import reconcile

# 250 GB: an image job of 44 to 66 emulated minutes, far past a run's deadline even
# when a busy machine makes the emulated clock race ahead of the run.
DISK_GB = 250
JOBS_DONE = 4000
# A run that gives up after ten minutes, long before its image job ends.
IMPATIENT = {"deadline_minutes": 10, "min_wait_seconds": 5, "max_wait_seconds": 60}


def _server(bench, status="ACTIVE", disk_gb=DISK_GB):
    return bench.emulator.add_server(name="late-01", status=status, system_disk_gb=disk_gb)


def _timed_out_run(bench, server_id, **extra):
    result = bench.run({"server_id": server_id, **IMPATIENT, **extra}, name="late")
    assert result.error == "ImageJobTimedOut", result.cause

    return result


def _hurried_run(bench, server_id):
    # Jumps the emulator's clock once the image job exists, so the run succeeds
    # without waiting the job's real duration.
    arn = bench.engine.start({"server_id": server_id}, "earlier")
    for _ in range(500):
        if any(job.server_id == server_id for job in bench.emulator.jobs()):
            break
        time.sleep(0.01)
    bench.emulator.clock.advance(JOBS_DONE)
    result = bench.engine.wait(arn)
    assert result.status == "SUCCEEDED", result.cause

    return result


def _mark(result):
    dynamodb = boto3.client("dynamodb", region_name="eu-central-1")
    key = f"reconciled#{result.cause_json['execution_id']}"

    return dynamodb.get_item(TableName="RunStateTable", Key={"id": {"S": key}}).get("Item")


def _late_events(bench):
    return [event for event in bench.events() if event["detail"].get("late")]


def _starts(bench):
    return bench.emulator.counters["ecs.start"]


def test_reconcile_finalizes_an_image_that_finished_after_its_run_timed_out(bench):
    server_id = _server(bench)
    _hurried_run(bench, server_id)
    result = _timed_out_run(bench, server_id, retention={"keep_last": 1})
    bench.emulator.clock.advance(JOBS_DONE)
    starts = _starts(bench)

    report = reconcile(bench.engine)

    [run] = report["reconciled"]
    [image] = bench.emulator.images()
    assert (run["outcome"], run["server_restarted"]) == ("IMAGED", True)
    assert f"ecs-imaging-run={result.cause_json['run_id']}" in image.tags
    assert len(run["deleted_image_ids"]) == 1
    assert _starts(bench) == starts + 1
    assert [e["detail-type"] for e in _late_events(bench)] == ["Image Created", "Image Deleted"]


def test_reconcile_records_a_job_that_failed_after_its_run_timed_out(bench):
    server_id = _server(bench)
    bench.emulator.faults.fail_next_image_job(error_code="IMG.0006", fail_reason="bad disk")
    _timed_out_run(bench, server_id)
    bench.emulator.clock.advance(JOBS_DONE)

    report = reconcile(bench.engine)

    [run] = report["reconciled"]
    [event] = _late_events(bench)
    detail = event["detail"]
    assert (run["outcome"], run["server_restarted"]) == ("FAILED", True)
    assert event["detail-type"] == "Image Failed"
    assert (detail["error_code"], detail["fail_reason"]) == ("IMG.0006", "bad disk")
    assert _starts(bench) == 1


def test_reconcile_leaves_a_running_job_alone_until_it_ends(bench):
    server_id = _server(bench, disk_gb=1000)
    result = _timed_out_run(bench, server_id)

    waiting = reconcile(bench.engine)

    assert waiting["reconciled"] == []
    assert [run["server_id"] for run in waiting["pending"]] == [server_id]
    assert _mark(result) is None
    assert bench.emulator.server(server_id).status == "SHUTOFF"
    assert _late_events(bench) == []

    bench.emulator.clock.advance(20_000)
    done = reconcile(bench.engine)

    assert [run["outcome"] for run in done["reconciled"]] == ["IMAGED"]
    assert _mark(result) is not None


def test_reconcile_twice_acts_once(bench):
    _timed_out_run(bench, _server(bench))
    bench.emulator.clock.advance(JOBS_DONE)

    first = reconcile(bench.engine)
    second = reconcile(bench.engine)

    assert len(first["reconciled"]) == 1
    assert (second["reconciled"], second["already_reconciled"]) == ([], 1)
    assert _starts(bench) == 1
    assert len(_late_events(bench)) == 1


def test_reconcile_starts_the_server_on_a_later_pass_when_its_start_failed(bench):
    server_id = _server(bench)
    result = _timed_out_run(bench, server_id)
    bench.emulator.clock.advance(JOBS_DONE)
    bench.emulator.faults.fail_calls("ecs.start", status=503, count=1)

    failed = reconcile(bench.engine)
    left_stopped = bench.emulator.server(server_id).status
    retried = reconcile(bench.engine)

    assert [error["error"] for error in failed["errors"]] == ["CloudTransientError"]
    assert left_stopped == "SHUTOFF"
    assert [run["server_restarted"] for run in retried["reconciled"]] == [True]
    bench.emulator.clock.advance(600)
    assert bench.emulator.server(server_id).status == "ACTIVE"
    assert _mark(result)["reconcile_state"] == {"S": "finished"}
    assert [e["detail-type"] for e in _late_events(bench)] == ["Image Created"]


def test_reconcile_never_starts_a_server_the_run_found_stopped(bench):
    server_id = _server(bench, status="SHUTOFF")
    _timed_out_run(bench, server_id)
    bench.emulator.clock.advance(JOBS_DONE)

    report = reconcile(bench.engine)

    [run] = report["reconciled"]
    assert (run["outcome"], run["server_restarted"]) == ("IMAGED", False)
    assert _starts(bench) == 0
    assert bench.emulator.server(server_id).status == "SHUTOFF"


def test_reconcile_finds_by_its_tag_the_image_of_a_create_with_unknown_outcome(bench):
    server_id = _server(bench)
    bench.emulator.faults.drop_connection("ims.create_image")
    result = bench.run({"server_id": server_id}, name="unknown")
    assert (result.cause_json["reconcile"], result.cause_json["job_id"]) == (True, None)
    bench.emulator.clock.advance(JOBS_DONE)

    report = reconcile(bench.engine)

    [run] = report["reconciled"]
    [image] = bench.emulator.images()
    assert (run["outcome"], run["image_ids"]) == ("IMAGED", [image.id])
    assert run["server_restarted"] is True


def test_reconcile_finds_by_run_tag_the_late_images_of_a_data_disk_job_without_results(bench):
    server_id = bench.emulator.add_server(
        name="files-09", status="ACTIVE", system_disk_gb=5, data_disks_gb=[DISK_GB]
    )
    bench.emulator.faults.hide_next_sub_job_results()
    _timed_out_run(bench, server_id, image_kind="data-disks")
    bench.emulator.clock.advance(JOBS_DONE)

    report = reconcile(bench.engine)

    [run] = report["reconciled"]
    [image] = bench.emulator.images()
    assert (run["outcome"], run["image_ids"]) == ("IMAGED", [image.id])
    assert run["server_restarted"] is True
    assert _starts(bench) == 1


def test_reconcile_gives_late_data_disk_images_every_tag_of_the_run(bench):
    server_id = bench.emulator.add_server(
        name="files-09",
        status="ACTIVE",
        system_disk_gb=5,
        data_disks_gb=[DISK_GB],
        tags=["team=ops.eu", "tier=files"],
    )
    user_tags = {"owner": "ops team", **{f"u{number}": "v" for number in range(6)}}
    result = _timed_out_run(
        bench, server_id, image_kind="data-disks", tags=user_tags, copy_server_tags=True
    )
    bench.emulator.clock.advance(JOBS_DONE)

    reconcile(bench.engine)

    cause = result.cause_json
    [image] = bench.emulator.images()
    [created] = [e["detail"] for e in _late_events(bench) if e["detail-type"] == "Image Created"]
    assert len(cause["tags"]) == 10
    assert {"owner=ops team", "team=ops.eu", f"ecs-imaging-server={server_id}"} <= set(image.tags)
    assert sorted(image.tags) == sorted(f"{key}={value}" for key, value in cause["tags"].items())
    assert [tag["key"] for tag in cause["dropped_tags"]] == ["tier"]
    assert created["dropped_tags"] == cause["dropped_tags"]


def test_reconcile_tags_the_data_disk_images_of_a_create_with_unknown_outcome(bench):
    server_id = bench.emulator.add_server(
        name="files-09", status="ACTIVE", system_disk_gb=5, data_disks_gb=[DISK_GB]
    )
    bench.emulator.faults.drop_connection("ims.create_data_images")
    result = bench.run(
        {"server_id": server_id, "image_kind": "data-disks", "tags": {"owner": "ops team"}},
        name="unknown",
    )
    assert result.cause_json["reconcile"] is True, result.cause
    bench.emulator.clock.advance(JOBS_DONE)

    report = reconcile(bench.engine)

    [run] = report["reconciled"]
    [image] = bench.emulator.images()
    assert (run["outcome"], run["server_restarted"]) == ("IMAGED", True)
    assert {"owner=ops team", f"ecs-imaging-run={result.cause_json['run_id']}"} <= set(image.tags)


def test_reconcile_finishes_by_its_image_id_a_run_that_adopted_its_image(bench):
    server_id = _server(bench)
    bench.engine.faults.after_success["CreateImageFunction"] = 1
    result = _timed_out_run(bench, server_id)
    bench.emulator.clock.advance(JOBS_DONE)

    report = reconcile(bench.engine)

    [run] = report["reconciled"]
    [image] = bench.emulator.images()
    assert (result.cause_json["job_id"], result.cause_json["image_id"]) == (None, image.id)
    assert (run["outcome"], run["image_ids"], run["server_restarted"]) == (
        "IMAGED",
        [image.id],
        True,
    )


def test_reconcile_ignores_a_run_that_failed_without_leaving_work(bench):
    bench.run({"server_id": "web-01"})

    report = reconcile(bench.engine)

    assert report["examined"] == 1
    assert (report["reconciled"], report["pending"], report["errors"]) == ([], [], [])

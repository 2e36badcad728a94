"""Lifecycle options of a run: naming, tags, retention, quota, notifications."""

import re

import boto3
import pytest
from ecs_imaging import http
from ecs_imaging.models import IMAGE_NAME_PATTERN
from support.run_events import COMMON, documented_fields

STOPPED = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"  # web-01, tags auto-image=daily
DB = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"  # db-01, running, tags auto-image=daily, tier=db
RUNNING = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"  # app-02


def _images_of(bench, server_id):
    return [i for i in bench.emulator.images() if f"ecs-imaging-server={server_id}" in i.tags]


@pytest.mark.parametrize(
    "server_name", ["Prod DB (eu) ü / 2", "  spaced  ", "名前", "x" * 200, "--"]
)
def test_awkward_server_names_give_names_the_emulator_accepts(bench, server_name):
    server_id = bench.emulator.add_server(name=server_name, status="SHUTOFF", system_disk_gb=5)

    result = bench.run({"server_id": server_id, "name_template": "{server_name}-{date}"})

    assert result.status == "SUCCEEDED", result.cause
    assert re.fullmatch(IMAGE_NAME_PATTERN, result.output["image_name"])


def test_server_tags_are_copied_within_the_budget_and_drops_reported(bench):
    user_tags = {f"u{i}": "v" for i in range(7)}

    result = bench.run({"server_id": DB, "tags": user_tags, "copy_server_tags": True}, name="tags")

    [image] = bench.emulator.images()
    assert result.status == "SUCCEEDED"
    assert "auto-image=daily" in image.tags
    assert len(image.tags) == 10
    assert result.output["dropped_tags"] == [
        {"key": "tier", "source": "server", "reason": "IMS allows 10 tags per image"}
    ]


def test_user_tag_values_take_variables(bench):
    bench.run({"server_id": STOPPED, "tags": {"source": "{server_name}", "by": "{trigger}"}})

    [image] = bench.emulator.images()
    assert {"source=web-01", "by=direct"} <= set(image.tags)


def test_retention_keeps_the_last_n_of_one_server_only(bench):
    bench.run({"server_id": RUNNING}, name="other-server")
    for number in range(3):
        result = bench.run({"server_id": STOPPED, "retention": {"keep_last": 2}}, name=f"r{number}")
        assert result.status == "SUCCEEDED"

    assert len(_images_of(bench, STOPPED)) == 2
    assert len(_images_of(bench, RUNNING)) == 1
    assert len(result.output["deleted_images"]) == 1
    assert "Image Deleted" in bench.event_types()


def test_retention_that_cannot_delete_reports_it_and_the_run_still_succeeds(bench, monkeypatch):
    monkeypatch.setattr(http, "BACKOFF_CAP_SECONDS", 0.01)
    bench.run({"server_id": STOPPED}, name="earlier")
    bench.emulator.faults.fail_calls("ims.delete_image", status=503, count=None)

    result = bench.run({"server_id": STOPPED, "retention": {"keep_last": 1}}, name="later")

    assert result.status == "SUCCEEDED", result.cause
    [kept] = result.output["deleted_images"]
    assert (kept["deleted"], kept["reason"]) == (False, "failed: CloudTransientError")
    assert len(_images_of(bench, STOPPED)) == 2
    [created] = [e for e in bench.events() if e["detail-type"] == "Image Created"][1:]
    assert created["detail"]["kept_images"] == [
        {key: kept[key] for key in ("image_id", "reason", "error_code")}
    ]


def test_quota_used_up_fails_before_any_stop_or_create(bench):
    bench.emulator.image_quota = 0

    result = bench.run({"server_id": RUNNING})

    assert result.status == "FAILED"
    assert result.error == "QuotaExceeded"
    assert bench.emulator.counters["ecs.stop"] == 0
    assert bench.emulator.counters["ims.create_image"] == 0


def test_run_events_announce_created_failed_and_skipped(bench):
    bench.run({"server_id": STOPPED}, name="ok")
    bench.emulator.faults.fail_next_image_job(error_code="IMG.0006", fail_reason="bad disk")
    bench.run({"server_id": STOPPED}, name="fails")
    bench.run({"server_id": RUNNING, "stop_policy": "require-stopped"}, name="skips")

    events = bench.events()
    assert [e["detail-type"] for e in events] == ["Image Created", "Image Failed", "Run Skipped"]
    failed = events[1]["detail"]
    assert (failed["error"], failed["error_code"], failed["fail_reason"]) == (
        "ImageJobFailed",
        "IMG.0006",
        "bad disk",
    )
    assert events[0]["detail"]["image_id"] == bench.emulator.images()[0].id


def test_a_timed_out_run_announces_its_cause(bench):
    bench.emulator.faults.stick_next_image_job()

    result = bench.run({"server_id": STOPPED, "deadline_minutes": 1})

    [event] = bench.events()
    assert result.error == "ImageJobTimedOut"
    assert event["detail-type"] == "Image Failed"
    assert event["detail"]["job_id"] == result.cause_json["job_id"]


def _hold_lock(server_id):
    dynamodb = boto3.client("dynamodb", region_name="eu-central-1")
    dynamodb.put_item(
        TableName="RunStateTable",
        Item={
            "id": {"S": f"lock#{server_id}"},
            "run_id": {"S": "another-run"},
            "expires_at": {"S": "2999-01-01T00:00:00Z"},
            "expiration": {"N": "32472144000"},
        },
    )


def test_every_run_event_carries_the_documented_fields(bench, monkeypatch):
    monkeypatch.setattr(http, "BACKOFF_CAP_SECONDS", 0.01)
    busy = bench.emulator.add_server(name="busy-01", status="SHUTOFF")
    _hold_lock(busy)
    bench.run({"server_id": STOPPED}, name="first")
    bench.run({"server_id": STOPPED, "retention": {"keep_last": 1}}, name="prunes")
    bench.run({"server_id": STOPPED, "export": {"bucket": "exports"}}, name="exports")
    bench.run({"server_id": RUNNING, "stop_policy": "require-stopped"}, name="skips")
    bench.run({"server_id": busy}, name="busy")
    bench.run({"server_id": "web-01"}, name="rejected")
    bench.emulator.faults.fail_next_image_job(error_code="IMG.0006", fail_reason="bad disk")
    bench.run({"server_id": STOPPED}, name="fails")
    bench.emulator.faults.stick_next_image_job()
    bench.run({"server_id": STOPPED, "deadline_minutes": 1}, name="times-out")
    bench.emulator.faults.fail_calls("ecs.start", status=503, count=None)
    bench.run({"server_id": RUNNING}, name="cannot-restore")

    events = bench.events()
    documented = documented_fields()
    for event in events:
        detail_type, detail = event["detail-type"], event["detail"]
        fields = documented[COMMON] | documented[detail_type]
        assert fields <= set(detail), (detail_type, fields - set(detail))
    announced = {event["detail-type"] for event in events}
    assert announced == set(documented) - {COMMON, "Export Failed"}
    failures = [e["detail"] for e in events if e["detail-type"] == "Image Failed"]
    assert [(d["error"], d["restore"]) for d in failures] == [
        ("InvalidInput", "nothing to restore"),
        ("ImageJobFailed", "nothing to restore"),
        ("ImageJobTimedOut", "nothing to restore"),
        ("CloudTransientError", "failed: CloudTransientError"),
    ]
    assert len({event["detail"]["execution_id"] for event in events}) == 9

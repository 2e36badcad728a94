"""Run events: every detail carries the common fields and those of its type."""

import json
from datetime import UTC, datetime

import pytest
from ecs_imaging import clock, naming, notifications, retention
from ecs_imaging.errors import InvalidInput
from ecs_imaging.models import (
    ExportCheck,
    JobCheck,
    JobStatus,
    RunAction,
    RunContext,
    RunOutcome,
    StopPolicy,
    Trigger,
)
from support.run_events import COMMON, documented_fields

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
STARTED = "2026-12-04T09:45:00Z"
SERVER_ID = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
EXECUTION_ID = "arn:aws:states:eu-central-1:123456789012:execution:pipeline:run-1"
RUN_ID = naming.run_id_for(EXECUTION_ID, STARTED)
RUN = RunContext(
    run_id=RUN_ID,
    execution_id=EXECUTION_ID,
    server_id=SERVER_ID,
    server_name="web-01",
    image_name="web-01-20261204-0945",
    description="",
    tags={},
    stop_policy=StopPolicy.STOP_AND_RESTART,
    trigger=Trigger(kind="schedule", id="s1"),
    started_at=STARTED,
    deadline="2026-12-04T10:45:00Z",
    lock_expires_at="2026-12-04T10:55:00Z",
    lock_expiration="1796381700",
    min_wait_seconds=10,
    max_wait_seconds=120,
    action=RunAction.STOP,
    stopped_by_pipeline=True,
)
JOB = JobCheck(
    job_id="job-1",
    image_id="img-1",
    image_ids=["img-1"],
    status=JobStatus.RUNNING,
    created_at=STARTED,
    checked_at="2026-12-04T10:45:01Z",
    wait_seconds=10,
)
EXECUTION = {"id": EXECUTION_ID, "started": STARTED, "input": {"server_id": SERVER_ID}}
DOCUMENTED = documented_fields()


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.use_clock(lambda: NOW)


def _details(entries):
    return [(e["DetailType"], json.loads(e["Detail"])) for e in entries]


def _assert_documented(entries):
    for detail_type, detail in _details(entries):
        documented = DOCUMENTED[COMMON] | DOCUMENTED[detail_type]
        assert documented <= set(detail), (detail_type, documented - set(detail))


def _deletion(image_id, deleted=True, reason="deleted", error_code=None):
    return retention.Deletion(image_id, image_id, STARTED, False, deleted, reason, error_code)


def test_the_fields_built_are_the_fields_documented():
    built = {name: set(fields) for name, fields in notifications.FIELDS.items()}

    assert {COMMON: set(notifications.COMMON_FIELDS), **built} == DOCUMENTED


def test_an_imaged_run_announces_every_field_of_each_event():
    outcome = RunOutcome(
        outcome="IMAGED",
        server_id=SERVER_ID,
        image_id="img-1",
        image_ids=["img-1"],
        image_name="web-01-20261204-0945",
        deleted_images=[
            _deletion("old")._asdict(),
            _deletion("locked", False, retention.PROTECTED)._asdict(),
        ],
        export=ExportCheck(
            job_id="export-1",
            bucket_url="bucket:web-01.qcow2",
            status=JobStatus.SUCCESS,
            checked_at=STARTED,
            deadline=STARTED,
            wait_seconds=10,
        ),
    )

    entries = notifications.for_outcome(outcome, RUN)

    (created_type, created), (deleted_type, deleted), (export_type, _) = _details(entries)
    _assert_documented(entries)
    assert (created_type, deleted_type, export_type) == (
        "Image Created",
        "Image Deleted",
        "Image Exported",
    )
    assert created["duration_s"] == 900.0
    assert created["kept_images"] == [
        {"image_id": "locked", "reason": retention.PROTECTED, "error_code": None}
    ]
    assert (deleted["image_id"], deleted["scheduled"], deleted["late"]) == ("old", False, False)


def test_a_skipped_run_announces_every_field():
    outcome = RunOutcome(outcome="SKIPPED", server_id=SERVER_ID, reason="running")

    entries = notifications.for_outcome(outcome, RUN)

    _assert_documented(entries)


def test_a_failed_run_says_what_failed_in_a_message():
    cause = {
        "server_id": SERVER_ID,
        "run_id": RUN_ID,
        "job_id": "job-1",
        "image_id": None,
        "error_code": None,
        "fail_reason": None,
        "stopped_by_pipeline": True,
        "restore": "server started again",
        "reconcile": False,
        "detail": {"type": "QuotaExceeded", "message": "The private image quota is used up."},
    }

    entry = notifications.run_failed("QuotaExceeded", cause, RUN)

    [(_, detail)] = _details([entry])
    _assert_documented([entry])
    assert (detail["error"], detail["message"]) == (
        "QuotaExceeded",
        "The private image quota is used up.",
    )


def test_a_rejected_run_names_the_server_and_run_of_its_input():
    state = {
        "Error": "QuotaExceeded",
        "Cause": json.dumps({"errorType": "QuotaExceeded", "errorMessage": "Quota used up."}),
    }
    execution = {**EXECUTION, "input": {"server_id": SERVER_ID.upper()}}

    entries = notifications.for_state({"end": "rejected", "state": state, "execution": execution})

    [(detail_type, detail)] = _details(entries)
    _assert_documented(entries)
    assert detail_type == "Image Failed"
    assert (detail["server_id"], detail["run_id"], detail["execution_id"]) == (
        SERVER_ID,
        RUN_ID,
        EXECUTION_ID,
    )
    assert (detail["error"], detail["message"]) == ("QuotaExceeded", "Quota used up.")
    assert detail["trigger"] == {"kind": "direct", "id": ""}
    assert detail["duration_s"] == 900.0


@pytest.mark.parametrize("given", [["not", "an", "object"], {"server_id": 7, "trigger": "x"}])
def test_a_rejected_run_with_an_odd_input_leaves_its_server_unknown(given):
    state = {"Error": "InvalidInput", "Cause": "not json"}
    execution = {**EXECUTION, "input": given}

    entries = notifications.for_state({"end": "rejected", "state": state, "execution": execution})

    [(_, detail)] = _details(entries)
    _assert_documented(entries)
    assert (detail["server_id"], detail["message"]) == (None, "not json")


def test_a_busy_server_announces_the_server_name_and_execution():
    state = {"run": RUN.model_dump(mode="json"), "outcome": {"reason": "another run holds it"}}

    entries = notifications.for_state({"end": "busy", "state": state, "execution": EXECUTION})

    [(detail_type, detail)] = _details(entries)
    _assert_documented(entries)
    assert detail_type == "Run Skipped"
    assert (detail["server_name"], detail["execution_id"]) == ("web-01", EXECUTION_ID)
    assert detail["reason"] == "another run holds it"


def test_a_timed_out_run_announces_its_error_message_and_duration():
    state = {"run": RUN.model_dump(mode="json"), "job": JOB.model_dump(mode="json")}

    entries = notifications.for_state({"end": "timed-out", "state": state, "execution": EXECUTION})

    [(_, detail)] = _details(entries)
    _assert_documented(entries)
    assert (detail["error"], detail["job_id"], detail["reconcile"]) == (
        "ImageJobTimedOut",
        "job-1",
        True,
    )
    assert "'job-1'" in detail["message"]
    assert (detail["duration_s"], detail["deadline"]) == (900.0, RUN.deadline)


def test_a_failed_restore_announces_the_run_error_and_the_restore_error():
    state = {
        "run": RUN.model_dump(mode="json"),
        "error": {"Error": "ImageJobFailed", "Cause": "{}"},
        "restore_error": {
            "Error": "CloudTransientError",
            "Cause": json.dumps({"errorType": "CloudTransientError", "errorMessage": "503"}),
        },
    }

    entries = notifications.for_state(
        {"end": "restore-failed", "state": state, "execution": EXECUTION}
    )

    [(_, detail)] = _details(entries)
    _assert_documented(entries)
    assert (detail["error"], detail["restore_error"], detail["reconcile"]) == (
        "ImageJobFailed",
        "CloudTransientError",
        True,
    )
    assert detail["job_id"] is None


def test_an_unknown_end_is_refused():
    with pytest.raises(InvalidInput, match="'finished'"):
        notifications.for_state({"end": "finished", "state": {}, "execution": {}})


def test_scheduled_deletions_name_the_server_and_say_they_were_scheduled():
    report = [
        retention.ServerRetention(SERVER_ID, "web-01", [_deletion("old"), _deletion("x", False)]),
        retention.ServerRetention("other", "db-01", [], "PermissionDenied", "no"),
    ]

    entries = notifications.scheduled_deletions(report)

    [(_, detail)] = _details(entries)
    _assert_documented(entries)
    assert (detail["server_name"], detail["image_id"], detail["scheduled"]) == (
        "web-01",
        "old",
        True,
    )
    assert (detail["run_id"], detail["execution_id"]) == (None, None)


# What reconcile passes today: its late events lack duration_s, polls and dropped_tags.
LATE_CREATED = {
    "server_id": SERVER_ID,
    "server_name": "web-01",
    "run_id": RUN_ID,
    "execution_id": EXECUTION_ID,
    "trigger": {"kind": "schedule", "id": "s1"},
    "image_kind": "system",
    "image_id": "img-1",
    "image_ids": ["img-1"],
    "image_name": "web-01-20261204-0945",
    "job_id": "job-1",
    "server_restarted": True,
    "deleted_image_ids": [],
    "late": True,
}
LATE_FAILED = {
    **{key: LATE_CREATED[key] for key in notifications.COMMON_FIELDS if key in LATE_CREATED},
    "error": "ImageJobFailed",
    "run_error": "ImageJobTimedOut",
    "job_id": "job-1",
    "image_id": None,
    "error_code": "IMG.0006",
    "fail_reason": "bad disk",
    "stopped_by_pipeline": True,
    "server_restarted": True,
    "late": True,
}


@pytest.mark.parametrize(
    ("detail_type", "given"), [("Image Created", LATE_CREATED), ("Image Failed", LATE_FAILED)]
)
def test_a_late_event_of_reconcile_is_completed_and_keeps_its_own_fields(detail_type, given):
    built = {
        "Source": notifications.SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(given),
        "EventBusName": "default",
    }

    entry = notifications.complete(built)

    [(_, detail)] = _details([entry])
    _assert_documented([entry])
    assert {key: detail[key] for key in given} == given
    assert detail["duration_s"] is None


def test_an_undocumented_event_type_is_refused():
    with pytest.raises(InvalidInput, match="'Image Lost'"):
        notifications.entry("Image Lost", {})

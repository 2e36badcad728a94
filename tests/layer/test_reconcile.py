"""Reconcile with a fake run history and respx routes shaped like the cloud's answers."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from ecs_imaging import ecs, reconcile
from ecs_imaging.errors import ConfigurationError
from ecs_imaging.reconcile import FailedExecution, StepFunctionsHistory
from ecs_imaging_local import template as sam
from moto import mock_aws
from support.cloud import ECS, IMS, PROJECT_ID, SERVER_ID

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ARN = "arn:aws:states:eu-central-1:123456789012:execution:ImagePipelineStateMachine:r1"
RUN_ID = "4fad1fcd56af7227f324b2948ac85ac8"
JOB_ID = "ff8080814dbd65d7014dbe0d84db0013"
IMAGE_ID = "3f7185de-b59a-4bb8-aa1d-7a513528b0e9"
OLD_IMAGE_ID = "9a6e1f4c-55c1-4d8b-8c8e-2c7a1b0d9e11"


@dataclass
class FakeHistory:
    """Failed executions in memory, with the claims, marks and locks a table would hold.

    `elsewhere` is what another pass does to a run between this pass's first look
    and its claim: "claimed" it, or "finished" it.
    """

    executions: list[FailedExecution]
    marks: set[str] = field(default_factory=set)
    claims: set[str] = field(default_factory=set)
    locks: dict[str, str] = field(default_factory=dict)
    elsewhere: str | None = None

    def failed_since(self, since):
        return [e.execution_arn for e in self.executions if e.stopped_at >= since]

    def describe(self, execution_arn):
        return next(e for e in self.executions if e.execution_arn == execution_arn)

    def is_reconciled(self, execution_arn):
        return execution_arn in self.marks

    def claim(self, execution_arn, now):
        if self.elsewhere == "finished":
            self.marks.add(execution_arn)
        if self.elsewhere or execution_arn in self.marks | self.claims:
            return False
        self.claims.add(execution_arn)
        return True

    def release(self, execution_arn, now):
        self.claims.discard(execution_arn)

    def mark_reconciled(self, execution_arn, now):
        self.claims.remove(execution_arn)
        self.marks.add(execution_arn)

    def lock_holder(self, server_id, now):
        return self.locks.get(server_id)


@dataclass
class FakeCloud:
    """What the respx routes answer from, and what they were asked to do."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    server_status: str = "SHUTOFF"
    server_metadata: dict[str, str] = field(default_factory=dict)
    starts: int = 0
    failing_actions: int = 0
    deleted: list[str] = field(default_factory=list)
    tagged: dict[str, list[dict[str, str]]] = field(default_factory=dict)


def _image(image_id, status="active", run_id=RUN_ID, created_at="2026-12-04T11:00:00Z"):
    tags = [f"ecs-imaging-run={run_id}", f"ecs-imaging-server={SERVER_ID}"]
    return {
        "id": image_id,
        "name": "web-01",
        "status": status,
        "tags": tags,
        "created_at": created_at,
    }


def _job(status, error_code=None):
    return {
        "job_id": JOB_ID,
        "status": status,
        "error_code": error_code,
        "fail_reason": "bad disk" if error_code else None,
        "entities": {"image_id": IMAGE_ID},
    }


def _timed_out(stopped_by_pipeline=True, retention=None, stopped_at=NOW - timedelta(hours=1)):
    cause = {
        "server_id": SERVER_ID,
        "server_name": "web-01",
        "run_id": RUN_ID,
        "execution_id": ARN,
        "trigger": {"kind": "schedule", "id": "s1"},
        "job_id": JOB_ID,
        "image_id": None,
        "image_ids": [],
        "image_kind": "system",
        "image_name": "web-01",
        "stopped_by_pipeline": stopped_by_pipeline,
        "retention": retention,
        "deadline": "2026-12-04T10:50:00Z",
    }
    return FailedExecution(ARN, stopped_at, "ImageJobTimedOut", json.dumps(cause), "{}")


def _failed(cause, run_input=None, error="CloudTransientError", stopped_at=None):
    return FailedExecution(
        ARN,
        stopped_at or NOW - timedelta(hours=1),
        error,
        json.dumps(cause),
        json.dumps(run_input or {"server_id": SERVER_ID}),
    )


def _unknown_create(**extra):
    cause = {
        "server_id": SERVER_ID,
        "run_id": RUN_ID,
        "job_id": None,
        "image_id": None,
        "stopped_by_pipeline": True,
        "restore": "server left stopped",
        "reconcile": True,
    }
    return {**cause, **extra}


def _events(report):
    return [(e["DetailType"], json.loads(e["Detail"])) for e in report.events()]


@pytest.fixture
def fake(cloud):
    state = FakeCloud()

    def show_job(request, job_id):
        if job_id not in state.jobs:
            return httpx.Response(404, json={"error": {"code": "IMG.0005", "message": "no"}})
        return httpx.Response(200, json=state.jobs[job_id])

    def show_image(request, image_id):
        if image_id not in state.images:
            return httpx.Response(404, json={"error": {"code": "IMG.0027", "message": "no"}})
        return httpx.Response(200, json=state.images[image_id])

    def list_images(request):
        wanted = request.url.params.get("tag")
        found = [i for i in state.images.values() if wanted is None or wanted in i["tags"]]
        return httpx.Response(200, json={"images": found})

    def delete_image(request, image_id):
        state.deleted.append(image_id)
        state.images.pop(image_id, None)
        return httpx.Response(204)

    def show_server(request):
        server = {
            "id": SERVER_ID,
            "name": "web-01",
            "status": state.server_status,
            "OS-EXT-STS:task_state": None,
            "metadata": state.server_metadata,
        }
        return httpx.Response(200, json={"server": server})

    def delete_metadata(request, key):
        del state.server_metadata[key]
        return httpx.Response(204)

    def tag_image(request, image_id):
        state.tagged[image_id] = json.loads(request.content)["tags"]
        return httpx.Response(204)

    def act(request):
        if state.failing_actions:
            state.failing_actions -= 1
            return httpx.Response(503, json={"error_code": "APIGW.0000", "error_msg": "busy"})
        state.starts += 1
        return httpx.Response(200, json={"job_id": "70a599e0"})

    cloud.get(url__regex=rf"{IMS}/v1/{PROJECT_ID}/jobs/(?P<job_id>\w+)$").mock(side_effect=show_job)
    cloud.get(url__regex=rf"{IMS}/v2/images/(?P<image_id>[\w-]+)$").mock(side_effect=show_image)
    cloud.delete(url__regex=rf"{IMS}/v2/images/(?P<image_id>[\w-]+)$").mock(
        side_effect=delete_image
    )
    cloud.get(url__startswith=f"{IMS}/v2/cloudimages").mock(side_effect=list_images)
    cloud.post(url__regex=rf"{IMS}/v2/{PROJECT_ID}/images/(?P<image_id>[\w-]+)/tags/action").mock(
        side_effect=tag_image
    )
    cloud.get(f"{ECS}/v1/{PROJECT_ID}/cloudservers/{SERVER_ID}").mock(side_effect=show_server)
    cloud.post(f"{ECS}/v1/{PROJECT_ID}/cloudservers/action").mock(side_effect=act)
    cloud.delete(
        url__regex=rf"{ECS}/v1/{PROJECT_ID}/cloudservers/{SERVER_ID}/metadata/(?P<key>[\w-]+)$"
    ).mock(side_effect=delete_metadata)

    return state


def test_reconcile_runs_finalizes_a_late_image_and_starts_the_server(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)
    history = FakeHistory([_timed_out()])

    report = reconcile.reconcile_runs(history, now=NOW)

    [(kind, detail)] = _events(report)
    assert [run.outcome for run in report.reconciled] == ["IMAGED"]
    assert (kind, detail["image_id"], detail["late"]) == ("Image Created", IMAGE_ID, True)
    assert detail["trigger"] == {"kind": "schedule", "id": "s1"}
    assert fake.starts == 1
    assert history.marks == {ARN}


def test_reconcile_runs_applies_the_retention_policy_of_the_cause(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)
    fake.images[OLD_IMAGE_ID] = _image(
        OLD_IMAGE_ID, run_id="older", created_at="2026-11-01T00:00:00Z"
    )

    report = reconcile.reconcile_runs(
        FakeHistory([_timed_out(retention={"keep_last": 1})]), now=NOW
    )

    assert fake.deleted == [OLD_IMAGE_ID]
    assert [kind for kind, _ in _events(report)] == ["Image Created", "Image Deleted"]


def test_reconcile_runs_gives_late_data_disk_images_the_pipeline_tags(fake):
    fake.jobs[JOB_ID] = {
        **_job("SUCCESS"),
        "entities": {"sub_jobs_result": [{"entities": {"image_id": IMAGE_ID}}]},
    }
    fake.images[IMAGE_ID] = {**_image(IMAGE_ID), "tags": []}
    cause = {**json.loads(_timed_out().cause), "image_kind": "data-disks"}

    reconcile.reconcile_runs(FakeHistory([_failed(cause, error="ImageJobTimedOut")]), now=NOW)

    assert fake.tagged[IMAGE_ID] == [
        {"key": "ecs-imaging-run", "value": RUN_ID},
        {"key": "ecs-imaging-server", "value": SERVER_ID},
    ]


def test_reconcile_runs_finds_by_run_tag_the_data_disk_images_of_a_job_without_results(fake):
    fake.jobs[JOB_ID] = {**_job("SUCCESS"), "entities": {"sub_jobs_result": []}}
    fake.images[IMAGE_ID] = _image(IMAGE_ID)
    cause = {**json.loads(_timed_out().cause), "image_kind": "data-disks"}

    report = reconcile.reconcile_runs(
        FakeHistory([_failed(cause, error="ImageJobTimedOut")]), now=NOW
    )

    [run] = report.reconciled
    assert (run.outcome, run.image_ids, run.server_restarted) == ("IMAGED", [IMAGE_ID], True)
    assert IMAGE_ID in fake.tagged


def test_reconcile_runs_gives_late_data_disk_images_the_tags_of_the_cause(fake):
    fake.jobs[JOB_ID] = {
        **_job("SUCCESS"),
        "entities": {"sub_jobs_result": [{"entities": {"image_id": IMAGE_ID}}]},
    }
    fake.images[IMAGE_ID] = {**_image(IMAGE_ID), "tags": []}
    tags = {"ecs-imaging-run": RUN_ID, "ecs-imaging-server": SERVER_ID, "owner": "ops team"}
    dropped = [{"key": "tier", "source": "server", "reason": "IMS allows 10 tags per image"}]
    cause = {
        **json.loads(_timed_out().cause),
        "image_kind": "data-disks",
        "tags": tags,
        "dropped_tags": dropped,
    }

    report = reconcile.reconcile_runs(
        FakeHistory([_failed(cause, error="ImageJobTimedOut")]), now=NOW
    )

    [(_, detail)] = _events(report)
    assert fake.tagged[IMAGE_ID] == [{"key": key, "value": value} for key, value in tags.items()]
    assert detail["dropped_tags"] == dropped


def _adopted(image_id=IMAGE_ID):
    # Create image adopted the run's image on a retry: no job id reaches the cause.
    cause = {**json.loads(_timed_out().cause), "job_id": None, "image_id": image_id}
    return _failed(cause, error="ImageJobTimedOut")


def test_reconcile_runs_finishes_by_its_image_id_a_run_that_adopted_its_image(fake, cloud):
    fake.images[IMAGE_ID] = _image(IMAGE_ID)

    report = reconcile.reconcile_runs(FakeHistory([_adopted()]), now=NOW)

    [run] = report.reconciled
    assert (run.outcome, run.image_ids, run.server_restarted) == ("IMAGED", [IMAGE_ID], True)
    assert not [call for call in cloud.calls if "/jobs/" in call.request.url.path]


def test_reconcile_runs_waits_for_the_adopted_image_of_a_run_without_job(fake):
    fake.images[IMAGE_ID] = _image(IMAGE_ID, status="saving")
    history = FakeHistory([_adopted()])

    report = reconcile.reconcile_runs(history, now=NOW)

    assert [run.reason for run in report.pending] == ["the run's image is still being made"]
    assert (history.claims, history.marks, fake.starts) == (set(), set(), 0)


def test_reconcile_runs_leaves_a_running_job_unmarked(fake):
    fake.jobs[JOB_ID] = _job("RUNNING")
    history = FakeHistory([_timed_out()])

    report = reconcile.reconcile_runs(history, now=NOW)

    assert [run.reason for run in report.pending] == [f"image job {JOB_ID} is RUNNING"]
    assert (history.marks, fake.starts, report.events()) == (set(), 0, [])


def test_reconcile_runs_records_a_failed_job_and_starts_the_server(fake):
    fake.jobs[JOB_ID] = _job("FAIL", error_code="IMG.0006")

    report = reconcile.reconcile_runs(FakeHistory([_timed_out()]), now=NOW)

    [(kind, detail)] = _events(report)
    assert (kind, detail["error_code"], detail["late"]) == ("Image Failed", "IMG.0006", True)
    assert detail["run_error"] == "ImageJobTimedOut"
    assert fake.starts == 1


def test_reconcile_runs_records_a_late_image_that_was_deleted_meanwhile(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")

    report = reconcile.reconcile_runs(FakeHistory([_timed_out()]), now=NOW)

    assert [run.outcome for run in report.reconciled] == ["FAILED"]


def test_reconcile_runs_never_starts_a_server_the_run_found_stopped(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)

    report = reconcile.reconcile_runs(FakeHistory([_timed_out(stopped_by_pipeline=False)]), now=NOW)

    assert report.reconciled[0].server_restarted is False
    assert fake.starts == 0


def test_reconcile_runs_starts_a_server_the_run_marked_before_it_failed_to_say_so(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)
    fake.server_metadata = {ecs.STOP_MARK: RUN_ID}

    report = reconcile.reconcile_runs(FakeHistory([_timed_out(stopped_by_pipeline=False)]), now=NOW)

    assert report.reconciled[0].server_restarted is True
    assert fake.starts == 1
    assert fake.server_metadata == {}


def test_reconcile_runs_ignores_the_stop_mark_of_another_run(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)
    fake.server_metadata = {ecs.STOP_MARK: "another-run"}

    reconcile.reconcile_runs(FakeHistory([_timed_out(stopped_by_pipeline=False)]), now=NOW)

    assert fake.starts == 0
    assert fake.server_metadata == {ecs.STOP_MARK: "another-run"}


def test_reconcile_runs_leaves_a_server_started_meanwhile_alone(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)
    fake.server_status = "ACTIVE"

    reconcile.reconcile_runs(FakeHistory([_timed_out()]), now=NOW)

    assert fake.starts == 0


def test_reconcile_runs_waits_while_another_run_holds_the_server(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)
    history = FakeHistory([_timed_out()], locks={SERVER_ID: "another-run"})

    report = reconcile.reconcile_runs(history, now=NOW)

    assert [run.reason for run in report.pending] == ["another run holds the server"]
    assert (history.marks, fake.starts) == (set(), 0)


def test_reconcile_runs_is_not_held_up_by_a_lock_of_its_own_run(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)

    report = reconcile.reconcile_runs(
        FakeHistory([_timed_out()], locks={SERVER_ID: RUN_ID}), now=NOW
    )

    assert report.reconciled[0].server_restarted is True


def test_reconcile_runs_waits_while_another_image_of_the_server_is_made(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)
    fake.images[OLD_IMAGE_ID] = _image(OLD_IMAGE_ID, status="saving", run_id="next")

    report = reconcile.reconcile_runs(FakeHistory([_timed_out()]), now=NOW)

    assert [run.reason for run in report.pending] == ["another image of the server is being made"]
    assert fake.starts == 0


def test_reconcile_runs_skips_a_marked_run_without_asking_the_cloud(fake, cloud):
    report = reconcile.reconcile_runs(FakeHistory([_timed_out()], marks={ARN}), now=NOW)

    assert (report.examined, report.already_reconciled) == (1, 1)
    assert not [call for call in cloud.calls if "jobs" in call.request.url.path]


def test_reconcile_runs_skips_a_run_another_pass_finished_first(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)

    report = reconcile.reconcile_runs(FakeHistory([_timed_out()], elsewhere="finished"), now=NOW)

    assert (report.reconciled, report.already_reconciled) == ([], 1)
    assert fake.starts == 0


def test_reconcile_runs_leaves_a_run_another_pass_claimed_to_it(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)

    report = reconcile.reconcile_runs(FakeHistory([_timed_out()], elsewhere="claimed"), now=NOW)

    assert [run.reason for run in report.pending] == ["another pass is reconciling the run"]
    assert (fake.starts, fake.tagged, report.events()) == (0, {}, [])


def test_reconcile_runs_gives_up_its_claim_when_an_action_fails_and_acts_again_later(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)
    fake.failing_actions = 1
    history = FakeHistory([_timed_out()])

    failed = reconcile.reconcile_runs(history, now=NOW)

    assert [error.error for error in failed.errors] == ["CloudTransientError"]
    assert (failed.events(), history.claims, history.marks) == ([], set(), set())

    retried = reconcile.reconcile_runs(history, now=NOW + timedelta(minutes=15))

    assert [run.server_restarted for run in retried.reconciled] == [True]
    assert history.marks == {ARN}


def test_reconcile_runs_finds_by_run_tag_the_image_of_an_unknown_create(fake):
    fake.images[IMAGE_ID] = _image(IMAGE_ID)

    report = reconcile.reconcile_runs(FakeHistory([_failed(_unknown_create())]), now=NOW)

    [run] = report.reconciled
    assert (run.outcome, run.image_ids, run.server_restarted) == ("IMAGED", [IMAGE_ID], True)


def test_reconcile_runs_gives_an_unknown_create_time_to_show_its_image(fake):
    history = FakeHistory([_failed(_unknown_create(), stopped_at=NOW - timedelta(minutes=2))])

    report = reconcile.reconcile_runs(history, now=NOW)

    assert [run.reason for run in report.pending] == ["no image of the run shows yet"]


def test_reconcile_runs_starts_the_server_once_an_unknown_create_shows_nothing(fake):
    report = reconcile.reconcile_runs(FakeHistory([_failed(_unknown_create())]), now=NOW)

    assert [run.reason for run in report.reconciled] == ["the run made no image"]
    assert fake.starts == 1


def test_reconcile_runs_ignores_failures_that_left_no_work(fake, cloud):
    execution = _failed({"errorMessage": "bad"}, error="InvalidInput")

    report = reconcile.reconcile_runs(FakeHistory([execution]), now=NOW)

    assert (report.examined, report.reconciled, report.pending) == (1, [], [])
    assert not [call for call in cloud.calls if "cloudservers" in call.request.url.path]


def test_reconcile_runs_reports_a_run_it_cannot_read_and_goes_on(fake):
    fake.jobs[JOB_ID] = _job("SUCCESS")
    fake.images[IMAGE_ID] = _image(IMAGE_ID)
    broken = FailedExecution(ARN + "-0", NOW, "ImageJobTimedOut", '{"run_id": 7}', None)

    report = reconcile.reconcile_runs(FakeHistory([broken, _timed_out()]), now=NOW)

    assert [error.execution_arn for error in report.errors] == [ARN + "-0"]
    assert len(report.reconciled) == 1


def test_reconcile_runs_takes_no_run_once_time_runs_short(fake):
    report = reconcile.reconcile_runs(FakeHistory([_timed_out()]), now=NOW, time_left=lambda: 5)

    assert (report.examined, report.complete) == (0, False)


def test_unfinished_run_takes_the_policy_from_the_input_when_the_cause_has_none():
    run_input = {"server_id": SERVER_ID, "retention": {"keep_last": 3}, "image_kind": "whole"}

    run = reconcile.unfinished_run(_failed(_unknown_create(), run_input))

    assert run is not None
    assert (run.retention.keep_last, run.image_kind.value) == (3, "whole")


def test_unfinished_run_is_none_for_a_failure_without_the_reconcile_flag():
    cause = {**_unknown_create(), "reconcile": False}

    assert reconcile.unfinished_run(_failed(cause)) is None


def test_settings_from_environment_names_the_missing_variable(monkeypatch):
    monkeypatch.setenv(reconcile.PIPELINE_STATE_MACHINE_ARN, "arn:aws:states:x")

    with pytest.raises(ConfigurationError, match="ECS_IMAGING_RUN_STATE_TABLE"):
        reconcile.settings_from_environment()


# --- StepFunctionsHistory over look-alikes of the boto3 clients ----------------


class FakeDynamoDB:
    def __init__(self, items=None):
        self.items = dict(items or {})

    def get_item(self, TableName, Key, ConsistentRead):
        item = self.items.get(Key["id"]["S"])
        return {"Item": item} if item else {}


class FakeStepFunctions:
    def __init__(self, pages):
        self.pages = pages
        self.requests = []

    def list_executions(self, **request):
        self.requests.append(request)
        return self.pages[len(self.requests) - 1]


def _summary(name, started_hours_ago, stopped_hours_ago):
    return {
        "executionArn": f"{ARN}-{name}",
        "startDate": NOW - timedelta(hours=started_hours_ago),
        "stopDate": NOW - timedelta(hours=stopped_hours_ago),
    }


def _history(stepfunctions=None, dynamodb=None):
    return StepFunctionsHistory(
        stepfunctions or FakeStepFunctions([]), dynamodb or FakeDynamoDB(), "arn:sm", "table"
    )


def test_step_functions_history_lists_failures_of_the_window_and_stops_at_older_starts():
    pages = [
        {"executions": [_summary("a", 2, 1)], "nextToken": "t1"},
        {
            "executions": [_summary("b", 24 * 8, 24 * 8 - 2), _summary("c", 24 * 9, 24 * 9)],
            "nextToken": "t2",
        },
    ]
    stepfunctions = FakeStepFunctions(pages)

    found = list(_history(stepfunctions).failed_since(NOW - timedelta(days=7)))

    assert found == [f"{ARN}-a"]
    assert [r.get("nextToken") for r in stepfunctions.requests] == [None, "t1"]
    assert stepfunctions.requests[0]["statusFilter"] == "FAILED"


@pytest.fixture
def table():
    """The template's state table in moto, which checks the conditions of each put."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-central-1")
        dynamodb.create_table(**sam.tables(sam.load_template())["RunStateTable"])
        yield dynamodb


def _pass(dynamodb, pass_id):
    return StepFunctionsHistory(
        FakeStepFunctions([]), dynamodb, "arn:sm", "RunStateTable", pass_id=pass_id
    )


def _mark_item(dynamodb):
    key = {"id": {"S": f"reconciled#{ARN}"}}
    return dynamodb.get_item(TableName="RunStateTable", Key=key)["Item"]


def test_step_functions_history_claim_is_refused_while_another_pass_holds_it(table):
    first, second = _pass(table, "p1"), _pass(table, "p2")

    taken = [first.claim(ARN, NOW), second.claim(ARN, NOW + timedelta(minutes=14))]

    assert taken == [True, False]
    assert first.is_reconciled(ARN) is False


def test_step_functions_history_released_claim_is_taken_by_the_next_pass(table):
    first, second = _pass(table, "p1"), _pass(table, "p2")
    first.claim(ARN, NOW)

    first.release(ARN, NOW)

    assert second.claim(ARN, NOW) is True
    assert _mark_item(table)["claimed_by"] == {"S": "p2"}


def test_step_functions_history_release_leaves_the_claim_of_another_pass(table):
    first, second = _pass(table, "p1"), _pass(table, "p2")
    first.claim(ARN, NOW)

    second.release(ARN, NOW)

    assert second.claim(ARN, NOW) is False


def test_step_functions_history_lapsed_claim_of_a_crashed_pass_is_taken_over(table):
    _pass(table, "p1").claim(ARN, NOW)

    later = NOW + reconcile.CLAIM_LIFETIME + timedelta(seconds=1)

    assert _pass(table, "p2").claim(ARN, later) is True


def test_step_functions_history_finished_run_is_never_claimed_again(table):
    first = _pass(table, "p1")
    first.claim(ARN, NOW)

    first.mark_reconciled(ARN, NOW)

    later = _pass(table, "p2")
    assert (later.is_reconciled(ARN), later.claim(ARN, NOW + timedelta(days=1))) == (True, False)
    assert _mark_item(table)["expiration"] == {
        "N": str(int((NOW + reconcile.MARK_LIFETIME).timestamp()))
    }


def test_step_functions_history_mark_of_before_claims_counts_as_finished(table):
    table.put_item(
        TableName="RunStateTable",
        Item={"id": {"S": f"reconciled#{ARN}"}, "expiration": {"N": "1"}},
    )
    history = _pass(table, "p1")

    assert (history.is_reconciled(ARN), history.claim(ARN, NOW)) == (True, False)


@pytest.mark.parametrize(
    ("expires_at", "holder"), [("2026-12-04T12:10:00Z", "r2"), ("2026-12-04T11:50:00Z", None)]
)
def test_step_functions_history_lock_holder_while_the_lock_is_in_force(expires_at, holder):
    lock = {
        "id": {"S": f"lock#{SERVER_ID}"},
        "run_id": {"S": "r2"},
        "expires_at": {"S": expires_at},
    }
    history = _history(dynamodb=FakeDynamoDB({f"lock#{SERVER_ID}": lock}))

    assert history.lock_holder(SERVER_ID, NOW) == holder

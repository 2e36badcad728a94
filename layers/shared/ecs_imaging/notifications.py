"""The EventBridge entries a run announces, every one built by `entry`.

Detail types (schemas in docs/events.md): "Image Created", "Image Deleted",
"Image Failed", "Run Skipped", "Image Exported" and "Export Failed". Every detail
carries the common fields and the fields of its type, null when unknown, so that a
rule or a mail template may rely on them. An SNS topic subscribed through an
EventBridge rule turns them into e-mails.

Most entries are built by the step that ends the run; the ends the state machine
reaches without such a step (a rejected run, a busy server, a timeout, a failed
restore) are built by `for_state`, which the Announce run event function calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import aws, clock, config, naming, retention
from .errors import CLOUD_ERROR_NAMES, InvalidInput, cloud_answer
from .models import JobCheck, JobStatus, RunContext, RunOutcome, Trigger, parse_model

SOURCE = "ecs-imaging"
# PutEvents takes at most 10 entries; the image itself needs one.
PUT_EVENTS_LIMIT = 10
MAX_DELETION_ENTRIES = PUT_EVENTS_LIMIT - 1

COMMON_FIELDS = (
    "server_id",
    "server_name",
    "run_id",
    "execution_id",
    "trigger",
    "duration_s",
    "late",
)
_FAILURE_FIELDS = (
    "error",
    "message",
    "detail",
    "job_id",
    "image_id",
    "error_code",
    "fail_reason",
    "http_status",
    "request_id",
    "stopped_by_pipeline",
    "restore",
    "reconcile",
    "tags",
    "dropped_tags",
)
_EXPORT_FIELDS = ("image_id", "job_id", "bucket_url", "status", "error_code", "fail_reason")
FIELDS: dict[str, tuple[str, ...]] = {
    "Image Created": (
        "image_kind",
        "image_id",
        "image_ids",
        "image_name",
        "job_id",
        "polls",
        "server_restarted",
        "dropped_tags",
        "deleted_image_ids",
        "kept_images",
    ),
    "Image Deleted": (
        "image_id",
        "image_name",
        "created_at",
        "backup_deleted",
        "deleted",
        "reason",
        "scheduled",
    ),
    "Image Failed": _FAILURE_FIELDS,
    "Run Skipped": ("reason",),
    "Image Exported": _EXPORT_FIELDS,
    "Export Failed": _EXPORT_FIELDS,
}
_DELETION_FIELDS = FIELDS["Image Deleted"][:-1]
_LEFT_STOPPED = "server left stopped: its image job may still be running"
_MESSAGE_MAX = 1000


def entry(detail_type: str, fields: Mapping[str, Any]) -> dict[str, str]:
    """The entry of one run event: its detail has every documented field, null when
    unknown, and the fields given (a variant may add some of its own)."""
    if detail_type not in FIELDS:
        raise InvalidInput(f"Unknown run event type {detail_type!r}.")
    detail = dict.fromkeys((*COMMON_FIELDS, *FIELDS[detail_type]))
    detail.update(late=False)
    if detail_type == "Image Deleted":
        detail.update(scheduled=False)
    detail.update(fields)

    return {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":"), default=str),
        "EventBusName": config.get_settings().event_bus_name,
    }


def complete(built: Mapping[str, str]) -> dict[str, str]:
    """An entry built elsewhere (reconcile's late events), with the fields it lacks."""
    return entry(built["DetailType"], json.loads(built["Detail"]))


def for_outcome(outcome: RunOutcome, run: RunContext) -> list[dict[str, str]]:
    """The entries that announce a run that ended without an error."""
    common = _common(run)
    if outcome.outcome == "SKIPPED":
        return [entry("Run Skipped", {**common, "reason": outcome.reason})]

    deleted = [d for d in outcome.deleted_images if d["deleted"]]
    created = {
        **common,
        "image_kind": outcome.image_kind.value,
        "image_id": outcome.image_id,
        "image_ids": outcome.image_ids,
        "image_name": outcome.image_name,
        "job_id": outcome.job_id,
        "polls": outcome.polls,
        "server_restarted": outcome.server_restarted,
        "dropped_tags": outcome.dropped_tags,
        "deleted_image_ids": [d["image_id"] for d in deleted],
        "kept_images": [
            {"image_id": d["image_id"], "reason": d["reason"], "error_code": d.get("error_code")}
            for d in outcome.deleted_images
            if not d["deleted"] and d["reason"] != retention.ALREADY_GONE
        ],
    }
    entries = [entry("Image Created", created)]
    for deletion in deleted[:MAX_DELETION_ENTRIES]:
        entries.append(entry("Image Deleted", {**common, **_deletion_fields(deletion)}))
    export = outcome.export
    if export is not None and export.status in (JobStatus.SUCCESS, JobStatus.FAIL):
        detail = {**common, "image_id": outcome.image_id, **export.model_dump(mode="json")}
        kind = "Image Exported" if export.status is JobStatus.SUCCESS else "Export Failed"
        entries = [*entries[:MAX_DELETION_ENTRIES], entry(kind, detail)]

    return entries


def run_failed(error: str, cause: Mapping[str, Any], run: RunContext) -> dict[str, str]:
    """The entry that announces a failed run; `cause` is Handle failure's."""
    message = _message(cause.get("detail")) or cause.get("fail_reason")

    return entry("Image Failed", {**_common(run), "error": error, "message": message, **cause})


def scheduled_deletions(report: list[retention.ServerRetention]) -> list[dict[str, str]]:
    """One "Image Deleted" entry for each image the scheduled retention deleted."""
    return [
        entry(
            "Image Deleted",
            {
                "server_id": server.server_id,
                "server_name": server.server_name,
                **_deletion_fields(deletion._asdict()),
                "scheduled": True,
            },
        )
        for server in report
        for deletion in server.deletions
        if deletion.deleted
    ]


def for_state(request: Mapping[str, Any]) -> list[dict[str, str]]:
    """The entries of an end the state machine announces from its state alone.

    `request` is what the Announce states pass: `end` (`rejected`, `busy`,
    `skipped`, `timed-out` or `restore-failed`), the whole `state`, and the
    `execution`'s id, start time and input.
    """
    end = request.get("end")
    state = request.get("state")
    execution = request.get("execution")
    if end not in _ENDS or not isinstance(state, dict) or not isinstance(execution, dict):
        raise InvalidInput(f"Cannot announce the run end {end!r} from this request.")

    return [_ENDS[end](state, execution)]


def send(entries: list[dict[str, str]]) -> int:
    """Put the entries on their bus; how many EventBridge refused."""
    client = aws.client("events")
    unsent = 0
    for start in range(0, len(entries), PUT_EVENTS_LIMIT):
        answer = client.put_events(Entries=entries[start : start + PUT_EVENTS_LIMIT])
        unsent += int(answer.get("FailedEntryCount", 0))

    return unsent


def error_detail(cause: Any) -> Any:
    """The message inside a Lambda error cause, without its stack trace."""
    if not isinstance(cause, str):
        return cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause[:_MESSAGE_MAX]
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return {"type": parsed.get("errorType"), "message": parsed.get("errorMessage")}

    return parsed


def _rejected(state: dict[str, Any], execution: dict[str, Any]) -> dict[str, str]:
    # Prepare server (or the lock) failed: there is no run, only the input.
    detail = error_detail(state.get("Cause"))
    message = _message(detail)
    refused = isinstance(detail, dict) and detail.get("type") in CLOUD_ERROR_NAMES
    answer = cloud_answer(message) if message and refused else {}
    failure = {
        "error": str(state.get("Error") or "RunRejected"),
        "message": message,
        "detail": detail,
        "error_code": answer.get("error_code"),
        "http_status": answer.get("http_status"),
        "request_id": answer.get("request_id"),
        "stopped_by_pipeline": False,
        "restore": "nothing to restore",
        "reconcile": False,
    }

    return entry("Image Failed", {**_common_of_execution(execution), **failure})


def _skipped(state: dict[str, Any], execution: dict[str, Any]) -> dict[str, str]:
    # A skip the state machine decided after Prepare server: the lock was held, or
    # the server was started before its image under require-stopped.
    run = RunContext.model_validate(state["run"])
    outcome = state.get("outcome") or {}

    return entry("Run Skipped", {**_common(run), "reason": outcome.get("reason")})


def _timed_out(state: dict[str, Any], execution: dict[str, Any]) -> dict[str, str]:
    run = RunContext.model_validate(state["run"])
    job = JobCheck.model_validate(state["job"])
    failure = {
        "error": "ImageJobTimedOut",
        "message": f"Image job {job.job_id!r} of server {run.server_id!r} was still "
        f"{job.status.value} at the run's deadline {run.deadline}.",
        "job_id": job.job_id,
        "image_id": job.image_id,
        "error_code": job.error_code,
        "fail_reason": job.fail_reason,
        "stopped_by_pipeline": run.stopped_by_pipeline,
        "restore": _LEFT_STOPPED if run.stopped_by_pipeline else "nothing to restore",
        "reconcile": True,
        "tags": run.tags,
        "dropped_tags": run.dropped_tags,
        # This variant's own: what reconcile finishes the run with.
        "image_ids": job.image_ids,
        "image_kind": run.image_kind.value,
        "image_name": run.image_name,
        "deadline": run.deadline,
    }

    return entry("Image Failed", {**_common(run), **failure})


def _restore_failed(state: dict[str, Any], execution: dict[str, Any]) -> dict[str, str]:
    # Handle failure itself failed: the server may be left stopped for reconcile.
    run = RunContext.model_validate(state["run"])
    error = state.get("error") or {}
    restore_error = state.get("restore_error") or {}
    job = state.get("job") or {}
    detail = error_detail(restore_error.get("Cause"))
    failure = {
        "error": str(error.get("Error") or "RunFailed"),
        "message": f"Restoring server {run.server_id!r} failed: {_message(detail)}",
        "detail": detail,
        "job_id": job.get("job_id"),
        "image_id": job.get("image_id"),
        "error_code": job.get("error_code"),
        "fail_reason": job.get("fail_reason"),
        "stopped_by_pipeline": run.stopped_by_pipeline,
        "restore": f"failed: {restore_error.get('Error')}",
        "reconcile": True,
        "tags": run.tags,
        "dropped_tags": run.dropped_tags,
        "restore_error": restore_error.get("Error"),
    }

    return entry("Image Failed", {**_common(run), **failure})


_ENDS = {
    "rejected": _rejected,
    "busy": _skipped,
    "skipped": _skipped,
    "timed-out": _timed_out,
    "restore-failed": _restore_failed,
}


def _common(run: RunContext) -> dict[str, Any]:
    return {
        "server_id": run.server_id,
        "server_name": run.server_name,
        "run_id": run.run_id,
        "execution_id": run.execution_id,
        "trigger": run.trigger.model_dump(mode="json"),
        "duration_s": _seconds_since(run.started_at),
    }


def _common_of_execution(execution: dict[str, Any]) -> dict[str, Any]:
    given = execution.get("input")
    given = given if isinstance(given, dict) else {}
    execution_id = str(execution.get("id") or "")
    started = str(execution.get("started") or "")
    server_id = given.get("server_id")
    try:
        trigger = parse_model(Trigger, given.get("trigger") or {}, "trigger")
    except InvalidInput:
        trigger = None

    return {
        "server_id": server_id.lower()[:256] if isinstance(server_id, str) else None,
        # The same run id Prepare server would have given the run.
        "run_id": naming.run_id_for(execution_id, started) if execution_id else None,
        "execution_id": execution_id or None,
        "trigger": trigger.model_dump(mode="json") if trigger else None,
        "duration_s": _seconds_since(started) if started else None,
    }


def _deletion_fields(deletion: Mapping[str, Any]) -> dict[str, Any]:
    return {name: deletion.get(name) for name in _DELETION_FIELDS}


def _message(detail: Any) -> str | None:
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"])[:_MESSAGE_MAX]
    if isinstance(detail, str) and detail:
        return detail[:_MESSAGE_MAX]

    return None


def _seconds_since(timestamp: str) -> float:
    return round((clock.now() - clock.parse_timestamp(timestamp)).total_seconds(), 1)

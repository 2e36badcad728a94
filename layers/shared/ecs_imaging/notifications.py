"""The EventBridge entries a run announces; the state machine sends them.

Detail types (schemas in docs/events.md): "Image Created", "Image Deleted",
"Image Failed", "Run Skipped", "Image Exported" and "Export Failed". An SNS topic
subscribed through an EventBridge rule turns them into e-mails.
"""

from __future__ import annotations

import json
from typing import Any

from . import clock, config, retention
from .models import JobStatus, RunContext, RunOutcome

SOURCE = "ecs-imaging"
# PutEvents takes at most 10 entries; the image itself needs one.
MAX_DELETION_ENTRIES = 9


def for_outcome(outcome: RunOutcome, run: RunContext) -> list[dict[str, str]]:
    """The entries that announce a run that ended without an error."""
    common = _common(run)
    if outcome.outcome == "SKIPPED":
        return [_entry("Run Skipped", {**common, "reason": outcome.reason})]

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
        "deleted_image_ids": [d["image_id"] for d in outcome.deleted_images if d["deleted"]],
        "kept_images": [
            {"image_id": d["image_id"], "reason": d["reason"], "error_code": d.get("error_code")}
            for d in outcome.deleted_images
            if not d["deleted"] and d["reason"] != retention.ALREADY_GONE
        ],
        "duration_s": _seconds_since(run.started_at),
    }
    entries = [_entry("Image Created", created)]
    for deletion in [d for d in outcome.deleted_images if d["deleted"]][:MAX_DELETION_ENTRIES]:
        entries.append(_entry("Image Deleted", {**common, **deletion}))
    export = outcome.export
    if export is not None and export.status in (JobStatus.SUCCESS, JobStatus.FAIL):
        detail = {**common, "image_id": outcome.image_id, **export.model_dump(mode="json")}
        kind = "Image Exported" if export.status is JobStatus.SUCCESS else "Export Failed"
        entries = [*entries[:MAX_DELETION_ENTRIES], _entry(kind, detail)]

    return entries


def run_failed(error: str, cause: dict[str, Any], run: RunContext) -> dict[str, str]:
    """The entry that announces a failed run."""
    return _entry(
        "Image Failed",
        {**_common(run), "error": error, **cause, "duration_s": _seconds_since(run.started_at)},
    )


def _common(run: RunContext) -> dict[str, Any]:
    return {
        "server_id": run.server_id,
        "server_name": run.server_name,
        "run_id": run.run_id,
        "execution_id": run.execution_id,
        "trigger": run.trigger.model_dump(mode="json"),
    }


def _entry(detail_type: str, detail: dict[str, Any]) -> dict[str, str]:
    return {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":"), default=str),
        "EventBusName": config.get_settings().event_bus_name,
    }


def _seconds_since(timestamp: str) -> float:
    return round((clock.now() - clock.parse_timestamp(timestamp)).total_seconds(), 1)

"""Reconcile runs: finish the runs that ended before their image jobs did (scheduled)."""

from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import notifications, reconcile
from ecs_imaging.observability import logger, metrics

# PutEvents takes at most 10 entries per call.
ENTRIES_PER_CALL = 10


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled: reconcile the failed runs of the last days; returns the report."""
    settings = reconcile.settings_from_environment()
    history = reconcile.StepFunctionsHistory(
        boto3.client("stepfunctions"),
        boto3.client("dynamodb"),
        settings.state_machine_arn,
        settings.table_name,
        pass_id=context.aws_request_id,
    )

    report = reconcile.reconcile_runs(
        history, time_left=lambda: context.get_remaining_time_in_millis() / 1000
    )
    # Reconcile builds its own entries; these add the fields every run event carries.
    entries = [notifications.complete(entry) for entry in report.events()]
    unsent = _send_events(boto3.client("events"), entries)

    _record(report, unsent)

    return report.model_dump(mode="json")


def _record(report: reconcile.ReconcileReport, unsent: int) -> None:
    log = logger.warning if report.errors or unsent else logger.info
    log(
        "Runs reconciled",
        extra={
            "examined": report.examined,
            "reconciled": [run.execution_arn for run in report.reconciled],
            "pending": [run.model_dump() for run in report.pending],
            "errors": [error.model_dump() for error in report.errors],
            "complete": report.complete,
            "events_unsent": unsent,
        },
    )
    for name, value in (
        ("RunsReconciled", len(report.reconciled)),
        ("RunsPending", len(report.pending)),
        ("ReconcileErrors", len(report.errors)),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _send_events(events: Any, entries: list[dict[str, str]]) -> int:
    unsent = 0
    for start in range(0, len(entries), ENTRIES_PER_CALL):
        answer = events.put_events(Entries=entries[start : start + ENTRIES_PER_CALL])
        unsent += int(answer.get("FailedEntryCount", 0))

    return unsent

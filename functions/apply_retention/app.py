"""Apply retention: the retention policy on its own schedule, for every tagged server."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import clock, notifications, retention
from ecs_imaging.errors import RetentionIncomplete
from ecs_imaging.fleet import SweepInput
from ecs_imaging.models import RetentionPolicy, parse_model
from ecs_imaging.observability import logger, metrics
from ecs_imaging.session import CloudSession


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled: delete what `retention` says for each server with `tag`; report it.

    A server that fails does not stop the others; the invocation fails at the end
    if any did, so that Lambda's error metric shows it.
    """
    tag = parse_model(SweepInput, {"tag": event.get("tag"), "slot": "-"}, "retention input").tag
    policy = parse_model(RetentionPolicy, event.get("retention"), "retention policy")
    logger.append_keys(tag=tag)

    key, _, value = tag.partition("=")
    report = retention.sweep(CloudSession(), (key, value), policy, clock.now())

    deleted = [_item(server, d) for server in report for d in server.deletions if d.deleted]
    kept = [_item(server, d) for server in report for d in server.deletions if d.kept]
    failed = [
        {"server_id": s.server_id, "error": s.error, "message": s.message}
        for s in report
        if s.error
    ]
    unsent = notifications.send(notifications.scheduled_deletions(report))
    _record(len(report), deleted, kept, failed, unsent)
    if failed:
        raise RetentionIncomplete(
            f"Retention failed for {len(failed)} of {len(report)} servers: "
            f"{[item['server_id'] for item in failed]!r}."
        )

    return {"servers": len(report), "deleted": deleted, "kept": kept}


def _item(server: retention.ServerRetention, deletion: retention.Deletion) -> dict[str, Any]:
    return {"server_id": server.server_id, **deletion._asdict()}


def _record(
    servers: int, deleted: list[Any], kept: list[Any], failed: list[Any], unsent: int
) -> None:
    log = logger.warning if failed or kept or unsent else logger.info
    log(
        "Retention applied",
        extra={
            "servers": servers,
            "deleted": len(deleted),
            "kept": kept,
            "failed": failed,
            "events_unsent": unsent,
        },
    )
    metrics.add_metric(name="ImagesDeleted", unit=MetricUnit.Count, value=len(deleted))
    metrics.add_metric(name="RetentionFailures", unit=MetricUnit.Count, value=len(failed))

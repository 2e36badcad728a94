"""Apply retention: the retention policy on its own schedule, for every tagged server."""

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import aws, clock, config, retention
from ecs_imaging.fleet import SweepInput
from ecs_imaging.models import RetentionPolicy, parse_model
from ecs_imaging.observability import logger, metrics
from ecs_imaging.session import CloudSession

# PutEvents takes at most 10 entries a call.
BATCH = 10


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled: delete what `retention` says for each server with `tag`; report it."""
    tag = parse_model(SweepInput, {"tag": event.get("tag"), "slot": "-"}, "retention input").tag
    policy = parse_model(RetentionPolicy, event.get("retention"), "retention policy")
    logger.append_keys(tag=tag)

    key, _, value = tag.partition("=")
    report = retention.sweep(CloudSession(), (key, value), policy, clock.now())

    deleted = [
        {"server_id": server_id, **deletion._asdict()}
        for server_id, deletions in report.items()
        for deletion in deletions
        if deletion.deleted
    ]
    _announce(deleted)
    logger.info("Retention applied", extra={"servers": len(report), "deleted": len(deleted)})
    metrics.add_metric(name="ImagesDeleted", unit=MetricUnit.Count, value=len(deleted))

    return {"servers": len(report), "deleted": deleted}


def _announce(deleted: list[dict[str, Any]]) -> None:
    entries = [
        {
            "Source": "ecs-imaging",
            "DetailType": "Image Deleted",
            "Detail": json.dumps({**item, "scheduled": True}, default=str),
            "EventBusName": config.get_settings().event_bus_name,
        }
        for item in deleted
    ]
    client = aws.client("events")
    for start in range(0, len(entries), BATCH):
        client.put_events(Entries=entries[start : start + BATCH])

"""Announce run event: the event of a run end the state machine reaches without a step
that builds it (a rejected run, a busy server, a timeout, a failed restore)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import notifications
from ecs_imaging.errors import EventsNotSent
from ecs_imaging.observability import logger, traced


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Tasks "Announce …": put the end's run event on the bus."""
    execution = event.get("execution") or {}
    logger.append_keys(execution_id=execution.get("id"), end=event.get("end"))

    entries = notifications.for_state(event)
    unsent = notifications.send(entries)

    if unsent:
        raise EventsNotSent(f"EventBridge refused {unsent} of {len(entries)} run events.")
    logger.info("Run event announced", extra={"detail_types": [e["DetailType"] for e in entries]})

    return {"announced": len(entries)}

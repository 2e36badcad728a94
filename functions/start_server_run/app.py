"""Start server run: start one per-server pipeline run of a sweep, under its own name."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import aws, fleet
from ecs_imaging.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Start server run": the child execution's ARN, started now or before."""
    logger.append_keys(server_id=event.get("server_id"), execution_name=event.get("execution_name"))

    started = fleet.start_run(aws.client("stepfunctions"), event)

    logger.info("Server run started", extra={"already_started": started["already_started"]})

    return started

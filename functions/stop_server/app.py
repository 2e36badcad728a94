"""Stop server: ask ECS to stop the server this run decided to stop."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import pipeline
from ecs_imaging.models import RunContext, parse_model
from ecs_imaging.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Stop server": returns $.server with the server job id."""
    run = parse_model(RunContext, event.get("run"), "run state")
    logger.append_keys(execution_id=run.execution_id, server_id=run.server_id)

    server = pipeline.stop_server(run)

    logger.info("Server stop requested", extra={"server_job_id": server.stop_job_id})

    return server.model_dump(mode="json")

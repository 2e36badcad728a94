"""Stop server: ask ECS to stop the server this run decided to stop."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import pipeline
from ecs_imaging.models import RunContext, parse_model
from ecs_imaging.observability import logger, traced


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Stop server": returns the whole state, $.run and $.server."""
    run = parse_model(RunContext, event.get("run"), "run state")
    logger.append_keys(execution_id=run.execution_id, server_id=run.server_id)

    state = pipeline.stop_server(run)

    logger.info(
        "Server stop requested",
        extra={
            "server_job_id": state["server"]["stop_job_id"],
            "stopped_by_pipeline": state["run"]["stopped_by_pipeline"],
        },
    )

    return state

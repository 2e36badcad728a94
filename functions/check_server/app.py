"""Check server: has the server stopped yet?"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import pipeline
from ecs_imaging.models import RunContext, ServerCheck, parse_model
from ecs_imaging.observability import logger, traced


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Check server": returns $.server with `stopped` and the next wait."""
    run = parse_model(RunContext, event.get("run"), "run state")
    previous = parse_model(ServerCheck, event.get("server"), "server state")
    logger.append_keys(execution_id=run.execution_id, server_id=run.server_id)

    server = pipeline.check_server(run, previous)

    logger.info("Server checked", extra={"status": server.status, "stopped": server.stopped})

    return server.model_dump(mode="json")

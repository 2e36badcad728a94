"""Check server: has the server stopped yet?"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import pipeline
from ecs_imaging.models import RunContext, ServerCheck, parse_model
from ecs_imaging.observability import logger, traced


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Check server": returns $.run and $.server (`stopped`, the next wait)."""
    run = parse_model(RunContext, event.get("run"), "run state")
    previous = parse_model(ServerCheck, event.get("server"), "server state")
    logger.append_keys(execution_id=run.execution_id, server_id=run.server_id)

    state = pipeline.check_server(run, previous)

    server = state["server"]
    logger.info("Server checked", extra={"status": server["status"], "stopped": server["stopped"]})

    return state

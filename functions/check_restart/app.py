"""Check restart: whether the server the run started again is running."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import pipeline
from ecs_imaging.models import RunContext, RunOutcome, parse_model
from ecs_imaging.observability import logger, traced


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Check restart": returns $.outcome with its restart part updated."""
    run = parse_model(RunContext, event.get("run"), "run state")
    outcome = parse_model(RunOutcome, event.get("outcome"), "run outcome")
    logger.append_keys(execution_id=run.execution_id, server_id=run.server_id)

    outcome = pipeline.check_restart(run, outcome)

    restart = outcome.restart
    logger.info(
        "Restart checked",
        extra={
            "status": restart.status if restart else None,
            "attempts": restart.attempts if restart else None,
        },
    )

    return outcome.model_dump(mode="json")

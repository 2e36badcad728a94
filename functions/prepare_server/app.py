"""Prepare server: validate the input, look at the server, decide the run's course."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import pipeline
from ecs_imaging.observability import logger, metrics, traced


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Prepare server": returns the run's state ($.run, and $.outcome if skipped)."""
    logger.append_keys(execution_id=event.get("execution_id"))

    state = pipeline.prepare_server(
        event.get("input"),
        str(event.get("execution_id")),
        execution_started=str(event.get("execution_started") or ""),
    )

    run = state["run"]
    logger.append_keys(server_id=run["server_id"], run_id=run["run_id"])
    logger.info("Run prepared", extra={"action": run["action"], "image_name": run["image_name"]})
    metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=1)

    return state

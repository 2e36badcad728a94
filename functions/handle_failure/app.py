"""Handle failure: restore what the run changed and describe the error."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import pipeline
from ecs_imaging.observability import logger, metrics, traced


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Handle failure": returns $.failure for the Fail state."""
    run = event.get("run") or {}
    logger.append_keys(execution_id=run.get("execution_id"), server_id=run.get("server_id"))

    failure = pipeline.handle_failure(event)

    logger.warning("Run failed", extra={"error": failure.error, "cause": failure.cause})
    metrics.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1)

    return failure.model_dump(mode="json")

"""Finalize run: confirm the image and start the server again if the run stopped it."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import pipeline
from ecs_imaging.models import JobCheck, RunContext, parse_model
from ecs_imaging.observability import logger, metrics, traced


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Finalize run": returns $.outcome."""
    run = parse_model(RunContext, event.get("run"), "run state")
    job = parse_model(JobCheck, event.get("job"), "job state")
    logger.append_keys(execution_id=run.execution_id, server_id=run.server_id, job_id=job.job_id)

    outcome = pipeline.finalize_run(run, job)

    logger.info(
        "Image created",
        extra={"image_id": outcome.image_id, "server_restarted": outcome.server_restarted},
    )
    metrics.add_metric(name="ImagesCreated", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ImageJobPolls", unit=MetricUnit.Count, value=outcome.polls)

    return outcome.model_dump(mode="json")

"""Create image: start the run's image job, or adopt the image the run already started."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import pipeline
from ecs_imaging.models import RunContext, parse_model
from ecs_imaging.observability import logger, metrics, traced


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Create image": returns $.job."""
    run = parse_model(RunContext, event.get("run"), "run state")
    logger.append_keys(execution_id=run.execution_id, server_id=run.server_id)

    job = pipeline.create_image(run)

    logger.append_keys(job_id=job.job_id, image_id=job.image_id)
    logger.info("Image job started", extra={"adopted": job.adopted})
    metrics.add_metric(name="ImageJobsStarted", unit=MetricUnit.Count, value=int(not job.adopted))

    return job.model_dump(mode="json")

"""Check image job: where the IMS job stands and how long to wait next."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import pipeline
from ecs_imaging.models import JobCheck, RunContext, parse_model
from ecs_imaging.observability import logger, traced


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Check image job": returns $.job with its status and `wait_seconds`."""
    run = parse_model(RunContext, event.get("run"), "run state")
    previous = parse_model(JobCheck, event.get("job"), "job state")
    logger.append_keys(
        execution_id=run.execution_id, server_id=run.server_id, job_id=previous.job_id
    )

    job = pipeline.check_image_job(run, previous)

    logger.info(
        "Image job checked",
        extra={"status": job.status, "progress": job.progress, "wait_seconds": job.wait_seconds},
    )

    return job.model_dump(mode="json")

"""Check server run: has one per-server run of a sweep ended, and how?"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import aws, fleet
from ecs_imaging.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "Check server run": the run's status and outcome."""
    execution_arn = str(event.get("execution_arn"))
    logger.append_keys(child_execution=execution_arn)

    described = aws.client("stepfunctions").describe_execution(executionArn=execution_arn)
    summary = fleet.run_summary(described)

    logger.info("Server run checked", extra={"status": summary["status"]})

    return summary

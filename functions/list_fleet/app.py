"""List fleet: the servers a scheduled sweep images."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import fleet
from ecs_imaging.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Task "List servers": the tagged servers with their pipeline inputs."""
    sweep = fleet.list_fleet(event)

    logger.append_keys(tag=sweep["tag"], slot=sweep["slot"])
    logger.info("Fleet listed", extra={"servers": len(sweep["servers"])})

    return sweep

"""The handlers' Powertools Logger and Metrics, and the library's logs routed into them."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

SERVICE = "ecs-imaging"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# The library logs through the standard `logging` tree under "ecs_imaging"; give
# that tree the handlers' JSON formatter so one request id ties every line together.
logging.getLogger("ecs_imaging")
copy_config_to_registered_loggers(source_logger=logger, include={"ecs_imaging"})

# httpcore traces response headers (X-Subject-Token among them) at DEBUG, which a
# Lambda log level of DEBUG would otherwise let through.
for _name in ("httpcore", "httpx"):
    logging.getLogger(_name).setLevel(logging.WARNING)

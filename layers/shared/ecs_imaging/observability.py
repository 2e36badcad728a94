"""The handlers' Powertools Logger, Metrics and Tracer, and the library's logs routed
into them."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from . import config

SERVICE = "ecs-imaging"
# Given here as well as in the template: with metrics disabled (local runs),
# Powertools still prints them once a hundred have piled up, and needs a namespace.
NAMESPACE = "EcsImaging"

Handler = TypeVar("Handler", bound=Callable[..., Any])

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)

# The library logs through the standard `logging` tree under "ecs_imaging"; give
# that tree the handlers' JSON formatter so one request id ties every line together.
logging.getLogger("ecs_imaging")
copy_config_to_registered_loggers(source_logger=logger, include={"ecs_imaging"})

# httpcore traces response headers (X-Subject-Token among them) at DEBUG, which a
# Lambda log level of DEBUG would otherwise let through.
for _name in ("httpcore", "httpx"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def traced(handler: Handler) -> Handler:
    """The handler, traced with X-Ray when tracing is on (see `config.tracing_enabled`).

    The decision waits for the first invocation: building a Tracer loads the X-Ray
    SDK and botocore, a cold start not worth paying while tracing is off.
    """
    chosen: Handler | None = None

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        nonlocal chosen
        if chosen is None:
            chosen = _trace(handler) if config.tracing_enabled() else handler

        return chosen(event, context)

    return cast(Handler, run)


@functools.cache
def tracer() -> Tracer:
    """The process's one Tracer; it patches only the HTTP client the library uses."""
    # Patching every supported library would import boto3 as well.
    return Tracer(service=SERVICE, patch_modules=["httpx"])


def _trace(handler: Handler) -> Handler:
    # Responses hold the run's state: ids only, but nothing a trace needs.
    traced_handler = tracer().capture_lambda_handler(handler, capture_response=False)

    return cast(Handler, traced_handler)

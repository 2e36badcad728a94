"""Webhook: SMN and EventGrid deliveries of ECS-stop traces in, pipeline runs out.

boto3 and the idempotency store load with the first delivery that asks for a run:
a refused request never pays for them, and the cold import stays light.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ecs_imaging import config, webhook
from ecs_imaging.errors import ConfigurationError
from ecs_imaging.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Function URL: check a delivery, start one run per server its stop trace names."""
    reply = webhook.receive(event)
    if reply.runs:
        reply = _start_runs(reply, context)

    logger.info("Delivery answered", extra=reply.log_line)
    started, refused = len(reply.started), int(reply.refused)
    metrics.add_metric(name="RunsTriggered", unit=MetricUnit.Count, value=started)
    metrics.add_metric(name="DeliveriesRefused", unit=MetricUnit.Count, value=refused)

    return reply.response()


def _start_runs(reply: webhook.Reply, context: LambdaContext) -> webhook.Reply:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
    )
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        start = _idempotent_start(context)
        outcome = start(batch=reply.batch)
    except ConfigurationError as exc:
        return reply.start_failed(500, str(exc))
    except IdempotencyAlreadyInProgressError:
        # Another delivery of the trace is starting the runs; if it fails, only a
        # retry of this one may be left to start them, so ask SMN for one.
        return reply.start_failed(503, "in progress elsewhere")
    except (BotoCoreError, ClientError, IdempotencyPersistenceLayerError) as exc:
        return reply.start_failed(503, f"{type(exc).__name__}: {exc}")

    return reply.after_start(outcome)


def _idempotent_start(context: LambdaContext) -> Callable[..., dict[str, Any]]:
    start, idempotency = _build_start()
    idempotency.register_lambda_context(context)

    return start


@functools.cache
def _build_start() -> tuple[Callable[..., dict[str, Any]], Any]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    table = webhook.run_state_table()
    idempotency = IdempotencyConfig(
        event_key_jmespath="key",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=webhook.IDEMPOTENCY_SECONDS,
        response_hook=_mark_replayed,
    )
    store = DynamoDBPersistenceLayer(table_name=table, boto_config=_boto_config())
    start = idempotent_function(
        _start_executions,
        data_keyword_argument="batch",
        persistence_store=store,
        config=idempotency,
        key_prefix=webhook.IDEMPOTENCY_KEY_PREFIX,
    )

    return start, idempotency


def _start_executions(batch: dict[str, Any]) -> dict[str, Any]:
    client = _stepfunctions()
    arn = config.pipeline_state_machine_arn()
    started, existing = [], []
    for run in batch["runs"]:
        try:
            client.start_execution(
                stateMachineArn=arn, name=run["name"], input=json.dumps(run["input"])
            )
        except client.exceptions.ExecutionAlreadyExists:
            # The name is the trace's and the server's: an earlier delivery started
            # this run, even if its idempotency record is gone.
            existing.append(run["name"])
            continue
        started.append(run["name"])

    return {"started": started, "existing": existing}


def _mark_replayed(response: Any, idempotent_data: Any) -> Any:
    return {**response, "replayed": True}


@functools.cache
def _stepfunctions() -> Any:
    import boto3

    return boto3.client("stepfunctions", config=_boto_config())


def _boto_config() -> Any:
    from botocore.config import Config

    # SMN waits 5 seconds for the answer: fail fast and let it deliver again.
    return Config(
        connect_timeout=1,
        read_timeout=2,
        retries={"total_max_attempts": 2, "mode": "standard"},
    )

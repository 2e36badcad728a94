import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from ecs_imaging import auth
from ecs_imaging_local.emulator import Emulator
from ecs_imaging_local.engine import LocalEngine
from ecs_imaging_local.environment import (
    configured,
    emulator_environment,
    webhook_environment,
)

TIME_SCALE = 0.004
REGION = "eu-central-1"


@dataclass
class Bench:
    """An emulator, the local engine pointed at it, and a queue of the run events."""

    emulator: Emulator
    engine: LocalEngine
    queue_url: str
    received: list[dict[str, Any]] = field(default_factory=list)

    def run(self, run_input, name="run-1"):
        return self.engine.run(run_input, name)

    def events(self) -> list[dict[str, Any]]:
        """Every run event EventBridge delivered so far, oldest first."""
        sqs = boto3.client("sqs", region_name=REGION)
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return self.received
            self.received.extend(json.loads(message["Body"]) for message in messages)
            for message in messages:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def event_types(self) -> list[str]:
        """The detail types of every run event so far."""
        return [event["detail-type"] for event in self.events()]


def _capture_run_events() -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="run-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="run-events", EventPattern=json.dumps({"source": ["ecs-imaging"]}))
    events.put_targets(Rule="run-events", Targets=[{"Id": "queue", "Arn": queue_arn}])

    return queue_url


@pytest.fixture
def bench() -> Iterator[Bench]:
    """Also the webhook's settings: it takes the emulator's SMN for the real one."""
    with (
        Emulator(time_scale=TIME_SCALE, seed=7) as emulator,
        configured({**emulator_environment(emulator), **webhook_environment(emulator)}, emulator),
        LocalEngine(time_scale=TIME_SCALE) as engine,
    ):
        auth.token_cache.clear()
        yield Bench(emulator, engine, _capture_run_events())

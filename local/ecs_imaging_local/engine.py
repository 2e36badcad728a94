"""The local engine: our real state machines in moto, our real handlers in process."""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws

from . import template as sam
from .moto_adapter import InProcessLambda, Invocation, LambdaFaults, patched_interpreter

PIPELINE_STATE_MACHINE = "ImagePipelineStateMachine"
FLEET_STATE_MACHINE = "FleetSweepStateMachine"
_ROLE_ARN = f"arn:aws:iam::{sam.ACCOUNT_ID}:role/local-engine"
_TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}

EventPrinter = Callable[[dict[str, Any]], None]


@dataclass
class ExecutionResult:
    """How one execution ended, with its whole history."""

    name: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]] = field(repr=False)
    elapsed_s: float

    @property
    def states_entered(self) -> list[str]:
        """The names of the states entered, in order (what AWS bills as transitions)."""
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history
            if event["type"].endswith("StateEntered")
        ]

    @property
    def cause_json(self) -> Any:
        """The cause parsed as JSON, or None."""
        try:
            return json.loads(self.cause or "")
        except ValueError:
            return None


class LocalEngine:
    """Runs the template's state machines with moto, dispatching Tasks to our handlers."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self.time_scale = time_scale
        self.faults = LambdaFaults()
        self._template = sam.load_template()
        self._lambda = InProcessLambda(self._load_handlers(), self.faults)
        self._stack = ExitStack()
        self._client: Any = None
        self._arns: dict[str, str] = {}
        self._saved_environment: dict[str, str | None] = {}

    @property
    def invocations(self) -> list[Invocation]:
        """Every Lambda invocation dispatched so far."""
        return self._lambda.invocations

    def __enter__(self) -> LocalEngine:
        self._stack.enter_context(
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        )
        self._stack.enter_context(patched_interpreter(self._lambda, self.time_scale))
        # moto's interpreter logs every failed state at ERROR with its whole tree.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        self._client = boto3.client("stepfunctions", region_name=sam.REGION)
        dynamodb = boto3.client("dynamodb", region_name=sam.REGION)
        for table in sam.tables(self._template).values():
            dynamodb.create_table(**table)
        # Handlers learn their region and the ARNs they need as Lambda would: from
        # their environment, as the template wires it.
        self._set_environment("AWS_REGION", sam.REGION)
        self._set_environment("AWS_DEFAULT_REGION", sam.REGION)
        for variable, logical_id in sam.state_machine_variables(self._template).items():
            self._set_environment(variable, self.state_machine_arn(logical_id))

        return self

    def __exit__(self, *exc_info: object) -> None:
        for variable, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
        self._stack.close()

    def _set_environment(self, variable: str, value: str) -> None:
        self._saved_environment.setdefault(variable, os.environ.get(variable))
        os.environ[variable] = value

    def state_machine_arn(self, logical_id: str = PIPELINE_STATE_MACHINE) -> str:
        """Create the state machine from the template on first use; its ARN."""
        if logical_id not in self._arns:
            spec = sam.state_machine(self._template, logical_id)
            answer = self._client.create_state_machine(
                name=logical_id, definition=spec.definition, roleArn=_ROLE_ARN, type="STANDARD"
            )
            self._arns[logical_id] = answer["stateMachineArn"]

        return self._arns[logical_id]

    def start(self, run_input: Any, name: str, logical_id: str = PIPELINE_STATE_MACHINE) -> str:
        """Start an execution; returns its ARN."""
        answer = self._client.start_execution(
            stateMachineArn=self.state_machine_arn(logical_id),
            name=name,
            input=json.dumps(run_input),
        )

        return str(answer["executionArn"])

    def wait(
        self, execution_arn: str, on_event: EventPrinter | None = None, timeout_s: float = 600
    ) -> ExecutionResult:
        """Wait for an execution to end, passing each new history event to `on_event`."""
        started = time.monotonic()
        seen = 0
        while True:
            description = self._client.describe_execution(executionArn=execution_arn)
            ended = description["status"] in _TERMINAL
            # The history is read only when someone watches it, or once at the end:
            # reading it is what costs most while an execution runs.
            if on_event is not None or ended:
                history = self._history(execution_arn)
                if on_event is not None:
                    for event in history[seen:]:
                        on_event(event)
                seen = len(history)
            if ended:
                break
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"Execution {execution_arn!r} still running after {timeout_s}s.")
            time.sleep(0.02)

        return ExecutionResult(
            name=description["name"],
            status=description["status"],
            output=json.loads(description["output"]) if description.get("output") else None,
            error=description.get("error"),
            cause=description.get("cause"),
            history=history,
            elapsed_s=round(time.monotonic() - started, 3),
        )

    def run(
        self,
        run_input: Any,
        name: str,
        on_event: EventPrinter | None = None,
        logical_id: str = PIPELINE_STATE_MACHINE,
    ) -> ExecutionResult:
        """Start an execution and wait for it to end."""
        return self.wait(self.start(run_input, name, logical_id), on_event)

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn}
        while True:
            page = self._client.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def _load_handlers(self) -> dict[str, Any]:
        handlers = {}
        for logical_id, spec in sam.functions(self._template).items():
            module = importlib.import_module(spec.module)
            handlers[logical_id] = getattr(module, spec.attribute)

        return handlers


@contextmanager
def local_engine(time_scale: float = 1.0) -> Iterator[LocalEngine]:
    """A started local engine for the length of the block."""
    with LocalEngine(time_scale=time_scale) as engine:
        yield engine

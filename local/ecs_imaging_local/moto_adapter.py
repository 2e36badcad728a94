"""The one module that touches moto internals.

moto's Step Functions interpreter (moto 5.2.x, `execute_state_machine`) runs real
ASL but invokes Lambda Tasks through moto's Lambda, which needs Docker. This module
swaps that invocation for an in-process call of our handlers, and makes Wait states
and Retry intervals follow a time scale so that local runs take seconds. The
pinned moto range lives in requirements/dev.txt; tests/local/test_moto_adapter.py
fails loudly if an upgrade moves what is patched here.
"""

from __future__ import annotations

import io
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    lambda_eval_utils,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import (
    wait_function,
)

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaFaults:
    """Lambda service errors to report instead of a handler's result, by function."""

    after_success: dict[str, int] = field(default_factory=dict)

    def take(self, function_name: str) -> bool:
        """True (once per planned fault) when this invocation must be reported as failed."""
        remaining = self.after_success.get(function_name, 0)
        if remaining <= 0:
            return False
        self.after_success[function_name] = remaining - 1

        return True


@dataclass
class Invocation:
    """One dispatched Lambda invocation, for tests and the progress printer."""

    function_name: str
    payload: Any
    result: Any = None
    error_type: str | None = None
    # time.monotonic() when the handler returned or raised.
    finished_at: float = 0.0


class LambdaContext:
    """The parts of the Lambda context object that Powertools reads."""

    def __init__(self, function_name: str, arn: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + 60

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left of the invocation's 60-second budget."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InProcessLambda:
    """Stands in for boto3's Lambda client inside moto's interpreter."""

    def __init__(self, handlers: dict[str, Handler], faults: LambdaFaults) -> None:
        self.handlers = handlers
        self.faults = faults
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()

    def invoke(self, FunctionName: str, Payload: bytes | str, **_: Any) -> dict[str, Any]:
        """Run the handler named by the ARN and answer as the Lambda Invoke API does."""
        name = FunctionName.rsplit(":", 1)[-1]
        payload = json.loads(Payload or b"{}")
        invocation = Invocation(function_name=name, payload=payload)
        with self._lock:
            self.invocations.append(invocation)

        try:
            result = self.handlers[name](payload, LambdaContext(name, FunctionName))
            body = json.loads(json.dumps(result))
        except Exception as exc:
            invocation.error_type = type(exc).__name__
            return _function_error(invocation.error_type, str(exc), exc)
        finally:
            invocation.finished_at = time.monotonic()
        invocation.result = body

        if self.faults.take(name):
            # The handler ran, but the caller never hears of it: what a Lambda
            # service error after a successful invocation looks like to a Task.
            invocation.error_type = "Lambda.ServiceException"
            return _function_error(invocation.error_type, "Injected service error", None)

        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}


def _function_error(error_type: str, message: str, exc: Exception | None) -> dict[str, Any]:
    trace = traceback.format_exception(exc) if exc is not None else []
    payload = {"errorMessage": message, "errorType": error_type, "stackTrace": trace}

    return {
        "StatusCode": 200,
        "FunctionError": "Unhandled",
        "Payload": io.BytesIO(json.dumps(payload).encode()),
    }


@contextmanager
def patched_interpreter(lambda_client: InProcessLambda, time_scale: float) -> Iterator[None]:
    """Dispatch Lambda Tasks in process and scale every wait, while the block runs."""
    original_client_for = lambda_eval_utils.boto_client_for
    original_wait = wait_function.WaitFunction._wait_interval
    original_time = retrier_decl.time

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service == "lambda":
            return lambda_client
        return original_client_for(region, service, state_credentials)

    def scaled_wait(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * time_scale)

    def scaled_sleep(seconds: float) -> None:
        time.sleep(seconds * time_scale)

    lambda_eval_utils.boto_client_for = client_for
    wait_function.WaitFunction._wait_interval = scaled_wait
    retrier_decl.time = SimpleNamespace(sleep=scaled_sleep)
    try:
        yield
    finally:
        lambda_eval_utils.boto_client_for = original_client_for
        wait_function.WaitFunction._wait_interval = original_wait
        retrier_decl.time = original_time

"""The moto internals the local engine patches; an upgrade that moves them fails here."""

import json
import time

import boto3
from ecs_imaging_local.moto_adapter import InProcessLambda, LambdaFaults, patched_interpreter
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

ARN = "arn:aws:lambda:eu-central-1:123456789012:function:Probe"


def _execute(definition, handlers, time_scale=1.0, faults=None):
    client_stub = InProcessLambda(handlers, faults or LambdaFaults())
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        patched_interpreter(client_stub, time_scale),
    ):
        sfn = boto3.client("stepfunctions", region_name="eu-central-1")
        machine = sfn.create_state_machine(
            name="probe",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/r",
        )
        arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
        started = time.monotonic()
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(0.01)
        return described, time.monotonic() - started, client_stub


def _task(next_state=None, retry=None):
    state = {"Type": "Task", "Resource": ARN}
    if retry:
        state["Retry"] = retry
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


def test_patched_attributes_still_exist_in_moto():
    assert callable(lambda_eval_utils.boto_client_for)
    assert callable(wait_function.WaitFunction._wait_interval)
    assert callable(retrier_decl.time.sleep)


def test_lambda_task_runs_the_handler_in_process():
    definition = {"StartAt": "Probe", "States": {"Probe": _task()}}

    described, _, _ = _execute(definition, {"Probe": lambda event, context: {"seen": event}})

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"seen": {}}


def test_handler_exception_becomes_the_state_error_by_class_name():
    class ServerBusy(Exception):
        pass

    def handler(event, context):
        raise ServerBusy("busy")

    definition = {"StartAt": "Probe", "States": {"Probe": _task()}}

    described, _, _ = _execute(definition, {"Probe": handler})

    assert described["status"] == "FAILED"
    assert described["error"] == "ServerBusy"
    assert json.loads(described["cause"])["errorMessage"] == "busy"


def test_injected_service_error_is_retried_and_the_handler_runs_twice():
    retry = [{"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 1}]
    definition = {"StartAt": "Probe", "States": {"Probe": _task(retry=retry)}}
    faults = LambdaFaults(after_success={"Probe": 1})

    described, _, stub = _execute(
        definition, {"Probe": lambda event, context: {}}, time_scale=0.01, faults=faults
    )

    assert described["status"] == "SUCCEEDED"
    assert [i.error_type for i in stub.invocations] == ["Lambda.ServiceException", None]


def test_waits_and_retry_intervals_follow_the_time_scale():
    calls = []

    def flaky(event, context):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("once")
        return {}

    retry = [{"ErrorEquals": ["RuntimeError"], "IntervalSeconds": 100, "BackoffRate": 1}]
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": 100, "Next": "Probe"},
            "Probe": _task(retry=retry),
        },
    }

    described, elapsed, _ = _execute(definition, {"Probe": flaky}, time_scale=0.002)

    assert described["status"] == "SUCCEEDED"
    assert elapsed < 5

"""The reconcile function, its schedule and what each may do."""

from typing import Any

import pytest

FUNCTION = "ReconcileRunsFunction"
STATE_MACHINE = {"Ref": "ImagePipelineStateMachine"}
TABLE = {"Fn::GetAtt": ["RunStateTable", "Arn"]}


def _statements(policies: list[Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in policies
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]


@pytest.fixture
def function(resources):
    return resources[FUNCTION]["Properties"]


def test_reconcile_function_grants_each_action_on_its_resource_only(function):
    granted = {
        action: statement["Resource"]
        for statement in _statements(function["Policies"])
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }

    assert set(granted) == {
        "states:ListExecutions",
        "states:DescribeExecution",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "events:PutEvents",
    }
    assert granted["states:ListExecutions"] == STATE_MACHINE
    assert granted["states:DescribeExecution"]["Fn::Sub"][0].endswith(":execution:${Name}:*")
    assert granted["dynamodb:PutItem"] == granted["dynamodb:GetItem"] == TABLE
    assert granted["events:PutEvents"]["Fn::Sub"].endswith(":event-bus/${EventBusName}")


def test_reconcile_function_uses_only_the_credentials_managed_policy(function):
    managed = [policy for policy in function["Policies"] if set(policy) == {"Ref"}]

    assert managed == [{"Ref": "ReadCredentialsManagedPolicy"}]


def test_reconcile_function_environment_names_the_pipeline_and_table(function):
    variables = function["Environment"]["Variables"]

    assert variables["ECS_IMAGING_PIPELINE_STATE_MACHINE_ARN"] == STATE_MACHINE
    assert variables["ECS_IMAGING_RUN_STATE_TABLE"] == {"Ref": "RunStateTable"}


def test_reconcile_schedule_role_invokes_only_the_reconcile_function(resources):
    schedule = resources["ReconcileRunsSchedule"]["Properties"]
    role_id = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    policies = resources[role_id]["Properties"]["Policies"]
    statements = [s for policy in policies for s in policy["PolicyDocument"]["Statement"]]

    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [FUNCTION, "Arn"]}
    assert schedule["ScheduleExpression"] == {"Ref": "ReconcileSchedule"}
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("lambda:InvokeFunction", {"Fn::GetAtt": [FUNCTION, "Arn"]})
    ]


def test_reconcile_schedule_defaults_to_every_quarter_hour(template):
    assert template["Parameters"]["ReconcileSchedule"]["Default"] == "rate(15 minutes)"

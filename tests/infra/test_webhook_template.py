"""The webhook's part of template.yaml: its public URL, its limits and its few rights."""

import re

import pytest
from ecs_imaging import config, webhook

IDEMPOTENCY_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
}


@pytest.fixture(scope="module")
def function(resources):
    return resources["WebhookFunction"]["Properties"]


def _statements(function):
    return [statement for policy in function["Policies"] for statement in policy["Statement"]]


def _actions(statement):
    action = statement["Action"]

    return set(action) if isinstance(action, list) else {action}


def test_webhook_url_is_public_and_is_an_output(template, function):
    outputs = template["Outputs"]

    assert function["FunctionUrlConfig"] == {"AuthType": "NONE"}
    # SAM names the URL resource of a function "<function id>Url".
    assert outputs["WebhookUrl"]["Value"] == {"Fn::GetAtt": ["WebhookFunctionUrl", "FunctionUrl"]}
    assert outputs["WebhookSmnEndpoint"]["Value"] == {
        "Fn::Sub": "${WebhookFunctionUrl.FunctionUrl}smn"
    }
    assert webhook.SMN_PATH == "/smn"


def test_webhook_concurrency_is_capped_by_a_parameter(template, function):
    parameter = template["Parameters"]["WebhookReservedConcurrency"]

    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "ReservesWebhookConcurrency",
            {"Ref": "WebhookReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert parameter["MaxValue"] <= 100


def test_webhook_concurrency_of_0_reserves_none_instead_of_blocking_every_call(template):
    # A reserved concurrency of 0 would throttle every delivery.
    parameter = template["Parameters"]["WebhookReservedConcurrency"]

    assert parameter["MinValue"] == 0
    assert template["Conditions"]["ReservesWebhookConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "WebhookReservedConcurrency"}, 0]}]
    }


def test_webhook_may_start_only_the_pipeline(function):
    [start] = [s for s in _statements(function) if _actions(s) == {"states:StartExecution"}]

    assert start["Resource"] == {"Ref": "ImagePipelineStateMachine"}


def test_webhook_may_touch_only_its_own_idempotency_records(function):
    [records] = [s for s in _statements(function) if _actions(s) == IDEMPOTENCY_ACTIONS]
    leading_keys = records["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]

    assert records["Resource"] == {"Fn::GetAtt": ["RunStateTable", "Arn"]}
    assert leading_keys == [f"{webhook.IDEMPOTENCY_KEY_PREFIX}#*"]


def test_webhook_has_no_other_rights(function):
    actions = set().union(*map(_actions, _statements(function)))

    assert actions == IDEMPOTENCY_ACTIONS | {"states:StartExecution"}
    assert all("Statement" in policy for policy in function["Policies"])


def test_webhook_environment_sets_every_webhook_variable(function):
    variables = function["Environment"]["Variables"]
    expected = {
        config.PIPELINE_STATE_MACHINE_ARN: {"Ref": "ImagePipelineStateMachine"},
        webhook.RUN_STATE_TABLE: {"Ref": "RunStateTable"},
        webhook.TOPIC_URNS: {"Ref": "WebhookTopicUrns"},
        webhook.CERTIFICATE_HOSTS: {"Ref": "WebhookCertificateHosts"},
        webhook.SUBSCRIBE_HOSTS: {"Ref": "WebhookSubscribeHosts"},
        webhook.EVENTGRID_TOKEN: {"Ref": "EventGridToken"},
        webhook.PIPELINE_USER_NAMES: {"Ref": "PipelineUserNames"},
        webhook.PIPELINE_USER_IDS: {"Ref": "PipelineUserIds"},
    }

    assert variables == expected


def test_eventgrid_token_is_hidden_and_as_long_as_the_code_wants(template):
    parameter = template["Parameters"]["EventGridToken"]
    pattern = re.compile(parameter["AllowedPattern"])

    assert parameter["NoEcho"] is True
    assert pattern.fullmatch("")
    assert pattern.fullmatch("a" * webhook.MIN_TOKEN_LENGTH)
    assert not pattern.fullmatch("a" * (webhook.MIN_TOKEN_LENGTH - 1))


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [
        (
            "WebhookTopicUrns",
            "urn:smn:eu-de:0a1b2c3d4e5f60718293a4b5c6d7e8f9:a,urn:smn:eu-nl:"
            "0a1b2c3d4e5f60718293a4b5c6d7e8f9:b",
            "arn:aws:sns:eu-central-1:123456789012:a",
        ),
        ("WebhookCertificateHosts", "smn.eu-de.otc.t-systems.com,127.0.0.1:8443", "https://x/"),
        ("PipelineUserNames", "ecs-imaging,robot", "ecs imaging"),
    ],
)
def test_webhook_parameters_accept_what_the_code_reads(template, parameter, good, bad):
    pattern = re.compile(template["Parameters"][parameter]["AllowedPattern"])

    assert pattern.fullmatch(good)
    assert pattern.fullmatch("")
    assert not pattern.fullmatch(bad)

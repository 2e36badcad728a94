"""How run events reach people (the rule, the encrypted topic, its key, the mail) and
the schedule of the retention pass that sends some of them.

EventBridge can publish to an encrypted topic only when the topic's key is a
customer managed one whose key policy lets EventBridge use it; the key policy of
the AWS managed key (alias/aws/sns) cannot be changed to allow that
(https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
"""

from typing import Any

import pytest
from ecs_imaging import notifications

KEY = "NotificationKey"
TOPIC = {"Ref": "NotificationTopic"}
RULE_ARN = {"Fn::GetAtt": ["RunEventsRule", "Arn"]}
ACCOUNT_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
# What a publisher to an encrypted topic needs of its key, and no more.
PUBLISH_ACTIONS = {"kms:GenerateDataKey", "kms:Decrypt"}
# What would read or make ciphertext of the key outside SNS.
USE_ACTIONS = {"kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:CreateGrant"}


def _as_set(value: Any) -> set[Any]:
    return set(value) if isinstance(value, list) else {value}


@pytest.fixture(scope="module")
def key_statements(resources):
    return {s["Sid"]: s for s in resources[KEY]["Properties"]["KeyPolicy"]["Statement"]}


def test_topic_is_encrypted_with_the_stacks_own_rotated_key(resources):
    topic = resources["NotificationTopic"]["Properties"]
    key = resources[KEY]

    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [KEY, "Arn"]}
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"


def test_key_policy_names_only_the_account_and_eventbridge(key_statements):
    principals = [statement["Principal"] for statement in key_statements.values()]

    assert principals == [{"AWS": ACCOUNT_ROOT}, {"Service": "events.amazonaws.com"}]
    assert all(s["Effect"] == "Allow" for s in key_statements.values())


def test_key_policy_lets_the_account_administer_the_key_but_not_use_it(key_statements):
    actions = _as_set(key_statements["AdministerKey"]["Action"])

    assert {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DescribeKey"} <= actions
    assert not actions & (PUBLISH_ACTIONS | USE_ACTIONS)


def test_key_policy_lets_eventbridge_publish_through_sns_only(key_statements):
    statement = key_statements["PublishRunEvents"]
    condition = statement["Condition"]

    assert _as_set(statement["Action"]) == PUBLISH_ACTIONS
    assert condition == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}}
    }


def test_topic_policy_lets_only_the_run_events_rule_publish(resources):
    policy = resources["NotificationTopicPolicy"]["Properties"]
    [statement] = policy["PolicyDocument"]["Statement"]

    assert policy["Topics"] == [TOPIC]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert (statement["Effect"], statement["Action"]) == ("Allow", "sns:Publish")
    assert statement["Resource"] == TOPIC
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": RULE_ARN}}


def test_run_events_rule_sends_every_run_event_to_the_topic(resources):
    rule = resources["RunEventsRule"]["Properties"]
    [target] = rule["Targets"]

    assert rule["EventBusName"] == {"Ref": "EventBusName"}
    assert rule["EventPattern"] == {"source": [notifications.SOURCE]}
    assert target["Arn"] == TOPIC
    # EventBridge uses the topic policy for SNS targets; a role would break delivery
    # to an encrypted topic.
    assert "RoleArn" not in target
    assert rule.get("State", "ENABLED") == "ENABLED"


def test_mail_subscription_exists_only_with_an_address(template, resources):
    subscription = resources["NotificationEmailSubscription"]
    condition = template["Conditions"][subscription["Condition"]]

    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]}
    assert subscription["Properties"] == {
        "TopicArn": TOPIC,
        "Protocol": "email",
        "Endpoint": {"Ref": "NotificationEmail"},
    }
    assert template["Parameters"]["NotificationEmail"]["Default"] == ""


def test_retention_schedule_exists_only_with_a_policy(template, resources):
    schedule = resources["RetentionSchedule"]
    role = resources["RetentionSchedulerRole"]
    condition = template["Conditions"][schedule["Condition"]]

    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "RetentionPolicy"}, ""]}]}
    assert role["Condition"] == schedule["Condition"]
    assert template["Parameters"]["RetentionPolicy"]["Default"] == ""


def test_retention_schedule_invokes_only_the_retention_function(resources):
    target = resources["RetentionSchedule"]["Properties"]["Target"]
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    policies = resources[role_id]["Properties"]["Policies"]
    statements = [s for policy in policies for s in policy["PolicyDocument"]["Statement"]]
    function = {"Fn::GetAtt": ["ApplyRetentionFunction", "Arn"]}

    assert target["Arn"] == function
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("lambda:InvokeFunction", function)
    ]


def test_retention_schedule_passes_the_tag_and_the_policy(resources):
    schedule = resources["RetentionSchedule"]["Properties"]

    assert schedule["ScheduleExpression"] == {"Ref": "RetentionScheduleExpression"}
    assert schedule["Target"]["Input"] == {
        "Fn::Sub": '{"tag": "${RetentionTag}", "retention": ${RetentionPolicy}}'
    }


def test_a_failed_retention_pass_is_not_retried_before_the_next(resources):
    function = resources["ApplyRetentionFunction"]["Properties"]

    assert function["EventInvokeConfig"] == {"MaximumRetryAttempts": 0}

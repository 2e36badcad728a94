import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
# Error names that match every Lambda service error as well.
CATCH_ALL_ERRORS = {"States.ALL", "States.TaskFailed"}

# Actions that AWS only grants on Resource "*": Step Functions log delivery
# (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html) and X-Ray.
LOCK_ACTIONS = {"dynamodb:PutItem", "dynamodb:DeleteItem"}
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
XRAY_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
}
RESOURCE_STAR_ACTIONS = LOG_DELIVERY_ACTIONS | XRAY_ACTIONS
CREDENTIALS_PARAMETERS = {"CredentialsSecretArn", "KmsKeyArn"}
CREDENTIALS_ACTIONS = {"secretsmanager:GetSecretValue", "kms:Decrypt"}

ASL_VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"
PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _of_type(resources: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"] == type_
    }


def _state_machines(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _of_type(resources, "AWS::Serverless::StateMachine")


def _functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _of_type(resources, "AWS::Serverless::Function")


def _expand_conditions(items: list[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, dict) and "Fn::If" in item:
            _, then, otherwise = item["Fn::If"]
            branches = [then, otherwise]
        else:
            branches = [item]
        yield from (branch for branch in branches if branch != {"Ref": "AWS::NoValue"})


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("Statement"), list):
            yield from _expand_conditions(node["Statement"])
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def _states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _states(processor["States"])


def _invokes_lambda(state: dict[str, Any]) -> bool:
    resource = state.get("Resource", "")
    names_lambda = ":lambda:" in resource or resource.endswith("FunctionArn}")

    return state["Type"] == "Task" and names_lambda


def _retries_lambda_errors(state: dict[str, Any]) -> bool:
    retried = [set(retrier["ErrorEquals"]) for retrier in state.get("Retry", [])]

    return any(names >= LAMBDA_ERRORS or names & CATCH_ALL_ERRORS for names in retried)


def _top_level_names(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))

    return names


def _definition_path(state_machine: dict[str, Any]) -> Path:
    return ROOT / state_machine["Properties"]["DefinitionUri"]


def _substituted_functions(state_machine: dict[str, Any]) -> set[str]:
    return {
        value["Fn::GetAtt"][0]
        for value in state_machine["Properties"]["DefinitionSubstitutions"].values()
        if isinstance(value, dict) and "Fn::GetAtt" in value
    }


@pytest.fixture(scope="module")
def definitions(resources: dict[str, Any]) -> dict[str, str]:
    paths = {
        logical_id: _definition_path(state_machine)
        for logical_id, state_machine in _state_machines(resources).items()
    }
    return {logical_id: path.read_text("utf-8") for logical_id, path in paths.items()}


def test_definition_placeholders_all_substituted(resources, definitions):
    for logical_id, text in definitions.items():
        substitutions = resources[logical_id]["Properties"]["DefinitionSubstitutions"]

        assert set(PLACEHOLDER.findall(text)) <= set(substitutions), logical_id


def test_definition_substitutions_all_used(resources, definitions):
    for logical_id, text in definitions.items():
        substitutions = resources[logical_id]["Properties"]["DefinitionSubstitutions"]

        assert set(substitutions) <= set(PLACEHOLDER.findall(text)), logical_id


def test_definition_substitutions_name_function_arns(resources):
    functions = _functions(resources)
    for state_machine in _state_machines(resources).values():
        substitutions = state_machine["Properties"]["DefinitionSubstitutions"]

        for name, value in substitutions.items():
            if not name.endswith("FunctionArn"):
                continue
            function_id = name.removesuffix("Arn")
            assert function_id in functions, name
            assert value == {"Fn::GetAtt": [function_id, "Arn"]}, name


def test_lambda_tasks_retry_lambda_service_errors(definitions):
    checked = 0
    for text in definitions.values():
        for name, state in _states(json.loads(text)["States"]):
            if _invokes_lambda(state):
                assert _retries_lambda_errors(state), name
                checked += 1

    assert checked > 0


def test_function_code_uri_holds_handler(template, resources):
    default_handler = template["Globals"]["Function"]["Handler"]
    for logical_id, function in _functions(resources).items():
        properties = function["Properties"]
        module, handler = properties.get("Handler", default_handler).rsplit(".", 1)
        source = ROOT / properties["CodeUri"] / f"{module}.py"

        assert source.is_file(), f"{logical_id}: {source.relative_to(ROOT)} is missing"
        assert handler in _top_level_names(source.read_text("utf-8")), logical_id


def test_iam_statements_name_no_wildcard_action(template):
    for statement in _statements(template["Resources"]):
        for action in _as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), statement


def test_iam_statements_limit_resource_star_to_required_actions(template):
    # In a key policy "*" is the key itself (test_notification_resources checks those).
    identity_policies = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] != "AWS::KMS::Key"
    }
    for statement in _statements(identity_policies):
        if "*" not in _as_list(statement.get("Resource", [])):
            continue

        assert set(_as_list(statement["Action"])) <= RESOURCE_STAR_ACTIONS, statement


# What each function that is not a plain cloud-calling step may do besides that.
EXTRA_ACCESS = {
    "StartServerRunFunction": ({"states:StartExecution"}, [{"Ref": "ImagePipelineStateMachine"}]),
    "CheckServerRunFunction": ({"states:DescribeExecution"}, None),
    "AnnounceRunEventFunction": ({"events:PutEvents"}, None),
}


def test_function_policies_reference_only_what_each_calls(resources):
    allowed_resources = [{"Ref": name} for name in CREDENTIALS_PARAMETERS]
    machine_functions = set().union(
        *map(_substituted_functions, _state_machines(resources).values())
    )
    for logical_id in machine_functions:
        actions, resources_allowed = EXTRA_ACCESS.get(
            logical_id, (CREDENTIALS_ACTIONS, allowed_resources)
        )
        statements = list(_statements(_policy_documents(resources, logical_id)))

        assert statements, logical_id
        for statement in statements:
            assert set(_as_list(statement["Action"])) <= actions, logical_id
            named = _as_list(statement["Resource"])
            assert "*" not in named, logical_id
            if resources_allowed is not None:
                assert all(resource in resources_allowed for resource in named), logical_id


def _policy_documents(resources: dict[str, Any], logical_id: str) -> list[Any]:
    documents = []
    for policy in resources[logical_id]["Properties"]["Policies"]:
        if isinstance(policy, dict) and set(policy) == {"Ref"}:
            managed_policy = resources[policy["Ref"]]
            assert managed_policy["Type"] == "AWS::IAM::ManagedPolicy", logical_id
            documents.append(managed_policy["Properties"]["PolicyDocument"])
        else:
            assert isinstance(policy, dict) and "Statement" in policy, logical_id
            documents.append(policy)

    return documents


def test_state_machine_invokes_only_its_functions(resources):
    for logical_id, state_machine in _state_machines(resources).items():
        policies = state_machine["Properties"]["Policies"]
        statements = list(_statements(policies))
        invoke = [s for s in statements if _as_list(s["Action"]) == ["lambda:InvokeFunction"]]
        invoked = {
            resource["Fn::GetAtt"].split(".")[0]
            if isinstance(resource["Fn::GetAtt"], str)
            else resource["Fn::GetAtt"][0]
            for statement in invoke
            for resource in _as_list(statement["Resource"])
        }

        assert all("Statement" in policy for policy in policies), logical_id
        assert invoked == _substituted_functions(state_machine), logical_id
        for statement in statements:
            if statement not in invoke:
                actions = set(_as_list(statement["Action"]))
                allowed = LOG_DELIVERY_ACTIONS | {"events:PutEvents"} | LOCK_ACTIONS
                assert actions <= allowed, logical_id


def test_state_machine_puts_events_on_its_own_bus_only(resources):
    for logical_id, state_machine in _state_machines(resources).items():
        statements = list(_statements(state_machine["Properties"]["Policies"]))
        put = [s for s in statements if "events:PutEvents" in _as_list(s["Action"])]

        for statement in put:
            [resource] = _as_list(statement["Resource"])
            assert resource["Fn::Sub"].endswith(":event-bus/${EventBusName}"), logical_id


def test_state_machine_logging_excludes_execution_data(resources):
    for logical_id, state_machine in _state_machines(resources).items():
        logging = state_machine["Properties"]["Logging"]

        assert logging["IncludeExecutionData"] is False, logical_id


def test_functions_log_to_own_group_with_retention(resources):
    log_groups = {
        log_group["Properties"]["LogGroupName"].get("Fn::Sub"): log_group["Properties"]
        for log_group in _of_type(resources, "AWS::Logs::LogGroup").values()
    }
    for logical_id in _functions(resources):
        log_group = log_groups.get(f"/aws/lambda/${{{logical_id}}}")

        assert log_group is not None, logical_id
        assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, logical_id


def test_template_passes_cfn_lint():
    # cfn-lint 1.x has no `python -m cfnlint`: call its console script's entry point.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cfnlint.runner import main; main()",
            "template.yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not ASL_VALIDATOR.exists(), reason="run `npm ci` to install it")
def test_definitions_pass_asl_validator(resources, definitions):
    arguments = [
        f"--json-path={_definition_path(machine).relative_to(ROOT)}"
        for machine in _state_machines(resources).values()
    ]
    # The validator is our own pinned dev dependency, run on our own files.
    result = subprocess.run(  # noqa: S603
        [ASL_VALIDATOR, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr

"""What the local engine needs from template.yaml: functions, definitions, substitutions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
ACCOUNT_ID = "123456789012"
REGION = "eu-central-1"


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function of the template, as the local engine dispatches it."""

    logical_id: str
    code_uri: str
    handler: str

    @property
    def arn(self) -> str:
        """The ARN the local engine gives the function."""
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.logical_id}"

    @property
    def module(self) -> str:
        """The importable module of the handler, e.g. `functions.create_image.app`."""
        package = self.code_uri.strip("/").replace("/", ".")
        return f"{package}.{self.handler.rsplit('.', 1)[0]}"

    @property
    def attribute(self) -> str:
        """The handler function's name in its module."""
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class StateMachineSpec:
    """A state machine of the template with its definition filled in."""

    logical_id: str
    definition: str


def state_machine_variables(template: dict[str, Any]) -> dict[str, str]:
    """Function environment variables naming a state machine: variable → logical id."""
    machines = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
    }
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        for name, value in variables.items():
            if isinstance(value, dict) and value.get("Ref") in machines:
                found[name] = value["Ref"]

    return found


def tables(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every DynamoDB table by logical id, as CreateTable arguments named by that id."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        properties = resource["Properties"]
        found[logical_id] = {
            "TableName": logical_id,
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
        }

    return found


class _CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]
    """A YAML loader that keeps CloudFormation's short tags as {"Fn": value} maps."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"

    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data, short tags kept as their long forms."""
    with path.open(encoding="utf-8") as stream:
        document: dict[str, Any] = yaml.load(stream, Loader=_CloudFormationLoader)  # noqa: S506

    return document


def functions(template: dict[str, Any]) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function by logical id."""
    handler_default = template.get("Globals", {}).get("Function", {}).get("Handler")
    specs = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=properties["CodeUri"],
            handler=properties.get("Handler", handler_default),
        )

    return specs


def state_machine(template: dict[str, Any], logical_id: str) -> StateMachineSpec:
    """A state machine's definition with every `${…}` substitution filled in."""
    properties = template["Resources"][logical_id]["Properties"]
    definition = (TEMPLATE_PATH.parent / properties["DefinitionUri"]).read_text("utf-8")
    specs = functions(template)
    parameters = template.get("Parameters", {})
    for name, value in properties.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace(f"${{{name}}}", _resolve(value, specs, parameters))

    return StateMachineSpec(logical_id=logical_id, definition=definition)


def _resolve(value: Any, specs: dict[str, FunctionSpec], parameters: dict[str, Any]) -> str:
    if isinstance(value, str):
        return value
    if value.get("Ref") in parameters:
        return str(parameters[value["Ref"]]["Default"])
    if isinstance(value.get("Ref"), str):
        # A resource the local engine creates under its logical id (e.g. a table).
        return str(value["Ref"])
    attribute = value.get("Fn::GetAtt")
    if isinstance(attribute, str):
        attribute = attribute.split(".", 1)
    if attribute and attribute[1] == "Arn" and attribute[0] in specs:
        return specs[attribute[0]].arn
    raise ValueError(f"The local engine cannot resolve the substitution {value!r}.")

from pathlib import Path
from typing import Any

import pytest
import yaml

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"

# Short tags whose long form is not "Fn::<tag>".
_BARE_TAGS = {"Ref", "Condition"}


class _CloudFormationLoader(yaml.SafeLoader):
    """Safe loader that reads `!Ref`, `!GetAtt`, `!Sub`, ... into their long form."""


def _intrinsic(loader: yaml.Loader, tag: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)

    if tag == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    key = tag if tag in _BARE_TAGS else f"Fn::{tag}"

    return {key: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    loader = _CloudFormationLoader(path.read_text(encoding="utf-8"))
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return template["Resources"]

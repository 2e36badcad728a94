"""The README's configuration reference and diagram keep up with the code.

Every environment variable the package names, every template parameter and every
field of the credentials secret must appear in its section of the README, and the
Mermaid diagram must show every state of the pipeline but the "Unlock after …"
ones, which the README says it leaves out. The emulator's section lists every fault
its admin endpoint accepts.
"""

import json
import re
from pathlib import Path

import pytest
from ecs_imaging import config, credentials
from ecs_imaging_local.emulator import faults

from .conftest import load_template

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PIPELINE = json.loads((ROOT / "statemachine" / "image_pipeline.asl.json").read_text("utf-8"))

_VARIABLE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")


def _section(heading: str) -> str:
    """The README's text under `heading`, up to the next heading of its level or above."""
    level = heading.split(" ", 1)[0]
    start = README.index(f"\n{heading}\n")
    ends = [
        README.find(f"\n{'#' * depth} ", start + len(heading) + 2)
        for depth in range(1, len(level) + 1)
    ]
    found = [end for end in ends if end != -1]
    return README[start : min(found) if found else len(README)]


def _variables_named_by_config() -> list[str]:
    return sorted(
        value
        for name, value in vars(config).items()
        if name.isupper() and isinstance(value, str) and _VARIABLE.match(value)
    )


def _mermaid() -> str:
    return README.split("```mermaid\n", 1)[1].split("```", 1)[0]


def _states(states: dict) -> list[str]:
    names = []
    for name, state in states.items():
        names.append(name)
        for branch in state.get("Branches", []):
            names.extend(_states(branch["States"]))
    return names


def _camel(name: str) -> str:
    return "".join(word.capitalize() for word in re.findall(r"[A-Za-z0-9]+", name))


def test_config_names_the_variables_the_handlers_read():
    # A sanity check of the scan below: it must find the variables we know of.
    found = _variables_named_by_config()
    assert {"ECS_IMAGING_REGION", "OS_PASSWORD", "ECS_IMAGING_WEBHOOK_TOPIC_URNS"} <= set(found)


@pytest.mark.parametrize("variable", _variables_named_by_config())
def test_every_environment_variable_is_documented(variable):
    assert f"`{variable}`" in _section("### Environment variables")


@pytest.mark.parametrize("parameter", sorted(load_template()["Parameters"]))
def test_every_template_parameter_is_documented(parameter):
    assert f"`{parameter}`" in _section("### Template parameters")


@pytest.mark.parametrize(
    "field",
    sorted(
        set(credentials.PasswordCredentials.model_fields)
        | set(credentials.AccessKeyCredentials.model_fields)
    ),
)
def test_every_secret_field_is_documented(field):
    section = _section("### The credentials secret")
    assert f'"{field}"' in section or f"`{field}`" in section


@pytest.mark.parametrize(
    "state",
    [name for name in _states(PIPELINE["States"]) if not name.startswith("Unlock after ")],
)
def test_diagram_shows_every_state(state):
    diagram = _mermaid()
    labelled = re.search(rf"^\s+\w+: {re.escape(state)}\b", diagram, re.MULTILINE)
    assert labelled or re.search(rf"\b{_camel(state)}\b", diagram), state


def test_diagram_leaves_out_only_what_the_readme_says():
    assert "Unlock after" not in _mermaid()
    assert 'passes an "Unlock after …"' in README


def _mermaid_ids() -> dict[str, str]:
    """Each state's diagram id, by the state's name."""
    diagram = _mermaid()
    labels = dict(re.findall(r"^\s+(\w+): (.+)$", diagram, re.MULTILINE))
    ids = {}
    for name in _states(PIPELINE["States"]):
        labelled = [
            key for key, label in labels.items() if re.match(rf"{re.escape(name)}\b", label)
        ]
        ids[name] = labelled[0] if labelled else _camel(name)
    return ids


def _transitions() -> set[tuple[str, str]]:
    """Every transition of the pipeline, the "Unlock after …" states passed through."""
    states = PIPELINE["States"]

    def targets(state: dict) -> list[str]:
        found = [state.get("Next"), state.get("Default")]
        found += [choice["Next"] for choice in state.get("Choices", [])]
        found += [catch["Next"] for catch in state.get("Catch", [])]
        return [target for target in found if target]

    def through_unlocks(target: str) -> str:
        while target.startswith("Unlock after "):
            target = states[target]["Next"]
        return target

    return {
        (name, through_unlocks(target))
        for name, state in states.items()
        if not name.startswith("Unlock after ")
        for target in targets(state)
    }


@pytest.mark.parametrize("transition", sorted(_transitions()), ids=" -> ".join)
def test_diagram_shows_every_transition(transition):
    ids = _mermaid_ids()
    source, target = (ids[name] for name in transition)

    assert re.search(rf"^\s+{source} --> {target}\b", _mermaid(), re.MULTILINE), transition


@pytest.mark.parametrize("fault", faults.NAMES)
def test_every_emulator_fault_is_documented(fault):
    assert f"`{fault}(" in _section("## The emulator")

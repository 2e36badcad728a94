from datetime import UTC, datetime

import pytest
from ecs_imaging import naming
from ecs_imaging.models import IMAGE_NAME_PATTERN, PipelineInput

MOMENT = datetime(2026, 12, 4, 15, 32, 39, tzinfo=UTC)
SERVER = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"


def _variables(server_name="web-01"):
    return naming.name_variables(
        server_name=server_name, server_id=SERVER, moment=MOMENT, trigger="event"
    )


def test_image_name_fills_the_default_template():
    assert naming.image_name("{server_name}-{date}-{time}", _variables()) == (
        "web-01-20261204-153239"
    )


@pytest.mark.parametrize(
    "server_name",
    [
        "Prod DB (eu) ü",
        " leading and trailing ",
        "ümlaut-only-äöü",
        "x" * 300,
        "////",
        "",
        "a<b>c&d",
        "名前",
    ],
)
def test_image_name_is_accepted_by_ims_whatever_the_server_is_called(server_name):
    name = naming.image_name("{server_name}-{date}-{time}", _variables(server_name))

    assert __import__("re").fullmatch(IMAGE_NAME_PATTERN, name), name
    assert len(name) <= 128


def test_image_name_keeps_the_suffix_when_shortened():
    name = naming.image_name("{server_name}", _variables("y" * 200), suffix="-data1")

    assert name.endswith("-data1")
    assert len(name) == 128


def test_name_template_rejects_unknown_variables():
    with pytest.raises(ValueError, match=r"\{host\}"):
        PipelineInput(server_id=SERVER, name_template="{host}-{date}")


def test_allocate_tags_puts_own_first_then_user_then_server_within_ten():
    budget = naming.allocate_tags(
        own=naming.pipeline_tags("r" * 32, SERVER),
        user={"owner": "ops", "source": "{server_name}"},
        server=[(f"k{i}", "v") for i in range(10)],
        variables=_variables(),
    )

    assert list(budget.tags)[:4] == ["ecs-imaging-run", "ecs-imaging-server", "owner", "source"]
    assert budget.tags["source"] == "web-01"
    assert len(budget.tags) == 10
    assert [d["key"] for d in budget.dropped] == ["k6", "k7", "k8", "k9"]
    assert {d["reason"] for d in budget.dropped} == {"IMS allows 10 tags per image"}


def test_allocate_tags_reports_values_too_long_after_substitution():
    budget = naming.allocate_tags(
        own={},
        user={"source": "{server_name}"},
        server=[("long-key-" + "k" * 40, "v"), ("ok", "x" * 44)],
        variables=_variables("s" * 50),
    )

    assert budget.tags == {}
    assert [(d["key"][:8], d["source"]) for d in budget.dropped] == [
        ("source", "input"),
        ("long-key", "server"),
        ("ok", "server"),
    ]


def test_copied_server_tags_honour_include_exclude_and_skip_ours():
    tags = {"env": "prod", "team": "a", "ecs-imaging-run": "x", "cost": "1"}

    assert naming.copied_server_tags(tags, include=[], exclude=["cost"]) == [
        ("env", "prod"),
        ("team", "a"),
    ]
    assert naming.copied_server_tags(tags, include=["env"], exclude=[]) == [("env", "prod")]

"""The samples and the schema in events/ stay true to the code."""

import json
from pathlib import Path

import pytest
from ecs_imaging import events
from ecs_imaging.models import PipelineInput
from ecs_imaging_local import schema

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_published_schema_matches_the_input_model():
    assert schema.SCHEMA_PATH.read_text("utf-8") == schema.render(), (
        "regenerate with: python -m ecs_imaging_local.schema"
    )


@pytest.mark.parametrize("name", ["pipeline_input.json", "pipeline_input_full.json"])
def test_sample_inputs_are_valid(name):
    document = json.loads((EVENTS / name).read_text("utf-8"))

    assert PipelineInput.model_validate(document).server_id == document["server_id"]


def test_sample_notification_names_the_stopped_sample_server():
    body = json.loads((EVENTS / "smn_cts_stop_notification.json").read_text("utf-8"))

    trace = events.trace_from_notification(body)

    assert events.pipeline_inputs_for_trace(trace) == [
        {
            "server_id": "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60",
            "stop_policy": "require-stopped",
            "trigger": {"kind": "event", "id": "9d2e6c1a-7b3f-11ef-9c4d-0242ac120002"},
        }
    ]

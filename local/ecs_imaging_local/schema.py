"""The pipeline input's JSON Schema, as published in events/."""

from __future__ import annotations

import json
from typing import Any

from ecs_imaging.models import PipelineInput

from .template import PROJECT_ROOT

SCHEMA_PATH = PROJECT_ROOT / "events" / "pipeline_input.schema.json"


def pipeline_input_schema() -> dict[str, Any]:
    """The JSON Schema of the per-server pipeline's input."""
    schema = PipelineInput.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "ecs-imaging/pipeline_input.schema.json"

    return schema


def render() -> str:
    """The schema file's text."""
    return json.dumps(pipeline_input_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render(), "utf-8")

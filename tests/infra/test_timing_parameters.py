"""The run timing parameters allow what the environment and the pipeline input allow."""

import pytest
from ecs_imaging import config
from ecs_imaging.errors import ConfigurationError, InvalidInput
from ecs_imaging.models import PipelineInput, parse_model

SERVER = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
# Template parameter, the environment variable it sets, the pipeline input field.
TIMING = [
    ("DefaultDeadlineMinutes", config.DEADLINE_MINUTES, "deadline_minutes"),
    ("MinWaitSeconds", config.MIN_WAIT_SECONDS, "min_wait_seconds"),
    ("MaxWaitSeconds", config.MAX_WAIT_SECONDS, "max_wait_seconds"),
]
# Waits as far apart as allowed: each is then checked against its own bounds only,
# not against the other (the shortest may not exceed the longest).
ENVIRONMENT = {
    config.REGION: "eu-de",
    config.MIN_WAIT_SECONDS: "1",
    config.MAX_WAIT_SECONDS: "3600",
}


def _settings(variable, value):
    return config.load_settings({**ENVIRONMENT, variable: str(value)})


def _run_input(field, value):
    return parse_model(PipelineInput, {"server_id": SERVER, field: value}, "pipeline input")


def _takes_the_bounds_and_refuses_past_them(template, parameter, check, error, named):
    bounds = template["Parameters"][parameter]
    low, high = bounds["MinValue"], bounds["MaxValue"]

    check(low)
    check(high)
    with pytest.raises(error, match=named):
        check(low - 1)
    with pytest.raises(error, match=named):
        check(high + 1)


@pytest.mark.parametrize(("parameter", "variable", "field"), TIMING)
def test_timing_parameter_bounds_are_those_of_the_environment(template, parameter, variable, field):
    def check(value):
        return _settings(variable, value)

    _takes_the_bounds_and_refuses_past_them(
        template, parameter, check, ConfigurationError, variable
    )


@pytest.mark.parametrize(("parameter", "variable", "field"), TIMING)
def test_timing_parameter_bounds_are_those_of_the_pipeline_input(
    template, parameter, variable, field
):
    def check(value):
        return _run_input(field, value)

    _takes_the_bounds_and_refuses_past_them(template, parameter, check, InvalidInput, field)


@pytest.mark.parametrize(("parameter", "variable", "field"), TIMING)
def test_timing_parameter_default_is_the_environment_default(template, parameter, variable, field):
    settings = config.load_settings({config.REGION: "eu-de"})

    assert template["Parameters"][parameter]["Default"] == settings._asdict()[field]

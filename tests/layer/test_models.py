from typing import Any

import pytest
from ecs_imaging.errors import InvalidInput
from ecs_imaging.models import ImageSpec, Job, parse_model

ENTERPRISE_PROJECT_ID = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_ram", True),
        ("max_ram", "4096"),
        ("max_ram", 4096.0),
        ("min_ram", "5"),
        ("min_ram", False),
        ("min_ram", -1),
        ("min_ram", None),
        ("enterprise_project_id", "default"),
        ("enterprise_project_id", "00"),
        ("enterprise_project_id", 0),
        ("enterprise_project_id", f"{ENTERPRISE_PROJECT_ID}\n"),
    ],
)
def test_image_spec_refuses_a_loose_value_naming_the_field_and_value(field, value):
    with pytest.raises(InvalidInput) as caught:
        parse_model(ImageSpec, {"name": "web-01", field: value}, "image spec")

    assert f"{field}" in str(caught.value)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(
    "fields",
    [
        {"max_ram": 0, "min_ram": 0},
        {"max_ram": 65536, "min_ram": 1024},
        {"enterprise_project_id": "0"},
        {"enterprise_project_id": ""},
        {"enterprise_project_id": ENTERPRISE_PROJECT_ID},
    ],
)
def test_image_spec_keeps_the_documented_values(fields):
    spec = parse_model(ImageSpec, {"name": "web-01", **fields}, "image spec")

    assert {name: getattr(spec, name) for name in fields} == fields


def test_image_spec_asks_for_no_ram_limits_by_default():
    spec = ImageSpec(name="web-01")

    assert (spec.min_ram, spec.max_ram, spec.enterprise_project_id) == (0, None, None)


def _job(**fields: Any) -> Job:
    return Job.model_validate({"job_id": "j-1", "status": "FAIL", **fields})


def test_a_failed_jobs_own_code_and_reason_say_why():
    job = _job(error_code="Ecs.0010", fail_reason="internal error")

    assert job.failure == "Ecs.0010 internal error"


def test_a_batch_job_that_failed_in_a_sub_job_says_the_sub_jobs_why():
    sub_jobs = [
        {"status": "SUCCESS", "job_id": "s-1"},
        {"status": "FAIL", "job_id": "s-2", "error_code": "Ecs.0108", "fail_reason": "busy"},
    ]
    job = _job(entities={"sub_jobs_total": 2, "sub_jobs": sub_jobs})

    assert job.failure == "Ecs.0108 busy"


def test_a_job_that_says_nothing_says_so():
    assert _job().failure == "no reason given"

import pytest
from ecs_imaging.errors import InvalidInput
from ecs_imaging.models import ImageSpec, parse_model

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

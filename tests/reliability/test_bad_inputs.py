"""The bad-input table of ecs_imaging_local.reliability: refused, naming the field."""

import pytest
from ecs_imaging_local import reliability

REFUSED = [bad for bad in reliability.BAD_INPUTS if bad.names is not None]
LIMITS = [bad for bad in reliability.BAD_INPUTS if bad.names is None]


def _params(rows):
    return [
        pytest.param(
            row,
            id=f"{row.target}-{row.name.replace(' ', '-')}",
            marks=[pytest.mark.xfail(strict=True, reason=row.defect)] if row.defect else [],
        )
        for row in rows
    ]


@pytest.fixture(scope="module")
def answered(shared_stage, verdicts):
    """Every row's verdict, offered once: the pipeline's refusals run side by side."""
    offered = reliability.check_bad_inputs(shared_stage, reliability.BAD_INPUTS)
    verdicts["bad inputs"].extend(offered)

    return {(v.suite, v.name): v for v in offered}


def test_bad_input_table_covers_every_target():
    targets = {bad.target for bad in reliability.BAD_INPUTS}
    names = [(bad.target, bad.name) for bad in reliability.BAD_INPUTS]

    assert len(REFUSED) >= 40
    assert targets == {"pipeline", "sweep", "settings", "secret"}
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("bad", _params(REFUSED))
def test_bad_input_is_refused_naming_the_field(bad, answered):
    assert answered[(f"bad {bad.target}", bad.name)].problems == []


@pytest.mark.parametrize("bad", _params(LIMITS))
def test_input_at_a_limit_is_accepted(bad, answered):
    assert answered[(f"bad {bad.target}", bad.name)].problems == []

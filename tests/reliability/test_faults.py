"""The fault table of ecs_imaging_local.reliability: every promise kept under each fault."""

import pytest
from ecs_imaging_local import reliability, stage

RECONCILED = [row for row in reliability.SCENARIOS if row.expect.reconciled is not None]
SHARED = [row for row in reliability.SCENARIOS if row.expect.reconciled is None]


def _params(rows):
    return [
        pytest.param(
            row,
            id=row.name.replace(" ", "-"),
            marks=[pytest.mark.xfail(strict=True, reason=row.defect)] if row.defect else [],
        )
        for row in rows
    ]


def test_fault_table_is_large_and_names_each_row_once():
    names = [scenario.name for scenario in reliability.SCENARIOS]

    assert len(names) >= 25
    assert len(set(names)) == len(names)


# Before the module's shared engine starts: a reconcile pass reads every failed run
# of its engine, so each of these rows gets an engine of its own.
@pytest.mark.parametrize("scenario", _params(RECONCILED))
def test_fault_scenario_keeps_every_promise_through_reconcile(scenario, verdicts):
    with stage.shared_engine() as own:
        verdict = reliability.run_scenario(own, scenario)
    verdicts["faults"].append(verdict)

    assert verdict.problems == []


@pytest.mark.parametrize("scenario", _params(SHARED))
def test_fault_scenario_keeps_every_promise(scenario, shared_engine, verdicts):
    verdict = reliability.run_scenario(shared_engine, scenario)
    verdicts["faults"].append(verdict)

    assert verdict.problems == []

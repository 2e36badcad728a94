"""Reconcile on the local engine: the template's handler against moto and the emulator."""

from __future__ import annotations

import importlib
import os
from typing import Any
from unittest import mock

from . import template as sam
from .engine import LocalEngine
from .moto_adapter import LambdaContext

RECONCILE_FUNCTION = "ReconcileRunsFunction"


def reconcile(engine: LocalEngine) -> dict[str, Any]:
    """One reconcile pass, as the schedule invokes it; returns the handler's report.

    Run it inside the started engine (and the emulator's `configured` block): the
    handler's boto3 calls then reach moto, its cloud calls the emulator.
    """
    template = sam.load_template()
    spec = sam.functions(template)[RECONCILE_FUNCTION]
    handler = getattr(importlib.import_module(spec.module), spec.attribute)
    variables = _function_environment(engine, template)

    with mock.patch.dict(os.environ, variables):
        report: dict[str, Any] = handler({}, LambdaContext(spec.logical_id, spec.arn))

    return report


def _function_environment(engine: LocalEngine, template: dict[str, Any]) -> dict[str, str]:
    # The function's own variables, as the template wires them: a state machine
    # becomes the engine's ARN, any other resource the name the engine gives it
    # (its logical id).
    resources = template["Resources"]
    properties = resources[RECONCILE_FUNCTION]["Properties"]
    resolved = {}
    for name, value in properties["Environment"]["Variables"].items():
        reference = value.get("Ref") if isinstance(value, dict) else None
        if reference is None:
            resolved[name] = str(value)
        elif resources[reference]["Type"] == "AWS::Serverless::StateMachine":
            resolved[name] = engine.state_machine_arn(reference)
        else:
            resolved[name] = reference

    return resolved

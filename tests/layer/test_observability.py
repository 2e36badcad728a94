import json
import subprocess
import sys
from pathlib import Path

import pytest
from ecs_imaging import config, observability

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, os, sys
from ecs_imaging.observability import traced

handler = traced(lambda event, context: event["answer"])
answer = handler({"answer": 42}, None)
loaded = sorted(m for m in sys.modules if m.startswith(("aws_xray_sdk", "boto3", "botocore.")))
print(json.dumps({"answer": answer, "loaded": loaded}))
"""


class FakeTracer:
    def __init__(self):
        self.wrapped = []

    def capture_lambda_handler(self, handler, capture_response):
        self.wrapped.append((handler, capture_response))

        return lambda event, context: ("traced", handler(event, context))


@pytest.mark.parametrize(
    ("value", "enabled"), [(None, False), ("true", False), ("1", False), ("false", True)]
)
def test_tracing_is_on_only_when_trace_disabled_is_false(value, enabled):
    environ = {} if value is None else {config.TRACE_DISABLED: value}

    assert config.tracing_enabled(environ) is enabled


def test_traced_handler_without_tracing_loads_no_xray_sdk():
    # A fresh interpreter: the test process has loaded boto3 for moto already.
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "layers/shared"), config.TRACE_DISABLED: "true"},
        capture_output=True,
        text=True,
        check=True,
    )

    assert json.loads(result.stdout) == {"answer": 42, "loaded": []}


def test_traced_handler_with_tracing_on_is_captured_once_without_its_response(monkeypatch):
    fake = FakeTracer()
    monkeypatch.setenv(config.TRACE_DISABLED, "false")
    monkeypatch.setattr(observability, "tracer", lambda: fake)
    handler = observability.traced(lambda event, context: event)

    answers = [handler(n, None) for n in range(3)]

    assert answers == [("traced", 0), ("traced", 1), ("traced", 2)]
    assert [capture for _, capture in fake.wrapped] == [False]

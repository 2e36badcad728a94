"""What each handler pulls in at import time, checked in a fresh interpreter.

Powertools imports the bare `botocore` package to tag its user agent; that costs
well under a millisecond. boto3 itself, any botocore module, and the X-Ray SDK
(loaded only once tracing is on) must stay out.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# These call AWS APIs (Step Functions, DynamoDB, EventBridge), so boto3 is theirs.
AWS_FACING = {
    "start_server_run",
    "check_server_run",
    "reconcile_runs",
    "webhook",
    "apply_retention",
}
HANDLERS = sorted(
    path.parent.name
    for path in (ROOT / "functions").glob("*/app.py")
    if path.parent.name not in AWS_FACING
)
PROBE = """
import json, sys
import functions.{name}.app
loaded = [m for m in sys.modules if m.startswith(("boto3", "botocore.", "aws_xray_sdk"))]
print(json.dumps(sorted(loaded)))
"""


@pytest.mark.parametrize("name", HANDLERS)
def test_handler_imports_no_boto3(name):
    # Our own handler module, run in a fresh interpreter to see its cold imports.
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE.format(name=name)],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT}", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )

    assert json.loads(result.stdout) == []

"""Our command lines run as a user runs them: a child interpreter in the project."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Only our own code on the path, and no PATH: the child finds nothing else.
ENVIRONMENT = {"PYTHONPATH": "layers/shared:local:.", "PATH": ""}


def run_module(
    module: str, *arguments: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module arguments`` to its end and capture what it says."""
    return subprocess.run(  # noqa: S603 - our own modules, arguments from the tests
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        env=ENVIRONMENT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )

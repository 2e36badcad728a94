"""Bad command-line values end in a message naming the option, never a hang or a trace."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB_01 = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
PATIENCE_SECONDS = 20


def _cli(module: str, *arguments: str) -> subprocess.CompletedProcess[str] | None:
    """The finished CLI, or None when it was still going after PATIENCE_SECONDS."""
    # Our own CLIs in a child interpreter, against the emulator they start on 127.0.0.1.
    try:
        return subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", module, *arguments],
            cwd=ROOT,
            env={"PYTHONPATH": "layers/shared:local:.", "PATH": ""},
            capture_output=True,
            text=True,
            timeout=PATIENCE_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None


def test_run_refuses_an_input_that_is_a_fifo(tmp_path):
    fifo = tmp_path / "input.json"
    os.mkfifo(fifo)

    result = _cli("ecs_imaging_local", "run", "--input", str(fifo))

    assert result is not None, "run waited for good on a FIFO"
    assert result.returncode != 0
    assert "--input" in result.stderr


def test_run_refuses_a_time_scale_the_emulated_clock_cannot_keep():
    result = _cli("ecs_imaging_local", "run", "--server-id", WEB_01, "--time-scale", "1e-12")

    assert result.returncode == 2
    assert "--time-scale" in result.stderr
    assert "Traceback" not in result.stderr


def test_emulator_names_the_ports_given_twice():
    result = _cli("ecs_imaging_local.emulator", "--iam-port", "18123", "--ecs-port", "18123")

    assert result.returncode == 2
    assert "--ecs-port" in result.stderr or "18123" in result.stderr


def test_emulator_refuses_a_seed_server_whose_disk_size_is_no_number(tmp_path):
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps({"servers": [{"name": "a", "system_disk_gb": "x"}]}))

    result = _cli("ecs_imaging_local.emulator", "--seed-file", str(seed_file))

    assert result is not None, "the emulator served a seed file it should have refused"
    assert result.returncode == 2
    assert "system_disk_gb" in result.stderr

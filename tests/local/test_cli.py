"""The main job, run as a user runs it."""

import json
import signal
import subprocess
import sys
from pathlib import Path

from support.cli import ENVIRONMENT, run_module

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_EVENT = ROOT / "events" / "smn_cts_stop_notification.json"


def _cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    # Our own CLI in a child interpreter, against the emulator it starts on 127.0.0.1.
    return run_module("ecs_imaging_local", *arguments)


def test_demo_images_the_event_server_and_a_running_server():
    result = _cli("demo", "--time-scale", "0.003")

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0, result.stderr
    assert [line["status"] for line in lines] == ["SUCCEEDED", "SUCCEEDED"]
    assert lines[0]["server_id"] == "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
    assert set(lines[0]) == {
        "status",
        "server_id",
        "image_id",
        "image_name",
        "job_id",
        "polls",
        "iam_token_requests",
        "state_transitions",
        "elapsed_s",
        "outcome",
        "error",
        "reason",
        "image_ids",
        "server_restarted",
        "dropped_tags",
        "export",
    }
    assert lines[1]["outcome"] == "IMAGED"
    assert [line["server_restarted"] for line in lines] == [False, True]
    assert all(line["image_ids"] == [line["image_id"]] for line in lines)
    assert lines[0]["iam_token_requests"] == 1
    assert lines[1]["iam_token_requests"] == 0
    assert all(line["image_id"] and line["polls"] >= 1 for line in lines)
    assert "[webhook] 200 started: Started 1 of 1 runs." in result.stderr
    assert "Wait for image job" in result.stderr
    assert "image job SUCCESS" in result.stderr
    assert "SUCCESS, next check" not in result.stderr


def test_demo_says_why_the_webhook_started_no_run_and_fails(tmp_path):
    notification = json.loads(SAMPLE_EVENT.read_text("utf-8"))
    trace = json.loads(notification["message"])
    notification["message"] = json.dumps({**trace, "trace_rating": "warning"})
    event = tmp_path / "failed_stop.json"
    event.write_text(json.dumps(notification), "utf-8")

    result = _cli("demo", "--event", str(event), "--time-scale", "0.003")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "[webhook] 200 ignored: " in result.stderr
    assert "'stopServer' rated 'warning'" in result.stderr
    assert "the webhook started no run" in result.stderr


def test_demo_refuses_an_event_file_that_is_no_notification(tmp_path):
    event = tmp_path / "trace.json"
    event.write_text(json.dumps({"trace_name": "stopServer"}), "utf-8")

    result = _cli("demo", "--event", str(event))

    assert result.returncode == 1
    assert "is no SMN notification" in result.stderr


def test_run_rejects_a_bad_server_id_with_the_field_named():
    result = _cli("run", "--server-id", "web-01")

    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1
    assert line["status"] == "FAILED"
    assert "Run rejected" in result.stderr
    assert "server_id must be a UUID" in result.stderr
    assert "'web-01'" in result.stderr
    assert line["error"] == "InvalidInput"
    assert "server_id must be a UUID" in line["reason"]


def test_sigterm_during_the_demo_stops_it_and_removes_the_emulators_ca(tmp_path):
    demo = subprocess.Popen(
        [sys.executable, "-m", "ecs_imaging_local", "demo", "--time-scale", "0.05"],
        cwd=ROOT,
        env={**ENVIRONMENT, "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stderr is not None
    for line in demo.stderr:
        if "Wait for image job" in line:  # the runs are under way
            break
    assert list(tmp_path.glob("ecs-imaging-smn-*"))

    demo.send_signal(signal.SIGTERM)
    demo.communicate(timeout=60)

    assert demo.returncode == 130
    assert list(tmp_path.glob("ecs-imaging-smn-*")) == []

"""Scheduled fleet sweeps through the real fleet and pipeline state machines."""

from collections import Counter

import boto3
from ecs_imaging_local.engine import FLEET_STATE_MACHINE

TAG = "auto-image=nightly"


def _sweep(bench, slot, name, **changes):
    sweep_input = {"tag": TAG, "slot": slot, "max_concurrency": 5, **changes}
    return bench.engine.run(sweep_input, name, logical_id=FLEET_STATE_MACHINE)


def _most_runs_at_once(bench):
    sfn = boto3.client("stepfunctions", region_name="eu-central-1")
    arn = bench.engine.state_machine_arn()
    runs = sfn.list_executions(stateMachineArn=arn)["executions"]
    edges = sorted(
        [(run["startDate"], 1) for run in runs] + [(run["stopDate"], -1) for run in runs],
        key=lambda edge: (edge[0], edge[1]),
    )
    running = most = 0
    for _, change in edges:
        running += change
        most = max(most, running)
    return most


def _image_counts(bench, server_ids):
    counts = Counter()
    for image in bench.emulator.images():
        for server_id in server_ids:
            if f"ecs-imaging-server={server_id}" in image.tags:
                counts[server_id] += 1
    return counts


def test_sweep_images_every_tagged_server_once_even_when_the_slot_fires_twice(bench):
    fleet = bench.emulator.add_fleet(50, [TAG], system_disk_gb=1)
    bench.emulator.image_quota = 100
    slot = "2026-12-04T02:00:00Z"

    first = _sweep(bench, slot, "sweep-1")
    again = _sweep(bench, slot, "sweep-1-again")

    assert first.status == "SUCCEEDED", first.cause
    runs = first.output["runs"]
    assert sorted(run["server_id"] for run in runs) == sorted(fleet)
    assert {run["outcome"] for run in runs} == {"IMAGED"}
    assert again.status == "SUCCEEDED"
    assert {run["execution_arn"] for run in again.output["runs"]} == {
        run["execution_arn"] for run in runs
    }
    assert set(_image_counts(bench, fleet).values()) == {1}
    assert bench.emulator.counters["ims.create_image"] == 50


def test_sweep_never_runs_more_servers_at_once_than_asked(bench):
    fleet = bench.emulator.add_fleet(6, [TAG], system_disk_gb=1)

    result = _sweep(bench, "2026-12-05T02:00:00Z", "sweep-2", max_concurrency=2)

    starts = [i for i in bench.engine.invocations if i.function_name == "StartServerRunFunction"]
    assert result.status == "SUCCEEDED"
    assert len(starts) == len(fleet)
    assert _most_runs_at_once(bench) <= 2


def test_sweep_applies_its_policy_to_every_server(bench):
    fleet = bench.emulator.add_fleet(2, [TAG], system_disk_gb=1)

    _sweep(bench, "2026-12-06T02:00:00Z", "sweep-3", policy={"tags": {"owner": "ops"}})

    images = [i for i in bench.emulator.images() if "owner=ops" in i.tags]
    assert len(images) == len(fleet)
    assert all("ecs-imaging-run=" in " ".join(i.tags) for i in images)


def test_sweep_rejects_a_bad_policy_before_listing_anything(bench):
    result = _sweep(bench, "2026-12-07T02:00:00Z", "sweep-4", policy={"stop_policy": "reboot"})

    assert result.status == "FAILED"
    assert result.error == "InvalidInput"
    assert "policy" in result.cause and "'reboot'" in result.cause
    assert bench.emulator.counters["ecs.list_servers"] == 0

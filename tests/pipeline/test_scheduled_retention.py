"""Retention on its own schedule, through its handler, against the emulator."""

import pytest
from ecs_imaging import http
from ecs_imaging.errors import InvalidInput, RetentionIncomplete
from ecs_imaging_local.moto_adapter import LambdaContext

from functions.apply_retention import app

WEB = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"  # web-01, auto-image=daily
BUILD = "45c48cce-2e2d-4fbd-a4a1-2b3c4d5e6f63"  # build-03, auto-image=weekly


def _images_of(bench, server_id):
    return [i for i in bench.emulator.images() if f"ecs-imaging-server={server_id}" in i.tags]


def _context():
    return LambdaContext("ApplyRetentionFunction", "arn:local:ApplyRetentionFunction")


def test_scheduled_retention_prunes_only_the_tagged_servers_and_announces_it(bench):
    for number in range(3):
        bench.run({"server_id": WEB}, name=f"web-{number}")
    bench.run({"server_id": BUILD}, name="build")

    report = app.lambda_handler(
        {"tag": "auto-image=daily", "retention": {"keep_last": 1}}, _context()
    )

    assert len(_images_of(bench, WEB)) == 1
    assert len(_images_of(bench, BUILD)) == 1
    assert len(report["deleted"]) == 2
    assert bench.event_types().count("Image Deleted") == 2


def test_scheduled_retention_refuses_a_policy_without_rules(bench):
    with pytest.raises(InvalidInput, match="keep_last"):
        app.lambda_handler({"tag": "auto-image=daily", "retention": {}}, _context())

    assert bench.emulator.counters["ecs.list_servers"] == 0


def test_scheduled_retention_finishes_every_server_then_fails_if_one_did(bench, monkeypatch):
    monkeypatch.setattr(http, "BACKOFF_CAP_SECONDS", 0.01)
    servers = [
        bench.emulator.add_server(name=name, status="SHUTOFF", tags=["prune=yes"])
        for name in ("prune-01", "prune-02")
    ]
    for server_id in servers:
        for number in range(2):
            bench.run({"server_id": server_id}, name=f"{server_id[:8]}-{number}")
    # Every try of the first server's image list fails; the second's is answered.
    bench.emulator.faults.fail_calls("ims.list_images", status=503, count=3)

    with pytest.raises(RetentionIncomplete, match="1 of 2 servers"):
        app.lambda_handler({"tag": "prune=yes", "retention": {"keep_last": 1}}, _context())

    remaining = sorted(len(_images_of(bench, server_id)) for server_id in servers)
    assert remaining == [1, 2]
    [deleted] = [e for e in bench.events() if e["detail-type"] == "Image Deleted"]
    assert deleted["detail"]["scheduled"] is True
    assert len(_images_of(bench, deleted["detail"]["server_id"])) == 1

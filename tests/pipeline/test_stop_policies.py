"""Under require-stopped a run never stops a server, even one started behind its back."""

import pytest
from ecs_imaging import pipeline

STOPPED = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"  # web-01


@pytest.fixture
def started_before_create(bench, monkeypatch):
    """The owner starts the server after Prepare server found it stopped."""
    bench.emulator.require_stopped = True
    create_image = pipeline.create_image

    def owner_starts_it_first(run, *args, **kwargs):
        bench.emulator.faults.start_server(STOPPED)
        monkeypatch.setattr(pipeline, "create_image", create_image)
        return create_image(run, *args, **kwargs)

    monkeypatch.setattr(pipeline, "create_image", owner_starts_it_first)

    return bench


def test_a_server_started_before_its_image_is_skipped_not_failed(started_before_create):
    bench = started_before_create

    result = bench.run({"server_id": STOPPED, "stop_policy": "require-stopped"})

    assert result.status == "SUCCEEDED"
    assert result.output["outcome"] == "SKIPPED"
    assert "require-stopped" in result.output["reason"]
    assert bench.emulator.counters["ecs.stop"] == 0
    assert bench.emulator.images() == []
    assert "Run Skipped" in bench.event_types()


def test_the_skipped_run_releases_the_servers_lock(started_before_create):
    bench = started_before_create
    bench.run({"server_id": STOPPED, "stop_policy": "require-stopped"})
    bench.emulator.require_stopped = False

    again = bench.run({"server_id": STOPPED, "stop_policy": "allow-running"}, name="run-2")

    assert again.status == "SUCCEEDED"
    assert again.output["outcome"] == "IMAGED"

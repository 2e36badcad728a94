"""Reconcile's retention for a run that finished late, beside the server's newer runs."""

from ecs_imaging_local.reconcile import reconcile

RUNNING = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"  # app-02
NO_CAPACITY = ("Ecs.0001", "The flavor is sold out in this availability zone.")


def test_reconcile_keeps_an_image_newer_than_the_run_it_finishes(bench):
    for _ in range(3):
        bench.emulator.faults.fail_next_server_job(*NO_CAPACITY, action="start")
    bench.run({"server_id": RUNNING, "retention": {"keep_last": 1}}, name="restart-failed")
    newer = bench.run({"server_id": RUNNING}, name="newer")

    reconcile(bench.engine)

    assert newer.status == "SUCCEEDED", newer.cause
    assert newer.output["image_id"] in [image.id for image in bench.emulator.images()]

"""Finalize run repeated by its Retry, and what a run whose restart failed leaves
unannounced: the steps after the start must neither undo nor hide it."""

from ecs_imaging_local.reconcile import reconcile

RUNNING = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"  # app-02
EXPORT = {"bucket": "ims-exports", "file_format": "qcow2"}
NO_CAPACITY = ("Ecs.0001", "The flavor is sold out in this availability zone.")


def _fail_starts(bench, count):
    for _ in range(count):
        bench.emulator.faults.fail_next_server_job(*NO_CAPACITY, action="start")


def test_an_export_whose_answer_was_lost_is_made_once_and_said_unconfirmed(bench):
    bench.emulator.faults.drop_connection("ims.export_image")

    result = bench.run({"server_id": RUNNING, "export": EXPORT})

    # The export runs, but without its job the run cannot follow it: it says so.
    bench.emulator.clock.advance(3600)  # the export under way ends
    assert (result.status, result.error) == ("FAILED", "ExportFailed"), result.cause
    assert len(bench.emulator.exports()) == 1
    assert "ExportUnconfirmed" in result.cause
    assert bench.event_types().count("Image Created") == 1
    assert "Image Failed" not in bench.event_types()


def test_a_repeated_finalize_still_reports_and_checks_the_restart(bench):
    bench.emulator.faults.throttle("ims.export_image")

    result = bench.run({"server_id": RUNNING, "export": EXPORT})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["server_restarted"] is True
    assert "Check restart" in result.states_entered


def test_the_deletions_of_a_run_whose_restart_failed_are_announced(bench):
    first = bench.run({"server_id": RUNNING}, name="first")
    _fail_starts(bench, 3)

    bench.run({"server_id": RUNNING, "retention": {"keep_last": 1}}, name="second")
    reconcile(bench.engine)

    assert first.output["image_id"] not in [image.id for image in bench.emulator.images()]
    assert "Image Deleted" in bench.event_types()


def test_the_export_of_a_run_whose_restart_failed_is_in_its_cause(bench):
    _fail_starts(bench, 3)

    result = bench.run({"server_id": RUNNING, "export": EXPORT})

    export = result.cause_json["export"]
    assert result.error == "ServerRestartFailed"
    assert export["job_id"] in [job.id for job in bench.emulator.jobs()]
    assert export["bucket_url"].startswith("ims-exports:")

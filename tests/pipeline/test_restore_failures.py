"""A run whose restore itself fails says why, and leaves the server to reconcile."""

RUNNING = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"  # app-02


def test_a_restore_refused_by_ecs_names_both_errors_and_their_messages(bench):
    bench.emulator.faults.fail_next_image_job("IMG.0006", "The ECS system disk cannot be used.")
    bench.emulator.faults.reject_calls(
        "ecs.start", code="Ecs.0003", status=403, message="No permission to start.", count=None
    )

    result = bench.run({"server_id": RUNNING})

    cause = result.cause_json
    assert (result.status, result.error) == ("FAILED", "RestoreFailed")
    assert (cause["error"], cause["restore_error"]) == ("ImageJobFailed", "PermissionDenied")
    assert "No permission to start." in cause["restore_cause"]
    assert cause["reconcile"] is True
    assert bench.emulator.server(RUNNING).status == "SHUTOFF"
    assert "Image Failed" in bench.event_types()

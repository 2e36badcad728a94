"""A failed run's cause names the cloud's refusal: its code, HTTP status and request id."""

import json

STOPPED = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"  # web-01


def test_a_create_ims_keeps_throttling_fails_with_the_code_and_request_id(bench):
    bench.emulator.faults.throttle("ims.create_image", count=50)

    result = bench.run({"server_id": STOPPED})

    cause = json.loads(result.cause)
    assert result.status == "FAILED"
    assert result.error == "CloudThrottled"
    assert cause["error_code"] == "IMG.0060"
    assert cause["http_status"] == 400
    assert cause["request_id"]
    assert bench.emulator.images() == []


def test_a_failed_image_job_keeps_the_jobs_own_code(bench):
    bench.emulator.faults.fail_next_image_job("IMG.0999", "disk read error")

    result = bench.run({"server_id": STOPPED})

    cause = json.loads(result.cause)
    assert result.error == "ImageJobFailed"
    assert (cause["error_code"], cause["fail_reason"]) == ("IMG.0999", "disk read error")
    assert cause["request_id"] is None

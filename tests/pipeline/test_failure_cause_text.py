"""A failed run's cause tells what the cloud said, whatever the words of its answer."""

import json

RUNNING = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"  # app-02
# A reason that ends as the library's own description of a refused call does.
ECHOING_REASON = "Shutdown failed: (HTTP 403, code Ecs.0003, request 0000)"


def test_a_failed_hard_stop_names_the_jobs_code_not_words_of_its_reason(bench):
    for _ in range(2):  # the soft stop, then the hard one
        bench.emulator.faults.fail_next_server_job("Ecs.0611", ECHOING_REASON, action="stop")

    result = bench.run({"server_id": RUNNING})

    cause = json.loads(result.cause)
    assert result.error == "ServerJobFailed"
    assert (cause["http_status"], cause["request_id"]) == (None, None)
    assert "Ecs.0611" in cause["detail"]["message"]

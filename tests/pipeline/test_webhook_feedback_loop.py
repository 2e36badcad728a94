"""The webhook on the local engine: a late delivery of the pipeline's own stop."""

import json

from ecs_imaging_local import deliveries

RUNNING = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"  # app-02


def test_the_pipelines_own_stop_delivered_after_its_run_stops_the_server_no_more(bench):
    # The demo's webhook settings, as the template's defaults: PipelineUserNames
    # empty. SMN retries a delivery (after a 5xx) for up to a day.
    first = bench.run({"server_id": RUNNING}, name="first")
    assert first.output["server_restarted"] is True
    trace = deliveries.stop_trace("own-stop-1", RUNNING, bench.emulator.credentials.user_name)
    message = bench.emulator.smn.publish(json.dumps(trace))

    answer = deliveries.deliver(deliveries.smn_request(message))
    for name in answer.get("executions", []):
        bench.engine.wait(
            bench.engine.state_machine_arn().replace(":stateMachine:", ":execution:") + f":{name}"
        )

    assert bench.emulator.counters["ecs.stop"] == 1, answer
    assert len(bench.emulator.images()) == 1

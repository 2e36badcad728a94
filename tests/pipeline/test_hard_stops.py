"""A soft stop that fails or that the guest ignores becomes a hard one, through the
real state machine; the run still makes its image and starts the server again."""

from ecs_imaging.pipeline import SOFT_STOP_GRACE_SECONDS

RUNNING = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"  # app-02
STARTED = 60


def _stops(bench):
    return [job for job in bench.emulator.server_jobs() if job.stop_type is not None]


def _assert_imaged_and_started_again(bench, result):
    bench.emulator.clock.advance(STARTED)

    assert result.status == "SUCCEEDED", result.cause
    assert len(bench.emulator.images()) == 1
    assert result.output["server_restarted"] is True
    assert bench.emulator.server(RUNNING).status == "ACTIVE"


def test_a_soft_stop_the_guest_ignores_becomes_hard_after_the_grace(bench):
    bench.emulator.faults.ignore_soft_stop(RUNNING)

    result = bench.run({"server_id": RUNNING})

    soft, hard = _stops(bench)
    assert (soft.stop_type, hard.stop_type) == ("SOFT", "HARD")
    assert hard.begin - soft.begin >= SOFT_STOP_GRACE_SECONDS
    _assert_imaged_and_started_again(bench, result)


def test_a_failed_soft_stop_becomes_hard_at_once(bench):
    bench.emulator.faults.fail_next_server_job(
        "Ecs.0611", "The guest did not shut down.", action="stop"
    )

    result = bench.run({"server_id": RUNNING})

    soft, hard = _stops(bench)
    assert (soft.stop_type, hard.stop_type) == ("SOFT", "HARD")
    assert hard.begin - soft.begin < SOFT_STOP_GRACE_SECONDS
    _assert_imaged_and_started_again(bench, result)

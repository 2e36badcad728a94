"""Many runs through the handlers in one process, as in a warm Lambda container."""

import uuid

import pytest
from ecs_imaging import auth
from ecs_imaging_local.emulator import ServerSpec
from ecs_imaging_local.moto_adapter import LambdaContext
from support.emulator import frozen_emulator

from functions.check_image_job import app as check_image_job
from functions.create_image import app as create_image
from functions.finalize_run import app as finalize_run
from functions.prepare_server import app as prepare_server

RUNS = 100
SERVER = ServerSpec("3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60", "web-01", "SHUTOFF", 1)
# Each run deletes the one before: the images stay within the quota.
RUN_INPUT = {"server_id": SERVER.id, "retention": {"keep_last": 1}}


@pytest.fixture
def emulator():
    with frozen_emulator(SERVER) as emulator:
        yield emulator


def _invoke(module, event):
    name = module.__name__.split(".")[1]

    return module.lambda_handler(event, LambdaContext(name, f"arn:local:{name}"))


def _run_pipeline(emulator):
    execution_id = f"arn:aws:states:::execution:pipeline:{uuid.uuid4()}"
    state = _invoke(prepare_server, {"input": RUN_INPUT, "execution_id": execution_id})
    job = _invoke(create_image, {"run": state["run"]})
    while job["status"] not in ("SUCCESS", "FAIL"):
        emulator.clock.advance(job["wait_seconds"])
        job = _invoke(check_image_job, {"run": state["run"], "job": job})

    return _invoke(finalize_run, {"run": state["run"], "job": job})


def test_hundred_runs_in_one_process_ask_iam_for_one_token(emulator):
    before = auth.token_cache.fetches  # a process-wide count: other tests add to it

    outcomes = [_run_pipeline(emulator)["outcome"] for _ in range(RUNS)]

    assert outcomes == ["IMAGED"] * RUNS
    assert auth.token_cache.fetches - before == 1
    assert emulator.counters["iam.token"] == 1

"""Faults on demand: throttles, 4xx and 5xx, slow or lost answers, jobs and servers."""

import time
from typing import Any

import httpx
import pytest
from ecs_imaging_local.emulator import PROJECT_ID, Emulator
from support.emulator import (
    TLS,
    WEB_01,
    connect,
    create_image,
    issue_token,
    job_of,
    list_images,
    show_server,
)

DB_01 = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"
APP_02 = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"


def _act(
    http: httpx.Client,
    emu: Emulator,
    action: str,
    server_id: str = DB_01,
    **options: str,
) -> httpx.Response:
    body = {action: {"servers": [{"id": server_id}], **options}}
    return http.post(f"{emu.endpoints['ecs']}/v1/{PROJECT_ID}/cloudservers/action", json=body)


def test_throttle_next_calls_with_img_0060(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.throttle("ims.list_images", count=2)

    statuses = [list_images(http, emu).status_code for _ in range(3)]

    assert statuses == [400, 400, 200]
    assert emu.counters["ims.list_images"] == 3


def test_throttle_bodies_are_each_services_own(
    emu: Emulator,
    http: httpx.Client,
) -> None:
    emu.faults.throttle("iam")
    emu.faults.throttle("ecs")
    emu.faults.throttle("ims", code="APIGW.0308", retry_after=3)

    iam = issue_token(http, emu)
    ecs = show_server(http, emu)
    ims = list_images(http, emu)

    assert (iam.status_code, iam.json()["error_code"]) == (429, "APIGW.0308")
    assert (ecs.status_code, ecs.json()["error"]["code"]) == (429, "Common.1503")
    assert (ims.status_code, ims.json()["error_code"]) == (429, "APIGW.0308")
    assert ims.headers["Retry-After"] == "3" and "Retry-After" not in ecs.headers


def test_throttle_count_none_throttles_every_call_until_clear(
    emu: Emulator,
    http: httpx.Client,
) -> None:
    emu.faults.throttle("ims.list_images", count=None)

    throttled = [list_images(http, emu).status_code for _ in range(4)]
    emu.faults.clear()

    assert throttled == [400] * 4
    assert list_images(http, emu).status_code == 200


def test_throttle_without_count_throttles_one_call(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.throttle("ims.list_images")

    statuses = [list_images(http, emu).status_code for _ in range(2)]

    assert statuses == [400, 200]


def test_throttle_scoped_to_an_operation_spares_the_others(
    emu: Emulator, http: httpx.Client
) -> None:
    emu.faults.throttle("ims.create_image", count=None)

    quota = http.get(f"{emu.endpoints['ims']}/v1/cloudimages/quota")
    created = create_image(http, emu)

    assert quota.status_code == 200
    assert created.json()["error"]["code"] == "IMG.0060"
    assert emu.images() == []


def _throttled_pattern(seed: int) -> list[int]:
    with (
        Emulator(seed=seed) as emu,
        httpx.Client(verify=TLS, trust_env=False) as client,
    ):
        emu.faults.throttle("iam", rate=0.5, count=None)
        return [issue_token(client, emu).status_code for _ in range(20)]


def test_throttle_rate_is_seeded() -> None:
    pattern = _throttled_pattern(seed=3)

    assert pattern == _throttled_pattern(seed=3)
    assert 429 in pattern and 201 in pattern


def test_throttle_rate_leaves_job_durations_as_seeded(
    emu: Emulator,
    http: httpx.Client,
) -> None:
    with Emulator(seed=7) as calm, connect(calm) as client:
        create_image(client, calm)
    emu.faults.throttle("ims.list_images", rate=0.5, count=None)
    for _ in range(5):
        list_images(http, emu)
    create_image(http, emu)

    assert emu.jobs()[0].duration == calm.jobs()[0].duration


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"scope": "ecs", "code": "IMG.0060"}, "Common.1503"),
        ({"scope": "ims.nothing"}, "scope"),
        ({"scope": "ims", "count": 0}, "count"),
        ({"scope": "ims", "rate": 1.5}, "rate"),
        ({"scope": "ims", "retry_after": -1}, "Retry-After"),
    ],
)
def test_throttle_invalid_arguments_are_refused(
    emu: Emulator, arguments: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        emu.faults.throttle(**arguments)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_fail_calls_answers_5xx_then_recovers(
    emu: Emulator, http: httpx.Client, status: int
) -> None:
    emu.faults.fail_calls("ecs.show_server", status=status, count=2)

    responses = [show_server(http, emu) for _ in range(3)]

    assert [r.status_code for r in responses] == [status, status, 200]
    assert responses[0].json()["error_code"] == "APIGW.0000"


def test_fail_calls_other_status_is_refused(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="501"):
        emu.faults.fail_calls("ecs", status=501)


@pytest.mark.parametrize(
    ("scope", "status", "code", "body"),
    [
        ("ims.create_image", 400, "IMG.0010", "nested"),
        ("ims", 403, "IMG.0026", "nested"),
        ("ecs.stop", 400, "Ecs.0100", "nested"),
        ("iam.token", 400, "IAM.1109", "flat"),
        ("ims.create_image", 401, "APIGW.0301", "flat"),
    ],
)
def test_reject_calls_answer_in_the_services_error_shape(
    emu: Emulator, http: httpx.Client, scope: str, status: int, code: str, body: str
) -> None:
    emu.faults.reject_calls(scope, status=status, code=code, message="Refused.")
    call = {
        "ims": lambda: create_image(http, emu),
        "ecs": lambda: _act(http, emu, "os-stop"),
        "iam": lambda: issue_token(http, emu),
    }[scope.partition(".")[0]]

    rejected, accepted = call(), call()

    expected = (
        {"error": {"code": code, "message": "Refused."}}
        if body == "nested"
        else {"error_code": code, "error_msg": "Refused."}
    )
    assert (rejected.status_code, rejected.json()) == (status, expected)
    assert accepted.is_success


def test_reject_calls_carry_out_nothing(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.reject_calls("ims.create_image", code="IMG.0005", count=None)

    responses = [create_image(http, emu) for _ in range(3)]

    assert [r.json()["error"]["code"] for r in responses] == ["IMG.0005"] * 3
    assert emu.images() == [] and emu.jobs() == []
    assert emu.counters["ims.create_image"] == 3


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"status": 500}, "500"),
        ({"status": 399}, "399"),
        ({"status": 400.0}, "400.0"),
        ({"code": ""}, "code"),
        ({"message": None}, "message"),
    ],
)
def test_reject_calls_invalid_arguments_are_refused(
    emu: Emulator, arguments: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        emu.faults.reject_calls("ims", **{"code": "IMG.0001", **arguments})


def test_slow_calls_hold_the_answer_back(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.slow_calls("ims.create_image", 0.3)

    url, body = f"{emu.endpoints['ims']}/v2/cloudimages/action", {"instance_id": WEB_01}
    with pytest.raises(httpx.ReadTimeout):
        http.post(url, json=body | {"name": "img"}, timeout=0.1)
    quick = create_image(http, emu, DB_01)

    # The slow call was carried out: the client only waited too little for it.
    assert len(emu.jobs()) == 2 and quick.status_code == 200


def test_slow_calls_delay_by_real_seconds(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.slow_calls("ecs", 0.1)
    started = time.monotonic()

    response = show_server(http, emu)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.1


def test_slow_calls_refuse_a_delay_past_a_minute(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="delay"):
        emu.faults.slow_calls("ims", 61)


def test_dropped_create_still_makes_the_job(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.drop_connection()

    with pytest.raises(httpx.RemoteProtocolError):
        create_image(http, emu)
    after = list_images(http, emu)

    [job] = emu.jobs()
    assert job.server_id == WEB_01 and job.status == "INIT"
    assert [image["id"] for image in after.json()["images"]] == [job.image_id]
    assert emu.counters["http.dropped"] == 1


def test_failed_server_job_ends_fail_in_the_ecs_job_shape(
    emu: Emulator,
    http: httpx.Client,
) -> None:
    emu.faults.fail_next_server_job("Ecs.0611", "The guest refused to shut down.")
    response = _act(http, emu, "os-stop", type="SOFT")
    running = job_of(http, emu, response, "ecs")
    emu.clock.advance(60)
    job = job_of(http, emu, response, "ecs")

    [sub_job] = job["entities"]["sub_jobs"]
    assert (response.status_code, running["status"]) == (200, "RUNNING")
    assert (job["status"], job["error_code"]) == ("FAIL", "Ecs.0611")
    assert job["fail_reason"] == "The guest refused to shut down."
    assert job["end_time"]
    assert (sub_job["status"], sub_job["error_code"]) == ("FAIL", "Ecs.0611")
    assert sub_job["entities"] == {
        "server_id": DB_01,
        "errorcode_message": "The guest refused to shut down.",
    }
    assert show_server(http, emu, DB_01).json()["server"]["status"] == "ACTIVE"


def test_failed_server_job_of_an_action_spares_the_other_action(
    emu: Emulator,
    http: httpx.Client,
) -> None:
    emu.faults.fail_next_server_job(action="start")
    stop = _act(http, emu, "os-stop")
    emu.clock.advance(60)
    start = _act(http, emu, "os-start")
    emu.clock.advance(60)

    assert job_of(http, emu, stop, "ecs")["status"] == "SUCCESS"
    assert job_of(http, emu, start, "ecs")["error_code"] == "Ecs.0611"
    assert emu.server(DB_01).status == "SHUTOFF"


def test_soft_stop_ignored_leaves_the_server_active_until_a_hard_stop(
    emu: Emulator,
    http: httpx.Client,
) -> None:
    emu.faults.ignore_soft_stop(DB_01)
    soft = _act(http, emu, "os-stop", type="SOFT")
    emu.clock.advance(3600)
    ignored = show_server(http, emu, DB_01).json()["server"]
    hard = _act(http, emu, "os-stop", type="HARD")
    emu.clock.advance(3)

    assert (ignored["status"], ignored["OS-EXT-STS:task_state"]) == ("ACTIVE", None)
    assert job_of(http, emu, soft, "ecs")["status"] == "RUNNING"
    assert job_of(http, emu, hard, "ecs")["status"] == "SUCCESS"
    assert emu.server(DB_01).status == "SHUTOFF"
    assert [job.stop_type for job in emu.server_jobs()] == ["SOFT", "HARD"]


def test_soft_stop_heeded_again_once_cleared(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.ignore_soft_stop(DB_01)
    emu.faults.ignore_soft_stop(APP_02)
    emu.faults.ignore_soft_stop(DB_01, enabled=False)
    emu.faults.clear()

    _act(http, emu, "os-stop", DB_01)
    _act(http, emu, "os-stop", APP_02)
    emu.clock.advance(60)

    assert emu.server(DB_01).status == emu.server(APP_02).status == "SHUTOFF"


@pytest.mark.parametrize(
    ("fault", "arguments", "problem"),
    [
        ("fail_next_server_job", {"action": "reboot"}, "reboot"),
        ("fail_next_server_job", {"error_code": 611}, "error_code"),
        ("ignore_soft_stop", {"server_id": "nope"}, "nope"),
        ("ignore_soft_stop", {"server_id": DB_01, "enabled": "yes"}, "enabled"),
    ],
)
def test_server_job_faults_invalid_arguments_are_refused(
    emu: Emulator, fault: str, arguments: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        getattr(emu.faults, fault)(**arguments)


def test_server_deleted_now_is_gone(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.delete_server(WEB_01)

    assert show_server(http, emu).status_code == 404
    assert create_image(http, emu).json()["error"]["code"] == "IMG.0005"


def test_server_deleted_at_next_image_job_fails_it(
    emu: Emulator,
    http: httpx.Client,
) -> None:
    emu.faults.delete_server(WEB_01, at_next_image_job=True)
    before = show_server(http, emu)
    response = create_image(http, emu)
    gone = show_server(http, emu)
    emu.clock.advance(400)

    job = job_of(http, emu, response)
    assert (before.status_code, response.status_code, gone.status_code) == (
        200,
        200,
        404,
    )
    assert (job["status"], job["error_code"]) == ("FAIL", "IMG.0005")
    assert emu.images() == []


def test_server_deleted_mid_run_fails_a_stuck_job_too(
    emu: Emulator,
    http: httpx.Client,
) -> None:
    emu.faults.stick_next_image_job()
    response = create_image(http, emu)
    emu.clock.advance(400)
    emu.faults.delete_server(WEB_01)

    assert job_of(http, emu, response)["status"] == "FAIL"


def test_server_started_now_powers_on(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.start_server(WEB_01)
    starting = show_server(http, emu).json()["server"]
    emu.clock.advance(10)

    assert (starting["status"], starting["OS-EXT-STS:task_state"]) == (
        "SHUTOFF",
        "powering-on",
    )
    assert emu.server(WEB_01).status == "ACTIVE"
    assert emu.counters["ecs.start"] == 0


def test_server_started_when_its_next_image_job_starts(
    emu: Emulator,
    http: httpx.Client,
) -> None:
    emu.faults.start_server(WEB_01, at_next_image_job=True)
    create_image(http, emu, DB_01)
    untouched = emu.server(WEB_01).task_state
    response = create_image(http, emu, WEB_01)
    emu.clock.advance(400)

    assert untouched is None
    assert emu.server(WEB_01).status == "ACTIVE"
    assert job_of(http, emu, response)["status"] == "SUCCESS"


def test_server_fault_of_unknown_server_is_refused(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="no server"):
        emu.faults.start_server("nope")


def test_clear_drops_faults_not_yet_fired(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.throttle("ims", count=None)
    emu.faults.reject_calls("ims", code="IMG.0010", count=None)
    emu.faults.fail_next_image_job()
    emu.faults.fail_next_server_job()
    emu.faults.delete_server(WEB_01, at_next_image_job=True)
    emu.faults.clear()

    response = create_image(http, emu)
    stop = _act(http, emu, "os-stop")
    emu.clock.advance(400)

    assert job_of(http, emu, response)["status"] == "SUCCESS"
    assert job_of(http, emu, stop, "ecs")["status"] == "SUCCESS"
    assert show_server(http, emu).status_code == 200


@pytest.mark.parametrize("service", ["iam", "ecs", "ims"])
def test_admin_endpoint_on_each_listener_adds_a_fault(
    emu: Emulator, http: httpx.Client, service: str
) -> None:
    fault = {"fault": "fail_calls", "scope": "ims.list_images", "status": 502}

    added = http.post(f"{emu.endpoints[service]}/_emulator/faults", json=fault)

    assert added.status_code == 204
    assert list_images(http, emu).status_code == 502
    assert emu.counters["http.204"] == 1


def test_admin_endpoint_job_server_and_token_faults(
    emu: Emulator,
    http: httpx.Client,
) -> None:
    url = f"{emu.endpoints['ims']}/_emulator/faults"
    failing = {
        "fault": "fail_next_image_job",
        "error_code": "IMG.0014",
        "fail_reason": "x",
    }
    for fault in (failing, {"fault": "require_stopped"}, {"fault": "revoke_tokens"}):
        assert http.post(url, json=fault).status_code == 204

    assert list_images(http, emu).status_code == 401
    assert emu.require_stopped is True


def test_admin_endpoint_refuses_unknown_faults_and_arguments(
    emu: Emulator, http: httpx.Client
) -> None:
    url = f"{emu.endpoints['ecs']}/_emulator/faults"

    unknown = http.post(url, json={"fault": "melt"})
    extra = http.post(url, json={"fault": "stick_next_image_job", "when": "now"})
    wrong = http.post(url, json={"fault": "throttle", "scope": "ecs", "count": "2"})

    assert [r.status_code for r in (unknown, extra, wrong)] == [400, 400, 400]
    assert "melt" in unknown.json()["error_msg"]


def test_admin_endpoint_clears_faults_and_shows_counters(
    emu: Emulator,
    http: httpx.Client,
) -> None:
    faults = f"{emu.endpoints['iam']}/_emulator/faults"
    http.post(faults, json={"fault": "throttle", "scope": "ims", "count": 5})
    cleared = http.delete(faults)

    listed = list_images(http, emu)
    counters = http.get(f"{emu.endpoints['ecs']}/_emulator/counters").json()

    assert (cleared.status_code, listed.status_code) == (204, 200)
    assert counters["ims.list_images"] == 1 and counters["iam.token"] == 1

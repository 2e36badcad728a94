"""Every fault the admin endpoint accepts takes effect when set over HTTP."""

import time
from typing import Any

import httpx
import pytest
from ecs_imaging_local.emulator import PROJECT_ID, Emulator
from support.emulator import (
    TLS,
    WEB_01,
    create_image,
    issue_token,
    job_of,
    list_images,
    show_server,
)

DB_01 = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"
FILES_04 = "d3d94468-02a4-4e5f-8c1b-3c4d5e6f7a64"


def _add_fault(http: httpx.Client, emu: Emulator, name: str, **arguments: Any) -> None:
    url = f"{emu.endpoints['ecs']}/_emulator/faults"
    added = http.post(url, json={"fault": name, **arguments})
    assert added.status_code == 204, added.text


def _stop(http: httpx.Client, emu: Emulator, server_id: str, kind: str) -> httpx.Response:
    body = {"os-stop": {"type": kind, "servers": [{"id": server_id}]}}
    return http.post(f"{emu.endpoints['ecs']}/v1/{PROJECT_ID}/cloudservers/action", json=body)


def test_admin_throttle_count(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "throttle", scope="ims.list_images", count=2)

    statuses = [list_images(http, emu).status_code for _ in range(3)]

    assert statuses == [400, 400, 200]


def test_admin_throttle_rate_matches_the_python_fault(emu: Emulator, http: httpx.Client) -> None:
    with Emulator(seed=7) as twin, httpx.Client(verify=TLS, trust_env=False) as client:
        twin.faults.throttle("iam", rate=0.5, count=None)
        expected = [issue_token(client, twin).status_code for _ in range(20)]
    _add_fault(http, emu, "throttle", scope="iam", rate=0.5, count=None)

    pattern = [issue_token(http, emu).status_code for _ in range(20)]

    assert pattern == expected
    assert 429 in pattern and 201 in pattern


def test_admin_throttle_retry_after_and_gateway_code(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "throttle", scope="ims", code="APIGW.0308", retry_after=3)

    response = list_images(http, emu)

    assert (response.status_code, response.json()["error_code"]) == (429, "APIGW.0308")
    assert response.headers["Retry-After"] == "3"


def test_admin_fail_calls(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "fail_calls", scope="ecs", status=504, count=None)

    statuses = [show_server(http, emu).status_code for _ in range(2)]

    assert statuses == [504, 504]


def test_admin_reject_calls(emu: Emulator, http: httpx.Client) -> None:
    refusal = {"status": 403, "code": "IMG.0026", "message": "No permission."}
    _add_fault(http, emu, "reject_calls", scope="ims.create_image", **refusal)

    response = create_image(http, emu)

    assert response.status_code == 403
    assert response.json() == {"error": {"code": "IMG.0026", "message": "No permission."}}
    assert emu.jobs() == []


def test_admin_slow_calls(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "slow_calls", scope="ecs.show_server", seconds=0.2)
    started = time.monotonic()

    response = show_server(http, emu)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


def test_admin_drop_connection_after_the_call_took_effect(
    emu: Emulator, http: httpx.Client
) -> None:
    _add_fault(http, emu, "drop_connection", scope="ims.create_image")

    with pytest.raises(httpx.RemoteProtocolError):
        create_image(http, emu)

    [job] = emu.jobs()
    assert job.server_id == WEB_01
    assert emu.counters["http.dropped"] == 1


def test_admin_fail_next_image_job_with_code(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "fail_next_image_job", error_code="IMG.0014", fail_reason="IaaS failed.")

    response = create_image(http, emu)
    emu.clock.advance(400)

    job = job_of(http, emu, response)
    assert (job["status"], job["error_code"], job["fail_reason"]) == (
        "FAIL",
        "IMG.0014",
        "IaaS failed.",
    )
    assert emu.images() == []


def test_admin_stick_next_image_job(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "stick_next_image_job")

    response = create_image(http, emu)
    emu.clock.advance(10_000)

    assert job_of(http, emu, response)["status"] == "RUNNING"


def test_admin_hide_next_sub_job_results(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "hide_next_sub_job_results")
    volume = emu.server(FILES_04).data_volumes[0].id

    body = {"data_images": [{"name": "d1", "volume_id": volume}]}
    response = http.post(f"{emu.endpoints['ims']}/v2/cloudimages/action", json=body)
    emu.clock.advance(3600)

    job = job_of(http, emu, response)
    assert (job["status"], job["entities"]["sub_jobs_result"]) == ("SUCCESS", [])


def test_admin_delete_server_now(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "delete_server", server_id=WEB_01)

    assert show_server(http, emu).status_code == 404


def test_admin_delete_server_at_its_next_image_job(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "delete_server", server_id=WEB_01, at_next_image_job=True)
    before = show_server(http, emu)

    response = create_image(http, emu)
    emu.clock.advance(400)

    assert before.status_code == 200
    assert show_server(http, emu).status_code == 404
    assert job_of(http, emu, response)["error_code"] == "IMG.0005"


def test_admin_start_server_by_someone_else(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "start_server", server_id=WEB_01)
    emu.clock.advance(10)

    assert emu.server(WEB_01).status == "ACTIVE"
    assert emu.counters["ecs.start"] == 0


def test_admin_start_server_at_its_next_image_job(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "start_server", server_id=WEB_01, at_next_image_job=True)
    untouched = emu.server(WEB_01).task_state

    create_image(http, emu)

    assert untouched is None
    assert emu.server(WEB_01).task_state == "powering-on"


def test_admin_revoke_tokens(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "revoke_tokens")

    assert list_images(http, emu).status_code == 401


def test_admin_require_stopped(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "require_stopped", enabled=True)

    response = create_image(http, emu, DB_01)

    assert response.json()["error"]["code"] == "IMG.0008"


def test_admin_fail_next_server_job(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(
        http, emu, "fail_next_server_job", error_code="Ecs.0611", fail_reason="x", action="stop"
    )

    response = _stop(http, emu, DB_01, "SOFT")
    emu.clock.advance(60)

    job = job_of(http, emu, response, "ecs")
    assert (job["status"], job["error_code"], job["fail_reason"]) == ("FAIL", "Ecs.0611", "x")
    assert emu.server(DB_01).status == "ACTIVE"


def test_admin_ignore_soft_stop(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "ignore_soft_stop", server_id=DB_01)

    _stop(http, emu, DB_01, "SOFT")
    emu.clock.advance(600)
    ignored = emu.server(DB_01).status
    _stop(http, emu, DB_01, "HARD")
    emu.clock.advance(3)

    assert (ignored, emu.server(DB_01).status) == ("ACTIVE", "SHUTOFF")


def test_admin_clear(emu: Emulator, http: httpx.Client) -> None:
    _add_fault(http, emu, "ignore_soft_stop", server_id=DB_01)
    _add_fault(http, emu, "throttle", scope="ecs", count=None)

    cleared = http.delete(f"{emu.endpoints['ims']}/_emulator/faults")
    _stop(http, emu, DB_01, "SOFT")
    emu.clock.advance(60)

    assert cleared.status_code == 204
    assert emu.server(DB_01).status == "SHUTOFF"


BAD_INPUTS = [
    ({"fault": "melt"}, "fault", "melt"),
    ({"fault": "throttle", "scope": "ims.nothing"}, "scope", "ims.nothing"),
    ({"fault": "throttle", "scope": ["ims"]}, "scope", ["ims"]),
    ({"fault": "throttle", "scope": "ecs", "count": "2"}, "count", "2"),
    ({"fault": "throttle", "scope": "ecs", "count": 0}, "count", 0),
    ({"fault": "throttle", "scope": "ecs", "rate": 1.5}, "rate", 1.5),
    ({"fault": "throttle", "scope": "ecs", "retry_after": -1}, "retry_after", -1),
    ({"fault": "throttle", "scope": "ecs", "code": "IMG.0060"}, "code", "IMG.0060"),
    ({"fault": "fail_calls", "scope": "ecs", "status": 501}, "status", 501),
    ({"fault": "fail_calls", "scope": "ecs", "status": 500.0}, "status", 500.0),
    ({"fault": "reject_calls", "scope": "ims", "code": "X", "status": 500}, "status", 500),
    ({"fault": "reject_calls", "scope": "ims", "code": ""}, "code", ""),
    ({"fault": "slow_calls", "scope": "ims", "seconds": 61}, "seconds", 61),
    ({"fault": "fail_next_image_job", "error_code": 14}, "error_code", 14),
    ({"fault": "fail_next_image_job", "fail_reason": None}, "fail_reason", None),
    ({"fault": "fail_next_server_job", "action": "reboot"}, "action", "reboot"),
    ({"fault": "ignore_soft_stop", "server_id": "nope"}, "server_id", "nope"),
    ({"fault": "ignore_soft_stop", "server_id": DB_01, "enabled": 1}, "enabled", 1),
    ({"fault": "delete_server", "server_id": 5}, "server_id", 5),
    (
        {"fault": "start_server", "server_id": WEB_01, "at_next_image_job": "yes"},
        "at_next_image_job",
        "yes",
    ),
    ({"fault": "require_stopped", "enabled": "yes"}, "enabled", "yes"),
    ({"fault": "stick_next_image_job", "when": "now"}, "when", "now"),
]


@pytest.mark.parametrize(
    ("fault", "field", "value"),
    BAD_INPUTS,
    ids=[f"{fault['fault']}-{field}" for fault, field, _ in BAD_INPUTS],
)
def test_admin_bad_input_is_400_naming_the_field_and_value(
    emu: Emulator, http: httpx.Client, fault: dict[str, Any], field: str, value: Any
) -> None:
    response = http.post(f"{emu.endpoints['iam']}/_emulator/faults", json=fault)

    assert response.status_code == 400
    assert response.json()["error_code"] == "EMULATOR.0001"
    message = response.json()["error_msg"]
    assert field in message and repr(value) in message, message


def test_admin_missing_argument_is_400_naming_it(emu: Emulator, http: httpx.Client) -> None:
    fault = {"fault": "reject_calls", "scope": "ims"}

    response = http.post(f"{emu.endpoints['ims']}/_emulator/faults", json=fault)

    assert response.status_code == 400
    assert "'code'" in response.json()["error_msg"]

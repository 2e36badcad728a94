from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from ecs_imaging_local.emulator import PROJECT_ID, Emulator
from support.emulator import connect

WEB_01 = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
DB_01 = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"
APP_02 = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"
FILES_04 = "d3d94468-02a4-4e5f-8c1b-3c4d5e6f7a64"
MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def ecs(emu: Emulator) -> Iterator[httpx.Client]:
    with connect(emu, f"{emu.endpoints['ecs']}/v1/{PROJECT_ID}/") as client:
        yield client


def _show(ecs: httpx.Client, server_id: str) -> dict[str, Any]:
    server: dict[str, Any] = ecs.get(f"cloudservers/{server_id}").json()["server"]
    return server


def _act(
    ecs: httpx.Client,
    action: str,
    *server_ids: str,
    **options: str,
) -> httpx.Response:
    servers = [{"id": server_id} for server_id in server_ids]
    body = {action: {"servers": servers, **options}}

    return ecs.post("cloudservers/action", json=body)


def _job(ecs: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    job: dict[str, Any] = ecs.get(f"jobs/{response.json()['job_id']}").json()
    return job


def _states(server: dict[str, Any]) -> tuple[Any, ...]:
    return (
        server["status"],
        server["OS-EXT-STS:vm_state"],
        server["OS-EXT-STS:task_state"],
        server["OS-EXT-STS:power_state"],
    )


def test_server_show_returns_documented_fields(ecs: httpx.Client) -> None:
    server = _show(ecs, DB_01)

    assert server["name"] == "db-01"
    assert _states(server) == ("ACTIVE", "active", None, 1)
    assert server["tags"] == ["auto-image=daily", "tier=db"]
    assert server["os-extended-volumes:volumes_attached"][0]["bootIndex"] == "0"
    assert server["tenant_id"] == PROJECT_ID
    assert server["updated"].endswith("Z")


def test_server_show_unknown_is_404(ecs: httpx.Client) -> None:
    response = ecs.get(f"cloudservers/{MISSING}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "Ecs.0114"


def test_server_metadata_is_set_shown_and_deleted(ecs: httpx.Client) -> None:
    update = ecs.post(f"cloudservers/{WEB_01}/metadata", json={"metadata": {"a-b:c.d_e": "1"}})
    shown = _show(ecs, WEB_01)["metadata"]
    deleted = ecs.delete(f"cloudservers/{WEB_01}/metadata/a-b:c.d_e")
    again = ecs.delete(f"cloudservers/{WEB_01}/metadata/a-b:c.d_e")

    assert (update.status_code, update.json()) == (200, {"metadata": {"a-b:c.d_e": "1"}})
    assert shown == {"a-b:c.d_e": "1"}
    assert deleted.status_code == 204
    assert _show(ecs, WEB_01)["metadata"] == {}
    assert (again.status_code, again.json()["error"]["code"]) == (404, "Ecs.0114")


@pytest.mark.parametrize(
    "metadata",
    [{"bad key": "1"}, {"": "1"}, {"k" * 256: "1"}, {"k": "v" * 256}, {"k": 1}, ["k"]],
)
def test_server_metadata_outside_the_documented_rules_is_400(
    ecs: httpx.Client, metadata: object
) -> None:
    response = ecs.post(f"cloudservers/{WEB_01}/metadata", json={"metadata": metadata})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Ecs.0005"
    assert _show(ecs, WEB_01)["metadata"] == {}


def test_server_stop_powers_off_then_settles(emu: Emulator, ecs: httpx.Client) -> None:
    response = _act(ecs, "os-stop", DB_01, type="SOFT")
    stopping, job = _show(ecs, DB_01), _job(ecs, response)
    emu.clock.advance(10)
    stopped, done = _show(ecs, DB_01), _job(ecs, response)

    assert response.status_code == 200 and len(response.json()["job_id"]) == 32
    assert _states(stopping) == ("ACTIVE", "active", "powering-off", 1)
    assert (job["status"], job["end_time"]) == ("RUNNING", "")
    assert _states(stopped) == ("SHUTOFF", "stopped", None, 4)
    assert (done["status"], done["job_type"]) == ("SUCCESS", "batchStopServers")
    sub_job = done["entities"]["sub_jobs"][0]
    assert sub_job["job_type"] == "stopServer"
    assert sub_job["entities"]["server_id"] == DB_01


def test_server_hard_stop_takes_three_seconds(emu: Emulator, ecs: httpx.Client) -> None:
    _act(ecs, "os-stop", DB_01, type="HARD")
    emu.clock.advance(3)

    assert _show(ecs, DB_01)["status"] == "SHUTOFF"


def test_server_start_powers_on_then_settles(emu: Emulator, ecs: httpx.Client) -> None:
    response = _act(ecs, "os-start", WEB_01)
    starting = _show(ecs, WEB_01)
    emu.clock.advance(10)
    started, done = _show(ecs, WEB_01), _job(ecs, response)

    assert _states(starting) == ("SHUTOFF", "stopped", "powering-on", 4)
    assert _states(started) == ("ACTIVE", "active", None, 1)
    assert (done["status"], done["job_type"]) == ("SUCCESS", "batchStartServers")


def test_server_stop_of_stopped_server_succeeds_at_once(ecs: httpx.Client) -> None:
    job = _job(ecs, _act(ecs, "os-stop", WEB_01))

    assert job["status"] == "SUCCESS"
    assert _show(ecs, WEB_01)["OS-EXT-STS:task_state"] is None


def test_server_action_while_busy_is_400(ecs: httpx.Client) -> None:
    _act(ecs, "os-stop", DB_01)

    response = _act(ecs, "os-start", DB_01)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Ecs.0100"


def test_server_action_on_unknown_server_is_404(ecs: httpx.Client) -> None:
    response = _act(ecs, "os-stop", DB_01, MISSING)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "Ecs.0114"
    assert _show(ecs, DB_01)["OS-EXT-STS:task_state"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"reboot": {"servers": [{"id": DB_01}]}},
        {"os-stop": {"servers": []}},
        {"os-stop": {"type": "GENTLE", "servers": [{"id": DB_01}]}},
        {"os-stop": 1},
    ],
    ids=["unknown-action", "no-servers", "unknown-type", "not-object"],
)
def test_server_action_invalid_body_is_400(ecs: httpx.Client, body: Any) -> None:
    response = ecs.post("cloudservers/action", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Ecs.0005"


def test_server_action_invalid_json_is_400(ecs: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    response = ecs.post("cloudservers/action", content=b"[", headers=headers)

    assert response.json()["error"]["code"] == "Ecs.0005"


def test_server_job_unknown_is_404(ecs: httpx.Client) -> None:
    response = ecs.get(f"jobs/{'0' * 32}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "Ecs.0000"


def _names(page: dict[str, Any]) -> list[str]:
    return [server["name"] for server in page["servers"]]


def _list(ecs: httpx.Client, **params: Any) -> httpx.Response:
    return ecs.get("cloudservers/detail", params=params)


def test_server_list_filters_by_tag_and_pages(ecs: httpx.Client) -> None:
    daily = _list(ecs, tags="auto-image=daily").json()
    keyed = _list(ecs, tags="auto-image").json()
    paged = _list(ecs, offset=2, limit=4).json()

    assert (daily["count"], _names(daily)) == (2, ["web-01", "db-01"])
    assert keyed["count"] == 3
    assert (paged["count"], _names(paged)) == (6, ["files-04", "erp-05"])


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"not-tags": "auto-image"}, ["app-02", "files-04", "erp-05"]),
        ({"not-tags": "tier=db", "tags": "auto-image=daily"}, ["web-01"]),
        (
            {"name": "-0"},
            ["web-01", "db-01", "app-02", "build-03", "files-04", "erp-05"],
        ),
        ({"name": "d.-0"}, ["db-01"]),
        ({"name": "web-01."}, []),
        ({"status": "SHUTOFF"}, ["web-01", "build-03", "files-04"]),
        ({"status": "ACTIVE", "tags": "tier"}, ["db-01", "erp-05"]),
    ],
)
def test_server_list_filter(
    ecs: httpx.Client,
    params: dict[str, str],
    names: list[str],
) -> None:
    assert _names(_list(ecs, **params).json()) == names


def test_server_list_offset_is_a_page_number_and_zero_is_one(ecs: httpx.Client) -> None:
    first, zero = (
        _list(ecs, offset=1, limit=2).json(),
        _list(ecs, offset=0, limit=2).json(),
    )
    third, past = (
        _list(ecs, offset=3, limit=2).json(),
        _list(ecs, offset=4, limit=2).json(),
    )

    assert _names(first) == _names(zero) == ["web-01", "db-01"]
    assert _names(third) == ["files-04", "erp-05"]
    assert (past["count"], past["servers"]) == (6, [])


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": 1000}, 200),
        ({"limit": 1001}, 400),
        ({"limit": 0}, 400),
        ({"offset": -1}, 400),
        ({"offset": "two"}, 400),
    ],
)
def test_server_list_paging_limits(
    ecs: httpx.Client,
    params: dict[str, Any],
    status: int,
) -> None:
    response = _list(ecs, **params)

    assert response.status_code == status
    assert status == 200 or response.json()["error"]["code"] == "Ecs.0005"


def test_server_list_walks_a_fleet_over_all_pages(
    emu: Emulator,
    ecs: httpx.Client,
) -> None:
    fleet = emu.add_fleet(450, ["fleet=blue"])
    ids: list[str] = []
    for page in range(1, 5):
        body = _list(ecs, tags="fleet=blue", offset=page, limit=200).json()
        ids += [server["id"] for server in body["servers"]]

    assert ids == fleet
    assert body["count"] == 450 and body["servers"] == []


def test_server_of_another_project_is_invisible(
    emu: Emulator,
    ecs: httpx.Client,
) -> None:
    other = emu.add_server(name="theirs", project_id="f" * 32)

    assert ecs.get(f"cloudservers/{other}").status_code == 404
    assert "theirs" not in _names(_list(ecs, limit=1000).json())
    assert _act(ecs, "os-stop", other).status_code == 404


def test_server_shows_data_disks_after_the_system_disk(ecs: httpx.Client) -> None:
    volumes = _show(ecs, FILES_04)["os-extended-volumes:volumes_attached"]

    assert [v["bootIndex"] for v in volumes] == ["0", "-1", "-1"]
    assert [v["device"] for v in volumes] == ["/dev/vda", "/dev/vdb", "/dev/vdc"]
    assert len({v["id"] for v in volumes}) == 3


def test_server_hard_stop_is_faster_than_soft(emu: Emulator, ecs: httpx.Client) -> None:
    _act(ecs, "os-stop", DB_01, type="HARD")
    _act(ecs, "os-stop", APP_02, type="SOFT")
    emu.clock.advance(3)
    hard, soft = _show(ecs, DB_01), _show(ecs, APP_02)
    emu.clock.advance(7)

    assert _states(hard) == ("SHUTOFF", "stopped", None, 4)
    assert _states(soft) == ("ACTIVE", "active", "powering-off", 1)
    assert _show(ecs, APP_02)["status"] == "SHUTOFF"


def test_server_batch_of_1001_is_ecs_0118(ecs: httpx.Client) -> None:
    at_limit = _act(ecs, "os-stop", *[MISSING] * 1000)
    past_limit = _act(ecs, "os-stop", *[MISSING] * 1001)

    assert at_limit.json()["error"]["code"] == "Ecs.0114"
    assert past_limit.status_code == 400
    assert past_limit.json()["error"]["code"] == "Ecs.0118"


def test_server_job_of_another_project_is_404(emu: Emulator, ecs: httpx.Client) -> None:
    job_id = _act(ecs, "os-stop", DB_01).json()["job_id"]
    other = f"{emu.endpoints['ecs']}/v1/{'f' * 32}/jobs/{job_id}"

    # The token is not scoped to the other project: the gateway refuses first.
    assert ecs.get(other).status_code == 401
    assert ecs.get(f"jobs/{job_id}").status_code == 200


def test_server_added_through_python_api_is_served(
    emu: Emulator,
    ecs: httpx.Client,
) -> None:
    server_id = emu.add_server(name="new-01", system_disk_gb=5, tags=["a=b"])

    assert _show(ecs, server_id)["tags"] == ["a=b"]
    assert emu.server(server_id).system_disk_gb == 5

import contextlib
import email.utils
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from ecs_imaging_local.emulator import (
    PROJECT_ID,
    SAMPLE_SERVERS,
    Clock,
    Emulator,
    PortUnavailable,
    ServerSpec,
)
from ecs_imaging_local.emulator import __main__ as emulator_main
from support.cli import run_module
from support.emulator import TLS, issue_token, password_body

LOCAL = Path(__file__).resolve().parents[2] / "local"
WEB_01 = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
EMULATOR = "ecs_imaging_local.emulator"


def test_clock_runs_faster_by_time_scale() -> None:
    clock = Clock(time_scale=0.01)
    time.sleep(0.05)

    assert clock.monotonic() >= 5


def test_clock_advance_moves_now_forward() -> None:
    clock = Clock()
    before = clock.now()
    clock.advance(3600)

    assert (clock.now() - before).total_seconds() >= 3600
    assert clock.now().tzinfo is not None


def test_clock_rejects_a_scale_of_zero() -> None:
    with pytest.raises(ValueError, match="positive"):
        Clock(time_scale=0)


def test_emulator_listens_on_loopback_only(emulator: Emulator) -> None:
    endpoints = emulator.endpoints

    assert sorted(endpoints) == ["ecs", "iam", "ims"]
    assert all(url.startswith("http://127.0.0.1:") for url in endpoints.values())
    assert len(set(endpoints.values())) == 3


@pytest.mark.parametrize("service", ["iam", "ecs", "ims", "smn"])
def test_emulator_names_the_service_whose_port_is_taken(service: str) -> None:
    with _taken_port() as port:
        emu = Emulator(**{f"{service}_port": port})

        with pytest.raises(PortUnavailable) as refused:
            emu.start()

    assert (refused.value.service, refused.value.port) == (service, port)
    with pytest.raises(RuntimeError):
        emu.endpoints  # noqa: B018


def test_emulator_stopped_has_no_endpoints() -> None:
    emu = Emulator()

    with pytest.raises(RuntimeError):
        emu.endpoints  # noqa: B018


def test_emulator_starts_with_sample_servers(emulator: Emulator) -> None:
    web = emulator.server(WEB_01)

    assert len(SAMPLE_SERVERS) == 6
    assert (web.name, web.status, web.system_disk_gb) == ("web-01", "SHUTOFF", 15)
    assert web.tags == ["auto-image=daily"]
    assert emulator.credentials.project_id == PROJECT_ID and emulator.region == "eu-de"


def test_emulator_without_servers_is_empty() -> None:
    emu = Emulator(servers=[])

    with pytest.raises(KeyError):
        emu.server(WEB_01)


def test_credentials_repr_hides_password(emulator: Emulator) -> None:
    assert emulator.credentials.password not in repr(emulator.credentials)


def test_unknown_path_is_gateway_404(emulator: Emulator) -> None:
    with httpx.Client(verify=TLS, trust_env=False) as client:
        response = client.get(f"{emulator.endpoints['ims']}/v3/nothing")

    assert response.status_code == 404
    assert response.json()["error_code"] == "APIGW.0101"
    assert len(response.headers["X-Request-Id"]) == 32


def test_wrong_method_is_405(emulator: Emulator) -> None:
    with httpx.Client(verify=TLS, trust_env=False) as client:
        response = client.delete(f"{emulator.endpoints['ims']}/v2/cloudimages/action")

    assert response.status_code == 405


def test_counters_count_operations_and_statuses(emulator: Emulator) -> None:
    with httpx.Client(verify=TLS, trust_env=False) as client:
        token = issue_token(client, emulator).headers["X-Subject-Token"]
        url = f"{emulator.endpoints['ecs']}/v1/{PROJECT_ID}/cloudservers/{WEB_01}"
        client.get(url, headers={"X-Auth-Token": token})
        client.get(url)

    counters = emulator.counters
    emulator.reset_counters()

    assert counters["iam.token"] == 1 and counters["ecs.show_server"] == 2
    assert counters["http.201"] == counters["http.200"] == counters["http.401"] == 1
    assert counters["ims.create_image"] == 0
    assert set(emulator.counters.values()) == {0}


def test_emulator_logs_no_token_or_password(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=EMULATOR)
    with httpx.Client(verify=TLS, trust_env=False) as client:
        token = issue_token(client, emulator).headers["X-Subject-Token"]
        url = f"{emulator.endpoints['ims']}/v2/cloudimages"
        client.get(url, headers={"X-Auth-Token": token})

    # Only the emulator's own lines: httpcore logs response headers at DEBUG.
    ours = [r for r in caplog.records if r.name.startswith(EMULATOR)]
    text = "\n".join(record.getMessage() for record in ours)
    assert "/v2/cloudimages" in text
    assert token not in text
    assert emulator.credentials.password not in text


@contextlib.contextmanager
def _run_cli(*options: str) -> Iterator[dict[str, Any]]:
    """The emulator CLI in a child process: its summary line, then a clean Ctrl-C."""
    env = {**os.environ, "PYTHONPATH": str(LOCAL)}
    command = [sys.executable, "-m", EMULATOR, *options]
    # A fixed command: this interpreter running our own module. Its Ctrl-C handling
    # must not depend on how the suite was started: a shell's background job ignores
    # SIGINT, a child inherits that, and Python then leaves SIGINT ignored.
    process = subprocess.Popen(  # noqa: S603
        command, stdout=subprocess.PIPE, text=True, env=env, preexec_fn=_default_sigint
    )
    with process:
        watchdog = threading.Timer(10, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None
            yield json.loads(process.stdout.readline())
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=5) == 0
        finally:
            watchdog.cancel()
            process.kill()


@contextlib.contextmanager
def _taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_cli_prints_endpoints_and_stops_on_interrupt() -> None:
    with _run_cli("--time-scale", "0.02") as summary:
        iam = summary["endpoints"]["iam"]
        with httpx.Client(verify=TLS, trust_env=False) as client:
            body = password_body(summary["credentials"])
            issued = client.post(f"{iam}/v3/auth/tokens", json=body)

    assert summary["credentials"]["project_id"] == PROJECT_ID
    assert summary["endpoints"]["ims"].startswith("http://127.0.0.1:")
    assert issued.status_code == 201


def test_cli_prints_where_smn_serves_its_certificate_and_removes_the_ca_file() -> None:
    with _run_cli("--time-scale", "0.02") as summary:
        smn = summary["smn"]
        verify = ssl.create_default_context(cafile=smn["ca_bundle"])
        with httpx.Client(verify=verify, trust_env=False) as client:
            response = client.get(smn["signing_cert_url"])

    assert response.status_code == 200
    assert smn["signing_cert_url"].startswith("https://127.0.0.1:")
    assert smn["topic_urn"] == f"urn:smn:eu-de:{PROJECT_ID}:ecs-stop-events"
    assert not Path(smn["ca_bundle"]).exists()


def _cli_job_seconds(*options: str) -> float:
    """How long, in emulated seconds, an image of web-01 takes in a fresh CLI run."""
    with (
        _run_cli("--time-scale", "0.001", *options) as summary,
        httpx.Client(verify=TLS, trust_env=False) as client,
    ):
        endpoints = summary["endpoints"]
        issued = client.post(
            f"{endpoints['iam']}/v3/auth/tokens",
            json=password_body(summary["credentials"]),
        )
        client.headers["X-Auth-Token"] = issued.headers["X-Subject-Token"]
        body = {"name": "web-01-golden", "instance_id": WEB_01}
        created = client.post(f"{endpoints['ims']}/v2/cloudimages/action", json=body)
        url = f"{endpoints['ims']}/v1/{PROJECT_ID}/jobs/{created.json()['job_id']}"
        job = _wait_for_job(client, url)

    assert job["status"] == "SUCCESS"
    begin, end = (_parse_time(job[key]) for key in ("begin_time", "end_time"))

    return (end - begin).total_seconds()


def _wait_for_job(client: httpx.Client, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    job: dict[str, Any] = client.get(url).json()
    while job["status"] != "SUCCESS" and time.monotonic() < deadline:
        time.sleep(0.02)
        job = client.get(url).json()

    return job


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_cli_names_the_option_whose_port_is_taken() -> None:
    with _taken_port() as port:
        result = run_module(EMULATOR, "--ims-port", str(port))

    assert result.returncode == 2
    assert f"emulator: --ims-port {port}: Address already in use" in result.stderr


def test_cli_refuses_one_port_for_two_services() -> None:
    result = run_module(EMULATOR, "--iam-port", "18123", "--smn-port", "18123")

    assert result.returncode == 2
    assert "--iam-port and --smn-port both ask for port 18123" in result.stderr


def test_cli_without_seed_gives_the_same_job_durations() -> None:
    first, second = _cli_job_seconds(), _cli_job_seconds()
    reseeded = _cli_job_seconds("--seed", "8")

    # Begin and end times are rounded to the millisecond apiece.
    assert first == pytest.approx(second, abs=0.002)
    assert reseeded != pytest.approx(first, abs=0.002)


def test_cli_help_names_the_default_seed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        emulator_main.main(["--help"])

    assert "(default: 7)" in " ".join(capsys.readouterr().out.split())


def test_date_header_follows_emulated_clock(emulator: Emulator) -> None:
    emulator.clock.advance(3 * 86400)
    with httpx.Client(verify=TLS, trust_env=False) as client:
        response = client.get(f"{emulator.endpoints['ims']}/v3/nothing")

    sent_at = email.utils.parsedate_to_datetime(response.headers["Date"])
    assert sent_at - datetime.now(UTC) > timedelta(days=2)


def test_every_operation_has_a_line_in_the_module_docstring(emulator: Emulator) -> None:
    import ecs_imaging_local.emulator as package

    operations = [name for name in emulator.counters if not name.startswith("http.")]
    lines = (package.__doc__ or "").splitlines()
    documented = [line for line in lines if line.startswith("- ``")]

    assert len(operations) == 24
    assert [line.split("``")[1] for line in documented] == operations


def _write_seeds(tmp_path: Path, seeds: Any) -> Path:
    path = tmp_path / "seeds.json"
    path.write_text(json.dumps(seeds), "utf-8")

    return path


def test_seed_file_adds_servers_fleets_agencies_and_quota(tmp_path: Path) -> None:
    seeds = {
        "servers": [
            {
                "server_id": "11111111-2222-4333-8444-555555555555",
                "name": "seeded",
                "tags": ["a=b"],
            },
            {"name": "theirs", "data_disks_gb": [5], "project_id": "f" * 32},
        ],
        "fleets": [{"count": 3, "tags": ["fleet=seed"], "status": "ACTIVE"}],
        "agencies": [
            {"domain_name": "other", "agency_name": "imaging", "project_id": "f" * 32},
        ],
        "image_quota": 7,
    }

    emu = Emulator(seed_file=_write_seeds(tmp_path, seeds))

    seeded = emu.server("11111111-2222-4333-8444-555555555555")
    assert (seeded.name, seeded.tags, seeded.status) == ("seeded", ["a=b"], "ACTIVE")
    assert emu.server(WEB_01).name == "web-01"
    assert emu.image_quota == 7


def test_seed_file_without_sample_servers(tmp_path: Path) -> None:
    path = _write_seeds(tmp_path, {"fleets": [{"count": 2}]})

    emu = Emulator(servers=[], seed_file=path)

    with pytest.raises(KeyError):
        emu.server(WEB_01)


@pytest.mark.parametrize(
    "seeds",
    [
        {"servers": [], "zones": []},
        {"servers": [{"name": "x", "disk": 5}]},
        ["servers"],
    ],
    ids=["unknown-key", "unknown-field", "not-object"],
)
def test_seed_file_invalid_is_refused(tmp_path: Path, seeds: Any) -> None:
    with pytest.raises(ValueError, match="seed file"):
        Emulator(seed_file=_write_seeds(tmp_path, seeds))


@pytest.mark.parametrize(
    ("seeds", "entry", "field_name"),
    [
        ({"servers": [{"name": "a", "system_disk_gb": "x"}]}, "servers[0]", "system_disk_gb"),
        ({"servers": [{"name": "a", "system_disk_gb": True}]}, "servers[0]", "system_disk_gb"),
        ({"servers": [{"name": "a"}, {"name": 5}]}, "servers[1]", "name"),
        ({"servers": [{"name": "a", "tags": "abc"}]}, "servers[0]", "tags"),
        ({"servers": [{"name": "a", "tags": [1]}]}, "servers[0]", "tags"),
        ({"servers": [{"name": "a", "data_disks_gb": [0]}]}, "servers[0]", "data_disks_gb"),
        ({"servers": [{"name": "a", "project_id": None}]}, "servers[0]", "project_id"),
        ({"fleets": [{"count": -1}]}, "fleets[0]", "count"),
        ({"fleets": [{"count": 2, "tags": "abc"}]}, "fleets[0]", "tags"),
        ({"fleets": [{"count": 2, "system_disk_gb": 0}]}, "fleets[0]", "system_disk_gb"),
        (
            {"agencies": [{"domain_name": 1, "agency_name": "a", "project_id": "p"}]},
            "agencies[0]",
            "domain_name",
        ),
        ({"servers": ["a"]}, "servers[0]", "object"),
        ({"servers": {"name": "a"}}, "servers", "no list"),
        ({"image_quota": "x"}, "image_quota", "quota"),
    ],
)
def test_seed_file_names_the_entry_and_the_field_it_refuses(
    tmp_path: Path, seeds: Any, entry: str, field_name: str
) -> None:
    path = _write_seeds(tmp_path, seeds)

    with pytest.raises(ValueError, match="seed file") as refused:
        Emulator(servers=[], seed_file=path)

    assert str(path) in str(refused.value)
    assert entry in str(refused.value)
    assert field_name in str(refused.value)


def test_a_server_spec_of_the_wrong_types_is_refused() -> None:
    spec = ServerSpec("s-1", "a", "SHUTOFF", 10, tags="abc")

    with pytest.raises(ValueError, match="tags"):
        Emulator(servers=[spec])


def test_fleet_numbers_its_servers_on(emulator: Emulator) -> None:
    first = emulator.add_fleet(2, ["fleet=a"])
    second = emulator.add_fleet(1)

    names = [emulator.server(server_id).name for server_id in first + second]
    assert names == ["fleet-0001", "fleet-0002", "fleet-0003"]
    assert emulator.server(first[0]).tags == ["fleet=a"]
    assert emulator.server(second[0]).status == "SHUTOFF"


def test_credentials_carry_a_random_access_key_pair() -> None:
    one, two = Emulator().credentials, Emulator().credentials

    assert len(one.access_key) == 20 and one.access_key.isupper()
    assert one.access_key != two.access_key and one.secret_key != two.secret_key
    assert one.secret_key not in repr(one)


def test_cli_reads_a_seed_file(tmp_path: Path) -> None:
    path = _write_seeds(tmp_path, {"servers": [{"name": "only", "status": "SHUTOFF"}]})
    with _run_cli("--seed-file", str(path), "--no-sample-servers") as summary:
        endpoints = summary["endpoints"]
        with httpx.Client(verify=TLS, trust_env=False) as client:
            body = password_body(summary["credentials"])
            issued = client.post(f"{endpoints['iam']}/v3/auth/tokens", json=body)
            headers = {"X-Auth-Token": issued.headers["X-Subject-Token"]}
            url = f"{endpoints['ecs']}/v1/{PROJECT_ID}/cloudservers/detail"
            servers = client.get(url, headers=headers).json()["servers"]

    assert [server["name"] for server in servers] == ["only"]
    assert summary["credentials"]["access_key"]
    assert summary["seed"] == 7

"""Helpers for tests that talk to the local emulator: password tokens and clients."""

import contextlib
import dataclasses
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
from ecs_imaging import auth
from ecs_imaging_local.emulator import PROJECT_ID, Emulator, ServerSpec
from ecs_imaging_local.environment import configured, emulator_environment

# The sample server web-01, stopped, with a 15 GB system disk.
WEB_01 = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"

# Real seconds per emulated second: the emulated clock moves only when told to.
FROZEN = 1e6

# Loading the CA bundle for every client costs ~40 ms; the emulator speaks plain HTTP.
TLS = ssl.create_default_context()


def password_body(
    credentials: Mapping[str, str], scope: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A password-token request body, scoped to the credentials' project by default."""
    user = {
        "name": credentials["user_name"],
        "password": credentials["password"],
        "domain": {"name": credentials["domain_name"]},
    }
    identity = {"methods": ["password"], "password": {"user": user}}
    if scope is None:
        scope = {"project": {"name": credentials["project_name"]}}

    return {"auth": {"identity": identity, "scope": scope}}


def issue_token(client: httpx.Client, emu: Emulator) -> httpx.Response:
    """Ask the emulated IAM for a password token with the emulator's credentials."""
    body = password_body(dataclasses.asdict(emu.credentials))

    return client.post(f"{emu.endpoints['iam']}/v3/auth/tokens", json=body)


def password_token(client: httpx.Client, emu: Emulator) -> str:
    """A token for the emulator's user, scoped to its project."""
    return str(issue_token(client, emu).headers["X-Subject-Token"])


@contextlib.contextmanager
def connect(
    emu: Emulator,
    base_url: str = "",
    **options: Any,
) -> Iterator[httpx.Client]:
    """A client for the emulator that carries a valid token."""
    client = httpx.Client(base_url=base_url, verify=TLS, trust_env=False, **options)
    with client:
        client.headers["X-Auth-Token"] = password_token(client, emu)
        yield client


@contextlib.contextmanager
def frozen_emulator(*servers: ServerSpec) -> Iterator[Emulator]:
    """An emulator of `servers` whose clock moves only when told to, configured for
    the handlers, with no token cached from an earlier test."""
    with (
        Emulator(time_scale=FROZEN, seed=7, servers=list(servers)) as emulator,
        configured(emulator_environment(emulator), emulator),
    ):
        auth.token_cache.clear()
        yield emulator


def create_image(http: httpx.Client, emu: Emulator, server_id: str = WEB_01) -> httpx.Response:
    """Ask the emulated IMS for a system image of a server."""
    body = {"name": "img", "instance_id": server_id}
    return http.post(f"{emu.endpoints['ims']}/v2/cloudimages/action", json=body)


def job_of(
    http: httpx.Client, emu: Emulator, response: httpx.Response, service: str = "ims"
) -> dict[str, Any]:
    """The job a create or action answer names, as the service shows it now."""
    url = f"{emu.endpoints[service]}/v1/{PROJECT_ID}/jobs/{response.json()['job_id']}"
    job: dict[str, Any] = http.get(url).json()
    return job


def list_images(http: httpx.Client, emu: Emulator) -> httpx.Response:
    """The emulated IMS's image list."""
    return http.get(f"{emu.endpoints['ims']}/v2/cloudimages")


def show_server(http: httpx.Client, emu: Emulator, server_id: str = WEB_01) -> httpx.Response:
    """The emulated ECS's view of one server."""
    return http.get(f"{emu.endpoints['ecs']}/v1/{PROJECT_ID}/cloudservers/{server_id}")

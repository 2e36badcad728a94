import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from ecs_imaging_local.emulator import PROJECT_ID, Emulator
from support.emulator import password_token

WEB_01 = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
USER_DOMAIN = "OTC-EU-DE-00000000001000000001"
DOMAIN_SCOPE = {"domain": {"name": USER_DOMAIN}}
IAM_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
# One client for the module: making an httpx client costs tens of milliseconds.
HTTP = httpx.Client(trust_env=False)


def _password_body(emu: Emulator, **overrides: str) -> dict[str, Any]:
    creds = emu.credentials
    values = {
        "name": creds.user_name,
        "password": creds.password,
        "domain": creds.domain_name,
        "project": creds.project_name,
    } | overrides
    user = {
        "name": values["name"],
        "password": values["password"],
        "domain": {"name": values["domain"]},
    }
    identity = {"methods": ["password"], "password": {"user": user}}
    project = {"name": values["project"]}
    if "project_id" in values:
        project = {"id": values["project_id"]}

    return {"auth": {"identity": identity, "scope": {"project": project}}}


def _scoped_body(emu: Emulator, scope: Any) -> dict[str, Any]:
    """A password body with this ``scope``, or none at all for None."""
    auth = _password_body(emu)["auth"]
    if scope is None:
        return {"auth": {"identity": auth["identity"]}}

    return {"auth": auth | {"scope": scope}}


def _post_token(emu: Emulator, body: Any) -> httpx.Response:
    return HTTP.post(f"{emu.endpoints['iam']}/v3/auth/tokens", json=body)


def _show_server(
    emu: Emulator,
    token: str | None,
    project_id: str = PROJECT_ID,
) -> httpx.Response:
    url = f"{emu.endpoints['ecs']}/v1/{project_id}/cloudservers/{WEB_01}"
    headers = {"X-Auth-Token": token} if token else {}

    return HTTP.get(url, headers=headers)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_token_issue_returns_header_and_documented_body(emulator: Emulator) -> None:
    response = _post_token(emulator, _password_body(emulator))

    token = response.json()["token"]
    assert response.status_code == 201
    assert response.headers["X-Subject-Token"].startswith("MII")
    assert response.headers["X-Subject-Token"] in emulator.issued_tokens
    assert IAM_TIME.match(token["issued_at"]) and IAM_TIME.match(token["expires_at"])
    lifetime = _parse_time(token["expires_at"]) - _parse_time(token["issued_at"])
    assert lifetime == timedelta(hours=24)
    assert token["methods"] == ["password"]
    assert (token["project"]["id"], token["project"]["name"]) == (PROJECT_ID, "eu-de")
    assert token["user"]["name"] == "ecs-imaging"
    assert token["roles"]


def test_token_issue_accepts_project_id_scope(emulator: Emulator) -> None:
    response = _post_token(emulator, _password_body(emulator, project_id=PROJECT_ID))

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "intruder"),
        ("password", "wrong"),
        ("password", "pässwort"),
        ("domain", "x"),
    ],
)
def test_token_issue_wrong_credentials_is_401(
    emulator: Emulator,
    field: str,
    value: str,
) -> None:
    response = _post_token(emulator, _password_body(emulator, **{field: value}))

    assert response.status_code == 401
    assert response.json()["error_code"] == "IAM.0062"
    assert emulator.issued_tokens == []


@pytest.mark.parametrize(
    "body",
    [{}, {"auth": {"identity": {"methods": ["password"]}}}, {"auth": []}],
    ids=["empty", "no-password", "auth-not-object"],
)
def test_token_issue_malformed_body_is_400(emulator: Emulator, body: Any) -> None:
    response = _post_token(emulator, body)

    assert response.status_code == 400
    assert response.json()["error_code"] == "IAM.0001"


@pytest.mark.parametrize(
    "scope",
    ["eu-de", {}, {"system": {"all_projects": True}}, {"domain": "x"}, {"project": []}],
    ids=["not-object", "empty", "unknown-kind", "domain-string", "project-list"],
)
def test_token_issue_malformed_scope_is_400(emulator: Emulator, scope: Any) -> None:
    response = _post_token(emulator, _scoped_body(emulator, scope))

    assert response.status_code == 400
    assert response.json()["error_code"] == "IAM.0001"


def test_token_issue_invalid_json_is_400(emulator: Emulator) -> None:
    url = f"{emulator.endpoints['iam']}/v3/auth/tokens"
    headers = {"Content-Type": "application/json;charset=utf8"}
    response = HTTP.post(url, content=b"{nope", headers=headers)

    assert response.status_code == 400
    assert response.json()["error_code"] == "IAM.0001"


def test_token_issue_unknown_project_is_400(emulator: Emulator) -> None:
    response = _post_token(emulator, _password_body(emulator, project="eu-nl"))

    assert response.status_code == 400
    assert response.json()["error_code"] == "IAM.1109"


def test_token_issue_scoped_to_domain_has_no_project(emulator: Emulator) -> None:
    by_name = _post_token(emulator, _scoped_body(emulator, DOMAIN_SCOPE))
    token = by_name.json()["token"]
    by_id_scope = {"domain": {"id": token["domain"]["id"]}}
    by_id = _post_token(emulator, _scoped_body(emulator, by_id_scope))

    assert (by_name.status_code, by_id.status_code) == (201, 201)
    assert token["domain"] == token["user"]["domain"]
    assert token["domain"]["name"] == USER_DOMAIN and "project" not in token
    assert by_id.json()["token"]["domain"] == token["domain"]
    assert by_id.headers["X-Subject-Token"] in emulator.issued_tokens


def test_token_issue_without_scope_is_global(emulator: Emulator) -> None:
    response = _post_token(emulator, _scoped_body(emulator, None))

    token = response.json()["token"]
    assert response.status_code == 201
    assert token["domain"]["name"] == USER_DOMAIN and "project" not in token


def test_token_issue_with_project_and_domain_is_project_scoped(
    emulator: Emulator,
) -> None:
    scope = {"project": {"name": "eu-de"}} | DOMAIN_SCOPE
    response = _post_token(emulator, _scoped_body(emulator, scope))

    token = response.json()["token"]
    assert token["project"]["id"] == PROJECT_ID and "domain" not in token


def test_token_issue_other_domain_is_401(emulator: Emulator) -> None:
    scope = {"domain": {"name": "OTC-EU-DE-00000000001000000002"}}
    response = _post_token(emulator, _scoped_body(emulator, scope))

    assert (response.status_code, response.json()["error_code"]) == (401, "IAM.0001")
    assert emulator.issued_tokens == []


def _issue_scoped_token(emu: Emulator, scope: Any) -> str:
    return _post_token(emu, _scoped_body(emu, scope)).headers["X-Subject-Token"]


@pytest.mark.parametrize("scope", [DOMAIN_SCOPE, None], ids=["domain", "global"])
def test_token_without_project_is_refused_by_ecs_and_ims(
    emulator: Emulator,
    scope: Any,
) -> None:
    token = _issue_scoped_token(emulator, scope)
    headers = {"X-Auth-Token": token}
    ims = emulator.endpoints["ims"]

    server = _show_server(emulator, token)
    images = HTTP.get(f"{ims}/v2/cloudimages", headers=headers)
    job = HTTP.get(f"{ims}/v1/{PROJECT_ID}/jobs/{'0' * 32}", headers=headers)

    answers = (server, images, job)
    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert {answer.json()["error_code"] for answer in answers} == {"APIGW.0301"}
    assert "scoped to a domain" in server.json()["error_msg"]


def test_token_of_domain_lists_the_users_project(emulator: Emulator) -> None:
    url = f"{emulator.endpoints['iam']}/v3/projects"
    headers = {"X-Auth-Token": _issue_scoped_token(emulator, DOMAIN_SCOPE)}

    found = HTTP.get(url, params={"name": "eu-de"}, headers=headers)

    assert [project["id"] for project in found.json()["projects"]] == [PROJECT_ID]


def test_projects_list_finds_region_by_name(emulator: Emulator) -> None:
    url = f"{emulator.endpoints['iam']}/v3/projects"
    headers = {"X-Auth-Token": password_token(HTTP, emulator)}

    found = HTTP.get(url, params={"name": "eu-de"}, headers=headers).json()
    missing = HTTP.get(url, params={"name": "eu-nl"}, headers=headers).json()

    assert [project["id"] for project in found["projects"]] == [PROJECT_ID]
    assert found["projects"][0]["enabled"] is True
    assert missing["projects"] == []


def test_token_valid_is_accepted(emulator: Emulator) -> None:
    assert _show_server(emulator, password_token(HTTP, emulator)).status_code == 200


def _assert_unauthorized(emu: Emulator, response: httpx.Response) -> None:
    body = response.json()
    assert response.status_code == 401
    assert body["error_code"] == "APIGW.0301"
    assert body["error_msg"].startswith("Incorrect IAM authentication information")
    assert emu.counters["http.401"] == 1


def test_token_missing_is_401(emulator: Emulator) -> None:
    _assert_unauthorized(emulator, _show_server(emulator, None))


def test_token_unknown_is_401(emulator: Emulator) -> None:
    _assert_unauthorized(emulator, _show_server(emulator, "MII" + "x" * 64))


def test_token_revoked_is_401(emulator: Emulator) -> None:
    token = password_token(HTTP, emulator)
    emulator.revoke_tokens()

    _assert_unauthorized(emulator, _show_server(emulator, token))


def test_token_expired_is_401(emulator: Emulator) -> None:
    token = password_token(HTTP, emulator)
    emulator.clock.advance(24 * 3600)

    _assert_unauthorized(emulator, _show_server(emulator, token))


def test_token_of_other_project_is_401(emulator: Emulator) -> None:
    token = password_token(HTTP, emulator)

    _assert_unauthorized(emulator, _show_server(emulator, token, project_id="f" * 32))


def test_token_issued_after_revoke_is_accepted(emulator: Emulator) -> None:
    password_token(HTTP, emulator)
    emulator.revoke_tokens()

    assert _show_server(emulator, password_token(HTTP, emulator)).status_code == 200

"""AK/SK signatures checked with the official signer, temporary keys, agency tokens."""

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from ecs_imaging import auth, config
from ecs_imaging_local.emulator import PROJECT_ID, Emulator
from ecs_imaging_local.environment import configured, emulator_environment
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from support.emulator import password_body

WEB_01 = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
DB_01 = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"
MISSING = "00000000-0000-4000-8000-000000000000"
REFUSED = "Incorrect IAM authentication information: verify aksk signature fail"
OTHER_PROJECT = "f" * 32
DELEGATING = "OTC-EU-DE-00000000001000000002"
# One client for the module: making an httpx client costs tens of milliseconds.
HTTP = httpx.Client(trust_env=False)


def _sign(
    emu: Emulator,
    method: str,
    url: str,
    *,
    query: list[tuple[str, str]] | None = None,
    body: Any = None,
    keys: tuple[str, str] | None = None,
    project_id: str | None = PROJECT_ID,
    signed_at: datetime | None = None,
    security_token: str | None = None,
) -> SdkRequest:
    """A request signed by the official SDK signer, dated by the emulated clock."""
    access_key, secret_key = keys or (
        emu.credentials.access_key,
        emu.credentials.secret_key,
    )
    moment = signed_at or emu.clock.now()
    headers = {
        "Content-Type": "application/json",
        "X-Sdk-Date": f"{moment:%Y%m%dT%H%M%SZ}",
    }
    content = b"" if body is None else json.dumps(body).encode()
    parts = urlsplit(url)
    request = SdkRequest(
        method,
        "http",
        parts.netloc,
        parts.path,
        query_params=query or [],
        header_params=headers,
        body=content,
    )
    credentials = BasicCredentials(access_key, secret_key, project_id)
    if security_token is not None:
        credentials.with_security_token(security_token)

    return credentials.sign_request(request)


def _send(request: SdkRequest, **changes: Any) -> httpx.Response:
    """Send a signed request, with one part changed after signing if asked."""
    method = changes.get("method", request.method)
    path = changes.get("path", request.uri)
    headers = dict(request.header_params) | changes.get("headers", {})
    content = changes.get("body", request.body)

    url = f"http://{request.host}{path}"

    return HTTP.request(method, url, headers=headers, content=content)


def _server_url(
    emu: Emulator,
    server_id: str = WEB_01,
    project_id: str = PROJECT_ID,
) -> str:
    return f"{emu.endpoints['ecs']}/v1/{project_id}/cloudservers/{server_id}"


def _refused(response: httpx.Response) -> bool:
    expected = {"error_code": "APIGW.0301", "error_msg": REFUSED}
    return response.status_code == 401 and response.json() == expected


def test_aksk_signed_by_official_signer_is_accepted(emu: Emulator) -> None:
    response = _send(_sign(emu, "GET", _server_url(emu)))

    assert response.status_code == 200
    assert response.json()["server"]["id"] == WEB_01


def test_aksk_signed_create_makes_an_image(emu: Emulator) -> None:
    url = f"{emu.endpoints['ims']}/v2/cloudimages/action"
    body = {"name": "signed", "instance_id": WEB_01}

    response = _send(_sign(emu, "POST", url, body=body))

    assert response.status_code == 200
    assert [image.project_id for image in emu.images()] == [PROJECT_ID]


def test_aksk_signed_query_is_accepted(emu: Emulator) -> None:
    url = f"{emu.endpoints['ecs']}/v1/{PROJECT_ID}/cloudservers/detail"
    query = [("tags", "auto-image=daily"), ("limit", "1"), ("name", "web 01/x")]

    response = _send(_sign(emu, "GET", url, query=query))

    assert response.status_code == 200


def _tampered(emu: Emulator, part: str) -> httpx.Response:
    ims = emu.endpoints["ims"]
    detail = f"{emu.endpoints['ecs']}/v1/{PROJECT_ID}/cloudservers/detail"
    create = f"{ims}/v2/cloudimages/action"
    now = emu.clock.now()
    if part == "method":
        return _send(_sign(emu, "GET", f"{ims}/v2/images/{MISSING}"), method="DELETE")
    if part == "path":
        return _send(
            _sign(emu, "GET", _server_url(emu)),
            path=urlsplit(_server_url(emu, DB_01)).path,
        )
    if part == "query":
        signed = _sign(emu, "GET", detail, query=[("limit", "1")])
        return _send(signed, path=urlsplit(detail).path + "?limit=2")
    if part == "body":
        signed = _sign(emu, "POST", create, body={"name": "a", "instance_id": WEB_01})
        other = json.dumps({"name": "b", "instance_id": WEB_01}).encode()
        return _send(signed, body=other)
    if part == "date-past":
        signed_at = now - timedelta(minutes=16)
        return _send(_sign(emu, "GET", _server_url(emu), signed_at=signed_at))
    if part == "date-future":
        signed_at = now + timedelta(minutes=16)
        return _send(_sign(emu, "GET", _server_url(emu), signed_at=signed_at))
    if part == "secret-key":
        keys = (emu.credentials.access_key, "not-the-secret")
        return _send(_sign(emu, "GET", _server_url(emu), keys=keys))
    if part == "access-key":
        keys = ("UNKNOWNACCESSKEY0000", emu.credentials.secret_key)
        return _send(_sign(emu, "GET", _server_url(emu), keys=keys))
    if part == "header-project":
        return _send(_sign(emu, "GET", _server_url(emu), project_id=OTHER_PROJECT))
    if part == "path-project":
        return _send(_sign(emu, "GET", _server_url(emu, project_id=OTHER_PROJECT)))
    if part == "signed-header":
        signed = _sign(emu, "GET", _server_url(emu))
        return _send(signed, headers={"Content-Type": "application/json;charset=utf8"})
    raise AssertionError(part)


@pytest.mark.parametrize(
    "part",
    [
        "method",
        "path",
        "query",
        "body",
        "date-past",
        "date-future",
        "secret-key",
        "access-key",
        "header-project",
        "path-project",
        "signed-header",
    ],
)
def test_aksk_tampered_is_401(emu: Emulator, part: str) -> None:
    assert _refused(_tampered(emu, part))
    assert emu.images() == []


@pytest.mark.parametrize(
    ("seconds", "accepted"),
    [(897, True), (-897, True), (903, False), (-903, False)],
)
def test_aksk_date_skew_limit_is_15_minutes(
    emu: Emulator,
    seconds: int,
    accepted: bool,
) -> None:
    # X-Sdk-Date has whole seconds: 3 s either side of the limit leave room for that.
    signed_at = emu.clock.now() - timedelta(seconds=seconds)

    response = _send(_sign(emu, "GET", _server_url(emu), signed_at=signed_at))

    assert (response.status_code == 200) is accepted


def test_aksk_date_of_the_wall_clock_is_on_time_however_far_the_emulated_one_ran(
    emu: Emulator,
) -> None:
    # A client outside the tests signs with the wall clock while a time scale
    # speeds the emulated one up.
    emu.clock.advance(16 * 60)

    signed = _sign(emu, "GET", _server_url(emu), signed_at=datetime.now(UTC))

    assert _send(signed).status_code == 200


def test_aksk_date_far_from_both_clocks_is_401(emu: Emulator) -> None:
    emu.clock.advance(60 * 60)

    signed = _sign(emu, "GET", _server_url(emu), signed_at=emu.clock.now() - timedelta(minutes=30))

    assert _refused(_send(signed))


def test_aksk_date_left_out_of_signed_headers_is_401(emu: Emulator) -> None:
    signed = _sign(emu, "GET", _server_url(emu))
    authorization = signed.header_params["Authorization"].replace(";x-sdk-date", "")

    assert _refused(_send(signed, headers={"Authorization": authorization}))


def test_aksk_lists_the_project_by_name(emu: Emulator) -> None:
    url = f"{emu.endpoints['iam']}/v3/projects"
    signed = _sign(emu, "GET", url, query=[("name", "eu-de")], project_id=None)

    response = _send(signed)

    assert "X-Project-Id" not in signed.header_params
    assert [project["id"] for project in response.json()["projects"]] == [PROJECT_ID]


def test_temporary_keys_need_their_security_token(emu: Emulator) -> None:
    access_key, secret_key, token = emu.issue_temporary_keys()
    keys = (access_key, secret_key)

    url = _server_url(emu)

    with_token = _send(_sign(emu, "GET", url, keys=keys, security_token=token))
    without = _send(_sign(emu, "GET", url, keys=keys))
    wrong = _send(_sign(emu, "GET", url, keys=keys, security_token=token + "x"))

    assert with_token.status_code == 200
    assert _refused(without) and _refused(wrong)


def test_temporary_keys_expire(emu: Emulator) -> None:
    access_key, secret_key, token = emu.issue_temporary_keys(seconds=600)
    emu.clock.advance(600)

    signed = _sign(
        emu,
        "GET",
        _server_url(emu),
        keys=(access_key, secret_key),
        security_token=token,
    )

    assert _refused(_send(signed))


def test_permanent_keys_with_a_security_token_are_401(emu: Emulator) -> None:
    assert _refused(_send(_sign(emu, "GET", _server_url(emu), security_token="x")))


def _request_password_token(emu: Emulator, scope: dict[str, Any]) -> httpx.Response:
    """Ask IAM for a token the way the library does: no catalog, JSON in UTF-8."""
    body = password_body(dataclasses.asdict(emu.credentials), scope)
    headers = {"Content-Type": "application/json;charset=utf8"}
    content = json.dumps(body).encode()

    return HTTP.post(
        _tokens_url(emu), params={"nocatalog": "true"}, headers=headers, content=content
    )


def _password_token(emu: Emulator) -> str:
    response = _request_password_token(emu, {"project": {"name": emu.region}})

    return str(response.headers["X-Subject-Token"])


def _tokens_url(emu: Emulator) -> str:
    return f"{emu.endpoints['iam']}/v3/auth/tokens"


def _assume(
    emu: Emulator, token: str | None, scope: dict[str, str] | None = None, **role: str
) -> httpx.Response:
    assume_role = {"domain_name": DELEGATING, "agency_name": "imaging"} | role
    identity = {"methods": ["assume_role"], "assume_role": assume_role}
    project = scope or {"name": "eu-de"}
    body = {"auth": {"identity": identity, "scope": {"project": project}}}
    headers = {"X-Auth-Token": token} if token else {}

    return HTTP.post(_tokens_url(emu), json=body, headers=headers)


@pytest.fixture
def delegated(emu: Emulator) -> str:
    """A server in the delegating project, reachable through the 'imaging' agency."""
    emu.add_agency(DELEGATING, "imaging", OTHER_PROJECT)
    return emu.add_server(name="theirs-01", project_id=OTHER_PROJECT)


def test_agency_token_reaches_the_delegating_project(
    emu: Emulator,
    delegated: str,
) -> None:
    response = _assume(emu, _password_token(emu))
    agency_token = response.headers["X-Subject-Token"]
    headers = {"X-Auth-Token": agency_token}

    theirs = HTTP.get(_server_url(emu, delegated, OTHER_PROJECT), headers=headers)
    ours = HTTP.get(_server_url(emu), headers=headers)

    token = response.json()["token"]
    assert response.status_code == 201 and token["methods"] == ["assume_role"]
    assert token["project"]["id"] == OTHER_PROJECT
    assert token["project"]["domain"]["name"] == DELEGATING
    assert token["assumed_by"]["user"]["name"] == emu.credentials.user_name
    assert theirs.status_code == 200 and ours.status_code == 401
    assert emu.counters["iam.agency_token"] == 1 and emu.counters["iam.token"] == 1


def test_agency_token_from_a_domain_scoped_user_token(
    emu: Emulator,
    delegated: str,
) -> None:
    scope = {"domain": {"name": emu.credentials.domain_name}}
    user = _request_password_token(emu, scope)
    user_headers = {"X-Auth-Token": user.headers["X-Subject-Token"]}
    agency = _assume(emu, user.headers["X-Subject-Token"])
    headers = {"X-Auth-Token": agency.headers["X-Subject-Token"]}

    image = {"name": "theirs-golden", "instance_id": delegated}
    ims = emu.endpoints["ims"]
    created = HTTP.post(f"{ims}/v2/cloudimages/action", json=image, headers=headers)
    direct = HTTP.get(_server_url(emu, delegated, OTHER_PROJECT), headers=user_headers)

    assert user.status_code == 201 and "project" not in user.json()["token"]
    assert agency.status_code == 201
    assert agency.json()["token"]["project"]["id"] == OTHER_PROJECT
    assert created.status_code == 200 and direct.status_code == 401
    assert [image.project_id for image in emu.images()] == [OTHER_PROJECT]


def test_agency_token_of_the_library_reaches_the_delegating_project(
    emu: Emulator,
    delegated: str,
) -> None:
    variables = emulator_environment(emu) | {
        config.AGENCY_NAME: "imaging",
        config.AGENCY_DOMAIN_NAME: DELEGATING,
    }
    auth.token_cache.clear()
    try:
        with configured(variables, emu):
            _, token = auth.get_token()
    finally:
        auth.token_cache.clear()

    headers = {"X-Auth-Token": token.value}
    response = HTTP.get(_server_url(emu, delegated, OTHER_PROJECT), headers=headers)

    assert token.project_id == OTHER_PROJECT and response.status_code == 200
    assert emu.counters["iam.token"] == 1 and emu.counters["iam.agency_token"] == 1


def test_agency_token_by_domain_id_and_project_id(emu: Emulator) -> None:
    agency = emu.add_agency(DELEGATING, "imaging", OTHER_PROJECT)
    role = {"domain_id": agency.domain_id, "agency_name": "imaging"}
    identity = {"methods": ["assume_role"], "assume_role": role}
    body = {"auth": {"identity": identity, "scope": {"project": {"id": OTHER_PROJECT}}}}
    headers = {"X-Auth-Token": _password_token(emu)}

    response = HTTP.post(_tokens_url(emu), json=body, headers=headers)

    assert response.status_code == 201


def test_agency_token_lists_the_delegating_project(
    emu: Emulator,
    delegated: str,
) -> None:
    issued = _assume(emu, _password_token(emu))
    headers = {"X-Auth-Token": issued.headers["X-Subject-Token"]}

    body = HTTP.get(f"{emu.endpoints['iam']}/v3/projects", headers=headers).json()

    assert [project["id"] for project in body["projects"]] == [OTHER_PROJECT]


@pytest.mark.parametrize(
    "role",
    [{"agency_name": "other"}, {"domain_name": "OTC-EU-DE-00000000001000000003"}],
    ids=["unknown-agency", "unknown-domain"],
)
def test_agency_unknown_is_403(
    emu: Emulator,
    delegated: str,
    role: dict[str, str],
) -> None:
    response = _assume(emu, _password_token(emu), **role)

    assert response.status_code == 403
    assert response.json()["error"]["title"] == "Forbidden"


def test_agency_of_other_project_scope_is_400(emu: Emulator, delegated: str) -> None:
    response = _assume(emu, _password_token(emu), scope={"id": PROJECT_ID})

    assert (response.status_code, response.json()["error_code"]) == (400, "IAM.1109")


def test_agency_without_valid_caller_token_is_401(
    emu: Emulator,
    delegated: str,
) -> None:
    token = _password_token(emu)
    missing = _assume(emu, None)
    emu.revoke_tokens()
    revoked = _assume(emu, token)
    fresh = _password_token(emu)
    emu.clock.advance(24 * 3600)
    expired = _assume(emu, fresh)

    assert [r.status_code for r in (missing, revoked, expired)] == [401, 401, 401]
    codes = [r.json()["error_code"] for r in (missing, revoked, expired)]
    assert codes == ["IAM.0067", "IAM.0067", "IAM.0066"]


def test_agency_malformed_body_is_400(emu: Emulator, delegated: str) -> None:
    identity = {"methods": ["assume_role"], "assume_role": {"agency_name": "imaging"}}
    body = {"auth": {"identity": identity, "scope": {"project": {"name": "eu-de"}}}}
    headers = {"X-Auth-Token": _password_token(emu)}

    response = HTTP.post(_tokens_url(emu), json=body, headers=headers)

    assert (response.status_code, response.json()["error_code"]) == (400, "IAM.0001")

import itertools
import json
import os
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ecs_imaging import auth, clock, config, credentials, ecs
from ecs_imaging.errors import CloudAuthError, ConfigurationError, InvalidRequest
from ecs_imaging.session import CloudSession
from ecs_imaging_local.environment import configured, emulator_environment
from support.cloud import ECS, IAM, PASSWORD, PROJECT_ID, SERVER_ID, token_response

SERVER = {"server": {"id": SERVER_ID, "name": "web-01", "status": "SHUTOFF"}}


def test_get_token_sends_the_documented_password_body(cloud):
    _, token = auth.get_token()

    body = json.loads(cloud["token"].calls.last.request.content)
    user = body["auth"]["identity"]["password"]["user"]
    assert body["auth"]["identity"]["methods"] == ["password"]
    assert user == {
        "name": "ecs-imaging",
        "password": PASSWORD,
        "domain": {"name": "OTC-EU-DE-00000000001000000001"},
    }
    assert body["auth"]["scope"] == {"project": {"name": "eu-de"}}
    assert token.project_id == PROJECT_ID
    assert token.value == "MIItoken-1"


def test_get_token_is_reused_across_calls(cloud):
    before = auth.token_cache.fetches
    for _ in range(5):
        auth.get_token()

    assert cloud["token"].call_count == 1
    assert auth.token_cache.fetches - before == 1


def test_get_token_refreshes_a_token_close_to_expiry(cloud):
    cloud["token"].side_effect = [token_response("t1", hours=24), token_response("t2")]
    auth.get_token()

    clock.use_clock(lambda: datetime.now(UTC) + timedelta(hours=23, minutes=55))
    _, token = auth.get_token()

    assert token.value == "t2"
    assert cloud["token"].call_count == 2


def test_get_token_makes_one_iam_request_when_threads_race(cloud):
    def slow_token(request):
        threading.Event().wait(0.05)
        return token_response()

    cloud["token"].side_effect = slow_token
    threads = [threading.Thread(target=auth.get_token) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert cloud["token"].call_count == 1


def test_token_never_shows_in_its_repr(cloud):
    _, token = auth.get_token()

    assert "MIItoken-1" not in repr(token)


def test_session_replaces_a_refused_token_and_repeats_the_call_once(cloud):
    cloud["token"].side_effect = [token_response("old"), token_response("new")]
    route = cloud.get(f"{ECS}/v1/{PROJECT_ID}/cloudservers/{SERVER_ID}").mock(
        side_effect=[
            httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "expired"}),
            httpx.Response(200, json=SERVER),
        ]
    )

    server = ecs.show_server(CloudSession(), SERVER_ID)

    assert server.is_stopped
    assert [call.request.headers["X-Auth-Token"] for call in route.calls] == ["old", "new"]


def test_session_gives_up_after_a_second_refusal(cloud):
    cloud.get(f"{ECS}/v1/{PROJECT_ID}/cloudservers/{SERVER_ID}").mock(
        return_value=httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "no"})
    )

    with pytest.raises(CloudAuthError):
        ecs.show_server(CloudSession(), SERVER_ID)


def test_token_cache_is_keyed_by_endpoint(cloud, monkeypatch):
    other = "https://iam.eu-nl.otc.t-systems.com"
    cloud.post(f"{other}/v3/auth/tokens").mock(
        return_value=token_response("nl", project_name="eu-nl")
    )
    auth.get_token()

    monkeypatch.setenv(config.REGION, "eu-nl")
    config.reset_settings()
    _, token = auth.get_token()

    assert token.value == "nl"


OTHER_PROJECT_ID = "9f8e7d6c5b4a30291807f6e5d4c3b2a1"
PROJECT_NOT_FOUND = httpx.Response(
    400, json={"error_code": "IAM.1109", "error_msg": "The project information cannot be found."}
)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (config.PROJECT_NAME, "eu-de_missing"),
        (config.OS_PROJECT_NAME, "eu-de_missing"),
        (config.PROJECT_ID, OTHER_PROJECT_ID),
        (config.OS_PROJECT_ID, OTHER_PROJECT_ID),
        (config.REGION, "eu-de"),
    ],
)
def test_a_project_iam_cannot_find_names_the_variable_and_its_value(
    cloud, monkeypatch, variable, value
):
    monkeypatch.setenv(variable, value)
    cloud["token"].mock(return_value=PROJECT_NOT_FOUND)

    with pytest.raises(ConfigurationError) as caught:
        auth.get_token()

    assert variable in str(caught.value)
    assert repr(value) in str(caught.value)
    assert cloud["token"].call_count == 1


def test_a_project_not_found_by_another_call_stays_a_cloud_error(cloud):
    cloud.get(f"{ECS}/v1/{PROJECT_ID}/cloudservers/{SERVER_ID}").mock(
        return_value=PROJECT_NOT_FOUND
    )

    with pytest.raises(InvalidRequest):
        ecs.show_server(CloudSession(), SERVER_ID)


@pytest.mark.parametrize("project_name", ["eu-nl", "eu-nl_ops", "eu-deops", "eu"])
def test_a_token_for_a_project_of_another_region_names_the_variable(
    cloud, monkeypatch, project_name
):
    monkeypatch.setenv(config.OS_PROJECT_ID, OTHER_PROJECT_ID)
    cloud["token"].mock(return_value=token_response(project_name=project_name))

    with pytest.raises(ConfigurationError) as caught:
        auth.get_token()

    message = str(caught.value)
    assert config.OS_PROJECT_ID in message
    assert repr(OTHER_PROJECT_ID) in message
    assert repr(project_name) in message and "'eu-de'" in message


@pytest.mark.parametrize("project_name", ["eu-de", "eu-de_ops"])
def test_a_token_for_a_project_of_the_region_is_accepted(cloud, monkeypatch, project_name):
    monkeypatch.setenv(config.PROJECT_ID, OTHER_PROJECT_ID)
    cloud["token"].mock(return_value=token_response(project_name=project_name))

    _, token = auth.get_token()

    assert token.project_name == project_name


@pytest.mark.parametrize(
    ("variable", "value"),
    [(config.PROJECT_NAME, "eu-de_missing"), (config.OS_PROJECT_ID, OTHER_PROJECT_ID)],
)
def test_the_emulator_refuses_an_unknown_project_as_iam_does(emulator, variable, value):
    environment = {**emulator_environment(emulator), variable: value}

    with configured(environment, emulator), pytest.raises(ConfigurationError) as caught:
        auth.get_token()

    assert variable in str(caught.value) and repr(value) in str(caught.value)
    assert emulator.counters["iam.token"] == 1
    assert emulator.counters["http.400"] == 1


def test_an_agency_into_a_project_of_another_region_is_refused_on_the_emulator(emulator):
    agency = emulator.add_agency(
        "OTC-EU-DE-00000000001000000002", "ops-agency", OTHER_PROJECT_ID, project_name="eu-nl"
    )
    environment = {
        **emulator_environment(emulator),
        config.PROJECT_ID: OTHER_PROJECT_ID,
        config.AGENCY_NAME: agency.agency_name,
        config.AGENCY_DOMAIN_NAME: agency.domain_name,
    }

    with configured(environment, emulator), pytest.raises(ConfigurationError) as caught:
        auth.get_token()

    assert config.PROJECT_ID in str(caught.value) and "'eu-nl'" in str(caught.value)
    assert emulator.counters["iam.agency_token"] == 1


def test_refused_password_is_reported_without_the_password(cloud):
    cloud["token"].mock(
        return_value=httpx.Response(
            401, json={"error_msg": "Incorrect password.", "error_code": "IAM.0062"}
        )
    )

    with pytest.raises(CloudAuthError) as caught:
        auth.get_token()

    assert PASSWORD not in str(caught.value)
    assert caught.value.error_code == "IAM.0062"


def test_missing_credentials_name_the_variables(monkeypatch):
    monkeypatch.delenv(config.OS_PASSWORD)

    with pytest.raises(ConfigurationError, match=config.OS_PASSWORD):
        credentials.get_credentials()


def test_token_requests_reach_only_iam(cloud):
    auth.get_token()

    assert cloud["token"].calls.last.request.url.host == httpx.URL(IAM).host


ACCESS_KEY = "AKEXAMPLE0000000TEST"
OTHER_ACCESS_KEY = "AKEXAMPLE0000000NEXT"
SHOW_SERVER = f"/v1/{PROJECT_ID}/cloudservers/{SERVER_ID}"
PROJECTS = {"projects": [{"id": PROJECT_ID, "name": "eu-de", "domain_id": "d1"}]}


@pytest.fixture
def access_key(monkeypatch):
    monkeypatch.delenv(config.OS_USERNAME)
    monkeypatch.delenv(config.OS_PASSWORD)
    monkeypatch.setenv(config.OS_ACCESS_KEY, ACCESS_KEY)
    monkeypatch.setenv(config.OS_SECRET_KEY, "sk-example-for-tests")


@pytest.fixture
def projects(cloud):
    return cloud.get(f"{IAM}/v3/projects", params={"name": "eu-de"}, name="projects").mock(
        return_value=httpx.Response(200, json=PROJECTS)
    )


def test_get_token_with_an_access_key_says_there_is_none(access_key):
    with pytest.raises(ConfigurationError, match="access key"):
        auth.get_token()


def _show_server_route(cloud, *answers):
    route = cloud.get(f"{ECS}{SHOW_SERVER}")
    if answers:
        return route.mock(side_effect=list(answers))

    return route.mock(return_value=httpx.Response(200, json=SERVER))


def _show_server(session):
    return session.request("ecs", "GET", f"/v1/{session.project_id}/cloudservers/{SERVER_ID}")


def _access_key_of(request):
    return request.headers["Authorization"].split("Access=")[1].split(",")[0]


def test_access_key_requests_are_signed_and_carry_no_token(cloud, access_key, projects):
    route = _show_server_route(cloud)

    CloudSession().request("ecs", "GET", SHOW_SERVER)

    sent = route.calls.last.request.headers
    assert sent["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={ACCESS_KEY}, ")
    assert sent["X-Project-Id"] == PROJECT_ID
    assert len(sent["X-Sdk-Date"]) == len("20261204T150000Z")
    assert "X-Auth-Token" not in sent
    assert "X-Security-Token" not in sent
    assert cloud["token"].call_count == 0


def test_temporary_access_key_requests_carry_the_security_token(cloud, access_key, monkeypatch):
    monkeypatch.setenv(config.OS_SECURITY_TOKEN, "example-security-token")
    monkeypatch.setenv(config.PROJECT_ID, PROJECT_ID)
    route = cloud.post("https://ims.eu-de.otc.t-systems.com/v2/cloudimages/action").mock(
        return_value=httpx.Response(200, json={"job_id": "j1"})
    )

    CloudSession().request("ims", "POST", "/v2/cloudimages/action", json={"name": "web-01"})

    sent = route.calls.last.request.headers
    assert sent["X-Security-Token"] == "example-security-token"
    assert "x-security-token" in sent["Authorization"]
    assert "X-Auth-Token" not in sent


def test_project_id_is_looked_up_once_across_many_requests_and_threads(cloud, access_key, projects):
    route = _show_server_route(cloud)
    session = CloudSession()

    threads = [threading.Thread(target=_show_server, args=(session,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert route.call_count == 8
    assert projects.call_count == 1
    assert session.project_id == PROJECT_ID
    assert projects.calls.last.request.headers["Authorization"].startswith("SDK-HMAC-SHA256")
    assert "X-Project-Id" not in projects.calls.last.request.headers


def test_a_configured_project_id_needs_no_look_up(cloud, access_key, projects, monkeypatch):
    monkeypatch.setenv(config.PROJECT_ID, PROJECT_ID)
    _show_server_route(cloud)

    _show_server(CloudSession())

    assert projects.call_count == 0


def test_a_project_missing_from_the_region_names_the_setting(cloud, access_key, projects):
    projects.mock(return_value=httpx.Response(200, json={"projects": []}))

    with pytest.raises(ConfigurationError, match=config.PROJECT_NAME) as caught:
        _show_server(CloudSession())

    assert "'eu-de'" in str(caught.value)


def test_a_refused_access_key_is_read_again_and_the_request_repeated_once(
    cloud, access_key, projects, monkeypatch
):
    route = _show_server_route(
        cloud,
        httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "bad signature"}),
        httpx.Response(200, json=SERVER),
    )
    session = CloudSession()
    credentials.get_credentials()
    monkeypatch.setenv(config.OS_ACCESS_KEY, OTHER_ACCESS_KEY)

    session.request("ecs", "GET", SHOW_SERVER)

    assert [_access_key_of(call.request) for call in route.calls] == [
        ACCESS_KEY,
        OTHER_ACCESS_KEY,
    ]


def test_a_refused_access_key_that_did_not_change_is_not_sent_again(cloud, access_key, projects):
    route = _show_server_route(
        cloud, httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "no"})
    )

    with pytest.raises(CloudAuthError):
        CloudSession().request("ecs", "GET", SHOW_SERVER)

    assert route.call_count == 1


AGENCY_ENVIRONMENT = {
    config.AGENCY_NAME: "ops-agency",
    config.AGENCY_DOMAIN_NAME: "OTC-EU-DE-00000000001000000002",
}


@pytest.fixture
def agency(cloud, monkeypatch):
    for name, value in AGENCY_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)

    agency_tokens = itertools.count(1)

    def answer(request):
        body = json.loads(request.content)
        if body["auth"]["identity"]["methods"] == ["assume_role"]:
            return token_response(f"agency-{next(agency_tokens)}")
        return token_response("user-token")

    cloud["token"].side_effect = answer

    return cloud["token"]


def _bodies(route):
    return [json.loads(call.request.content) for call in route.calls]


def test_agency_token_request_is_the_documented_assume_role_body(agency):
    _, token = auth.get_token()

    user_request, agency_request = (call.request for call in agency.calls)
    assert json.loads(agency_request.content) == {
        "auth": {
            "identity": {
                "methods": ["assume_role"],
                "assume_role": {
                    "domain_name": "OTC-EU-DE-00000000001000000002",
                    "agency_name": "ops-agency",
                },
            },
            "scope": {"project": {"name": "eu-de"}},
        }
    }
    assert agency_request.headers["X-Auth-Token"] == "user-token"
    assert json.loads(user_request.content)["auth"]["scope"] == {
        "domain": {"name": "OTC-EU-DE-00000000001000000001"}
    }
    assert token.value.startswith("agency-")


def test_agency_token_request_names_the_domain_by_id_when_given(agency, monkeypatch):
    monkeypatch.delenv(config.AGENCY_DOMAIN_NAME)
    monkeypatch.setenv(config.AGENCY_DOMAIN_ID, "5c1e0a7b9d3f4e2a8b6c0d1e2f3a4b5c")

    auth.get_token()

    assume_role = _bodies(agency)[-1]["auth"]["identity"]["assume_role"]
    assert assume_role == {
        "domain_id": "5c1e0a7b9d3f4e2a8b6c0d1e2f3a4b5c",
        "agency_name": "ops-agency",
    }


def test_agency_tokens_are_cached_per_agency_over_one_user_token(agency, monkeypatch):
    before = auth.token_cache.fetches
    _, first = auth.get_token()
    monkeypatch.setenv(config.AGENCY_NAME, "other-agency")
    credentials.forget_credentials()
    _, second = auth.get_token()
    monkeypatch.setenv(config.AGENCY_NAME, "ops-agency")
    credentials.forget_credentials()
    _, again = auth.get_token()

    methods = [body["auth"]["identity"]["methods"][0] for body in _bodies(agency)]
    assert methods == ["password", "assume_role", "assume_role"]
    assert again == first
    assert second != first
    assert auth.token_cache.fetches - before == 3


def test_a_refused_agency_token_is_replaced_without_a_new_user_token(cloud, agency):
    route = _show_server_route(
        cloud,
        httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "expired"}),
        httpx.Response(200, json=SERVER),
    )

    _show_server(CloudSession())

    methods = [body["auth"]["identity"]["methods"][0] for body in _bodies(agency)]
    assert methods == ["password", "assume_role", "assume_role"]
    assert [call.request.headers["X-Auth-Token"] for call in route.calls] == [
        "agency-1",
        "agency-2",
    ]


OTHER_IAM = "https://iam.eu-nl.otc.t-systems.com"
TOKEN_KEY_CHANGES = {
    "iam-endpoint": {config.IAM_ENDPOINT: OTHER_IAM},
    "domain": {config.OS_USER_DOMAIN_NAME: "OTC-EU-DE-00000000001000000009"},
    "user": {config.OS_USERNAME: "ecs-imaging-2"},
    "project-name": {config.PROJECT_NAME: "eu-de_ops"},
    "project-id": {config.PROJECT_ID: OTHER_PROJECT_ID},
    "agency": AGENCY_ENVIRONMENT,
}


def _reconfigure(monkeypatch, variables):
    for name, value in variables.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    config.reset_settings()
    credentials.forget_credentials()


@pytest.fixture
def numbered_tokens(cloud):
    """Each token request, to either IAM endpoint, answers a new token t1, t2, ..."""
    numbers = itertools.count(1)

    def answer(request):
        return token_response(f"t{next(numbers)}")

    cloud["token"].side_effect = answer
    cloud.post(f"{OTHER_IAM}/v3/auth/tokens").mock(side_effect=answer)


@pytest.mark.parametrize("change", TOKEN_KEY_CHANGES.values(), ids=TOKEN_KEY_CHANGES)
def test_token_cache_gives_each_part_of_its_key_its_own_token(numbered_tokens, monkeypatch, change):
    before = {name: os.environ.get(name) for name in change}
    _, first = auth.get_token()

    _reconfigure(monkeypatch, change)
    _, changed = auth.get_token()
    _reconfigure(monkeypatch, before)
    fetches = auth.token_cache.fetches
    _, again = auth.get_token()

    assert changed.value != first.value
    assert again == first
    assert auth.token_cache.fetches == fetches


@pytest.mark.parametrize(
    "change",
    [
        {config.OS_ACCESS_KEY: OTHER_ACCESS_KEY},
        {config.IAM_ENDPOINT: OTHER_IAM},
        {config.PROJECT_NAME: "eu-de_ops"},
    ],
    ids=["access-key", "iam-endpoint", "project-name"],
)
def test_project_ids_are_looked_up_once_per_access_key_endpoint_and_name(
    cloud, access_key, monkeypatch, change
):
    def answer(request):
        name = request.url.params["name"]
        return httpx.Response(200, json={"projects": [{"id": f"id-of-{name}", "name": name}]})

    cloud.get(f"{IAM}/v3/projects").mock(side_effect=answer)
    cloud.get(f"{OTHER_IAM}/v3/projects").mock(side_effect=answer)
    before = {name: os.environ.get(name) for name in change}
    lookups = auth.token_cache.lookups
    first = auth.get_project_id()

    _reconfigure(monkeypatch, change)
    auth.get_project_id()
    _reconfigure(monkeypatch, before)
    again = auth.get_project_id()

    assert again == first == "id-of-eu-de"
    assert auth.token_cache.lookups - lookups == 2

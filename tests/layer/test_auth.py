import json
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ecs_imaging import auth, clock, config, credentials, ecs
from ecs_imaging.errors import CloudAuthError, ConfigurationError
from ecs_imaging.session import CloudSession
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
    cloud.post(f"{other}/v3/auth/tokens").mock(return_value=token_response("nl"))
    auth.get_token()

    monkeypatch.setenv(config.REGION, "eu-nl")
    config.reset_settings()
    _, token = auth.get_token()

    assert token.value == "nl"


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

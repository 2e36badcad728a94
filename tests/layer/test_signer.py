from datetime import UTC, datetime

import httpx
import pytest
from ecs_imaging import clock, config, signer
from ecs_imaging.credentials import AccessKeyCredentials
from ecs_imaging.session import CloudSession
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from support.cloud import ECS, IMS, PROJECT_ID, SERVER_ID

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
STAMP = "20261204T150000Z"
KEY = AccessKeyCredentials(access_key="AKEXAMPLE0000000TEST", secret_key="sk-example-for-tests")
TEMPORARY_KEY = AccessKeyCredentials(
    access_key=KEY.access_key,
    secret_key=KEY.secret_key,
    security_token="example-security-token",
)
BODY = b'{"name":"web-01","instance_id":"877a2cda-ba63-4e1e-b95f-e67e48b6129a"}'
JSON = {"Content-Type": "application/json"}


def _sdk_sign(
    method: str,
    url: str,
    key: AccessKeyCredentials,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    project_id: str | None,
) -> SdkRequest:
    """The official signer's result for the same request, date and key."""
    target = httpx.URL(url)
    sdk_key = BasicCredentials(key.access_key, key.secret_key.get_secret_value(), project_id)
    if key.security_token is not None:
        sdk_key.with_security_token(key.security_token.get_secret_value())
    request = SdkRequest(
        method=method,
        schema=target.scheme,
        host=target.netloc.decode(),
        resource_path=target.raw_path.decode().partition("?")[0],
        query_params=query,
        header_params={**headers, "X-Sdk-Date": STAMP},
        body=body,
    )

    return sdk_key.sign_request(request)


# The frozen signatures were computed once and checked against huaweicloudsdkcore 3.1.219.


def test_sign_matches_a_frozen_vector_for_a_get():
    signed = signer.sign(
        "GET",
        "https://iam.eu-de.otc.t-systems.com/v3/projects",
        KEY,
        params={"name": "eu-de"},
        now=NOW,
    )

    assert signed.headers["Authorization"] == (
        "SDK-HMAC-SHA256 Access=AKEXAMPLE0000000TEST, SignedHeaders=host;x-sdk-date, "
        "Signature=bf2a315f507f5b614a76ac33bbdb2b0628aa27c1196b8cf7f27f10e6ddc333e5"
    )


def test_sign_matches_a_frozen_vector_for_a_post_with_a_temporary_key():
    signed = signer.sign(
        "POST",
        "https://ims.eu-de.otc.t-systems.com/v2/cloudimages/action",
        TEMPORARY_KEY,
        headers=JSON,
        body=BODY,
        project_id=PROJECT_ID,
        now=NOW,
    )

    assert signed.headers["Authorization"] == (
        "SDK-HMAC-SHA256 Access=AKEXAMPLE0000000TEST, "
        "SignedHeaders=content-type;host;x-project-id;x-sdk-date;x-security-token, "
        "Signature=4f9ef6c2e9f1a5f9b0e70714af1a8b6047d0bbad325b131c44439f79aef1b287"
    )


@pytest.mark.parametrize(
    ("method", "url", "query", "headers", "body", "key", "project_id"),
    [
        pytest.param(
            "GET",
            f"{IMS}/v2/cloudimages",
            [("name", "web 01/a?b=c&d+e~f*"), ("tag", "b=2"), ("tag", "a=1"), ("__imagetype", "x")],
            {},
            b"",
            KEY,
            PROJECT_ID,
            id="get-reserved-and-repeated",
        ),
        pytest.param(
            "GET",
            f"{IMS}/v2/cloudimages",
            [("name", "Bild äöü €"), ("ß", "日本")],
            {},
            b"",
            KEY,
            PROJECT_ID,
            id="get-unicode-query",
        ),
        pytest.param("POST", f"{IMS}/v2/cloudimages/action", [], JSON, BODY, KEY, None, id="post"),
        pytest.param(
            "POST",
            f"{IMS}/v2/cloudimages/action",
            [],
            JSON,
            BODY,
            TEMPORARY_KEY,
            PROJECT_ID,
            id="post-temporary-key",
        ),
        pytest.param("GET", "https://iam.example.test/v3/projects/", [], {}, b"", KEY, None),
        pytest.param("GET", "https://iam.example.test/v3/projects", [], {}, b"", KEY, None),
        pytest.param(
            "DELETE", f"{ECS}/v1/{PROJECT_ID}/a%20b/c", [], {}, b"", KEY, PROJECT_ID, id="escaped"
        ),
        pytest.param(
            "PUT",
            "http://127.0.0.1:8443/v1/file",
            [("k", "")],
            {"Content-Type": "application/octet-stream", "X-Trace_Id": "t"},
            b"\x00\x01",
            KEY,
            None,
            id="unsigned-payload-and-port",
        ),
    ],
)
def test_sign_agrees_with_the_official_sdk_signer(
    method, url, query, headers, body, key, project_id
):
    ours = signer.sign(
        method,
        url,
        key,
        params=httpx.QueryParams(query),
        headers=headers,
        body=body,
        project_id=project_id,
        now=NOW,
    )

    theirs = _sdk_sign(method, url, key, query, headers, body, project_id)

    assert ours.headers["Authorization"] == theirs.header_params["Authorization"]
    assert httpx.URL(ours.url).raw_path.decode() == theirs.uri


def test_sign_sends_the_query_in_its_canonical_form():
    signed = signer.sign("GET", f"{IMS}/v2/cloudimages?b=2&a=x y", KEY, params={"c": "/"}, now=NOW)

    assert signed.url == f"{IMS}/v2/cloudimages?a=x%20y&b=2&c=%2F"


def test_canonical_uri_ends_in_a_slash_either_way():
    assert signer.canonical_uri("/v3/projects") == "/v3/projects/"
    assert signer.canonical_uri("/v3/projects/") == "/v3/projects/"


def test_sign_takes_the_date_from_the_pipeline_clock():
    clock.use_clock(lambda: datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))

    signed = signer.sign("GET", f"{IMS}/v2/cloudimages", KEY)

    assert signed.headers["X-Sdk-Date"] == "20300102T030405Z"


def test_signed_request_repr_hides_the_security_token():
    signed = signer.sign("GET", f"{IMS}/v2/cloudimages", TEMPORARY_KEY, now=NOW)

    assert signed.headers["X-Security-Token"] == "example-security-token"
    assert "example-security-token" not in repr(signed)


@pytest.fixture
def access_key(monkeypatch):
    monkeypatch.delenv(config.OS_USERNAME)
    monkeypatch.delenv(config.OS_PASSWORD)
    monkeypatch.setenv(config.OS_ACCESS_KEY, KEY.access_key)
    monkeypatch.setenv(config.OS_SECRET_KEY, KEY.secret_key.get_secret_value())
    monkeypatch.setenv(config.OS_SECURITY_TOKEN, "example-security-token")
    monkeypatch.setenv(config.PROJECT_ID, PROJECT_ID)


def test_requests_on_the_wire_verify_with_the_official_signer(cloud, access_key):
    routes = [
        cloud.get(f"{ECS}/v1/{PROJECT_ID}/cloudservers/{SERVER_ID}"),
        cloud.get(f"{IMS}/v2/cloudimages"),
        cloud.post(f"{IMS}/v2/cloudimages/action"),
    ]
    for route in routes:
        route.mock(return_value=httpx.Response(200, json={}))
    session = CloudSession()
    clock.use_clock(lambda: NOW)

    session.request("ecs", "GET", f"/v1/{PROJECT_ID}/cloudservers/{SERVER_ID}")
    session.request("ims", "GET", "/v2/cloudimages", params={"name": "web 01", "limit": 5})
    session.request("ims", "POST", "/v2/cloudimages/action", json={"name": "Bild €"})

    for sent in (route.calls.last.request for route in routes):
        signed_names = sent.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
        added_by_the_sdk = {"host", "x-sdk-date", "x-project-id", "x-security-token"}
        headers = {n: sent.headers[n] for n in signed_names.split(";") if n not in added_by_the_sdk}
        query = list(sent.url.params.multi_items())
        theirs = _sdk_sign(
            sent.method, str(sent.url), TEMPORARY_KEY, query, headers, sent.content, PROJECT_ID
        )
        assert sent.headers["Authorization"] == theirs.header_params["Authorization"]

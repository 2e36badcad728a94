import json

import boto3
import httpx
import pytest
import respx
from ecs_imaging import auth, config, credentials
from ecs_imaging.errors import ConfigurationError
from ecs_imaging.session import CloudSession
from moto import mock_aws
from support.cloud import ECS, IAM, PROJECT_ID, SERVER_ID, token_response

SECRET = {"user_name": "svc", "password": "Old-Passw0rd", "domain_name": "acme"}


@pytest.fixture
def lambda_secret(monkeypatch):
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-central-1")
        arn = client.create_secret(Name="otc", SecretString=json.dumps(SECRET))["ARN"]
        monkeypatch.setenv(config.CREDENTIALS_SECRET_ARN, arn)
        monkeypatch.setenv(config.AWS_SESSION_TOKEN, "session-token")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
        yield client, arn


def _extension(router, arn, secret):
    return router.get("http://localhost:2773/secretsmanager/get", params={"secretId": arn}).mock(
        return_value=httpx.Response(200, json={"SecretString": json.dumps(secret)})
    )


def test_get_credentials_reads_the_secret_through_the_extension(lambda_secret):
    _, arn = lambda_secret
    with respx.mock() as router:
        route = _extension(router, arn, SECRET)

        found = credentials.get_credentials()

    assert found.user_name == "svc"
    assert route.calls.last.request.headers["X-Aws-Parameters-Secrets-Token"] == "session-token"


def test_a_rotated_password_is_read_again_after_iam_refuses(lambda_secret):
    client, arn = lambda_secret
    client.put_secret_value(SecretId=arn, SecretString=json.dumps({**SECRET, "password": "New"}))
    with respx.mock(assert_all_called=False) as router:
        _extension(router, arn, SECRET)  # the extension still serves the old value
        tokens = router.post(f"{IAM}/v3/auth/tokens").mock(
            side_effect=lambda request: (
                token_response()
                if json.loads(request.content)["auth"]["identity"]["password"]["user"]["password"]
                == "New"
                else httpx.Response(401, json={"error_code": "IAM.0062", "error_msg": "no"})
            )
        )

        _, token = auth.get_token()

    assert token.value == "MIItoken-1"
    assert tokens.call_count == 2


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"user_name": "u"}',
        '{"user_name": "", "password": "p", "domain_name": "d"}',
    ],
)
def test_parse_secret_names_fields_never_values(text):
    with pytest.raises(ConfigurationError) as caught:
        credentials.parse_secret(text, "arn:secret")

    assert "arn:secret" in str(caught.value)
    assert '"p"' not in str(caught.value)


def test_parse_secret_never_echoes_a_password_of_the_wrong_type():
    with pytest.raises(ConfigurationError) as caught:
        credentials.parse_secret(
            '{"user_name": "u", "password": 123456789, "domain_name": "d"}', "s"
        )

    assert "123456789" not in str(caught.value)
    assert "password" in str(caught.value)


def _error_of(text):
    with pytest.raises(ConfigurationError) as caught:
        credentials.parse_secret(text, "arn:secret")

    return str(caught.value)


def test_parse_secret_reads_an_access_key():
    found = credentials.parse_secret('{"access_key": "AK1", "secret_key": "SK1"}', "s")

    assert isinstance(found, credentials.AccessKeyCredentials)
    assert found.access_key == "AK1"
    assert not found.is_temporary


def test_parse_secret_reads_a_temporary_access_key():
    text = '{"access_key": "AK1", "secret_key": "SK1", "security_token": "ST1"}'

    found = credentials.parse_secret(text, "s")

    assert found.is_temporary
    assert "SK1" not in repr(found)
    assert "ST1" not in repr(found)


def test_parse_secret_reads_an_agency_on_top_of_a_password():
    text = json.dumps({**SECRET, "agency_name": "ops", "agency_domain_name": "acme-prod"})

    found = credentials.parse_secret(text, "s")

    assert found.agency == credentials.Agency("ops", domain_name="acme-prod")


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({**SECRET, "access_key": "AK1"}, "access_key"),
        ({"access_key": "AK1", "secret_key": "x", "agency_name": "ops"}, "agency_name"),
        ({"access_key": "AK1"}, "secret_key"),
        ({**SECRET, "agency_name": "ops"}, "agency_domain_name"),
        ({**SECRET, "agency_domain_name": "acme"}, "agency_name"),
        (
            {
                **SECRET,
                "agency_name": "o",
                "agency_domain_name": "a",
                "agency_domain_id": "5c" * 16,
            },
            "keep one",
        ),
        ({**SECRET, "agency_name": "o", "agency_domain_id": "not-hex"}, "agency_domain_id"),
        ({"note": "empty"}, "access_key and secret_key"),
    ],
)
def test_parse_secret_names_the_field_to_fix(document, named):
    message = _error_of(json.dumps(document))

    assert named in message
    assert "arn:secret" in message
    assert "Old-Passw0rd" not in message


@pytest.fixture
def no_password(monkeypatch):
    monkeypatch.delenv(config.OS_USERNAME)
    monkeypatch.delenv(config.OS_PASSWORD)


def test_get_credentials_reads_an_access_key_from_the_environment(no_password, monkeypatch):
    monkeypatch.setenv(config.OS_ACCESS_KEY, "AK1")
    monkeypatch.setenv(config.OS_SECRET_KEY, "SK1")
    monkeypatch.setenv(config.OS_SECURITY_TOKEN, "ST1")

    found = credentials.get_credentials()

    assert isinstance(found, credentials.AccessKeyCredentials)
    assert found.is_temporary


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({config.OS_ACCESS_KEY: "AK1"}, [config.OS_SECRET_KEY]),
        ({config.OS_SECURITY_TOKEN: "ST1"}, [config.OS_ACCESS_KEY, config.OS_SECRET_KEY]),
        ({}, [config.OS_USERNAME, config.OS_ACCESS_KEY, config.CREDENTIALS_SECRET_ARN]),
        ({config.OS_PASSWORD: "p"}, [config.OS_USERNAME]),
    ],
)
def test_get_credentials_names_the_missing_variables(no_password, monkeypatch, environ, named):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigurationError) as caught:
        credentials.get_credentials()

    assert all(name in str(caught.value) for name in named)


def test_get_credentials_refuses_a_password_and_an_access_key_together(monkeypatch):
    monkeypatch.setenv(config.OS_ACCESS_KEY, "AK1")
    monkeypatch.setenv(config.OS_SECRET_KEY, "SK1")

    with pytest.raises(ConfigurationError) as caught:
        credentials.get_credentials()

    message = str(caught.value)
    assert config.OS_PASSWORD in message
    assert config.OS_SECRET_KEY in message
    assert "SK1" not in message


def test_get_credentials_adds_the_agency_variables(monkeypatch):
    monkeypatch.setenv(config.AGENCY_NAME, "ops")
    monkeypatch.setenv(config.AGENCY_DOMAIN_ID, "5c1e0a7b9d3f4e2a8b6c0d1e2f3a4b5c")

    found = credentials.get_credentials()

    assert found.agency == credentials.Agency("ops", domain_id="5c1e0a7b9d3f4e2a8b6c0d1e2f3a4b5c")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({config.AGENCY_NAME: "ops"}, config.AGENCY_DOMAIN_NAME),
        ({config.AGENCY_DOMAIN_NAME: "acme"}, config.AGENCY_NAME),
        ({config.AGENCY_NAME: "ops", config.AGENCY_DOMAIN_ID: "acme"}, config.AGENCY_DOMAIN_ID),
    ],
)
def test_a_half_configured_agency_names_the_variable(monkeypatch, environ, named):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigurationError, match=named):
        credentials.get_credentials()


def test_an_agency_on_top_of_an_access_key_is_refused(no_password, monkeypatch):
    monkeypatch.setenv(config.OS_ACCESS_KEY, "AK1")
    monkeypatch.setenv(config.OS_SECRET_KEY, "SK1")
    monkeypatch.setenv(config.AGENCY_NAME, "ops")
    monkeypatch.setenv(config.AGENCY_DOMAIN_NAME, "acme")

    with pytest.raises(ConfigurationError, match=config.AGENCY_NAME):
        credentials.get_credentials()


def test_an_agency_in_the_secret_and_the_environment_is_refused(lambda_secret, monkeypatch):
    _, arn = lambda_secret
    monkeypatch.setenv(config.AGENCY_NAME, "ops")
    monkeypatch.setenv(config.AGENCY_DOMAIN_NAME, "acme")
    secret = {**SECRET, "agency_name": "ops", "agency_domain_name": "acme"}
    with respx.mock() as router:
        _extension(router, arn, secret)

        with pytest.raises(ConfigurationError, match=config.AGENCY_NAME):
            credentials.get_credentials()


def test_a_rotated_access_key_is_read_again_after_ecs_refuses(lambda_secret, monkeypatch):
    client, arn = lambda_secret
    old = {"access_key": "AKOLD", "secret_key": "SKOLD"}
    client.put_secret_value(
        SecretId=arn, SecretString=json.dumps({"access_key": "AKNEW", "secret_key": "SKNEW"})
    )
    monkeypatch.setenv(config.PROJECT_ID, PROJECT_ID)
    path = f"/v1/{PROJECT_ID}/cloudservers/{SERVER_ID}"
    with respx.mock(assert_all_called=False) as router:
        _extension(router, arn, old)  # the extension still serves the old key
        route = router.get(f"{ECS}{path}").mock(
            side_effect=lambda request: (
                httpx.Response(200, json={"server": {"id": SERVER_ID}})
                if "Access=AKNEW," in request.headers["Authorization"]
                else httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "no"})
            )
        )

        response = CloudSession().request("ecs", "GET", path)

    assert response.status_code == 200
    assert route.call_count == 2

import json

import boto3
import httpx
import pytest
import respx
from ecs_imaging import auth, config, credentials
from ecs_imaging.errors import ConfigurationError
from moto import mock_aws
from support.cloud import IAM, token_response

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

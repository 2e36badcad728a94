import pytest
from ecs_imaging import config
from ecs_imaging.errors import ConfigurationError


def test_load_settings_derives_otc_endpoints_from_the_region():
    settings = config.load_settings({config.REGION: "eu-nl"})

    assert settings.cloud is config.Cloud.OTC
    assert settings.iam_endpoint == "https://iam.eu-nl.otc.t-systems.com"
    assert settings.ims_endpoint == "https://ims.eu-nl.otc.t-systems.com"
    assert settings.project_name == "eu-nl"


def test_load_settings_derives_huawei_endpoints():
    settings = config.load_settings({config.CLOUD: "huawei", config.REGION: "eu-west-101"})

    assert settings.ecs_endpoint == "https://ecs.eu-west-101.myhuaweicloud.com"


def test_load_settings_takes_overrides_and_strips_v3_from_os_auth_url():
    settings = config.load_settings(
        {
            config.OS_REGION_NAME: "eu-de",
            config.OS_AUTH_URL: "https://iam.example.test/v3",
            config.IMS_ENDPOINT: "https://ims.example.test/",
        }
    )

    assert settings.iam_endpoint == "https://iam.example.test"
    assert settings.ims_endpoint == "https://ims.example.test"
    assert settings.ecs_endpoint == "https://ecs.eu-de.otc.t-systems.com"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, config.REGION),
        ({config.REGION: "Europe"}, "'Europe'"),
        ({config.REGION: "eu-de", config.CLOUD: "aws"}, "'aws'"),
        ({config.REGION: "eu-de", config.PROJECT_NAME: "eu-nl"}, "'eu-nl'"),
        ({config.REGION: "eu-de", config.PROJECT_ID: "not-an-id"}, "'not-an-id'"),
        (
            {config.REGION: "eu-de", config.ECS_ENDPOINT: "http://ecs.example"},
            "'http://ecs.example'",
        ),
        ({config.REGION: "eu-de", config.MIN_WAIT_SECONDS: "ten"}, config.MIN_WAIT_SECONDS),
        ({config.REGION: "eu-de", config.DEADLINE_MINUTES: "0"}, config.DEADLINE_MINUTES),
    ],
)
def test_load_settings_rejects_bad_values_naming_them(environ, named):
    with pytest.raises(ConfigurationError, match=named.replace("'", "'")):
        config.load_settings(environ)


def test_load_settings_accepts_a_sub_project_of_the_region():
    settings = config.load_settings({config.REGION: "eu-de", config.PROJECT_NAME: "eu-de_ops"})

    assert settings.project_name == "eu-de_ops"


def test_get_settings_reads_the_environment_once(monkeypatch):
    first = config.get_settings()
    monkeypatch.setenv(config.REGION, "eu-nl")

    assert config.get_settings() is first
    config.reset_settings()
    assert config.get_settings().region == "eu-nl"

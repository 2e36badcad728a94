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


PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({config.OS_REGION_NAME: "eu-de"}, config.OS_REGION_NAME),
        ({config.REGION: "eu-de", config.OS_PROJECT_NAME: "eu-de_ops"}, config.OS_PROJECT_NAME),
        (
            {
                config.REGION: "eu-de",
                config.PROJECT_NAME: "eu-de_ops",
                config.OS_PROJECT_ID: PROJECT_ID,
            },
            config.OS_PROJECT_ID,
        ),
        ({config.REGION: "eu-de", config.PROJECT_ID: PROJECT_ID}, config.PROJECT_ID),
    ],
)
def test_load_settings_records_the_variable_the_project_scope_comes_from(environ, variable):
    assert config.load_settings(environ).project_variable == variable


def test_get_settings_reads_the_environment_once(monkeypatch):
    first = config.get_settings()
    monkeypatch.setenv(config.REGION, "eu-nl")

    assert config.get_settings() is first
    config.reset_settings()
    assert config.get_settings().region == "eu-nl"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({config.OS_REGION_NAME: "Frankfurt"}, config.OS_REGION_NAME),
        ({config.OS_REGION_NAME: "eu-de", config.OS_PROJECT_NAME: "eu-nl"}, config.OS_PROJECT_NAME),
        ({config.REGION: "eu-de", config.OS_PROJECT_ID: "eu-de"}, config.OS_PROJECT_ID),
        ({config.REGION: "eu-de", config.OS_AUTH_URL: "http://iam.example"}, config.OS_AUTH_URL),
    ],
)
def test_load_settings_names_the_os_variable_that_holds_a_bad_value(environ, named):
    with pytest.raises(ConfigurationError, match=named):
        config.load_settings(environ)


def test_load_settings_names_both_sides_of_a_project_of_another_region():
    with pytest.raises(ConfigurationError) as caught:
        config.load_settings({config.REGION: "eu-de", config.PROJECT_NAME: "eu-nl_ops"})

    assert config.PROJECT_NAME in str(caught.value)
    assert config.REGION in str(caught.value)


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1@iam.example.org",
        "http://127.0.0.1.example.org",
        "http://localhost.example.org:8080",
        "http://localhostile.example",
        "ftp://127.0.0.1",
        "https://user:pw@iam.example.org",
    ],
)
def test_plain_http_is_refused_for_anything_but_loopback(endpoint):
    with pytest.raises(ConfigurationError, match="https://"):
        config.load_settings({config.REGION: "eu-de", config.IAM_ENDPOINT: endpoint})


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8080", "http://localhost:1"])
def test_plain_http_is_accepted_on_loopback(endpoint):
    settings = config.load_settings({config.REGION: "eu-de", config.IAM_ENDPOINT: endpoint})

    assert settings.iam_endpoint == endpoint

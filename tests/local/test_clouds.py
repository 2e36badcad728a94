"""clouds.yaml entries as the variables the library reads."""

import os
import textwrap

import pytest
from ecs_imaging import config
from ecs_imaging.errors import ConfigurationError
from ecs_imaging_local import cli
from ecs_imaging_local.clouds import cloud_variables, default_directories

CLOUDS = """
clouds:
  otc:
    region_name: eu-de
    auth:
      auth_url: https://iam.eu-de.otc.t-systems.com/v3
      username: ecs-imaging
      password: from-clouds-yaml
      user_domain_name: OTC-EU-DE-00000000001000000001
      project_name: eu-de_ops
  otc-key:
    region_name: eu-nl
    auth:
      ak: AKEXAMPLE0000000TEST
      sk: sk-example
      project_id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9
      domain_name: ignored-for-a-key
"""


def _write(directory, text=CLOUDS, name="clouds.yaml"):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text), "utf-8")

    return path


def test_cloud_variables_maps_a_password_cloud(tmp_path):
    _write(tmp_path)

    found = cloud_variables({config.OS_CLOUD: "otc"}, [tmp_path])

    assert found == {
        config.OS_REGION_NAME: "eu-de",
        config.OS_AUTH_URL: "https://iam.eu-de.otc.t-systems.com/v3",
        config.OS_USERNAME: "ecs-imaging",
        config.OS_PASSWORD: "from-clouds-yaml",
        config.OS_USER_DOMAIN_NAME: "OTC-EU-DE-00000000001000000001",
        config.OS_PROJECT_NAME: "eu-de_ops",
    }


def test_cloud_variables_maps_an_otcextensions_access_key(tmp_path):
    _write(tmp_path)

    found = cloud_variables({config.OS_CLOUD: "otc-key"}, [tmp_path])

    assert found[config.OS_ACCESS_KEY] == "AKEXAMPLE0000000TEST"
    assert found[config.OS_SECRET_KEY] == "sk-example"
    assert found[config.OS_PROJECT_ID] == "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def test_cloud_variables_leave_variables_already_set_alone(tmp_path):
    _write(tmp_path)
    environ = {config.OS_CLOUD: "otc", config.OS_PASSWORD: "from-the-shell"}

    found = cloud_variables(environ, [tmp_path])

    assert config.OS_PASSWORD not in found
    assert found[config.OS_USERNAME] == "ecs-imaging"


def test_cloud_variables_take_the_first_directory_that_has_the_file(tmp_path):
    _write(tmp_path / "second", CLOUDS.replace("eu-de_ops", "from-second"))
    _write(tmp_path / "third", CLOUDS.replace("eu-de_ops", "from-third"))
    searched = [tmp_path / "first", tmp_path / "second", tmp_path / "third"]

    found = cloud_variables({config.OS_CLOUD: "otc"}, searched)

    assert found[config.OS_PROJECT_NAME] == "from-second"


def test_an_explicit_client_config_file_wins(tmp_path):
    _write(tmp_path)
    explicit = _write(tmp_path / "elsewhere", CLOUDS.replace("eu-de_ops", "explicit"), "my.yaml")
    environ = {config.OS_CLOUD: "otc", config.OS_CLIENT_CONFIG_FILE: str(explicit)}

    found = cloud_variables(environ, [tmp_path])

    assert found[config.OS_PROJECT_NAME] == "explicit"


def test_secure_yaml_beside_it_adds_the_password(tmp_path):
    _write(tmp_path, CLOUDS.replace("      password: from-clouds-yaml\n", ""))
    _write(tmp_path, "clouds:\n  otc:\n    auth:\n      password: from-secure\n", "secure.yaml")

    found = cloud_variables({config.OS_CLOUD: "otc"}, [tmp_path])

    assert found[config.OS_PASSWORD] == "from-secure"
    assert found[config.OS_USERNAME] == "ecs-imaging"


def test_cloud_variables_without_os_cloud_are_empty(tmp_path):
    assert cloud_variables({}, [tmp_path]) == {}


def test_an_unknown_cloud_names_os_cloud_the_file_and_the_known_clouds(tmp_path):
    path = _write(tmp_path)

    with pytest.raises(ConfigurationError) as caught:
        cloud_variables({config.OS_CLOUD: "nope"}, [tmp_path])

    message = str(caught.value)
    assert config.OS_CLOUD in message
    assert str(path) in message
    assert "otc, otc-key" in message


def test_a_missing_clouds_yaml_names_os_cloud_and_every_path_tried(tmp_path):
    searched = [tmp_path / "a", tmp_path / "b"]

    with pytest.raises(ConfigurationError) as caught:
        cloud_variables({config.OS_CLOUD: "otc"}, searched)

    message = str(caught.value)
    assert config.OS_CLOUD in message
    assert all(str(d / "clouds.yaml") in message for d in searched)


def test_a_missing_explicit_file_names_its_variable(tmp_path):
    environ = {config.OS_CLOUD: "otc", config.OS_CLIENT_CONFIG_FILE: str(tmp_path / "x.yaml")}

    with pytest.raises(ConfigurationError, match=config.OS_CLIENT_CONFIG_FILE):
        cloud_variables(environ, [tmp_path])


def test_a_malformed_file_is_reported_without_its_content(tmp_path):
    _write(tmp_path, "clouds: [secret-looking: {")

    with pytest.raises(ConfigurationError) as caught:
        cloud_variables({config.OS_CLOUD: "otc"}, [tmp_path])

    assert "secret-looking" not in str(caught.value)


def test_default_directories_are_where_openstacksdk_looks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    assert [str(d) for d in default_directories()] == [
        str(tmp_path),
        str(tmp_path / "home" / ".config" / "openstack"),
        "/etc/openstack",
    ]


def test_run_on_the_cloud_with_an_unknown_cloud_fails_before_any_call(
    tmp_path, monkeypatch, capsys
):
    _write(tmp_path)
    monkeypatch.setenv(config.OS_CLOUD, "nope")
    monkeypatch.setenv(config.OS_CLIENT_CONFIG_FILE, str(tmp_path / "clouds.yaml"))

    code = cli.main(["run", "--cloud", "--server-id", "877a2cda-ba63-4e1e-b95f-e67e48b6129a"])

    assert code == 2
    assert config.OS_CLOUD in capsys.readouterr().err


class _NoEngine:
    def __init__(self, time_scale):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_run_on_the_cloud_takes_the_settings_from_clouds_yaml(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("OS_", "ECS_IMAGING_"))]:
        monkeypatch.delenv(name)
    _write(tmp_path)
    monkeypatch.setenv(config.OS_CLOUD, "otc")
    monkeypatch.setenv(config.OS_CLIENT_CONFIG_FILE, str(tmp_path / "clouds.yaml"))
    seen = {}

    def fake_run(engine, run_input):
        # Stands in for the engine: no request leaves this process.
        seen["settings"] = config.get_settings()
        return {"status": "SUCCEEDED"}

    monkeypatch.setattr(cli, "LocalEngine", _NoEngine)
    monkeypatch.setattr(cli, "_run_one", fake_run)

    code = cli.main(["run", "--cloud", "--server-id", "877a2cda-ba63-4e1e-b95f-e67e48b6129a"])

    assert code == 0
    assert seen["settings"].project_name == "eu-de_ops"
    assert seen["settings"].iam_endpoint == "https://iam.eu-de.otc.t-systems.com"

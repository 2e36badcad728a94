"""Bad command-line values end in a message naming the option and the value, exit 2."""

import json
import os

import pytest
from support.cli import run_module


@pytest.mark.parametrize("module", ["ecs_imaging_local.emulator", "ecs_imaging_local"])
@pytest.mark.parametrize("value", ["nan", "inf", "0", "1e-12", "-1", "1000", "fast"])
def test_a_time_scale_out_of_range_is_refused(module, value):
    arguments = (
        ["--time-scale", value] if module.endswith("emulator") else ["demo", "--time-scale", value]
    )

    result = run_module(module, *arguments)

    assert result.returncode == 2
    assert (
        f"argument --time-scale: a number from 0.0001 to 100 is needed, not '{value}'"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["-1", "65536", "http"])
def test_a_port_out_of_range_is_refused(value):
    result = run_module("ecs_imaging_local.emulator", "--ims-port", value)

    assert result.returncode == 2
    assert f"argument --ims-port: a port from 0 to 65535 is needed, not '{value}'" in result.stderr


def test_a_missing_seed_file_is_refused(tmp_path):
    missing = tmp_path / "seeds.json"

    result = run_module("ecs_imaging_local.emulator", "--seed-file", str(missing))

    assert result.returncode == 2
    assert f"argument --seed-file: cannot read '{missing}'" in result.stderr


def test_a_fifo_as_seed_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "seeds.json"
    os.mkfifo(fifo)

    result = run_module("ecs_imaging_local.emulator", "--seed-file", str(fifo))

    assert result.returncode == 2
    assert "is not a regular file" in result.stderr


@pytest.mark.parametrize(("command", "option"), [("demo", "--event"), ("run", "--input")])
def test_a_fifo_as_the_event_or_input_is_refused_without_blocking(tmp_path, command, option):
    fifo = tmp_path / "event.json"
    os.mkfifo(fifo)

    result = run_module("ecs_imaging_local", command, option, str(fifo), timeout=20)

    assert result.returncode == 2
    assert f"argument {option}: '{fifo}' is not a regular file" in result.stderr


@pytest.mark.parametrize(
    ("content", "said"),
    [("not json", "is not JSON"), (json.dumps({"planets": []}), "holds keys other than")],
)
def test_a_seed_file_of_the_wrong_content_is_refused_naming_it(tmp_path, content, said):
    seeds = tmp_path / "seeds.json"
    seeds.write_text(content, "utf-8")

    result = run_module("ecs_imaging_local.emulator", "--seed-file", str(seeds))

    assert result.returncode == 2
    assert said in result.stderr
    assert str(seeds) in result.stderr
    assert "Traceback" not in result.stderr


def test_a_reliability_filter_that_matches_no_row_is_refused():
    result = run_module("ecs_imaging_local.reliability", "-k", "no-such-row")

    assert result.returncode == 2
    assert "argument -k: no row's name contains 'no-such-row'" in result.stderr

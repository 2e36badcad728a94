import shutil
import subprocess
import sys

import pytest
from ecs_imaging_local import bench
from ecs_imaging_local.bench import FOUR_MINUTE_GB, Schedule, build_fleet


def test_peer_schedule_sees_the_job_at_its_first_poll_after_the_end():
    packer = Schedule("60 s, then 10 s", 60, 10)

    assert packer.replay(215) == (17, 5)


def test_peer_schedule_first_poll_sees_a_short_job_done():
    assert Schedule("60 s, then 10 s", 60, 10).replay(30) == (1, 30)


def test_peer_schedule_poll_at_the_very_end_sees_it_done():
    assert Schedule("fixed 15 s", 15, 15).replay(30) == (2, 0)


def test_fleet_is_the_same_for_the_same_seed():
    fleet = build_fleet(7, 16, 8)

    assert fleet == build_fleet(7, 16, 8)
    assert all(10 <= spec.system_disk_gb <= 100 for spec in fleet)
    assert [spec.system_disk_gb for spec in fleet[16:]] == [FOUR_MINUTE_GB] * 8


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    # Our code only: fetching the pinned dependencies would need PyPI.
    directory = tmp_path_factory.mktemp("runtime")

    return bench.prepare_runtime(bench._base_interpreter(), directory, dependencies=False)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_instruction_counts_grow_with_what_an_import_pulls_in(runtime):
    counted = bench.count_instructions(["json", "json, decimal"], runtime)

    assert 0 < counted["json"] < counted["json, decimal"]


def test_instruction_counts_are_none_without_valgrind(monkeypatch, runtime):
    monkeypatch.setattr(bench.shutil, "which", lambda name: None)

    assert bench.count_instructions(["json"], runtime) == {"json": None}


def test_the_benchmarked_layer_is_compiled_as_sam_build_ships_it(runtime):
    assert (runtime.layer / "ecs_imaging" / "pipeline.py").is_file()
    assert list((runtime.layer / "ecs_imaging" / "__pycache__").glob("pipeline.*.pyc"))


def test_the_runtime_imports_nothing_from_the_development_environment(runtime):
    # pytest is installed where the bench runs, never where Lambda runs the handlers.
    code = "import importlib.util as u; print(u.find_spec('pytest') is None)"
    answer = subprocess.run(  # noqa: S603 - the runtime's own interpreter
        [str(runtime.python), "-c", code], capture_output=True, text=True, check=True
    )

    assert answer.stdout.strip() == "True"


def test_the_runtime_is_described_by_its_version_and_build(runtime):
    version = ".".join(map(str, sys.version_info[:3]))

    assert runtime.description.startswith(f"Python {version} (")
    assert "libpython" in runtime.description


def test_imports_are_measured_in_the_runtime_with_our_layer(runtime):
    probe = bench.ImportProbe("errors", "ecs_imaging.errors")

    found = bench.measure_imports([runtime], [probe], 2)

    assert found[(0, "errors")].boto_modules == 0
    assert found[(0, "errors")].cpu_min_ms <= found[(0, "errors")].cpu_ms


def test_an_interpreter_that_is_not_there_is_refused_by_name():
    with pytest.raises(SystemExit, match="--python 'no-such-python-3'"):
        bench._interpreter("no-such-python-3")


def test_an_interpreter_older_than_3_11_is_refused(tmp_path):
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\necho 3.9\n")
    old.chmod(0o755)

    with pytest.raises(SystemExit, match=r"is Python 3\.9; the handlers need 3\.11\+"):
        bench._interpreter(str(old))


def test_import_repeats_below_one_are_refused(capsys):
    with pytest.raises(SystemExit):
        bench._parser().parse_args(["--import-repeats", "0"])

    assert "must be 1 or more, not '0'" in capsys.readouterr().err


def test_the_uncompiled_layer_is_the_built_one_without_bytecode(runtime, tmp_path):
    bare = bench.uncompiled_layer(runtime.layer, tmp_path)

    assert (bare / "ecs_imaging" / "pipeline.py").is_file()
    assert not list(bare.rglob("*.pyc"))
    assert not list(bare.rglob("__pycache__"))


def test_an_interpreter_that_answers_no_version_is_refused(tmp_path):
    odd = tmp_path / "python3"
    odd.write_text("#!/bin/sh\necho hello\n")
    odd.chmod(0o755)

    with pytest.raises(SystemExit, match="is not Python: it answered 'hello'"):
        bench._interpreter(str(odd))


def test_a_relative_interpreter_path_is_made_absolute(tmp_path, monkeypatch):
    link = tmp_path / "py"
    link.symlink_to(sys.executable)
    monkeypatch.chdir(tmp_path)

    assert bench._interpreter("./py") == str(link)


def test_a_venv_that_cannot_be_made_ends_with_the_interpreter_named(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)

    with pytest.raises(SystemExit, match=f"making a venv of {fake} failed"):
        bench.prepare_runtime(str(fake), tmp_path / "runtime", dependencies=False)


def test_import_repeats_that_are_no_number_are_refused(capsys):
    with pytest.raises(SystemExit):
        bench._parser().parse_args(["--import-repeats", "abc"])

    assert "must be a whole number, not 'abc'" in capsys.readouterr().err

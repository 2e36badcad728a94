import shutil

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


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_instruction_counts_grow_with_what_an_import_pulls_in(tmp_path):
    counted = bench.count_instructions(["json", "json, decimal"], tmp_path)

    assert 0 < counted["json"] < counted["json, decimal"]


def test_instruction_counts_are_none_without_valgrind(monkeypatch, tmp_path):
    monkeypatch.setattr(bench.shutil, "which", lambda name: None)

    assert bench.count_instructions(["json"], tmp_path) == {"json": None}


def test_the_benchmarked_layer_is_compiled_as_sam_build_ships_it(tmp_path):
    layer = bench.built_layer(tmp_path)

    assert (layer / "ecs_imaging" / "pipeline.py").is_file()
    assert list((layer / "ecs_imaging" / "__pycache__").glob("pipeline.*.pyc"))


def test_the_uncompiled_layer_holds_every_dependency_and_no_bytecode(tmp_path):
    layer = bench.uncompiled_layer(tmp_path)

    assert (layer / "httpx" / "__init__.py").is_file()
    assert (layer / "pydantic_core").is_dir()
    assert (layer / "ecs_imaging" / "pipeline.py").is_file()
    assert not list(layer.rglob("*.pyc"))

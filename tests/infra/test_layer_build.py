"""The shared layer's Makefile, as `sam build` runs it, with pip left out (no network)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ecs_imaging_local import template as sam

LAYER_SOURCE = sam.PROJECT_ROOT / "layers" / "shared"
RUNNING_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
# importlib's flags word of a hash-based .pyc that never looks at its source.
UNCHECKED_HASH = 0b01

MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="needs make")


def _build(
    artifacts: Path, runtime_python: str = RUNNING_PYTHON, python: str = sys.executable
) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - make on our own Makefile
        [
            str(MAKE),
            "--no-print-directory",
            "build-SharedLayer",
            f"ARTIFACTS_DIR={artifacts}",
            f"RUNTIME_PYTHON={runtime_python}",
            f"PYTHON={python}",
            "PIP_INSTALL=:",
        ],
        cwd=LAYER_SOURCE,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_template_builds_the_layer_with_its_makefile():
    layer = sam.load_template()["Resources"]["SharedLayer"]

    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert (LAYER_SOURCE / "Makefile").is_file()


def test_every_module_of_the_layer_ships_as_unchecked_hash_bytecode(tmp_path):
    built = _build(tmp_path)

    assert built.returncode == 0, built.stderr
    package = tmp_path / "python" / "ecs_imaging"
    sources = sorted(path.stem for path in package.glob("*.py"))
    tag = sys.implementation.cache_tag
    compiled = sorted(
        path.name.removesuffix(f".{tag}.pyc") for path in package.glob("__pycache__/*")
    )
    assert sources and compiled == sources
    for pyc in package.glob("__pycache__/*.pyc"):
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == UNCHECKED_HASH, pyc.name


def test_the_layer_imports_from_its_bytecode_without_reading_the_sources(tmp_path):
    assert _build(tmp_path).returncode == 0
    layer = tmp_path / "python"
    (layer / "ecs_imaging" / "naming.py").write_text("raise SystemExit('source compiled')\n")

    imported = subprocess.run(
        [sys.executable, "-c", "import ecs_imaging.naming as n; print(n.RUN_TAG)"],
        env={**os.environ, "PYTHONPATH": str(layer), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert (imported.returncode, imported.stdout.strip()) == (0, "ecs-imaging-run")


def test_a_python_other_than_the_runtimes_is_refused_before_anything_is_built(tmp_path):
    built = _build(tmp_path, runtime_python="3.12" if RUNNING_PYTHON != "3.12" else "3.13")

    assert built.returncode == 2
    assert "its bytecode would not load in the runtime" in built.stderr
    assert not (tmp_path / "python").exists()


def test_an_interpreter_path_with_a_space_builds_the_layer(tmp_path):
    folder = tmp_path / "my python"
    folder.mkdir()
    (folder / "python3").symlink_to(sys.executable)

    built = _build(tmp_path / "out", python=str(folder / "python3"))

    assert built.returncode == 0, built.stderr
    assert list((tmp_path / "out" / "python" / "ecs_imaging" / "__pycache__").glob("*.pyc"))


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_the_layer_pins_what_the_tests_ran_with():
    layer = _pins(LAYER_SOURCE / "requirements.txt")
    lock = _pins(sam.PROJECT_ROOT / "requirements" / "lock.txt")

    assert {name: lock.get(name) for name in layer} == layer


def test_the_layer_ships_the_aws_sdk_as_one_matched_set():
    # The layer's botocore shadows the runtime's; a runtime boto3 beside it could
    # expect another botocore.
    layer = _pins(LAYER_SOURCE / "requirements.txt")

    assert layer["boto3"] == layer["botocore"]
    assert "s3transfer" in layer

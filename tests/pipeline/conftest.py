from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from ecs_imaging import auth
from ecs_imaging_local.emulator import Emulator
from ecs_imaging_local.engine import LocalEngine
from ecs_imaging_local.environment import configured, emulator_environment

TIME_SCALE = 0.004


@dataclass
class Bench:
    """An emulator and the local engine pointed at it."""

    emulator: Emulator
    engine: LocalEngine

    def run(self, run_input, name="run-1"):
        return self.engine.run(run_input, name)


@pytest.fixture
def bench() -> Iterator[Bench]:
    with (
        Emulator(time_scale=TIME_SCALE, seed=7) as emulator,
        configured(emulator_environment(emulator), emulator),
        LocalEngine(time_scale=TIME_SCALE) as engine,
    ):
        auth.token_cache.clear()
        yield Bench(emulator, engine)

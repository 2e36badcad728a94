from collections.abc import Iterator

import pytest
from ecs_imaging_local.emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A running emulator whose jobs finish 200 times faster than in the cloud."""
    with Emulator(time_scale=0.005, seed=7) as emu:
        yield emu

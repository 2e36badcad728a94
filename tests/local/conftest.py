from collections.abc import Iterator

import pytest
from ecs_imaging_local.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """An emulator on a real-speed clock, so only clock.advance() moves work along."""
    with Emulator(time_scale=1.0, seed=7) as emulator:
        yield emulator

from collections.abc import Iterator

import httpx
import pytest
from ecs_imaging_local.emulator import Emulator
from support.emulator import connect


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """An emulator on a real-speed clock, so only clock.advance() moves work along."""
    with Emulator(time_scale=1.0, seed=7) as emulator:
        yield emulator


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    """A client carrying a valid token for all three services of ``emu``."""
    with connect(emu, timeout=5) as client:
        yield client

"""Emulated time: real time sped up by a scale factor, plus manual jumps."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Emulated seconds that pass ``1 / time_scale`` times faster than real ones."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if not math.isfinite(time_scale) or time_scale <= 0:
            raise ValueError(f"The time scale must be a positive number, not {time_scale!r}.")

        self.time_scale = time_scale
        self._started_at = datetime.now(UTC)
        self._started = time.monotonic()
        self._skipped = 0.0

    def monotonic(self) -> float:
        """Emulated seconds since the clock was made."""
        elapsed = time.monotonic() - self._started

        return elapsed / self.time_scale + self._skipped

    def now(self) -> datetime:
        """The emulated time as an aware UTC datetime."""
        return self.at(self.monotonic())

    def at(self, seconds: float) -> datetime:
        """The emulated datetime ``seconds`` after the clock was made."""
        return self._started_at + timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        """Jump emulated time forward, e.g. to finish a job without waiting for it."""
        if seconds < 0:
            raise ValueError(f"The clock only moves forward, not by {seconds!r} s.")

        self._skipped += seconds


def format_micros(moment: datetime) -> str:
    """IAM style: ``2015-11-09T01:42:57.527363Z``."""
    return f"{moment:%Y-%m-%dT%H:%M:%S.%f}Z"


def format_millis(moment: datetime) -> str:
    """Job style: ``2024-11-06T06:19:43.195Z``."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def format_seconds(moment: datetime) -> str:
    """Server and image style: ``2019-05-22T03:30:52Z``."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"

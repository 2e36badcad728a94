"""The pipeline's clock: wall time in production, the emulator's clock locally."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return _now()


def use_clock(source: Callable[[], datetime] | None) -> None:
    """Take the time from `source` from now on; None goes back to wall time."""
    global _now
    _now = source or (lambda: datetime.now(UTC))


def to_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as Step Functions compares timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """Parse a timestamp of the cloud or of our own state."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)

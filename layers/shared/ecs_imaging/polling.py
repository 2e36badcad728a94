"""When to check an image job next, from what the cloud has told so far.

Each check places the job's end in a window of seconds after the job began. The
progress IMS reports gives the window, extrapolated at the job's average pace and
at its pace since the last reading; without progress, the time the server's earlier
images took gives it. The next check comes at the window's start, where a fresh
reading narrows it, or, once the window is no wider than the shortest wait, at its
end, where the job is done. A job that tells nothing is checked at growing
intervals.
"""

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .clock import parse_timestamp
from .models import Image, ImageKind

# Until something says otherwise, an image job is taken to need at least this long.
FIRST_CHECK_SECONDS = 60
# How far the time left by a single reading is trusted, as a share of it: one
# reading cannot tell whether the job keeps its pace.
FIRST_READING_ERROR = 0.25
# The doubt left once two readings agree on the pace: IMS rounds its percentage.
READING_ERROR = 0.04
# How much one server's jobs vary from run to run, beyond the range seen so far.
HISTORY_SPREAD = 0.2
# The newest earlier images only: disks fill up, and their jobs grow with them.
HISTORY_SIZE = 5
_DATA_IMAGE_ENV = "DataImage"


class Window(NamedTuple):
    """When the job may end, in seconds after it began."""

    earliest: float
    latest: float


class Reading(NamedTuple):
    """The share of the job IMS reported done, so many seconds after it began."""

    elapsed: float
    percent: float


def plan_next_check(
    elapsed: float,
    *,
    min_wait: int,
    max_wait: int,
    reading: Reading | None = None,
    previous: Reading | None = None,
    history: Sequence[float] = (),
) -> int:
    """Seconds to wait before checking again a job that began `elapsed` seconds ago.

    `reading` is the progress this check saw, `previous` the one an earlier check
    saw, and `history` how long the server's earlier jobs took.
    """
    window = progress_window(reading, previous) if reading is not None else None
    if window is None:
        window = history_window(history)
    wait = math.ceil(_wait_for(window, elapsed, min_wait))

    return min(max(wait, min_wait), max_wait)


def progress_window(reading: Reading, previous: Reading | None = None) -> Window | None:
    """Where the reported progress places the job's end; None for no progress yet."""
    if reading.percent <= 0 or reading.elapsed <= 0:
        return None

    steady = reading.elapsed * 100 / min(reading.percent, 100)
    gained = reading.percent - previous.percent if previous is not None else 0.0
    if previous is None or gained <= 0 or previous.elapsed >= reading.elapsed:
        return _around(reading.elapsed, steady, steady, FIRST_READING_ERROR)

    pace = gained / (reading.elapsed - previous.elapsed)
    recent = reading.elapsed + max(100 - reading.percent, 0) / pace
    # A job that sped up or slowed down is taken to go on doing so, as much again.
    trend = recent + (recent - steady)
    soonest, latest = sorted((steady, trend))

    return _around(reading.elapsed, soonest, latest, READING_ERROR)


def history_window(durations: Sequence[float]) -> Window | None:
    """Where the server's earlier jobs place this one's end; None without any."""
    if not durations:
        return None

    earliest = min(durations) * (1 - HISTORY_SPREAD)

    return Window(earliest, max(durations) * (1 + HISTORY_SPREAD))


def earlier_durations(images: Iterable[Image], kind: ImageKind) -> list[int]:
    """Seconds the earlier active images of this kind took to make, newest first."""
    spans = []
    for image in images:
        finished = image.active_at or image.updated_at
        if image.status != "active" or not image.created_at or not finished:
            continue
        if _kind_of(image) is not kind:
            continue
        began = parse_timestamp(image.created_at)
        seconds = (parse_timestamp(finished) - began).total_seconds()
        if seconds > 0:
            spans.append((began, round(seconds)))
    spans.sort(reverse=True)

    return [seconds for _, seconds in spans[:HISTORY_SIZE]]


def _around(elapsed: float, soonest: float, latest: float, error: float) -> Window:
    before = max(soonest - elapsed, 0.0) * (1 - error)
    after = max(latest - elapsed, 0.0) * (1 + error)

    return Window(elapsed + before, elapsed + after)


def _kind_of(image: Image) -> ImageKind:
    if image.is_whole_image:
        return ImageKind.WHOLE
    if image.virtual_env_type == _DATA_IMAGE_ENV:
        return ImageKind.DATA_DISKS

    return ImageKind.SYSTEM


def _wait_for(window: Window | None, elapsed: float, min_wait: int) -> float:
    if window is None:
        # Nothing places the end: wait longer each time.
        return max(FIRST_CHECK_SECONDS - elapsed, elapsed / 2)
    if window.latest <= elapsed:
        # Later than the earlier jobs ever took: back off from the window's end.
        return elapsed - window.latest

    earliest = max(window.earliest, elapsed)
    if window.latest - earliest <= min_wait:
        # A check before the end could come no sooner than one just after it.
        return window.latest - elapsed
    if earliest > elapsed:
        return earliest - elapsed

    # Already inside a window that no reading narrows: halve what is left of it.
    return (earliest + window.latest) / 2 - elapsed

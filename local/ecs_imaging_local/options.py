"""Command-line option types shared by the local engine's and the emulator's CLIs.

Each turns a bad value into argparse's own error, which names the option and the
value and exits with 2 before anything starts.
"""

import argparse
import math
import stat
from pathlib import Path

# At 1e-12 the emulated clock passes the year 9999, past what datetime holds,
# within a second; at 0.0001 it takes most of a year.
MIN_TIME_SCALE = 0.0001
MAX_TIME_SCALE = 100.0


def time_scale(text: str) -> float:
    """Real seconds per emulated second: a number from 0.0001 to 100."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not MIN_TIME_SCALE <= value <= MAX_TIME_SCALE:
        low, high = f"{MIN_TIME_SCALE:g}", f"{MAX_TIME_SCALE:g}"
        message = f"a number from {low} to {high} is needed, not {text!r}"
        raise argparse.ArgumentTypeError(message)

    return value


def port(text: str) -> int:
    """A TCP port from 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port from 0 to 65535 is needed, not {text!r}")

    return value


def regular_file(text: str) -> str:
    """The path of a regular file that exists; a FIFO or a device would block a read."""
    try:
        mode = Path(text).stat().st_mode
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text!r}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular file")

    return text

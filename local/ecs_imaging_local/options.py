"""Command-line option types shared by the local engine's and the emulator's CLIs.

Each turns a bad value into argparse's own error, which names the option and the
value and exits with 2 before anything starts.
"""

import argparse
import math
import stat
from pathlib import Path

MAX_TIME_SCALE = 100.0


def time_scale(text: str) -> float:
    """Real seconds per emulated second: a finite number above 0, at most 100."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_TIME_SCALE):
        message = f"a number above 0 and at most {MAX_TIME_SCALE:g} is needed, not {text!r}"
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

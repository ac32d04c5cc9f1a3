"""Small pieces every command-line entry point shares."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path

# The project root, resolved from the package so that commands work from any directory.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def fail(message: str, status: int = 2) -> int:
    """Print a one-line error and return the exit status, for ``return fail(...)``."""
    print(f"error: {message}", file=sys.stderr)
    return status


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_interrupts():
    """Within the block, SIGTERM raises KeyboardInterrupt: a command that is told to stop
    cleans up as after Ctrl-C, leaving nothing half-written. The previous handler is back
    afterwards."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def progress_bar(total: int, desc: str, unit: str = "it"):
    """A tqdm bar on stderr, shown only on a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None, file=sys.stderr,
                dynamic_ncols=True)


def number(kind: type, low: float | None = None, high: float | None = None):
    """An argparse ``type`` that reads a finite ``kind`` (int or float) within
    [``low``, ``high``] (None: unbounded on that side), so that a value out of range is a
    one-line usage error (exit 2) before any work, in every command alike.

    The range is what the program can honour in bounded time and memory; each flag's help
    says it.
    """
    import math

    def parse(text: str):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if isinstance(value, float):
            if not math.isfinite(value):
                raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
            value += 0.0  # -0.0 becomes 0.0: numpy's samplers take -0.0 below 0.0
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: {describe_range(low, high)}")
        return value

    parse.__name__ = kind.__name__  # what argparse names in its own messages
    parse.low, parse.high = low, high
    return parse


def describe_range(low: float | None, high: float | None) -> str:
    """``from 1 to 64``, ``at least 0``, ``at most 9``."""
    def show(x) -> str:
        return f"{x:,}" if isinstance(x, int) else f"{x:g}"

    if low is not None and high is not None:
        return f"from {show(low)} to {show(high)}"
    if low is not None:
        return f"at least {show(low)}"
    return f"at most {show(high)}"


def path(text: str) -> Path:
    """An argparse ``type`` for paths: an empty value is a usage error, not the current
    directory (``--examples ""`` would otherwise write into whatever directory the command
    runs in)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty value")
    return Path(text)

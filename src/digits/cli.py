"""Small pieces every command-line entry point shares."""

from __future__ import annotations

import argparse
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


def progress_bar(total: int, desc: str, unit: str = "it"):
    """A tqdm bar on stderr, shown only on a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None, file=sys.stderr,
                dynamic_ncols=True)

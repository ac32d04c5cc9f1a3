"""Writing files so that a crash never leaves a half-written one: write a temporary
sibling, then rename it over the target (a rename within a directory is atomic)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def partial_path(path: str | os.PathLike) -> Path:
    """The temporary sibling ``path`` is written to: hidden, and ending as ``path`` ends,
    so that writers that go by the suffix (``.keras``, ``.weights.h5``, ``.png``) accept it."""
    path = Path(path)
    return path.with_name(f".partial-{path.name}")


@contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yields the temporary path to write; renames it onto ``path`` when the block ends
    without an error, and removes it when the block raises.

    Readers of ``path`` see the old file or the new one, never a partial one.
    """
    tmp = partial_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    """``path.write_text(text)``, atomically."""
    with replacing(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, data) -> None:
    """``data`` as indented JSON with a final newline, atomically."""
    write_text(path, json.dumps(data, indent=2) + "\n")

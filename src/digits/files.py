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


def check_replaceable(path: str | os.PathLike, marker: str, what: str) -> None:
    """``--overwrite`` replaces only what this toolkit wrote: a directory holding
    ``marker`` (a dataset's manifest.json, a run's config.json), or an empty one.

    Raises:
        DataError: ``path`` exists and is something else, which is left untouched.
    """
    from digits.errors import DataError

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink():
        if (path / marker).is_file() or not any(path.iterdir()):
            return
    raise DataError(f"{path} is not {what} (it has no {marker}); --overwrite replaces only "
                    f"{what} this toolkit wrote, so choose another path or remove it yourself")


def partial_dir_prefix(out: str | os.PathLike) -> str:
    """The name prefix of the temporary sibling a directory ``out`` is built in: hidden,
    and naming this process, so that a later run can tell a stale one (its process is
    gone) from one being written."""
    return f".{Path(out).name}.partial-{os.getpid()}-"


@contextmanager
def building_dir(out: str | os.PathLike) -> Iterator[Path]:
    """Yields an empty temporary sibling of the directory ``out`` to build it in. When the
    block ends without an error the sibling takes ``out``'s place (an existing ``out`` is
    moved aside first, then removed); when it raises, the sibling is removed. So ``out``
    holds the old directory or the whole new one, never a part of it.

    Raises:
        DataError: the sibling cannot be made (``out``'s parent cannot be written).
    """
    import shutil
    import tempfile

    from digits.errors import DataError

    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(out)
        tmp = Path(tempfile.mkdtemp(prefix=partial_dir_prefix(out), dir=out.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would stay on the finished directory
    except OSError as e:
        raise DataError(f"cannot write to {out}: {e.strerror or e}") from None
    try:
        yield tmp
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_partials(out: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of ``out`` left by processes that no longer run
    (killed with SIGKILL, or by a power cut). Returns what was removed."""
    import shutil

    out = Path(out)
    removed = []
    for candidate in out.parent.glob(f".{out.name}.partial-*"):
        pid = candidate.name[len(f".{out.name}.partial-"):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(candidate, ignore_errors=True)
        removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True

"""The one way swarmsim writes a file or a folder that must appear whole or not at all.

A file is written to a temporary sibling (``.<name>.<pid>-<random>.partial``, opened exclusively,
so it gets the umask's mode like any file ``open()`` makes) and renamed over the target with
``os.replace``; a folder is filled as a temporary sibling (:func:`partial_dir`) and swapped in by
:func:`replace_dir`. A reader, or a run that is interrupted, sees the old content or the new,
never half of either; the temporary is deleted on any error.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing (``"w"`` text in UTF-8, ``"wb"`` bytes) and
    rename it to ``path`` when the block ends without an error; on an error it is deleted."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file writes with mode 'w' or 'wb', not {mode!r}")
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        with open(tmp, "xb") if mode == "wb" else open(tmp, "x", encoding="utf-8") as f:
            yield f
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text in UTF-8, or bytes) to ``path`` so that it appears whole or not at all."""
    with atomic_file(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return Path(path)


def partial_dir(target: Path) -> Path:
    """A new empty temporary folder beside ``target`` (``.<name>.<random>.partial``) to fill, then
    hand to :func:`replace_dir`."""
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))


def _aside(target: Path) -> Path:
    """Rename the folder ``target`` into a new hidden sibling (``.<name>.<random>.old``) and return
    that sibling, for the caller to delete once ``target`` is free."""
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    target.rename(trash / "old")
    return trash


def remove_dir(target: Path) -> None:
    """Delete the folder ``target`` (if any) by first renaming it aside, so it never looks half-deleted."""
    if target.exists():
        shutil.rmtree(_aside(target), ignore_errors=True)


def replace_dir(tmp: Path, target: Path) -> None:
    """Put the finished folder ``tmp`` at ``target``: an existing ``target`` is renamed aside first
    and deleted after, so ``target`` is always the old folder or the new one, never a mixture."""
    trash = _aside(target) if target.exists() else None
    tmp.rename(target)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


__all__ = ["atomic_file", "partial_dir", "remove_dir", "replace_dir", "write_atomic"]

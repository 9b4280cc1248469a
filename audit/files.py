"""Writing files so that a failure never leaves a half-written one."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _open_temp_beside(path: Path) -> tuple[int, str]:
    """A new, exclusive temporary file next to ``path``, with the usual mode (0666 minus the
    umask) rather than ``mkstemp``'s private 0600, so the renamed report is readable as
    any file the user writes."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {path}")  # pragma: no cover


_TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")  # the names _open_temp_beside makes


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files that :func:`write_bytes_atomic` leaves in ``folder`` when the
    process is killed between writing and renaming (``.<name>.<12 hex digits>.tmp``); return
    them. Only for a folder no other process is writing to at the same time."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if _TEMP_NAME.match(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


__all__ = ["write_bytes_atomic", "remove_stale_temp_files"]

"""The result JSON, schema version 1, and atomic file writing.

The schema is ``reports/schema/result-v1.schema.json``; the README describes it.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

from audit.errors import DataFileError, InputError

SCHEMA_VERSION = 1


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of result files."""
    text = resources.files("reports").joinpath("schema/result-v1.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _clean(value: Any) -> Any:
    """JSON-ready plain types; NaN/inf become null (JSON has no such numbers)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(_clean(result), indent=2, allow_nan=False) + "\n"


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


def write_json_atomic(path: str | Path, result: dict[str, Any]) -> Path:
    return write_bytes_atomic(path, dumps(result).encode("utf-8"))


def load_result(path: str | Path) -> dict[str, Any]:
    """Read a result JSON, refusing files of another schema version."""
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"result file not found: {p}")
    try:
        result = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"result file {p} is not valid JSON: {exc}") from None
    version = result.get("schema_version") if isinstance(result, dict) else None
    if version != SCHEMA_VERSION:
        raise InputError(f"result file {p}: schema_version must be {SCHEMA_VERSION}; got {version!r}")
    return result

"""The result JSON, schema version 1, and atomic file writing.

The schema is ``reports/schema/result-v1.schema.json``; the README describes it.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

from mia_audit.errors import DataFileError, InputError
from mia_audit.files import write_bytes_atomic  # reports write through it (re-exported)
from mia_audit.schema import SCHEMA_VERSION, check_schema  # noqa: F401  (SCHEMA_VERSION re-exported)



def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of result files."""
    text = resources.files("mia_audit.reports").joinpath("schema/result-v1.schema.json").read_text(encoding="utf-8")
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
    check_schema(result, f"result file {p}")
    return result

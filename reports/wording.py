"""Options and parameters in words for the reports: ``{"T": "fit", "fitted_T": 2.967}`` becomes
"T = 2.97, fitted on 1,000 held-out records"; unset options (None) are left out."""

from __future__ import annotations

import math
from typing import Any, Mapping


def value_words(value: Any) -> str:
    """A value as a reader writes it: 3 significant digits, thousands separated, lists joined."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        if len(value) > 8 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return f"{len(value):,} numbers"
        return ", ".join(value_words(v) for v in value) or "none"
    if isinstance(value, Mapping):
        return params_words(value) or "none"
    return str(value)


def params_words(params: Mapping[str, Any], *, fitted_on: int | None = None) -> str:
    """``key = value`` pairs in words; a ``fitted_<key>`` value replaces a ``<key> = "fit"``
    request ("T = 2.97, fitted on 1,000 held-out records")."""
    parts = []
    for key, value in params.items():
        if value is None or str(key).startswith("fitted_"):
            continue
        fitted = params.get(f"fitted_{key}")
        if value == "fit" and fitted is not None:
            where = f" on {fitted_on:,} held-out records" if fitted_on else " on held-out records"
            parts.append(f"{key} = {value_words(fitted)}, fitted{where}")
        else:
            parts.append(f"{key} = {value_words(value)}")
    return ", ".join(parts)


def validation_records(result: Mapping[str, Any]) -> int | None:
    """How many held-out (validation) records the run had, from its data section or its configuration."""
    data = result.get("data") or {}
    if isinstance(data.get("n_validation"), int):
        return data["n_validation"]
    size = ((result.get("config") or {}).get("data") or {}).get("validation_size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


__all__ = ["params_words", "validation_records", "value_words"]

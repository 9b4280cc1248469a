"""Readers of schema-v1 result entries: the one answer to "is this entry applicable", and the
figures an entry holds. Pure functions on dictionaries; shared by the verdict, the gates and
every renderer.
"""

from __future__ import annotations

import math
from typing import Any, Mapping


def is_applicable(entry: Mapping[str, Any]) -> bool:
    """False for entries marked ``"applicable": false`` (or without a finite AUC)."""
    auc = entry.get("auc")
    return entry.get("applicable", True) is not False and isinstance(auc, (int, float)) \
        and not isinstance(auc, bool) and math.isfinite(auc)


def _key_for(mapping: Mapping[str, Any] | None, fpr: float) -> str | None:
    for key in mapping or {}:
        try:
            if abs(float(key) - fpr) <= 1e-12 * max(1.0, fpr):
                return key
        except (TypeError, ValueError):
            continue
    return None


def tpr_at(entry: Mapping[str, Any], fpr: float) -> float | None:
    """The entry's TPR at ``fpr`` (keys are strings such as '0.001'), or None."""
    values = entry.get("tpr_at_fpr")
    key = _key_for(values, fpr)
    value = None if key is None else values[key]
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def tpr_ci_at(entry: Mapping[str, Any], fpr: float) -> list[float] | None:
    cis = entry.get("tpr_at_fpr_ci")
    key = _key_for(cis, fpr)
    ci = None if key is None else cis[key]
    return ci if isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in ci else None


def fpr_levels(result: Mapping[str, Any]) -> list[float]:
    """Every FPR at which some entry reports a TPR, ascending."""
    levels: set[float] = set()
    for e in result.get("results", []):
        for k in e.get("tpr_at_fpr") or {}:
            try:
                levels.add(float(k))
            except (TypeError, ValueError):
                pass
    return sorted(levels)


def entry_key(entry: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(model, mitigation, attack, members): what identifies an entry within a result."""
    return (str(entry.get("model")), str(entry.get("mitigation", "none")), str(entry.get("attack")),
            str(entry.get("members")))


__all__ = ["is_applicable", "tpr_at", "tpr_ci_at", "fpr_levels", "entry_key"]

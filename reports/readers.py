"""Readers of a result for the renderers: model and attack order, worst entries, figure
formatting, dates and configuration summaries. Pure functions on the result dictionary."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping

from mia_audit.entries import is_applicable, tpr_at, tpr_ci_at
from mia_audit.verdict import verdict_of

MEMBER_ORDER = {"train": 0, "forget": 1, "retain": 2}
UNLEARNING_ROLES = ("unlearned", "retrained")

def model_names(result: Mapping[str, Any]) -> list[str]:
    """Models in the order of ``models``, then any others named only in ``results``."""
    names = [m["name"] for m in result.get("models", [])]
    names += [e["model"] for e in result.get("results", []) if e["model"] not in names]
    return list(dict.fromkeys(names))


def model_info(result: Mapping[str, Any], name: str) -> dict[str, Any]:
    for m in result.get("models", []):
        if m.get("name") == name:
            return m
    return {}


def architecture_of(result: Mapping[str, Any], model: Mapping[str, Any]) -> str:
    arch = model.get("architecture")
    if arch:
        return str(arch)
    cfg_model = (result.get("config") or {}).get("model")
    return str(cfg_model.get("name")) if isinstance(cfg_model, dict) and cfg_model.get("name") else "-"


def attack_names(result: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(e["attack"] for e in result.get("results", [])))


def entry_order(result: Mapping[str, Any]):
    models = {n: i for i, n in enumerate(model_names(result))}
    attacks = {n: i for i, n in enumerate(attack_names(result))}
    return lambda e: (models.get(e["model"], 0), e.get("mitigation", "none") != "none", e.get("mitigation", "none"),
                      MEMBER_ORDER.get(e["members"], 9), attacks.get(e["attack"], 0))


def worst_attacks(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The verdict's worst entries per (model, mitigation), each ``by_auc`` / ``by_tpr`` resolved
    to the full result entry (for its confidence intervals); None where the verdict has none."""
    verdict = verdict_of(result)
    index = {(e.get("model"), e.get("mitigation", "none"), e.get("attack"), e.get("members")): e
             for e in result.get("results", [])}
    out = []
    for w in verdict.get("worst") or []:
        row = {"model": w["model"], "mitigation": w["mitigation"], "fpr": w.get("fpr")}
        for key in ("by_auc", "by_tpr"):
            ref = w.get(key)
            row[key] = None if ref is None else index.get((w["model"], w["mitigation"], ref["attack"], ref["members"]))
        out.append(row)
    return out


def model_label(model: str, mitigation: str) -> str:
    return model if mitigation == "none" else f"{model} + {mitigation}"


def fmt_auc(entry: Mapping[str, Any], *, ci: bool = True, sep: str = " ") -> str:
    if not is_applicable(entry):
        return "n/a"
    text = f"{entry['auc']:.3f}"
    interval = entry.get("auc_ci")
    if ci and isinstance(interval, (list, tuple)) and len(interval) == 2 and None not in interval:
        text += f"{sep}[{interval[0]:.3f}, {interval[1]:.3f}]"
    return text


def fmt_tpr(entry: Mapping[str, Any], fpr: float, *, ci: bool = True, sep: str = " ") -> str:
    if not is_applicable(entry):
        return "n/a"
    value = tpr_at(entry, fpr)
    if value is None:
        return "-"
    text = f"{100 * value:.2f} %"
    interval = tpr_ci_at(entry, fpr)
    if ci and interval is not None:
        text += f"{sep}[{100 * interval[0]:.2f}, {100 * interval[1]:.2f}]"
    return text


def format_created(created: Any) -> str:
    """'2026-11-22T12:03:52+00:00' -> '2026-11-22 12:03 UTC'."""
    if not isinstance(created, str) or not created:
        return "date not recorded"
    try:
        when = _dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return created
    if when.tzinfo is None:
        return when.strftime("%Y-%m-%d %H:%M")
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


MAX_LIST_NUMBERS = 20
MAX_STRING = 300


def _count_numbers(value: Any) -> int | None:
    """Number of numeric leaves of a (nested) list of numbers, or None if anything else is inside."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return 1
    if isinstance(value, (list, tuple)):
        total = 0
        for v in value:
            n = _count_numbers(v)
            if n is None:
                return None
            total += n
        return total
    return None


def summarise_config(value: Any, key: str = "") -> Any:
    """A copy of ``value`` safe and readable in a report: lists of more than 20 numbers
    become '<N indices>' / '<list of N numbers>' (so no record ids or feature values are
    printed), long lists of other items are cut, long strings are truncated."""
    if isinstance(value, Mapping):
        return {str(k): summarise_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        n = _count_numbers(value)
        if n is not None and n > MAX_LIST_NUMBERS:
            return f"<{n} indices>" if "ind" in key.lower() else f"<list of {n} numbers>"
        if n is None and len(value) > MAX_LIST_NUMBERS:
            head = [summarise_config(v, key) for v in value[:5]]
            return head + [f"<... {len(value) - 5} more items>"]
        return [summarise_config(v, key) for v in value]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + f"... <{len(value)} characters>"
    return value



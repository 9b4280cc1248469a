"""A short Markdown summary of a result: verdict, worst attack per model, compact table.

For pull-request comments, CI job summaries and notebooks; rendered from the result JSON alone.
"""

from __future__ import annotations

from typing import Any, Mapping

from mia_audit.entries import fpr_levels, is_applicable
from mia_audit.verdict import fpr_label as verdict_fpr_label, verdict_of

from .decision import leaking_slices
from .readers import entry_order, fmt_auc, fmt_tpr, format_created, model_label, worst_attacks


def _cell(text: Any) -> str:
    """Table-cell text: pipes escaped, line breaks flattened."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def fpr_label(fpr: float) -> str:
    """0.001 -> '0.1%' (the verdict's label without its space, for compact table headers)."""
    return verdict_fpr_label(fpr).replace(" ", "")


def _records_and_slices(result: Mapping[str, Any], n_slices: int = 3) -> list[str]:
    """Records at risk per model (members identified at each FPR by its strongest per-record
    attack) and the slices that leak most (highest AUC among those large enough)."""
    lines: list[str] = []
    records = result.get("records") or []
    if records:
        lines += ["**Records at risk** (strongest per-record attack, members identified)", ""]
        for r in records:
            counts = ", ".join(f"{v} at FPR {fpr_label(float(k))}" for k, v in sorted(r.get("at_risk", {}).items(),
                                                                                      key=lambda kv: float(kv[0])))
            lines.append(f"- `{r['model']}` ({r['attack']}, {r['n_members']} members): {counts or 'n/a'}")
        lines.append("")
    worst = leaking_slices(result.get("slices") or [], n_slices)
    if worst:
        lines += ["**Slices that leak most**", ""]
        lines += [f"- `{s['model']}` {s['column']} = {s.get('label', s['value'])}: AUC {float(s['auc']):.3f} "
                  f"({s['n_members']} members, {s['n_nonmembers']} non-members; {s['attack']})" for s in worst]
        small = sum(1 for s in result.get("slices") or [] if s.get("too_small"))
        lines += ([f"- {small} slices too small to measure"] if small else []) + [""]
    return lines


def summary_markdown(result: Mapping[str, Any]) -> str:
    """Markdown: title line, the result's verdict (:mod:`mia_audit.verdict`) and what was audited,
    the worst attack per model, and a table of AUC [CI] and TPR at each FPR for every model,
    mitigation, member set and attack ('n/a' where an attack does not apply)."""
    data = result.get("data") or {}
    tool = result.get("tool") or {}
    verdict = verdict_of(result)
    status, _, rest = verdict["headline"].partition(": ")
    lines = [
        f"## Membership-inference audit: {data.get('name', '?')}",
        "",
        f"{format_created(result.get('created'))} · {tool.get('name', 'mia-audit')} {tool.get('version', '')}".rstrip()
        + f" · n_train {data.get('n_train', '?')}, n_test {data.get('n_test', '?')}, "
          f"n_forget {data.get('n_forget', '?')}, n_retain {data.get('n_retain', '?')}",
        "",
        f"**{status}**: {rest}",
        "",
    ]
    from .decision import decision_sections

    for title, items in decision_sections(result, verdict):
        if title == "Records at risk":
            continue  # with the slices, below
        lines += [f"**{title}**", ""] + [f"- {_cell(c)}" for c in items] + [""]
    worst = worst_attacks(result)
    if worst:
        lines.append("**Worst attack per model**")
        lines.append("")
        for w in worst:
            parts = []
            if w["by_auc"] is not None:
                e = w["by_auc"]
                parts.append(f"highest AUC {fmt_auc(e)} ({e['attack']}, {e['members']} vs test)")
            if w["by_tpr"] is not None:
                e = w["by_tpr"]
                parts.append(f"highest TPR@{fpr_label(w['fpr'])} {fmt_tpr(e, w['fpr'], ci=False)} "
                             f"({e['attack']}, {e['members']} vs test)")
            label = model_label(w["model"], w["mitigation"])
            lines.append(f"- `{label}`: " + ("; ".join(parts) or "no applicable attack"))
        lines.append("")
    lines += _records_and_slices(result)
    fprs = fpr_levels(result)
    entries = sorted(result.get("results", []), key=entry_order(result))
    if entries:
        show_mit = any(e.get("mitigation", "none") != "none" for e in entries)
        head = ["model"] + (["mitigation"] if show_mit else []) + ["members", "attack", "AUC [95% CI]"] \
            + [f"TPR@{fpr_label(f)}" for f in fprs]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join(["---"] * (len(head) - 1 - len(fprs)) + ["---:"] * (1 + len(fprs))) + "|")
        for e in entries:
            row = [e["model"]] + ([e.get("mitigation", "none")] if show_mit else []) \
                + [f"{e['members']} vs test", e["attack"], fmt_auc(e)] + [fmt_tpr(e, f, ci=False) for f in fprs]
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        lines.append("")
        warnings = list(dict.fromkeys(w for e in entries if is_applicable(e) for w in e.get("warnings") or []))
        if warnings:
            lines.append("Warnings:")
            lines += [f"- {w}" for w in warnings]
            lines.append("")
    else:
        lines += ["The result holds no attack results.", ""]
    return "\n".join(lines)

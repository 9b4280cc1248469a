"""The attack results: one ROC figure per model, and per model one table of the attacks that
ran on its raw outputs (mitigated results are in the Mitigations section, every figure in
report.json)."""

from __future__ import annotations

import re
from typing import Any, Mapping

from mia_audit.entries import fpr_levels, is_applicable
from mia_audit.verdict import fpr_label

from ..readers import entry_order, fmt_auc, fmt_tpr, model_info, model_names
from .layout import Doc, bad_cell, nbsp, num
from .summary import violated_figures


def section_roc(doc: Doc, result: Mapping[str, Any]) -> None:
    from ..curves import MAX_LINES, figure_models
    from ..roc_plot import model_roc_png, report_styles

    doc.heading("ROC curves", keep=90)
    doc.para("TPR (members found) against FPR (non-members flagged), log scales; dashed: random guessing. One "
             "figure per model, one panel per mitigation: trained models on their training set, unlearned and "
             "retrained ones on their forget set, against test records. Attacks that rank the records alike share "
             f"a line ('loss = confidence'); a yes/no attack is one point; at most {MAX_LINES} lines a panel, the "
             "highest AUCs first.", size=8)
    models = figure_models(result)
    if not models:
        doc.para("The result has no ROC data to draw.")
        return
    styles = report_styles(result)
    pngs = [png for png in (model_roc_png(result, model, dpi=doc.dpi, styles=styles) for model in models)
            if png is not None]
    doc.images_in_rows(pngs)  # a figure as wide as the page fills its row; narrower ones share rows


_NUMBER = re.compile(r"\d+(\.\d+)?")


def _warning_kind(text: str) -> str:
    """Warnings that differ only in their numbers are one kind."""
    return _NUMBER.sub("#", text)


def section_tables(doc: Doc, result: Mapping[str, Any], verdict: Mapping[str, Any]) -> None:
    doc.heading("Attack results (raw outputs)", keep=40)
    fprs = fpr_levels(result)
    levels = {float(e.get("confidence", 0.95)) for e in result.get("results", [])}
    level = f"{100 * levels.pop():g} %" if len(levels) == 1 else "the stated"
    doc.para(f"Each attack on each model's raw outputs: AUC and TPR at each FPR (in %) with {level} bootstrap "
             "confidence intervals in brackets; adv. = attacker advantage (max TPR - FPR); eps >= = empirical "
             "epsilon lower bound (indicative). Figures above the policy are in bold red. Results with a "
             "mitigation are in the Mitigations section; every result is in report.json.", size=8.5)
    results = sorted(result.get("results", []), key=entry_order(result))
    violated = violated_figures(verdict)
    for model in model_names(result):
        raw = [e for e in results if e["model"] == model and e.get("mitigation", "none") == "none"]
        if not raw:
            continue
        role = model_info(result, model).get("role")
        head = ["Members", "Attack", "AUC [CI]"] + [f"TPR@{fpr_label(f)} [CI]" for f in fprs] + ["adv.", "eps >="]
        rows = []
        notes: dict[str, tuple[str, int]] = {}
        skipped: dict[str, list[str]] = {}
        for members in dict.fromkeys(e["members"] for e in raw):
            group = [e for e in raw if e["members"] == members]
            for e in group:
                if not is_applicable(e):
                    skipped.setdefault(str(e.get("reason") or "not applicable"), []).append(f"{e['attack']} "
                                                                                          f"({members})")
            for e in group:  # one row per attack: identical curves can still differ in their intervals
                if not is_applicable(e):
                    continue
                bad = violated.get((model, "none", e["attack"], members), set())
                n_mem, n_non = e.get("n_members"), e.get("n_nonmembers")
                label = f"{members} ({n_mem:,}) vs test ({n_non:,})" if n_mem and n_non else f"{members} vs test"
                auc = nbsp(fmt_auc(e))
                row: list[Any] = [label, e["attack"], bad_cell(auc) if "AUC" in bad else auc]
                for f in fprs:
                    t = nbsp(fmt_tpr(e, f).replace(" %", ""))
                    row.append(bad_cell(t) if f"TPR@{f:g}" in bad else t)
                row += [num(e.get("advantage"), 3), num(e.get("epsilon_lower_bound"), 2)]
                rows.append(row)
                for w in e.get("warnings") or []:
                    kind = _warning_kind(w)
                    first, count = notes.get(kind, (w, 0))
                    notes[kind] = (first, count + 1)
        doc.subheading(f"Model: {model}" + (f" ({role})" if role else ""), keep=20)
        if rows:
            doc.table(head, rows, aligns=["LEFT"] * 2 + ["RIGHT"] * (len(head) - 2), full_width=True, max_font=7.5)
        for reason, attacks in skipped.items():
            doc.para(f"Not applicable: {', '.join(attacks)}: {reason}.", size=7.5)
        if notes:
            doc.para("Warnings:", size=7.5, style="B")
            doc.bullets([w if n <= 1 else f"{w} (and {n - 1} more like it, with other figures)"
                         for w, n in notes.values()], size=7.5)

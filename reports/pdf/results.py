"""The attack results: ROC curves, tables with confidence intervals, score histograms."""

from __future__ import annotations

from typing import Any, Mapping

from mia_audit.entries import fpr_levels, is_applicable
from mia_audit.verdict import fpr_label, shorten

from ..readers import entry_order, fmt_auc, fmt_tpr, model_info, model_names
from .layout import Doc, bad_cell, muted_cell, nbsp, num
from .summary import violated_figures

def section_roc(doc: Doc, result: Mapping[str, Any]) -> None:
    from ..figures import ROW_WIDTH_IN, roc_row_png, styles_for
    from ..roc_plot import has_roc

    doc.pdf.add_page()
    doc.heading("ROC curves")
    doc.para("True positive rate (members found) against false positive rate (non-members wrongly flagged), "
             "both on log scales so that the low-FPR region that matters for privacy is visible. The dashed "
             "diagonal is random guessing; curves are exact empirical steps. One panel per model, mitigation "
             "and member set (members vs test records); one line per attack.", size=8.5)
    entries = sorted((e for e in result.get("results", []) if has_roc(e)), key=entry_order(result))
    if not entries:
        doc.para("The result has no ROC data to draw.")
        return
    styles = styles_for([e["attack"] for e in entries])
    for model in model_names(result):
        panels: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for e in entries:
            if e["model"] == model:
                panels.setdefault((e.get("mitigation", "none"), e["members"]), []).append(e)
        if not panels:
            continue
        items = [(f"{members} vs test" + ("" if mit == "none" else f" [{shorten(mit, 40)}]"), rows)
                 for (mit, members), rows in panels.items()]
        pngs = [roc_row_png(items[i:i + 2], styles=styles, dpi=doc.dpi) for i in range(0, len(items), 2)]
        doc.subheading(f"Model: {model}", keep=doc.image_size(pngs[0], width_in=ROW_WIDTH_IN)[1] + 2)
        for png in pngs:
            doc.image(png, width_in=ROW_WIDTH_IN)


def section_tables(doc: Doc, result: Mapping[str, Any], verdict: Mapping[str, Any]) -> None:
    doc.pdf.add_page()
    doc.heading("Attack results")
    fprs = fpr_levels(result)
    levels = {float(e.get("confidence", 0.95)) for e in result.get("results", [])}
    level = f"{100 * levels.pop():g} %" if len(levels) == 1 else "the stated"
    doc.para(f"AUC and TPR at each FPR with {level} bootstrap confidence intervals (in brackets; TPR in %). "
             "adv. = attacker advantage (max TPR - FPR); eps >= = empirical epsilon lower bound (indicative). "
             "Figures above the policy are in bold red; n/a = attack not applicable to this model's outputs.",
             size=8.5)
    results = sorted(result.get("results", []), key=entry_order(result))
    violated = violated_figures(verdict)
    show_mit = any(e.get("mitigation", "none") != "none" for e in results)
    for model in model_names(result):
        entries = [e for e in results if e["model"] == model]
        if not entries:
            continue
        role = model_info(result, model).get("role")
        doc.subheading(f"Model: {model}" + (f" ({role})" if role else ""))
        head = (["Mitigation"] if show_mit else []) + ["Members", "Attack", "AUC [CI]"] \
            + [f"TPR@{fpr_label(f)} [CI]" for f in fprs] + ["adv.", "eps >="]
        rows = []
        notes: dict[str, int] = {}
        not_applicable: dict[tuple[str, str, str], list[str]] = {}
        for e in entries:
            bad = violated.get((e["model"], e.get("mitigation", "none"), e["attack"], e["members"]), set())
            n_mem, n_non = e.get("n_members"), e.get("n_nonmembers")
            members = (f"{e['members']} ({n_mem}) vs test ({n_non})" if n_mem is not None and n_non is not None
                       else f"{e['members']} vs test")
            row: list[Any] = ([e.get("mitigation", "none")] if show_mit else []) + [members, e["attack"]]
            if not is_applicable(e):
                row += [muted_cell("n/a")] * (1 + len(fprs) + 2)
                key = (e["attack"], e.get("mitigation", "none"), str(e.get("reason") or e.get("note") or ""))
                not_applicable.setdefault(key, []).append(e["members"])
            else:
                auc = nbsp(fmt_auc(e, sep="\n"))
                row.append(bad_cell(auc) if "AUC" in bad else auc)
                for f in fprs:
                    t = nbsp(fmt_tpr(e, f, sep="\n"))
                    row.append(bad_cell(t) if f"TPR@{f:g}" in bad else t)
                row += [num(e.get("advantage"), 3), num(e.get("epsilon_lower_bound"), 2)]
            for w in e.get("warnings") or []:
                notes[w] = notes.get(w, 0) + 1
            rows.append(row)
        for (attack, mitigation, reason), member_sets in not_applicable.items():
            where = " and ".join(dict.fromkeys(member_sets)) + " vs test"
            if mitigation != "none":
                where += f", {mitigation}"
            notes[f"{attack} ({where}): not applicable" + (f": {reason}" if reason else "")] = 1
        n_fixed = (1 if show_mit else 0) + 2
        doc.table(head, rows, aligns=["LEFT"] * n_fixed + ["RIGHT"] * (len(head) - n_fixed), full_width=True)
        if notes:
            doc.para("Warnings:", size=8.5, style="B")
            doc.bullets([w if n <= 1 else f"{w} ({n} results)" for w, n in notes.items()])



def section_histograms(doc: Doc, result: Mapping[str, Any]) -> None:
    from ..figures import ROW_WIDTH_IN, histogram_row_png, valid_histogram

    title = "Score distributions of the strongest attack"
    results = [e for e in result.get("results", []) if e.get("mitigation", "none") == "none" and is_applicable(e)]
    if not any(valid_histogram(e.get("histogram")) for e in results):
        doc.heading(title)
        doc.para("The result has no histogram data, so no score distributions are shown.")
        return
    key = entry_order(result)
    blocks = []  # (model, attack, [png, ...])
    for model in model_names(result):
        entries = [e for e in results if e["model"] == model]
        if not entries:
            continue
        strongest = max(entries, key=lambda e: e["auc"])
        attack = strongest["attack"]
        same = sorted((e for e in entries if e["attack"] == attack), key=key)
        panels = []
        for e in same:
            if valid_histogram(e.get("histogram")):
                caption = f"{shorten(attack, 40)}: {e['members']} vs test (AUC {e['auc']:.3f})"
                if len(caption) > 44:  # keep the panel title inside its panel
                    caption = caption.replace(": ", "\n", 1)
                panels.append((caption, e["histogram"], f"members ({e['members']})"))
        blocks.append((model, attack, [histogram_row_png(panels[i:i + 2], dpi=doc.dpi)
                                       for i in range(0, len(panels), 2)]))
    first = next((pngs[0] for _, _, pngs in blocks if pngs), None)
    first_h = doc.image_size(first, width_in=ROW_WIDTH_IN)[1] if first else 0.0
    doc.heading(title, keep=first_h + 30)
    doc.para("For each model, the attack with the highest AUC: the share of member and of non-member records "
             "in each score bin (scores beyond the 0.5 % and 99.5 % pooled quantiles are counted in the end "
             "bins). Well-separated distributions mean the attack tells members apart.", size=8.5)
    for model, attack, pngs in blocks:
        keep = doc.image_size(pngs[0], width_in=ROW_WIDTH_IN)[1] + 2 if pngs else 10
        doc.subheading(f"Model: {model} - strongest attack: {attack}", keep=keep)
        if not pngs:
            doc.para(f"The result has no histogram data for {attack} on {model}.")
            continue
        for png in pngs:
            doc.image(png, width_in=ROW_WIDTH_IN)



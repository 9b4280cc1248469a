"""Single records and subgroups: the records at risk, the top records by id, the score
distribution of the strongest per-record attack, and the slices that leak most."""

from __future__ import annotations

from typing import Any, Mapping

from mia_audit.entries import is_applicable
from mia_audit.verdict import fpr_label, shorten

from ..decision import leaking_slices, small_slices
from .layout import Doc, nbsp

TOP_ROWS = 10


def section_records(doc: Doc, result: Mapping[str, Any]) -> None:
    records = [r for r in result.get("records") or [] if isinstance(r, Mapping)]
    slices = [s for s in result.get("slices") or [] if isinstance(s, Mapping)]
    doc.heading("Records at risk and subgroups", keep=40)
    if not records and not slices:
        doc.para("The result has no records or slices sections (results from before schema 1.4, or no attack "
                 "that scores single records ran).")
        return
    if records:
        _records(doc, result, records)
    if slices:
        _slices(doc, result, slices)


def _records(doc: Doc, result: Mapping[str, Any], records: list[Mapping[str, Any]]) -> None:
    doc.para("Per model, the strongest per-record attack (LiRA or RMIA where it ran, else the strongest signal "
             "attack) flags a member when its score beats the threshold that flags the given share of "
             "non-members. Records are named by id (the id column, or the row in the data source); no record "
             "content is in the report.", size=8.5)
    fprs = sorted({k for r in records for k in (r.get("at_risk") or {})}, key=float)
    head = ["Model", "Attack (members vs test)"] + [f"flagged at FPR {fpr_label(float(f))}" for f in fprs]
    rows = []
    for r in records:
        n = r.get("n_members") or 0
        rows.append([str(r["model"]), f"{r['attack']} ({r['members']}: {n:,} vs {r.get('n_nonmembers', 0):,})"]
                    + [nbsp(f"{r['at_risk'][f]:,} ({100 * r['at_risk'][f] / n:.1f} %)") if f in r.get("at_risk", {})
                       and n else "-" for f in fprs])
    doc.table(head, rows, aligns=["LEFT", "LEFT"] + ["RIGHT"] * len(fprs), full_width=True, max_font=8)
    tops = [r for r in records if r.get("top")]
    if tops:
        doc.para(f"The {TOP_ROWS} members each attack finds first: record id, and in brackets the FPR at which it "
                 "would be flagged (0 % = before any non-member).", size=8.5)
        head = ["Rank"] + [shorten(str(r["model"]), 24) for r in tops]
        rows = []
        for i in range(min(TOP_ROWS, max(len(r["top"]) for r in tops))):
            row = [str(i + 1)]
            for r in tops:
                t = r["top"][i] if i < len(r["top"]) else None
                row.append("-" if t is None else nbsp(f"{t['id']} ({100 * float(t['fpr']):.2f} %)"))
            rows.append(row)
        doc.table(head, rows, aligns=["RIGHT"] * len(head), max_font=8)
    _histograms(doc, result, records)


def _histograms(doc: Doc, result: Mapping[str, Any], records: list[Mapping[str, Any]]) -> None:
    from ..figures import ROW_WIDTH_IN, histogram_row_png, valid_histogram

    index = {(e["model"], e.get("mitigation", "none"), e["attack"], e["members"]): e
             for e in result.get("results") or [] if is_applicable(e)}
    panels = []
    for r in records:
        e = index.get((r["model"], r.get("mitigation", "none"), r["attack"], r["members"]))
        if e is not None and valid_histogram(e.get("histogram")):
            panels.append((f"{shorten(str(r['model']), 24)}: {r['attack']} (AUC {e['auc']:.3f})", e["histogram"],
                           f"members ({r['members']})"))
    if not panels:
        return
    pngs = [histogram_row_png(panels[i:i + 2], dpi=doc.dpi) for i in range(0, len(panels), 2)]
    doc.subheading("Score distributions", keep=doc.image_size(pngs[0], width_in=ROW_WIDTH_IN)[1] + 12)
    doc.para("The same attacks' scores: the share of members and of non-members in each score bin (scores "
             "beyond the 0.5 % and 99.5 % pooled quantiles fall in the end bins). The records at risk are the "
             "members in the right tail, beyond the non-members.", size=8.5)
    for png in pngs:
        doc.image(png, width_in=ROW_WIDTH_IN)


def _slices(doc: Doc, result: Mapping[str, Any], slices: list[Mapping[str, Any]]) -> None:
    worst = leaking_slices(slices, 10)
    small = small_slices(slices)
    doc.subheading("Subgroups that leak most", keep=30)
    report = (result.get("config") or {}).get("report")
    min_n = report.get("min_slice") if isinstance(report, Mapping) else None
    doc.para("The strongest per-record attack's AUC and TPR at FPR 1 % within each slice (members and "
             "non-members of one class, or of one value of a column the configuration names), with bootstrap "
             "confidence intervals; the ten highest AUCs among the slices large enough to measure.", size=8.5)
    if worst:
        head = ["Model", "Slice", "Members / non-members", "AUC [CI]", "TPR@1 % [CI]"]
        rows = []
        for s in worst:
            tpr = (s.get("tpr_at_fpr") or {}).get("0.01")
            ci = (s.get("tpr_at_fpr_ci") or {}).get("0.01")
            auc_ci = s.get("auc_ci") or [None, None]
            rows.append([str(s["model"]), f"{s['column']} = {s.get('label', s['value'])}",
                         f"{s['n_members']:,} / {s['n_nonmembers']:,}",
                         nbsp(f"{s['auc']:.3f}" + (f" [{auc_ci[0]:.3f}, {auc_ci[1]:.3f}]" if None not in auc_ci
                                                   else "")),
                         "-" if tpr is None else nbsp(f"{100 * tpr:.2f}" + (f" [{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"
                                                                         if ci else ""))])
        doc.table(head, rows, aligns=["LEFT", "LEFT"] + ["RIGHT"] * 3, full_width=True, max_font=8)
    if small:
        where = f" (fewer than {min_n} members or non-members)" if min_n else ""
        doc.para(f"Too small to measure{where}: " + "; ".join(small) + ".", size=8)


def section_dp_audit(doc: Doc, result: Mapping[str, Any]) -> None:
    """The one-run DP audit: the claimed epsilon beside the lower bound the canaries prove."""
    audits = [a for a in result.get("dp_audit") or [] if isinstance(a, Mapping)]
    if not audits:
        return
    doc.heading("DP audit in one training run", keep=40)
    doc.para("Steinke, Nasr & Jagielski (NeurIPS 2023): m canaries (mislabelled records), each put in the "
             "training set with probability 1/2; a membership attack guesses 'in' for the k+ highest scores and "
             "'out' for the k- lowest; from the number of right guesses follows a lower bound on epsilon at the "
             "stated delta and confidence. A bound above the claimed epsilon refutes the claim; a bound below it "
             "does not prove the claim (one run gives a loose bound).", size=8.5)
    head = ["Model", "Claimed eps (delta)", "Proved eps >=", "Confidence", "Canaries m (in)", "k+ / k-",
            "Right guesses"]
    rows = []
    for a in audits:
        claimed = a.get("claimed_epsilon")
        rows.append([str(a.get("model", "-")),
                     "none (no DP-SGD)" if claimed is None else f"{claimed:.3g} ({a.get('claimed_delta', 0):.2g})",
                     f"{float(a.get('epsilon_lower_bound') or 0):.3f}", f"{100 * float(a.get('confidence', 0.95)):g} %",
                     f"{a.get('m')} ({a.get('n_included', '-')})", f"{a.get('k_plus')} / {a.get('k_minus')}",
                     f"{a.get('correct')} of {a.get('guesses')}"])
    doc.table(head, rows, aligns=["LEFT"] + ["RIGHT"] * 6, full_width=True, max_font=8)

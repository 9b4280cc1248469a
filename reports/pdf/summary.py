"""Page 1: the verdict, what was audited, the worst attack per model, data, models, signature."""

from __future__ import annotations

from typing import Any, Mapping


from ..decision import dp_audit_lines
from ..readers import architecture_of, fmt_auc, fmt_tpr, format_created, worst_attacks
from .layout import GREY, Doc, bad_cell, fmt_acc, fmt_seconds, nbsp

_STATUS_COLOURS = {  # fill, border
    "pass": ((222, 242, 225), (40, 120, 60)),
    "fail": ((250, 224, 224), (170, 30, 30)),
    "inconclusive": ((253, 240, 210), (180, 120, 0)),
}


def violated_figures(verdict: Mapping[str, Any]) -> dict[tuple[str, str, str, str], set[str]]:
    """{(model, mitigation, attack, members): {"AUC", "TPR@0.001", ...}} from the verdict."""
    out: dict[tuple[str, str, str, str], set[str]] = {}
    for v in verdict.get("violations") or []:
        out.setdefault((v["model"], v["mitigation"], v["attack"], v["members"]), set()).add(v["figure"])
    return out


def section_summary(doc: Doc, result: Mapping[str, Any], verdict: Mapping[str, Any]) -> None:
    from mia_audit.verdict import Policy

    pdf = doc.pdf
    tool = result.get("tool") or {}
    data = result.get("data") or {}
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 8, "Membership-inference audit report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, 5, f"Data set {data.get('name', '?')}  |  created {format_created(result.get('created'))}  |  "
                         f"{tool.get('name', 'mia-audit')} {tool.get('version', '')}".rstrip(),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(4)

    fill, border = _STATUS_COLOURS[verdict["status"]]
    pdf.set_fill_color(*fill)
    pdf.set_draw_color(*border)
    pdf.set_line_width(0.5)
    pdf.set_font("Helvetica", "B", 11)
    pdf.multi_cell(0, 5.6, verdict["headline"].replace(" %", "\xa0%"), border=1, fill=True, padding=3, align="L",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_line_width(0.2)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_fill_color(255, 255, 255)
    pdf.ln(1.5)
    from ..decision import (coverage_lines, limitations_lines, mitigation_lines, records_at_risk_lines,
                            threat_model_lines, unlearning_lines)

    lines = coverage_lines(verdict)
    if lines:
        doc.para("What was audited (the outputs the attacks saw, what ran, what could not run and why):",
                 size=8.5, style="B")
        doc.bullets(lines[:10] + ([f"... and {len(lines) - 10} more groups (see the attack results)"]
                                  if len(lines) > 10 else []))
    policy = Policy.from_dict(verdict.get("policy"), where="verdict.policy")
    doc.para(f"Policy (the declared risk appetite): {policy.describe()}, for every attack, model, mitigation and "
             f"member set; every audited model needs {policy.describe_require()}.", size=8.5, color=GREY)
    doc.para("Threat model (what the attacker was assumed to see and know):", size=8.5, style="B")
    doc.bullets(threat_model_lines(result))
    _strongest_table(doc, result, verdict)
    at_risk = records_at_risk_lines(result)
    if at_risk:
        doc.para("Records at risk (members the strongest per-record attack identifies):", size=8.5, style="B")
        doc.bullets(at_risk[:8])
    forgot = unlearning_lines(result)
    if forgot:
        doc.para("Unlearning (each method against retraining from scratch, forget vs test):", size=8.5, style="B")
        doc.bullets(forgot[:10])
    costs = mitigation_lines(result)
    if costs:
        doc.para("What each mitigation gives on the original model (privacy gained, accuracy lost):", size=8.5,
                 style="B")
        doc.bullets(costs[:6])
    dp = dp_audit_lines(result)
    if dp:
        doc.para("DP claims audited in one training run (Steinke, Nasr & Jagielski 2023):", size=8.5, style="B")
        doc.bullets(dp)
    doc.para("Limitations (what this audit cannot show):", size=8.5, style="B")
    doc.bullets(limitations_lines(result, verdict))

    doc.subheading("Data")
    pairs = [("Data set", str(data.get("name", "?"))),
             ("Records", f"n_train {data.get('n_train', '?')}, n_test {data.get('n_test', '?')}, "
                         f"n_forget {data.get('n_forget', '?')}, n_retain {data.get('n_retain', '?')}")]
    if data.get("source"):
        src = str(data["source"]) + (f" (licence {data['license']})" if data.get("license") else "")
        pairs.append(("Source", src))
    doc.key_values(pairs)

    doc.subheading("Models")
    models = result.get("models", [])
    if models:
        head = ["Model", "Role", "Architecture", "Unlearner", "Acc. train", "Acc. test", "Acc. retain",
                "Acc. forget", "Time (s)"]
        rows = []
        for m in models:
            acc = m.get("accuracy") or {}
            rows.append([str(m.get("name")), str(m.get("role", "-")), architecture_of(result, m),
                         str(m.get("unlearner") or "-")]
                        + [fmt_acc(acc.get(k)) for k in ("train", "test", "retain", "forget")]
                        + [fmt_seconds(m.get("seconds"))])
        doc.table(head, rows, aligns=["LEFT"] * 4 + ["RIGHT"] * 5, full_width=True)
    else:
        doc.para("The result lists no model.")

    doc.need(30)
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, "Review", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.ln(5)
    pdf.cell(0, 7, "Reviewed by: _________________________________    Date: _______________",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(7)
    pdf.cell(0, 7, "Signature: ___________________________________    Decision:  [ ] accepted   [ ] rejected",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(7)
    pdf.cell(0, 7, f"Audit run: {format_created(result.get('created'))}    Next review due: _______________",
             new_x="LMARGIN", new_y="NEXT")


def _strongest_table(doc: Doc, result: Mapping[str, Any], verdict: Mapping[str, Any]) -> None:
    """The strongest attack on each model's raw outputs (highest AUC) with its AUC and TPR at
    0.1 % and 1 % FPR and their intervals, and the attack with the highest TPR at the lowest
    FPR where that is another one."""
    from mia_audit.entries import fpr_levels
    from mia_audit.verdict import fpr_label

    worst = [w for w in worst_attacks(result) if w["mitigation"] == "none"]
    doc.para("Strongest attack per model (raw outputs; highest AUC, and highest TPR at the lowest FPR where "
             "another attack has it):", size=8.5, style="B")
    if not worst:
        doc.para("The result holds no applicable attack result on raw outputs.", size=8.5)
        return
    fprs = [f for f in fpr_levels(result) if f <= 0.01 + 1e-12][:2] or fpr_levels(result)[:2]
    violated = violated_figures(verdict)
    head = ["Model", "Attack (members vs test)", "AUC [95 % CI]"] + [f"TPR@{fpr_label(f)} [CI]" for f in fprs]
    rows = []
    for w in worst:
        shown: list[Any] = []
        for key in ("by_auc", "by_tpr"):
            e = w[key]
            if e is None or any(e is x for x in shown):
                continue
            shown.append(e)
            bad = violated.get((e["model"], "none", e["attack"], e["members"]), set())
            auc = nbsp(fmt_auc(e))
            cells: list[Any] = [w["model"] if len(shown) == 1 else "", f"{e['attack']} ({e['members']})",
                                bad_cell(auc) if "AUC" in bad else auc]
            for f in fprs:
                t = nbsp(fmt_tpr(e, f))
                cells.append(bad_cell(t) if f"TPR@{f:g}" in bad else t)
            rows.append(cells)
    doc.table(head, rows, aligns=["LEFT", "LEFT"] + ["RIGHT"] * (len(head) - 2), full_width=True, max_font=8)



"""Page 1: the verdict, what was audited, the worst attack per model, data, models, signature."""

from __future__ import annotations

from typing import Any, Mapping


from ..readers import architecture_of, fmt_auc, fmt_tpr, format_created, model_label, worst_attacks
from .layout import GREY, Doc, bad_cell, fmt_acc, fmt_seconds, muted_cell, nbsp

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
    from mia_audit.verdict import fpr_label, Policy

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
    lines = [str(x) for x in verdict.get("coverage_lines") or []]
    if lines:
        doc.para("What was audited (the outputs the attacks saw, what ran, what could not run and why):",
                 size=8.5, style="B")
        doc.bullets(lines[:12] + ([f"... and {len(lines) - 12} more (see the attack results)"] if len(lines) > 12 else []))
    policy = Policy.from_dict(verdict.get("policy"), where="verdict.policy")
    note = (f"Policy: {policy.describe()}, for every attack, model, mitigation and member set "
            f"(point estimates; confidence intervals in the tables); every audited model needs "
            f"{policy.describe_require()}.")
    thin = verdict.get("unreliable") or []
    if thin:
        low = min(thin, key=lambda u: float(u["figure"].split("@")[1]))
        fpr = float(low["figure"].split("@")[1])
        few = min(u["n_nonmembers"] for u in thin if u["figure"] == low["figure"])
        note += (f" Caution: TPR at FPR {fpr_label(fpr)} rests on {few:,} non-members, fewer than the "
                 f"{low['needed']:,} it needs to be measured reliably.")
    doc.para(note, size=8.5, color=GREY)
    from ..decision import mitigation_lines, records_at_risk_lines, threat_model_lines, unlearning_lines

    doc.para("Threat model (what the attacker was assumed to see and know):", size=8.5, style="B")
    doc.bullets(threat_model_lines(result))
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

    # worst attack per model
    worst = worst_attacks(result)
    doc.subheading("Worst attack per model")
    if worst:
        fpr = worst[0]["fpr"]
        head = ["Model", "Highest AUC [95 % CI]", f"Highest TPR at FPR {fpr_label(fpr)}" if fpr else "Highest TPR"]
        rows = []
        violated = violated_figures(verdict)
        for w in worst:
            cells: list[Any] = [model_label(w["model"], w["mitigation"])]
            for key, fmt in (("by_auc", lambda e: fmt_auc(e)), ("by_tpr", lambda e: fmt_tpr(e, fpr))):
                e = w[key]
                if e is None:
                    cells.append(muted_cell("n/a"))
                    continue
                text = f"{e['attack']} ({e['members']} vs test): {nbsp(fmt(e))}"
                bad = violated.get((e["model"], e.get("mitigation", "none"), e["attack"], e["members"]))
                cells.append(bad_cell(text) if bad else text)
            rows.append(cells)
        doc.table(head, rows, full_width=True)
    else:
        doc.para("The result holds no attack results.")

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



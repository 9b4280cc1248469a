"""The unlearner comparison and the mitigation effect."""

from __future__ import annotations

from typing import Any, Mapping

from mia_audit.entries import fpr_levels, is_applicable, tpr_at

from mia_audit.verdict import fpr_label

from ..readers import UNLEARNING_ROLES, attack_names, compact_json, entry_order, fmt_auc, model_info
from .layout import Doc, fmt_acc, fmt_seconds, is_num, muted_cell, num

def section_unlearning(doc: Doc, result: Mapping[str, Any]) -> None:
    models = result.get("models", [])
    unlearning = [m for m in models if m.get("role") in UNLEARNING_ROLES]
    doc.heading("Unlearner comparison")
    if not unlearning:
        doc.para("No unlearner was run: the result has no unlearned or retrained model.")
        return
    retrained = next((m for m in models if m.get("role") == "retrained"), None)
    rt_seconds = retrained.get("seconds") if retrained else None
    has_rt_time = isinstance(rt_seconds, (int, float)) and rt_seconds > 0
    text = ("Each unlearned model against retraining from scratch without the forget set (the exact answer). "
            "Time share = the method's seconds / the retrained model's seconds. A forget/test accuracy ratio "
            "near the retrained model's means the forget set now looks like unseen data. AUC gap = the "
            "attack's AUC (forget vs test) on the model minus its AUC on the retrained model: near 0 is good, "
            "positive means the forget set is still recognisable.")
    if retrained is None:
        text += " The result has no retrained model, so time shares and gaps are not available."
    elif len([m for m in models if m.get("role") == "retrained"]) > 1:
        text += f" Several retrained models: compared with the first, {retrained['name']}."
    doc.para(text, size=8.5)

    rows = []
    for m in models:
        if m.get("role") not in ("original",) + UNLEARNING_ROLES:
            continue
        acc = m.get("accuracy") or {}
        secs = m.get("seconds")
        share = (f"{100 * secs / rt_seconds:.1f} %" if has_rt_time and isinstance(secs, (int, float))
                 and m.get("role") != "original" else "-")
        f_acc, t_acc = acc.get("forget"), acc.get("test")
        ratio = f"{f_acc / t_acc:.3f}" if is_num(f_acc) and is_num(t_acc) and t_acc else "-"
        method = m.get("unlearner") or ("retrain" if m.get("role") == "retrained" else "-")
        rows.append([str(m.get("name")), str(m.get("role")), str(method), fmt_seconds(secs), share,
                     fmt_acc(acc.get("retain")), fmt_acc(f_acc), fmt_acc(t_acc), ratio])
    doc.table(["Model", "Role", "Method", "Time (s)", "Time share of retraining", "Acc. retain", "Acc. forget",
               "Acc. test", "Forget / test acc."], rows, aligns=["LEFT"] * 3 + ["RIGHT"] * 6, full_width=True)

    forget = [e for e in result.get("results", [])
              if e["members"] == "forget" and e.get("mitigation", "none") == "none"]
    if not forget:
        doc.para("The result has no forget-vs-test attack results, so no AUC gaps are shown.")
        return
    by = {(e["model"], e["attack"]): e for e in forget}
    compared = [m["name"] for m in models if m.get("role") in ("original", "unlearned")]
    head = ["Attack (forget vs test)"]
    if retrained is not None:
        head.append(f"{retrained['name']}: AUC")
    head += [f"{name}: AUC" + (" (gap)" if retrained is not None else "") for name in compared]
    rows = []
    for attack in attack_names(result):
        rt = by.get((retrained["name"], attack)) if retrained else None
        if rt is None and not any((n, attack) in by for n in compared):
            continue
        row: list[Any] = [attack]
        if retrained is not None:
            row.append(fmt_auc(rt, ci=False) if rt else "-")
        for name in compared:
            e = by.get((name, attack))
            if e is None:
                row.append("-")
            elif not is_applicable(e):
                row.append(muted_cell("n/a"))
            elif rt is not None and is_applicable(rt):
                row.append(f"{e['auc']:.3f} ({e['auc'] - rt['auc']:+.3f})")
            else:
                row.append(f"{e['auc']:.3f}")
        rows.append(row)
    doc.subheading("AUC gap to the retrained model" if retrained is not None else "AUC on the forget set")
    doc.table(head, rows, aligns=["LEFT"] + ["RIGHT"] * (len(head) - 1), full_width=True)


def section_mitigations(doc: Doc, result: Mapping[str, Any]) -> None:
    doc.heading("Mitigations")
    results = result.get("results", [])
    mitigated = sorted((e for e in results if e.get("mitigation", "none") != "none"), key=entry_order(result))
    utility = result.get("mitigations")
    if not mitigated:
        doc.para("No mitigation was evaluated: every attack ran on the models' raw outputs.")
        return
    fprs = fpr_levels(result)
    t_fpr = 0.01 if any(abs(f - 0.01) < 1e-12 for f in fprs) else (fprs[len(fprs) // 2] if fprs else None)
    t_lab = f"TPR@{fpr_label(t_fpr)}" if t_fpr is not None else "TPR"
    doc.para(f"Each attack with and without the mitigation, on the same model and records. Gain = value without "
             f"minus value with (positive = less leakage). {t_lab} in %. n/a = the attack does not apply to the "
             "mitigated outputs (for instance a loss attack against label-only outputs).", size=8.5)
    base = {(e["model"], e["attack"], e["members"]): e for e in results if e.get("mitigation", "none") == "none"}
    rows = []
    for e in mitigated:
        b = base.get((e["model"], e["attack"], e["members"]))
        row: list[Any] = [e["model"], e["mitigation"], e["members"], e["attack"]]
        auc_b = fmt_auc(b, ci=False) if b else "-"
        auc_m = fmt_auc(e, ci=False)
        gain = (f"{b['auc'] - e['auc']:+.3f}" if b and is_applicable(b) and is_applicable(e) else "n/a")
        tb = tpr_at(b, t_fpr) if b and is_applicable(b) and t_fpr is not None else None
        tm = tpr_at(e, t_fpr) if is_applicable(e) and t_fpr is not None else None
        row += [auc_b, auc_m if is_applicable(e) else muted_cell("n/a"), gain if gain != "n/a" else muted_cell("n/a"),
                "-" if tb is None else (f"{100 * tb:.2f}" if b and is_applicable(b) else "n/a"),
                f"{100 * tm:.2f}" if tm is not None else muted_cell("n/a"),
                f"{100 * (tb - tm):+.2f}" if tb is not None and tm is not None else muted_cell("n/a")]
        rows.append(row)
    doc.table(["Model", "Mitigation", "Members", "Attack", "AUC without", "AUC with", "AUC gain",
               f"{t_lab} without", f"{t_lab} with", f"{t_lab} gain"], rows,
              aligns=["LEFT"] * 4 + ["RIGHT"] * 6, full_width=True)

    doc.subheading("Utility cost")
    if not isinstance(utility, list) or not utility:
        doc.para("No utility cost was evaluated: the result has no 'mitigations' list with the accuracy of the "
                 "mitigated models.")
        return
    rows = []
    for item in utility:
        if not isinstance(item, Mapping):
            continue
        model = str(item.get("model", "-"))
        before = (model_info(result, model).get("accuracy") or {}).get("test")
        after = (item.get("accuracy") or {}).get("test") if isinstance(item.get("accuracy"), Mapping) else None
        cost = (f"{before - after:+.3f}" if is_num(before) and is_num(after) else "-")
        rows.append([str(item.get("label") or item.get("name", "-")), model, fmt_acc(before), fmt_acc(after), cost,
                     num(item.get("ece_before"), 3), num(item.get("ece"), 3),
                     compact_json(item.get("params") or {}, 120)])
    doc.para("Accuracy cost = test accuracy without minus with the mitigation (positive = utility lost). "
             "ECE = expected calibration error on the test set ('-' where the outputs carry no probabilities).",
             size=8.5)
    doc.table(["Mitigation", "Model", "Test acc. without", "Test acc. with", "Accuracy cost", "ECE without",
               "ECE with", "Parameters"],
              rows, aligns=["LEFT", "LEFT"] + ["RIGHT"] * 5 + ["LEFT"], full_width=True)



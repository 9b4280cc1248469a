"""The unlearner comparison and the mitigation effect."""

from __future__ import annotations

from typing import Any, Mapping

from mia_audit.entries import fpr_levels, is_applicable, tpr_at

from mia_audit.verdict import fpr_label

from ..readers import UNLEARNING_ROLES, attack_names, fmt_auc, model_info
from ..wording import params_words, validation_records
from .layout import Doc, fmt_acc, fmt_seconds, is_num, muted_cell, num

_VERDICT_WORDS = {"indistinguishable": "indistinguishable from retraining", "not_forgotten": "did not forget",
                  "inconclusive": "inconclusive", "unmeasured": "not measured"}


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
    verdicts = {v.get("model"): v for v in result.get("unlearning_verdicts") or []}
    options = {u.get("name"): params_words(u.get("options") or {}) for u in result.get("unlearners") or []}
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
        v = verdicts.get(m.get("name"))
        said = _VERDICT_WORDS.get(v.get("status"), str(v.get("status"))) if v else "-"
        rows.append([str(m.get("name")), str(m.get("role")), str(method) + (f" ({options[method]})"
                                                                          if options.get(method) else ""),
                     fmt_seconds(secs), share, fmt_acc(acc.get("retain")), fmt_acc(f_acc), fmt_acc(t_acc), ratio,
                     said])
    doc.table(["Model", "Role", "Method (options)", "Time (s)", "Time share of retraining", "Acc. retain",
               "Acc. forget", "Acc. test", "Forget / test acc.", "Verdict"], rows,
              aligns=["LEFT"] * 3 + ["RIGHT"] * 6 + ["LEFT"], full_width=True, max_font=7.5)
    if verdicts:
        doc.bullets([f"{v['model']}: {v['text']}" for v in verdicts.values()], size=8)

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
    from ..curves import panel_members

    doc.heading("Mitigations", keep=40)
    results = result.get("results", [])
    utility = [u for u in result.get("mitigations") or [] if isinstance(u, Mapping)]
    labels = list(dict.fromkeys([e["mitigation"] for e in results if e.get("mitigation", "none") != "none"]
                                + [str(u.get("label") or u.get("name")) for u in utility]))
    if not labels:
        doc.para("No mitigation was evaluated: every attack ran on the models' raw outputs.")
        return
    fprs = fpr_levels(result)
    t_fpr = min(fprs) if fprs else None
    doc.para("Each mitigation against the same model's raw outputs, on the same records: the highest AUC and the "
             f"highest TPR at FPR {fpr_label(t_fpr) if t_fpr else '-'} over the attacks that apply (trained models: "
             "training set vs test; unlearned and retrained models: forget set vs test), and the test accuracy and "
             "expected calibration error (ECE) without and with it. Lower is more private; the per-attack "
             "figures are in report.json.", size=8.5)
    cost = {(u.get("label") or u.get("name"), u.get("model")): u for u in utility}

    def highest(model: str, mitigation: str, members: str, figure) -> tuple[float, str] | None:
        values = [(figure(e), e["attack"]) for e in results if e["model"] == model and e["members"] == members
                  and e.get("mitigation", "none") == mitigation and is_applicable(e) and figure(e) is not None]
        return max(values) if values else None

    def auc(e):
        return e.get("auc")

    def tpr(e):
        return tpr_at(e, t_fpr) if t_fpr is not None else None

    rows = []
    for label in labels:
        for model in dict.fromkeys([e["model"] for e in results if e.get("mitigation") == label]
                                   + [str(u.get("model")) for u in utility if (u.get("label") or u.get("name")) == label]):
            members = panel_members(result, model, drawn=False)
            if members is None:
                continue
            row: list[Any] = [label, model, members]
            for figure, scale in ((auc, 1.0), (tpr, 100.0)):
                before, after = highest(model, "none", members, figure), highest(model, label, members, figure)
                row.append(_arrow(before, after, scale))
            u = cost.get((label, model)) or {}
            before_acc = (model_info(result, model).get("accuracy") or {}).get("test")
            after_acc = (u.get("accuracy") or {}).get("test") if isinstance(u.get("accuracy"), Mapping) else None
            row.append(f"{fmt_acc(before_acc)} -> {fmt_acc(after_acc)}")
            row.append(f"{num(u.get('ece_before'), 3)} -> {num(u.get('ece'), 3)}")
            rows.append(row)
    doc.table(["Mitigation", "Model", "Members", "Highest AUC without -> with",
               f"Highest TPR@{fpr_label(t_fpr) if t_fpr else '-'} (%) without -> with", "Test acc.", "ECE"],
              rows, aligns=["LEFT"] * 3 + ["RIGHT"] * 4, full_width=True, max_font=7.5)
    if not utility:
        doc.para("No utility cost was evaluated: the result has no 'mitigations' list with the accuracy of the "
                 "mitigated models.", size=8.5)
    lines = []
    fitted_on = validation_records(result)
    for label in labels:
        items = [u for u in utility if (u.get("label") or u.get("name")) == label]
        words = [(str(u.get("model")), params_words(u.get("params") or {}, fitted_on=fitted_on)) for u in items]
        words = [(m, w) for m, w in words if w]
        if words and len({w for _, w in words}) == 1:
            text = f"{label}: {words[0][1]}"
        elif words:
            text = f"{label}: " + "; ".join(f"{w} ({m})" for m, w in words)
        else:
            text = f"{label}: no parameters"
        lost = sorted({e["attack"] for e in results if e.get("mitigation") == label and not is_applicable(e)})
        if lost:
            reasons = {str(e.get("reason") or "") for e in results if e.get("mitigation") == label
                       and not is_applicable(e)}
            why = " (" + _common_reason(reasons) + ")" if _common_reason(reasons) else ""
            text += f". Made not applicable: {', '.join(lost)}{why}"
        lines.append(text + ".")
    doc.para("Parameters, and what each mitigation made not applicable:", size=8.5, style="B")
    doc.bullets(lines)


def _arrow(before: tuple[float, str] | None, after: tuple[float, str] | None, scale: float) -> str:
    digits = 3 if scale == 1.0 else 2

    def one(x: tuple[float, str] | None) -> str:
        return "n/a" if x is None else f"{scale * x[0]:.{digits}f} ({x[1]})"

    return f"{one(before)} -> {one(after)}"


def _common_reason(reasons: set[str]) -> str:
    """The shared tail of the attacks' reasons ("... these outputs are label-only"), or ''."""
    tails = {r.rsplit(";", 1)[-1].strip() for r in reasons if r}
    return tails.pop() if len(tails) == 1 else ""

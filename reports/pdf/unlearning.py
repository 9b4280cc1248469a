"""The unlearner comparison: each unlearned model against retraining, and one verdict each."""

from __future__ import annotations

from typing import Any, Mapping

from mia_audit.entries import is_applicable


from ..readers import UNLEARNING_ROLES, attack_names, fmt_auc
from ..wording import params_words
from .layout import Doc, fmt_acc, fmt_seconds, is_num, muted_cell

_VERDICT_WORDS = {"indistinguishable": "indistinguishable from retraining", "not_forgotten": "did not forget",
                  "over_forgotten": "forgot more than retraining",
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

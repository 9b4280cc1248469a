"""The mitigations: privacy gained and utility lost, the parameters in words, and what each
made not applicable. Output mitigations (label-only, temperature, ...) are compared with the
same model's raw outputs; training-time mitigations (dp-sgd, ...), which train a model of
their own, with the original model."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from mia_audit.entries import fpr_levels, is_applicable, tpr_at
from mia_audit.verdict import fpr_label

from ..curves import panel_members
from ..decision import reason_tail
from ..readers import model_info
from ..wording import params_words, validation_records, value_words
from .layout import Doc, fmt_acc, num

Best = Optional[tuple[float, str]]


def _label(u: Mapping[str, Any]) -> str:
    return str(u.get("label") or u.get("name"))


def section_mitigations(doc: Doc, result: Mapping[str, Any]) -> None:
    doc.heading("Mitigations", keep=40)
    results = result.get("results", [])
    utility = [u for u in result.get("mitigations") or [] if isinstance(u, Mapping)]
    output = list(dict.fromkeys([e["mitigation"] for e in results if e.get("mitigation", "none") != "none"]
                                + [_label(u) for u in utility]))
    trained = [m for m in result.get("models") or [] if m.get("mitigation")]
    if not output and not trained:
        doc.para("No mitigation was evaluated: every attack ran on the models' raw outputs, and no model was "
                 "trained with a mitigation.")
        return
    fprs = fpr_levels(result)
    t_fpr = min(fprs) if fprs else None
    doc.para("Each mitigation against the outputs it replaces, on the same records: an output mitigation against "
             "the same model's raw outputs, a training-time mitigation (its own model) against the original model. "
             f"Shown: the highest AUC and the highest TPR at FPR {fpr_label(t_fpr) if t_fpr else '-'} over the "
             "attacks that apply (trained models: training set vs test; unlearned and retrained models: forget set "
             "vs test), the test accuracy and the expected calibration error (ECE) without and with it. Lower is "
             "more private; the per-attack figures are in report.json.", size=8.5)

    def highest(model: str, mitigation: str, members: str, figure: Callable[[Mapping[str, Any]], Any]) -> Best:
        values = [(figure(e), e["attack"]) for e in results if e["model"] == model and e["members"] == members
                  and e.get("mitigation", "none") == mitigation and is_applicable(e) and figure(e) is not None]
        return max(values) if values else None

    figures = ((lambda e: e.get("auc"), 1.0), (lambda e: tpr_at(e, t_fpr) if t_fpr is not None else None, 100.0))
    cost = {(_label(u), u.get("model")): u for u in utility}
    rows = []
    for label in output:
        models = [e["model"] for e in results if e.get("mitigation") == label]
        models += [str(u.get("model")) for u in utility if _label(u) == label]
        for model in dict.fromkeys(models):
            members = panel_members(result, model, drawn=False)
            if members is None:
                continue
            u = cost.get((label, model)) or {}
            after_acc = (u.get("accuracy") or {}).get("test") if isinstance(u.get("accuracy"), Mapping) else None
            rows.append([label, model, members]
                        + [_arrow(highest(model, "none", members, f), highest(model, label, members, f), scale)
                           for f, scale in figures]
                        + [f"{fmt_acc((model_info(result, model).get('accuracy') or {}).get('test'))} -> "
                           f"{fmt_acc(after_acc)}", f"{num(u.get('ece_before'), 3)} -> {num(u.get('ece'), 3)}"])
    base = next((m for m in result.get("models") or [] if m.get("role") == "original" and not m.get("mitigation")),
                None)
    for m in trained:
        members = panel_members(result, m["name"], drawn=False)
        if members is None or base is None:
            continue
        rows.append([str(m["mitigation"]), f"{m['name']} (vs {base['name']})", members]
                    + [_arrow(highest(base["name"], "none", members, f), highest(m["name"], "none", members, f),
                              scale) for f, scale in figures]
                    + [f"{fmt_acc((base.get('accuracy') or {}).get('test'))} -> "
                       f"{fmt_acc((m.get('accuracy') or {}).get('test'))}", "-"])
    if rows:
        doc.table(["Mitigation", "Model", "Members", "Highest AUC without -> with",
                   f"Highest TPR@{fpr_label(t_fpr) if t_fpr else '-'} (%) without -> with", "Test acc.", "ECE"],
                  rows, aligns=["LEFT"] * 3 + ["RIGHT"] * 4, full_width=True, max_font=7.5)
    if output and not utility:
        doc.para("No utility cost was evaluated: the result has no 'mitigations' list with the accuracy of the "
                 "mitigated models.", size=8.5)
    lines = [_output_line(label, utility, results, validation_records(result)) for label in output]
    lines += [_trained_line(m) for m in trained]
    doc.para("Parameters, and what each mitigation made not applicable:", size=8.5, style="B")
    doc.bullets(lines)


def _output_line(label: str, utility: list[Mapping[str, Any]], results: list[Mapping[str, Any]],
                 fitted_on: int | None) -> str:
    words = [(str(u.get("model")), params_words(u.get("params") or {}, fitted_on=fitted_on))
             for u in utility if _label(u) == label]
    words = [(m, w) for m, w in words if w]
    if words and len({w for _, w in words}) == 1:
        text = f"{label}: {words[0][1]}"
    elif words:
        text = f"{label}: " + "; ".join(f"{w} ({m})" for m, w in words)
    else:
        text = f"{label}: no parameters"
    lost = [e for e in results if e.get("mitigation") == label and not is_applicable(e)]
    if lost:
        tails = {reason_tail(str(e.get("reason"))) for e in lost if e.get("reason")}
        why = tails.pop() if len(tails) == 1 else ""
        text += f". Made not applicable: {', '.join(sorted({e['attack'] for e in lost}))}" + (f" ({why})" if why else "")
    return text + "."


_TRAINED_KEYS = ("target_epsilon", "epsilon", "delta", "noise_multiplier", "max_grad_norm", "accountant")


def _trained_line(model: Mapping[str, Any]) -> str:
    """A training-time mitigation's settings and guarantees, e.g. dp-sgd's target and reached ε."""
    words = [f"{key.replace('_', ' ')} = {value_words(model[key])}" for key in _TRAINED_KEYS
             if model.get(key) is not None]
    return f"{model['mitigation']} (model {model['name']}): " + (", ".join(words) or "no parameters recorded") + "."


def _arrow(before: Best, after: Best, scale: float) -> str:
    digits = 3 if scale == 1.0 else 2

    def one(x: Best) -> str:
        return "n/a" if x is None else f"{scale * x[0]:.{digits}f} ({x[1]})"

    return f"{one(before)} -> {one(after)}"

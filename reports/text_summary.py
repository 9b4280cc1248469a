"""A short plain-text table of a result, for terminals and logs."""

from __future__ import annotations

from typing import Any


def _fmt_tpr(entry: dict[str, Any], fpr_key: str) -> str:
    value = entry["tpr_at_fpr"].get(fpr_key)
    return "-" if value is None else f"{100 * value:.2f}%"


def verdict_block(result: dict[str, Any], *, width: int = 100) -> str:
    """The decision in the words of the report's first page: the headline, then what was audited,
    the threat model, the records at risk, the unlearning verdicts, the mitigations, the DP audit
    and the limitations (:func:`mia_audit.reports.decision.decision_sections`), wrapped to ``width``."""
    import textwrap

    from mia_audit.verdict import verdict_of

    from .decision import decision_sections

    verdict = verdict_of(result)
    out = [textwrap.fill(verdict["headline"], width=width)]
    for title, lines in decision_sections(result, verdict):
        out.append(f"{title}:")
        for line in lines:
            out.append(textwrap.fill(line, width=width, initial_indent="  - ", subsequent_indent="    "))
    return "\n".join(out) + "\n"


def summary_table(result: dict[str, Any]) -> str:
    from mia_audit.entries import is_applicable

    measured = [r for r in result["results"] if is_applicable(r)]
    fpr_keys = sorted({k for r in measured for k in r["tpr_at_fpr"]}, key=float)
    levels = {float(r.get("confidence", 0.95)) for r in measured}
    ci_head = f"AUC {100 * levels.pop():g}% CI" if len(levels) == 1 else "AUC CI"
    head = ["model", "members", "attack", "AUC", ci_head] + [f"TPR@{100 * float(k):g}%" for k in fpr_keys] + ["adv", "eps>="]
    rows = []
    for r in result["results"]:
        model = r["model"] if r["mitigation"] == "none" else f"{r['model']}+{r['mitigation']}"
        if not is_applicable(r):  # e.g. a loss attack on label-only outputs
            rows.append([model, f"{r['members']}/{r['nonmembers']}", r["attack"], "n/a", "-"]
                        + ["-"] * len(fpr_keys) + ["-", "-"])
            continue
        ci = r.get("auc_ci")
        ci_text = "-" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
        rows.append(
            [model, f"{r['members']}/{r['nonmembers']}", r["attack"], f"{r['auc']:.3f}", ci_text]
            + [_fmt_tpr(r, k) for k in fpr_keys]
            + [f"{r['advantage']:.3f}", f"{r['epsilon_lower_bound']:.2f}"]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = sorted({w for r in measured for w in r["warnings"]})
    models = []
    for m in result["models"]:
        acc = m["accuracy"]
        parts = ", ".join(f"{k} {v:.3f}" for k, v in acc.items() if v is not None)
        secs = "" if m["seconds"] is None else f", trained in {m['seconds']:.1f} s"
        models.append(f"model {m['name']} ({m['role']}): accuracy {parts}{secs}")
    d = result["data"]
    header = (
        f"data {d['name']}: {d['n_train']} train, {d['n_test']} test, "
        f"{d['n_forget']} forget, {d['n_retain']} retain"
    )
    out = [header, *models, "", *lines]
    if notes:
        out += ["", "warnings:"] + [f"  - {w}" for w in notes]
    return "\n".join(out) + "\n"

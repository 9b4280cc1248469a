"""The decision lines of a report's first page (and of summary.md): what the attacker was
assumed to see and know, the records at risk, one verdict per unlearner and what each
mitigation cost; read from a result, never recomputed."""

from __future__ import annotations

from typing import Any, Mapping

from mia_audit.verdict import ACCESS_WORDS, fpr_label


def threat_model_lines(result: Mapping[str, Any]) -> list[str]:
    """What the attacker sees and knows, in words, from the models, the attacks run and the
    reference-model settings the result records."""
    lines = []
    seen = sorted({ACCESS_WORDS.get(m.get("outputs"), str(m.get("outputs"))) for m in result.get("models") or []
                   if m.get("outputs")})
    white = any(m.get("white_box") for m in result.get("models") or [])
    lines.append("Sees: " + (", ".join(seen) or "the released outputs") + " of each audited model, for the "
                 "members' and non-members' records" + ("; the weights are held (white-box), though no attack "
                                                        "here reads them" if white else ""))
    attacks = {e.get("attack") for e in result.get("results") or [] if e.get("applicable")}
    knows = []
    refs = (result.get("reference_models") or {}).get("references")
    if refs:
        source = (f"imported from {refs['imported']}" if refs.get("imported")
                  else "trained like the target (same architecture and recipe, or your training code)")
        knows.append(f"{refs.get('n_models')} reference models {source}, on random halves of "
                     f"{refs.get('n_pool'):,} records")
        if refs.get("n_population"):
            knows.append(f"{refs['n_population']:,} population records from the same distribution")
    if "boundary" in attacks:
        knows.append("query access: it perturbs records and reads the answers (boundary)")
    if "qmia" in attacks and not refs:
        knows.append("population records from the same distribution (qmia)")
    if (result.get("reference_models") or {}).get("shadow"):
        knows.append("the unlearning method, run on shadow models (two-model)")
    lines.append("Knows: " + ("; ".join(knows) if knows else "nothing beyond the outputs (single-model attacks)"))
    return lines


def records_at_risk_lines(result: Mapping[str, Any]) -> list[str]:
    out = []
    for r in result.get("records") or []:
        counts = sorted((r.get("at_risk") or {}).items(), key=lambda kv: float(kv[0]))
        text = ", ".join(f"{v:,} at FPR <= {fpr_label(float(k))}" for k, v in counts[:2])
        out.append(f"{r['model']}: {text or 'n/a'} of {r['n_members']:,} members ({r['attack']})")
    return out


def mitigation_lines(result: Mapping[str, Any]) -> list[str]:
    """One sentence per output mitigation on the original model: the highest AUC (train vs test)
    without and with it, the test accuracy without and with it, and what it made not applicable."""
    entries = [e for e in result.get("results") or [] if e.get("members") == "train"]
    models = {m.get("name"): m for m in result.get("models") or []}

    def worst(model: str, mitigation: str) -> Any:
        aucs = [e["auc"] for e in entries if e["model"] == model and e.get("mitigation", "none") == mitigation
                and e.get("applicable") and e.get("auc") is not None]
        return max(aucs) if aucs else None

    out = []
    for u in result.get("mitigations") or []:
        model = u.get("model")
        if model != "original" or model not in models:
            continue
        label = u.get("label") or u.get("name")
        before, after = worst(model, "none"), worst(model, label)
        acc_before = (models[model].get("accuracy") or {}).get("test")
        acc_after = (u.get("accuracy") or {}).get("test")
        lost = sorted({e["attack"] for e in entries if e["model"] == model and e.get("mitigation") == label
                       and not e.get("applicable")})
        auc = ("highest AUC " + (f"{before:.3f} -> {after:.3f}" if before is not None and after is not None
                                 else "n/a"))
        acc = ("test accuracy " + (f"{acc_before:.3f} -> {acc_after:.3f}" if acc_before is not None
                                   and acc_after is not None else "n/a"))
        out.append(f"{label}: {auc}; {acc}" + (f"; makes {len(lost)} attacks not applicable ({', '.join(lost)})"
                                                 if lost else ""))
    return out


def unlearning_lines(result: Mapping[str, Any]) -> list[str]:
    return [f"{v['model']}: {v['text']}" for v in result.get("unlearning_verdicts") or []]


__all__ = ["threat_model_lines", "records_at_risk_lines", "mitigation_lines", "unlearning_lines"]

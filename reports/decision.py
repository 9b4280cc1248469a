"""The decision lines of a report's first page (and of summary.md): what the attacker was
assumed to see and know, the records at risk, one verdict per unlearner and what each
mitigation cost; read from a result, never recomputed."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

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
        if (refs.get("n_queries") or 1) > 1:
            knows.append(f"the outputs on {refs['n_queries']} augmented queries per record (image flips / shifts)")
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
        n = int(r.get("n_members") or 0)  # a random guess flags FPR x n members too: say how many
        text = ", ".join(f"{v:,} at FPR <= {fpr_label(float(k))} (chance: {float(k) * n:,.0f})" for k, v in counts[:2])
        out.append(f"{r['model']}: {text or 'n/a'} of {r['n_members']:,} members ({r['attack']})")
    return out


def mitigation_lines(result: Mapping[str, Any]) -> list[str]:
    """One sentence per output mitigation on the original model: the highest AUC (train vs test)
    without and with it, the test accuracy without and with it, what it made not applicable, and
    a caution where reference attacks ran under it with reference models that could not answer
    through it (kept as signals only: not adaptive; the others are, ``reference_outputs``); then one per training-time mitigation (its own model
    against the original)."""
    entries = [e for e in result.get("results") or [] if e.get("members") == "train"]
    models = {m.get("name"): m for m in result.get("models") or []}

    def worst(model: str, mitigation: str) -> Any:
        aucs = [e["auc"] for e in entries if e["model"] == model and e.get("mitigation", "none") == mitigation
                and e.get("applicable") and e.get("auc") is not None]
        return max(aucs) if aucs else None

    coverage = ((result.get("verdict") or {}).get("coverage") or []) if isinstance(result.get("verdict"), Mapping) \
        else []
    with_references = {r.get("mitigation") for r in coverage if r.get("model") == "original"
                       and r.get("mitigation") not in (None, "none") and "reference" in (r.get("evidence") or [])}
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
        auc, acc = _arrow("highest AUC", before, after), _arrow("test accuracy", acc_before, acc_after)
        marked = [e.get("reference_outputs") for e in result.get("results") or []
                  if e.get("model") == model and e.get("mitigation") == label and e.get("reference_outputs")]
        adaptive = ""
        if "unmitigated" in marked or (label in with_references and not marked):  # (unmarked: written before 2026-12)
            adaptive = ("; its reference attacks compare the mitigated outputs with unmitigated reference models "
                        "(a non-adaptive attacker), so their drop may overstate the gain")
        out.append(f"{label}: {auc}; {acc}" + (f"; makes {len(lost)} attack{'s' if len(lost) != 1 else ''} not applicable ({', '.join(lost)})"
                                                 if lost else "") + adaptive)
    base = models.get("original")
    for m in result.get("models") or []:  # training-time mitigations: a model of their own, against the original
        if not m.get("mitigation") or base is None:
            continue
        before, after = worst("original", "none"), worst(m["name"], "none")
        acc_before, acc_after = (base.get("accuracy") or {}).get("test"), (m.get("accuracy") or {}).get("test")
        auc, acc = _arrow("highest AUC", before, after), _arrow("test accuracy", acc_before, acc_after)
        eps = f"; epsilon = {m['epsilon']:.3g}" if isinstance(m.get("epsilon"), (int, float)) else ""
        out.append(f"{m['mitigation']} (trains model {m['name']}): {auc}; {acc}{eps}")
    return out


def _arrow(what: str, before: Any, after: Any) -> str:
    """"highest AUC 0.593 -> 0.542" (or "... n/a" when either side is missing)."""
    return f"{what} " + (f"{before:.3f} -> {after:.3f}" if before is not None and after is not None else "n/a")


def unlearning_lines(result: Mapping[str, Any]) -> list[str]:
    return [f"{v['model']}: {v['text']}" for v in result.get("unlearning_verdicts") or []]


def dp_audit_lines(result: Mapping[str, Any]) -> list[str]:
    """One line per one-run DP audit: the claimed ε beside the ε the canaries prove."""
    out = []
    for a in result.get("dp_audit") or []:
        claimed = a.get("claimed_epsilon")
        bound = float(a.get("epsilon_lower_bound") or 0.0)
        claim = ("no DP claim (trained without DP-SGD)" if claimed is None
                 else f"claimed ε = {claimed:.3g} (δ = {a.get('claimed_delta', a.get('delta')):.2g})")
        verdict = ""
        if claimed is not None:
            verdict = ("; the bound is above the claim: the claim is refuted" if bound > claimed
                       else "; consistent with the claim")
        out.append(f"{a.get('model', 'model')}: {claim}; the canaries prove ε ≥ {bound:.3g} at "
                   f"{100 * float(a.get('confidence', 0.95)):g} % confidence ({a.get('correct')} of "
                   f"{a.get('guesses')} guesses right; m = {a.get('m')} canaries, k+ = {a.get('k_plus')}, "
                   f"k- = {a.get('k_minus')}){verdict}")
    return out


def reason_tail(reason: str) -> str:
    """The part of an attack's not-applicable reason that attacks share: "signal 'loss' needs
    posterior outputs (logits or probs); these outputs are label-only" -> "these outputs are
    label-only"."""
    return reason.rsplit(";", 1)[-1].strip()


def coverage_lines(verdict: Mapping[str, Any]) -> list[str]:
    """What was audited, one line per group of models that saw the same outputs and ran the same
    attacks ("original, sisa original: outputs logits; ran ..."), raw outputs first; the
    verdict's own one-line-per-model text where it has no structured coverage."""
    rows = verdict.get("coverage")
    if not isinstance(rows, list) or not rows:
        return [str(x) for x in verdict.get("coverage_lines") or []]
    groups: dict[tuple, list[str]] = {}
    for r in rows:
        not_run = tuple((n.get("attack"), n.get("reason")) for n in r.get("not_run") or [])
        key = (r.get("mitigation", "none"), r.get("access"), tuple(r.get("attacks_run") or []), not_run,
               tuple(r.get("missing_evidence") or []))
        groups.setdefault(key, []).append(str(r.get("model")))
    out = []
    for (mitigation, access, ran, not_run, missing), models in sorted(groups.items(), key=lambda kv: kv[0][0] != "none"):
        who = ", ".join(models) + ("" if mitigation == "none" else f" + {mitigation}")
        text = f"{who}: outputs {access}; ran {', '.join(ran) or 'no attack'}"
        reasons: dict[str, list[str]] = {}
        for attack, reason in not_run:  # "signal 'loss' needs ...; these outputs are label-only": the shared tail
            reasons.setdefault(reason_tail(str(reason)), []).append(str(attack))
        for reason, attacks in reasons.items():
            text += f"; could not run {', '.join(attacks)} ({reason})"
        if missing:
            text += f"; lacks the required evidence: {', '.join(missing)}"
        out.append(text + ".")
    return out


def leaking_slices(slices: Sequence[Mapping[str, Any]], n: int) -> list[Mapping[str, Any]]:
    """The ``n`` slices with the highest AUC among those large enough to measure."""
    rows = [s for s in slices if not s.get("too_small") and s.get("auc") is not None]
    return sorted(rows, key=lambda s: -float(s["auc"]))[:n]


def small_slices(slices: Sequence[Mapping[str, Any]]) -> list[str]:
    """The slices too small to measure, as "column = value (model: members / non-members)"."""
    return [f"{s['column']} = {s.get('label', s['value'])} ({s['model']}: {s.get('n_members', 0):,} / "
            f"{s.get('n_nonmembers', 0):,})" for s in slices if s.get("too_small")]


def limitations_lines(result: Mapping[str, Any], verdict: Mapping[str, Any]) -> list[str]:
    """What the audit cannot show, from the result itself: figures resting on too few records,
    attacks that could not run, the coarsest TPR steps, reference models, slices too small,
    unlearning verdicts the intervals cannot decide, and how the verdict is reached."""
    from mia_audit.entries import fpr_levels

    out = []
    thin: dict[tuple[str, int, int], list[str]] = {}
    for u in verdict.get("unreliable") or []:
        key = (str(u.get("figure")), int(u.get("n_nonmembers") or 0), int(u.get("needed") or 0))
        thin.setdefault(key, []).append(str(u.get("model")))
    for (figure, n0, needed), models in thin.items():
        fpr = float(figure.split("@")[1])
        names = list(dict.fromkeys(models))
        out.append(f"TPR at FPR {fpr_label(fpr)} needs {needed:,} non-members; {n0:,} were available "
                   f"({', '.join(names[:3])}{' and others' if len(names) > 3 else ''}).")
    few = [int(u.get("n_smaller_set") or 0) for u in verdict.get("too_few_records") or []]
    if few:
        out.append(f"{len(few)} results rest on as few as {min(few):,} records: chance cannot be told from the "
                   "AUC limit there.")
    for u in verdict.get("unmeasured") or []:
        out.append(f"{u.get('attack')} on {u.get('model')}: the result lacks {', '.join(u.get('figures') or [])}, "
                   "which the policy limits.")
    entries = [e for e in result.get("results") or [] if e.get("applicable")]
    fprs = fpr_levels(result)
    if entries and fprs:
        smallest = min(entries, key=lambda e: int(e.get("n_members") or 0))
        n_mem = int(smallest.get("n_members") or 0)
        if n_mem and 1.0 / n_mem > min(fprs) / 2:
            out.append(f"The smallest member set ({smallest['members']}, {n_mem:,} records) moves TPR in steps of "
                       f"{100 / n_mem:.2g} %: a TPR at FPR {fpr_label(min(fprs))} on it is coarse.")
    not_run = sorted({n.get("attack") for r in verdict.get("coverage") or [] if r.get("mitigation") == "none"
                      for n in r.get("not_run") or []})
    if not_run:
        out.append(f"Could not run on some raw outputs: {', '.join(map(str, not_run))} (see What was audited).")
    refs = (result.get("reference_models") or {}).get("references")
    if refs and refs.get("n_models") is not None and int(refs["n_models"]) < 64:
        out.append(f"{refs['n_models']} reference models: online LiRA and RMIA grow stronger with more (the "
                   "papers use 64 to 256), so the reference attacks may under-state the leakage.")
    small = [s for s in result.get("slices") or [] if s.get("too_small")]
    if small:
        out.append(f"{len(small)} slices are too small to measure (listed under Records at risk and subgroups).")
    open_verdicts = [v["model"] for v in result.get("unlearning_verdicts") or [] if v.get("status") == "inconclusive"]
    if open_verdicts:
        out.append(f"Unlearning inconclusive for {', '.join(open_verdicts)}: the intervals are too wide to show "
                   "a 0.05 AUC gap either way.")
    if any(m.get("white_box") for m in result.get("models") or []):
        out.append("No attack reads the weights: white-box attacks (gradients, activations) were not run.")
    out.append("The verdict compares point estimates with the policy; thresholds of threshold attacks are chosen "
               "on the evaluation records (attacker-optimistic); the confidence intervals are in the tables.")
    return out


def decision_sections(result: Mapping[str, Any], verdict: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """The decision as (title, lines) sections, in the order of the PDF's first page, for the
    text renderers (summary.md, the terminal); empty sections are left out."""
    sections = [("What was audited", coverage_lines(verdict)), ("Threat model", threat_model_lines(result)),
                ("Records at risk", records_at_risk_lines(result)), ("Unlearning", unlearning_lines(result)),
                ("Mitigations", mitigation_lines(result)), ("DP audit", dp_audit_lines(result)),
                ("Limitations", limitations_lines(result, verdict))]
    return [(title, lines) for title, lines in sections if lines]


__all__ = ["reason_tail", "decision_sections", "dp_audit_lines", "threat_model_lines", "records_at_risk_lines", "mitigation_lines", "unlearning_lines", "coverage_lines",
           "leaking_slices", "small_slices", "limitations_lines"]

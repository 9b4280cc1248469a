"""The verdict of an audit: a :class:`Policy` applied to a result, with what was audited.

A verdict is one section of the result JSON (``result["verdict"]``), built here once, after
the attacks ran; the PDF, the Markdown summary, the terminal and the gates read it and never
recompute it. It holds:

* ``policy``: the limits (``max_auc``, ``max_tpr_at_fpr``) and the evidence the policy requires;
* ``status``: ``"pass"``, ``"fail"`` or ``"inconclusive"``;
* ``headline``: the decision in words ("PASS: ...", "FAIL: ...", "INCONCLUSIVE: ..."), and
  ``coverage_lines``: what was audited, one sentence per model;
* ``coverage``: per (model, mitigation) the outputs the attacks saw (the access level), the
  attacks that ran, those that could not run and why, the evidence kinds obtained and, for each
  audited model, the required kinds that are missing;
* ``worst``: per (model, mitigation) the entry with the highest AUC and the one with the highest
  TPR at the policy's lowest FPR;
* ``violations`` and ``unmeasured`` (figures a limit names that an entry lacks).

**Evidence.** Every attack gives one or more kinds of evidence (``attacks.attack_evidence``):
``posterior`` (it reads the model's probabilities or logits: loss, confidence, entropy,
loss-lr, LiRA, RMIA, two-model, U-LiRA), ``label`` (predicted labels only: gap, boundary) and
``reference`` (it compares with reference models trained on known halves: LiRA, RMIA, U-LiRA).
The default policy requires ``posterior`` evidence on every audited model: label-only attacks
are weak, so a model audited by them alone cannot be declared private.

**Status.** ``fail`` when any applicable entry exceeds a limit (a measured leak is a leak,
whatever else is missing). Otherwise ``inconclusive`` when an audited model lacks required
evidence, has no applicable attack result at all, or an entry lacks a figure a limit names,
or the result holds no applicable entry, or a TPR limit's FPR cannot be measured with the
entry's non-members (fewer than 10 / FPR: TPR at FPR 0.1 % needs 10,000), or an entry's
record counts cannot tell a chance AUC from the AUC limit (:func:`auc_resolvable`: 2 standard
errors must fit between 0.5 and the limit; a 5-record forget set cannot). Otherwise ``pass``.
Too little evidence is never PASS.

A TPR above its limit at an FPR the non-members cannot measure is a violation only when even
its bootstrap interval's lower end lies above the limit (with 719 non-members, one forget
record above every non-member is "TPR 1.1 % at FPR 0.1 %": noise, not a leak); otherwise it
makes the verdict inconclusive. The gates (``mia-audit check``) compare figures as given.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .entries import entry_key, fpr_levels, is_applicable, tpr_at, tpr_ci_at
from .errors import InputError, bad_value
from .gates import Limits, Violation, limit_pct, figure_label, fpr_label
from .metrics.ranking import fpr_key, nonmembers_needed

#: the kinds of evidence an attack result can give
EVIDENCE = ("posterior", "label", "reference")
EVIDENCE_WORDS = {
    "posterior": "a posterior-based attack (a loss or likelihood-ratio attack on probabilities or logits)",
    "label": "a label-only attack",
    "reference": "a reference-model attack (LiRA, RMIA or U-LiRA)",
}
LABELS_ONLY_REASON = "they need probabilities or logits; the outputs are labels only"
ACCESS_WORDS = {"labels": "labels only", "probs": "probabilities", "logits": "logits"}
STATUSES = ("pass", "fail", "inconclusive")
#: model roles that are audited (reference models are tools of the audit, not its subject)
AUDITED_ROLES = ("original", "unlearned", "retrained")


def shorten(text: str, max_len: int) -> str:
    """``text`` cut in the middle to at most ``max_len`` characters ('abc...xyz')."""
    text = str(text)
    if len(text) <= max_len:
        return text
    keep = max_len - 3
    return text[: (keep + 1) // 2] + "..." + text[len(text) - keep // 2:]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class PolicyCheck:
    """The policy's limits applied to one result entry (model, mitigation, attack, member set)."""

    model: str
    mitigation: str
    attack: str
    members: str
    applicable: bool
    violations: tuple[Violation, ...] = ()
    unmeasured: tuple[str, ...] = ()  # metrics the policy limits but the entry lacks
    #: TPR limits the entry's non-members are too few to measure: (metric, n_nonmembers, needed)
    unreliable: tuple[tuple[str, int, int], ...] = ()

    @property
    def passed(self) -> bool:
        return not self.applicable or (not self.violations and not self.unmeasured and not self.unreliable)

    @property
    def severity(self) -> float:
        return max((v.severity for v in self.violations), default=0.0)

    def where(self, max_len: int = 48) -> str:
        model = shorten(self.model, max_len)
        if self.mitigation != "none":
            model += f" + {shorten(self.mitigation, max_len)}"
        return f"{shorten(self.attack, max_len)} on {model} ({self.members} vs test)"


@dataclass(frozen=True)
class Policy(Limits):
    """What an audit must show: ``AUC <= max_auc`` and ``TPR@fpr <= limit`` for every
    ``fpr: limit`` in ``max_tpr_at_fpr``, on every applicable result entry (point estimates),
    and, on every audited model, at least one result of each evidence kind in ``require``.

    Default: AUC <= 0.6, TPR@0.1% <= 1%, and a posterior-based attack on every model.
    ``max_auc=None`` drops the AUC limit; ``require=()`` drops the evidence requirement.
    """

    max_auc: float | None = 0.6
    max_tpr_at_fpr: Mapping[float, float] = field(default_factory=lambda: {0.001: 0.01})
    require: tuple[str, ...] = ("posterior",)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "max_tpr_at_fpr", types.MappingProxyType(dict(self.max_tpr_at_fpr)))
        require = self.require
        if isinstance(require, str) or not isinstance(require, (list, tuple)) \
                or not all(isinstance(k, str) and k in EVIDENCE for k in require):
            raise bad_value("policy.require", f"a list drawn from {', '.join(EVIDENCE)} (or an empty list)", require)
        object.__setattr__(self, "require", tuple(dict.fromkeys(require)))

    def __hash__(self) -> int:
        return hash((self.max_auc, tuple(self.max_tpr_at_fpr.items()), self.require))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, *, where: str = "policy") -> "Policy":
        """A policy from a ``[policy]`` table / a verdict's ``policy`` section; keys it omits take the
        defaults. ``max_tpr_at_fpr`` keys may be text ("0.001"), as TOML and JSON require."""
        if values is None:
            return cls()
        if not isinstance(values, Mapping):
            raise bad_value(where, "a table with max_auc, max_tpr_at_fpr and/or require", values)
        allowed = ("max_auc", "max_tpr_at_fpr", "require")
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise InputError(f"{where}: unknown key {unknown[0]!r}; allowed keys are {', '.join(allowed)}")
        kwargs = dict(values)
        try:
            return cls(**kwargs)
        except InputError as exc:
            text = str(exc)
            raise InputError(text if text.startswith(where) else f"{where}.{text}") from None

    def with_limits(self, *, max_auc: Any = None, max_tpr_at_fpr: Mapping[float, float] | None = None,
                    require: Sequence[str] | None = None) -> "Policy":
        """This policy with the given fields replaced (None keeps a field): the CLI's flags."""
        return Policy(max_auc=self.max_auc if max_auc is None else max_auc,
                      max_tpr_at_fpr=dict(self.max_tpr_at_fpr) if max_tpr_at_fpr is None else max_tpr_at_fpr,
                      require=self.require if require is None else tuple(require))

    def describe(self) -> str:
        """The limits in words: 'AUC <= 0.60 and TPR <= 1.0 % at FPR 0.1 %'."""
        parts = [] if self.max_auc is None else [f"AUC <= {self.max_auc:.2f}"]
        parts += [f"TPR <= {limit_pct(t)} at FPR {fpr_label(f)}" for f, t in self.max_tpr_at_fpr.items()]
        return " and ".join(parts) if parts else "no limits"

    def describe_require(self) -> str:
        if not self.require:
            return "no particular kind of attack"
        return " and ".join(EVIDENCE_WORDS[k] for k in self.require)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "require": list(self.require)}

    def check_entry(self, entry: Mapping[str, Any]) -> PolicyCheck:
        """The policy's limits applied to one result entry."""
        model, mitigation, attack, members = entry_key(entry)
        ident = dict(model=model, mitigation=mitigation, attack=attack, members=members)
        if not is_applicable(entry):
            return PolicyCheck(**ident, applicable=False)
        exceeded, unmeasured = self.exceeded(entry)  # the same check as the gates (mia_audit.gates)
        violations, unreliable = [], []
        n0 = entry.get("n_nonmembers")
        exceeded_tpr = {name: (value, limit) for name, value, limit in exceeded if name != "auc"}
        n1 = entry.get("n_members")
        for name, value, limit in exceeded:
            if name != "auc":
                continue
            ci = entry.get("auc_ci")
            if auc_resolvable(n1, n0, limit) or (isinstance(ci, (list, tuple)) and len(ci) == 2
                                                 and isinstance(ci[0], (int, float)) and ci[0] > limit + 1e-12):
                violations.append(Violation(**ident, figure=name, value=value, limit=limit, kind="limit"))
            else:
                unreliable.append(("AUC", min(n1, n0), 0))
        if self.max_auc is not None and not any(v.figure == "auc" for v in violations) \
                and not any(u[0] == "AUC" for u in unreliable) and not auc_resolvable(n1, n0, self.max_auc):
            unreliable.append(("AUC", min(n1, n0), 0))  # within the limit, but chance could not be told from it
        for fpr in self.max_tpr_at_fpr:
            name, metric = f"tpr@{fpr_key(fpr)}", f"TPR@{fpr:g}"
            measurable = not isinstance(n0, int) or n0 >= nonmembers_needed(fpr)
            if name in exceeded_tpr:
                value, limit = exceeded_tpr[name]
                ci = tpr_ci_at(entry, fpr)
                if measurable or (ci is not None and ci[0] > limit + 1e-12):  # even the interval's low end is above
                    violations.append(Violation(**ident, figure=name, value=value, limit=limit, kind="limit"))
                    continue
            if not measurable and tpr_at(entry, fpr) is not None:  # within its limit or not, it proves nothing
                unreliable.append((metric, n0, nonmembers_needed(fpr)))
        return PolicyCheck(**ident, applicable=True, violations=tuple(violations),
                           unmeasured=tuple(figure_label(name) for name in unmeasured), unreliable=tuple(unreliable))

    def check(self, result: Mapping[str, Any]) -> list[PolicyCheck]:
        """One :class:`PolicyCheck` per result entry, in the result's order."""
        return [self.check_entry(e) for e in result.get("results", [])]


DEFAULT_POLICY = Policy()


def auc_resolvable(n_members: Any, n_nonmembers: Any, limit: float) -> bool:
    """Whether this many records can tell a chance AUC (0.5) from ``limit``: two standard errors,
    SE = sqrt((n1 + n0 + 1) / (12 n1 n0)), must fit between them. (A forget set of 5 records
    cannot: 2 SE is about 0.26.) Unknown counts are taken as enough."""
    if not isinstance(n_members, int) or not isinstance(n_nonmembers, int) or n_members < 1 or n_nonmembers < 1:
        return True
    se = math.sqrt((n_members + n_nonmembers + 1) / (12 * n_members * n_nonmembers))
    return 0.5 + 2 * se < limit


# ---------------------------------------------------------------------------- coverage


def _audited_models(result: Mapping[str, Any]) -> list[str]:
    names = [str(m.get("name")) for m in result.get("models", []) if m.get("role", "original") in AUDITED_ROLES]
    names += [str(e.get("model")) for e in result.get("results", [])]
    return list(dict.fromkeys(names))


def _outputs_of(result: Mapping[str, Any], model: str, mitigation: str) -> str | None:
    """The outputs the attacks read: 'labels', 'probs' or 'logits' (None when the result does not say)."""
    if mitigation == "none":
        for m in result.get("models", []):
            if m.get("name") == model:
                return m.get("outputs") or (m.get("adapter") or {}).get("kind")
        return None
    for u in result.get("mitigations", []) or []:
        if u.get("model") == model and u.get("label") == mitigation:
            return u.get("outputs")
    return None


def _coverage(result: Mapping[str, Any], policy: Policy, evidence: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    entries = result.get("results", [])
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {(m, "none"): [] for m in _audited_models(result)}
    for e in entries:
        model, mitigation, _, _ = entry_key(e)
        groups.setdefault((model, mitigation), []).append(e)
    white_box = {str(m.get("name")): bool(m.get("white_box")) for m in result.get("models", [])}
    rows = []
    for (model, mitigation), group in groups.items():
        ran = list(dict.fromkeys(entry_key(e)[2] for e in group if is_applicable(e)))
        ran_set = set(ran)
        outputs = _outputs_of(result, model, mitigation)
        not_run: dict[str, str] = {}
        for e in group:
            attack = entry_key(e)[2]
            if not is_applicable(e) and attack not in ran_set and attack not in not_run:
                # one wording where the cause is known from the outputs, so that those attacks are listed together
                labels_only = outputs == "labels" and "posterior" in evidence.get(attack, ())
                not_run[attack] = LABELS_ONLY_REASON if labels_only else str(e.get("reason") or "not applicable")
        got = sorted({k for a in ran for k in evidence.get(a, ())}, key=EVIDENCE.index)
        required = policy.require if mitigation == "none" else ()
        rows.append({
            "model": model, "mitigation": mitigation, "outputs": outputs,
            "access": ACCESS_WORDS.get(outputs or "", "unknown")
                      + (" (white-box weights held)" if mitigation == "none" and white_box.get(model) else ""),
            "attacks_run": ran,
            "not_run": [{"attack": a, "reason": r} for a, r in not_run.items()],
            "evidence": got,
            "missing_evidence": [k for k in required if k not in got],
        })
    return rows


def _coverage_line(row: Mapping[str, Any]) -> str:
    name = row["model"] if row["mitigation"] == "none" else f"{row['model']} + {row['mitigation']}"
    text = f"{name}: outputs {row['access']}; "
    text += f"ran {', '.join(row['attacks_run'])}" if row["attacks_run"] else "no attack ran"
    if row["not_run"]:
        by_reason: dict[str, list[str]] = {}
        for item in row["not_run"]:
            by_reason.setdefault(shorten(item["reason"], 140), []).append(item["attack"])
        parts = [f"{', '.join(names)} ({reason})" for reason, names in by_reason.items()]
        text += "; could not run " + "; ".join(parts)
    if row["missing_evidence"]:
        text += "; missing: " + " and ".join(EVIDENCE_WORDS[k] for k in row["missing_evidence"])
    return text + "."


# ---------------------------------------------------------------------------- worst entries


def _entry_ref(entry: Mapping[str, Any] | None, fpr: float | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    _, _, attack, members = entry_key(entry)
    ref = {"attack": attack, "members": members, "auc": float(entry["auc"]),
           "auc_ci": entry.get("auc_ci")}
    if fpr is not None and tpr_at(entry, fpr) is not None:
        ref.update(fpr=fpr, tpr=tpr_at(entry, fpr), tpr_ci=tpr_ci_at(entry, fpr))
    return ref


def _worst(result: Mapping[str, Any], policy: Policy) -> list[dict[str, Any]]:
    levels = fpr_levels(result)
    low = next((f for f in sorted(policy.max_tpr_at_fpr) if any(abs(f - x) < 1e-12 for x in levels)),
               levels[0] if levels else None)
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for e in result.get("results", []):
        model, mitigation, _, _ = entry_key(e)
        groups.setdefault((model, mitigation), []).append(e)
    out = []
    for (model, mitigation), group in groups.items():
        ok = [e for e in group if is_applicable(e)]
        by_auc = max(ok, key=lambda e: e["auc"], default=None)
        with_tpr = [e for e in ok if low is not None and tpr_at(e, low) is not None]
        by_tpr = max(with_tpr, key=lambda e: (tpr_at(e, low), e["auc"]), default=None)
        out.append({"model": model, "mitigation": mitigation, "fpr": low,
                    "by_auc": _entry_ref(by_auc, low), "by_tpr": _entry_ref(by_tpr, low)})
    return out


# ---------------------------------------------------------------------------- the verdict


def _headline(status: str, policy: Policy, checks: list[PolicyCheck], coverage: list[dict[str, Any]],
              max_named: int = 3) -> str:
    applicable = [c for c in checks if c.applicable]
    n_models = len({c.model for c in applicable})
    scope = f"{_plural(len(applicable), 'attack result')} on {_plural(n_models, 'model')}"
    limits = [] if policy.max_auc is None else [f"AUC {policy.max_auc:.2f}"]
    limits += [f"TPR {limit_pct(t)} at FPR {fpr_label(f)}" for f, t in policy.max_tpr_at_fpr.items()]
    if status == "pass":
        text = f"PASS: no attack exceeded {' or '.join(limits) or 'any limit'} ({scope} checked"
        if policy.require:
            text += f"; every audited model had {policy.describe_require()}"
        return text + ")."
    if status == "fail":
        offenders = sorted((c for c in applicable if c.violations), key=lambda c: -c.severity)
        named = "; ".join(f"{c.where()}: {', '.join(v.describe() for v in c.violations)}"
                          for c in offenders[:max_named])
        more = len(offenders) - max_named
        tail = f"; and {more} more" if more > 0 else ""
        text = (f"FAIL: {len(offenders)} of {len(applicable)} attack results exceed the policy "
                f"({policy.describe()}). Worst: {named}{tail}.")
        lacking = [r for r in coverage if r["missing_evidence"]]
        if lacking:
            text += (f" Coverage is also incomplete: {', '.join(r['model'] for r in lacking)} "
                     f"lack{'s' if len(lacking) == 1 else ''} {policy.describe_require()}.")
        return text
    reasons = []
    if not applicable:
        reasons.append("the result holds no applicable attack result, so the policy could not be checked")
    for r in coverage:
        if r["mitigation"] != "none":
            continue
        if not r["attacks_run"] and applicable:
            reasons.append(f"no attack ran on model {r['model']}")
        elif r["missing_evidence"]:
            why = f"model {r['model']} gave labels only" if r["outputs"] == "labels" else f"model {r['model']}"
            ran = f"only {', '.join(r['attacks_run'])} ran" if r["attacks_run"] else "no attack ran"
            reasons.append(f"{why}: {ran}, and the policy requires "
                           + " and ".join(EVIDENCE_WORDS[k] for k in r["missing_evidence"]))
    missing = [c for c in applicable if c.unmeasured]
    if missing:
        metrics = sorted({m for c in missing for m in c.unmeasured})
        reasons.append(f"{_plural(len(missing), 'attack result')} lack {', '.join(metrics)}, "
                       "so the policy could not be checked for them")
    few_records = [c for c in applicable if any(u[0] == "AUC" for u in c.unreliable)]
    if few_records:
        fewest = min(u[1] for c in few_records for u in c.unreliable if u[0] == "AUC")
        reasons.append(f"{_plural(len(few_records), 'attack result')} rest on too few records to tell a chance AUC "
                       f"from the limit (as few as {fewest:,} on one side; 2 standard errors must fit between 0.5 "
                       f"and the limit)")
    thin = [u for c in applicable for u in c.unreliable if u[0] != "AUC"]
    if thin:
        metric = min({u[0] for u in thin}, key=lambda m: float(m.split("@")[1]))
        few = min(u[1] for u in thin if u[0] == metric)
        needed = max(u[2] for u in thin if u[0] == metric)
        fpr = float(metric.split("@")[1])
        n_thin = len({(c.model, c.mitigation, c.attack, c.members) for c in applicable if c.unreliable})
        reasons.append(f"TPR at FPR {fpr_label(fpr)} cannot be measured with {few:,} non-members (it needs "
                       f"{needed:,}), so the TPR limit could not be checked for {_plural(n_thin, 'attack result')}")
    text = "INCONCLUSIVE: " + "; ".join(reasons) + "."
    if applicable:
        text += (f" No measurable figure exceeded {' or '.join(limits) or 'any limit'}, but the evidence is "
                 "not enough for a PASS.")
    return text


def build_verdict(result: Mapping[str, Any], policy: Policy | None = None, *,
                  evidence: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """The ``verdict`` section of ``result`` under ``policy`` (default :data:`DEFAULT_POLICY`).

    ``evidence`` maps each attack name to the evidence kinds its results give (from
    ``attacks.attack_evidence``); an attack it does not name gives none.
    """
    policy = DEFAULT_POLICY if policy is None else policy
    if not isinstance(policy, Policy):
        raise bad_value("policy", "a mia_audit.verdict.Policy or None", policy)
    if not isinstance(result, Mapping) or not isinstance(result.get("results"), list):
        raise bad_value("result", "a result dict (schema v1) with a 'results' list", type(result).__name__)
    evidence = {str(k): tuple(v) for k, v in evidence.items()}
    checks = policy.check(result)
    coverage = _coverage(result, policy, evidence)
    applicable = [c for c in checks if c.applicable]
    if any(c.violations for c in applicable):
        status = "fail"
    elif (not applicable or any(c.unmeasured or c.unreliable for c in applicable)
          or any(r["mitigation"] == "none" and (r["missing_evidence"] or not r["attacks_run"]) for r in coverage)):
        status = "inconclusive"
    else:
        status = "pass"
    return {
        "status": status,
        "policy": policy.to_dict(),
        "headline": _headline(status, policy, checks, coverage),
        "coverage_lines": [_coverage_line(r) for r in coverage],
        "n_checked": len(applicable),
        "violations": [{"model": c.model, "mitigation": c.mitigation, "attack": c.attack, "members": c.members,
                        "figure": v.label, "value": v.value, "limit": v.limit}
                       for c in applicable for v in c.violations],
        "unmeasured": [{"model": c.model, "mitigation": c.mitigation, "attack": c.attack, "members": c.members,
                        "figures": list(c.unmeasured)} for c in applicable if c.unmeasured],
        "unreliable": [{"model": c.model, "mitigation": c.mitigation, "attack": c.attack, "members": c.members,
                        "figure": m, "n_nonmembers": n, "needed": k} for c in applicable for m, n, k in c.unreliable
                       if m != "AUC"],
        "too_few_records": [{"model": c.model, "mitigation": c.mitigation, "attack": c.attack, "members": c.members,
                             "n_smaller_set": n} for c in applicable for m, n, _ in c.unreliable if m == "AUC"],
        "coverage": coverage,
        "worst": _worst(result, policy),
    }


def verdict_of(result: Mapping[str, Any]) -> dict[str, Any]:
    """The result's ``verdict`` section, checked for what renderers read; an InputError when the
    result has none (results written before verdicts existed: re-render with ``mia-audit report``,
    which builds one)."""
    verdict = result.get("verdict") if isinstance(result, Mapping) else None
    if not isinstance(verdict, Mapping) or verdict.get("status") not in STATUSES \
            or not isinstance(verdict.get("headline"), str):
        raise InputError("result: it has no verdict section (written by an older mia-audit?); "
                         "re-render it with `mia-audit report`, which adds one")
    return dict(verdict)


__all__ = ["Policy", "PolicyCheck", "Violation", "DEFAULT_POLICY", "EVIDENCE", "build_verdict", "verdict_of", "shorten", "fpr_label"]

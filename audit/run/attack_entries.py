"""Result entries of one audit, the helpers every part of the pipeline shares: a model's signals
on the audit's record sets, the signal attacks run on them (the "signals" handler of
:mod:`.dispatch`), one entry per (attack, member set), the attacks' evidence for the verdict,
and the verdict re-made for a stored result. Every part of the pipeline builds entries here (so
none imports another to reach them: no import cycle)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from mia_audit.config import AuditConfig
from mia_audit.result import SCORES_KEY
from mia_audit.errors import NotApplicableError
from mia_audit.metrics import evaluate, score_histogram
from mia_audit.progress import progress
from mia_audit.seeding import derive_seed
from mia_audit.signals import Signals, compute_signals


def membership_signals(adapter, dataset, split) -> dict[str, Signals]:
    """Signals of one model on train, test, forget and retain (computed once)."""
    outputs_train = adapter.predict(dataset.X[split.train])
    outputs_test = adapter.predict(dataset.X[split.test])
    train = compute_signals(outputs_train, dataset.y[split.train])
    test = compute_signals(outputs_test, dataset.y[split.test])
    pos_forget = np.searchsorted(split.train, split.forget)
    pos_retain = np.searchsorted(split.train, split.retain)
    return {"train": train, "test": test, "forget": train.take(pos_forget), "retain": train.take(pos_retain)}


def accuracy_of(signals: dict[str, Signals]) -> dict[str, float | None]:
    return {k: (float(s.correct.mean()) if len(s) else None) for k, s in signals.items()}


def evaluate_attacks(
    signals: dict[str, Signals],
    *,
    model: str,
    attack_names: Iterable[str],
    config: AuditConfig,
    mitigation: str = "none",
    show_progress: bool | None = None,
    members: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Result entries for every attack x member set (members vs the test set); the member
    sets are ``members`` (default: ``config.attacks.members``)."""
    from mia_audit.attacks import create_attack

    entries = []
    member_sets = list(config.attacks.members if members is None else members)
    jobs = [(a, m) for a in attack_names for m in member_sets]
    for attack_name, members in progress(jobs, desc=f"attacks on {model}", enabled=show_progress):
        if len(signals[members]) == 0:
            continue
        both = Signals.concat([signals[members], signals["test"]])
        is_member = np.r_[np.ones(len(signals[members]), bool), np.zeros(len(signals["test"]), bool)]
        attack = create_attack(attack_name, seed=derive_seed(config.seed, "attack", attack_name),
                               **config.attacks.options.get(attack_name, {}))
        try:
            scores = attack.membership_scores(both, is_member)
        except NotApplicableError as exc:  # e.g. a loss attack on label-only outputs: n/a, never 0.5
            entries.append(not_applicable_entry(model=model, mitigation=mitigation, attack=attack_name,
                                                members=members, reason=str(exc)))
            continue
        entries.append(attack_entry(scores[is_member], scores[~is_member], model=model, mitigation=mitigation,
                                    attack=attack_name, members=members, config=config))
    return entries


def attack_entry(member_scores, nonmember_scores, *, model: str, mitigation: str, attack: str, members: str,
                 config: AuditConfig) -> dict[str, Any]:
    """One result entry: the metrics (with bootstrap CIs) and histogram of one attack's scores."""
    metrics = evaluate(
        member_scores,
        nonmember_scores,
        fprs=tuple(config.metrics.fprs),
        n_bootstrap=config.metrics.n_bootstrap,
        confidence=config.metrics.confidence,
        seed=derive_seed(config.seed, "bootstrap", model, mitigation, attack, members),
    )
    return {"model": model, "mitigation": mitigation, "attack": attack, "members": members, "nonmembers": "test",
            "applicable": True, **metrics.to_dict(), "histogram": score_histogram(member_scores, nonmember_scores),
            # the per-record scores, for the records-at-risk and slice sections; never written out
            # (mia_audit.result.build_result drops them)
            SCORES_KEY: (np.asarray(member_scores, dtype=np.float64), np.asarray(nonmember_scores, dtype=np.float64))}


def not_applicable_entry(*, model: str, mitigation: str, attack: str, members: str, reason: str) -> dict[str, Any]:
    return {"model": model, "mitigation": mitigation, "attack": attack, "members": members, "nonmembers": "test",
            "applicable": False, "reason": reason}


def policy_evidence(entries: Iterable[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """{attack name: evidence kinds} for the attacks of ``entries``, read from the attack registry."""
    from mia_audit.attacks import evidence_by_attack

    return evidence_by_attack([e.get("attack") for e in entries])


def with_verdict(result: dict[str, Any], policy: Any = None) -> dict[str, Any]:
    """``result`` with its ``verdict`` section (:func:`mia_audit.verdict.build_verdict`) under
    ``policy`` (an :class:`mia_audit.verdict.Policy`, a ``[policy]``-style dict, or None for the
    default), each attack's evidence read from the attack registry. Changes ``result`` in place
    and returns it: every result builder calls this last."""
    from mia_audit.attacks import evidence_by_attack

    from mia_audit.verdict import Policy, build_verdict

    if not isinstance(policy, Policy):
        policy = Policy.from_dict(policy)
    names = [e.get("attack") for e in result.get("results", [])]
    result["verdict"] = build_verdict(result, policy, evidence=evidence_by_attack(names))
    return result

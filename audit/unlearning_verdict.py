"""One verdict per unlearner: did it forget, as far as the attacks can tell?

An unlearned model is compared with the model retrained from scratch without the forget set
(the gold standard), attack by attack, on forget vs test with no mitigation. Its verdict:

* ``indistinguishable``: on every attack, the retrained model's AUC lies within the unlearned
  model's bootstrap interval (the gap to retrain is within the CI), and every interval is narrow
  enough to have shown a gap of :data:`MARGIN` (half-width at most MARGIN);
* ``inconclusive``: no gap is measured, but some interval is wider than that: too few forget
  records to tell a forgetting method from one that forgot nothing, so never a pass;
* ``not_forgotten``: on some attack it does not, and the forget set looks more like members
  than after retraining; the verdict names the attack with the largest such gap, e.g. "did not
  forget: lira-online forget-vs-test AUC 0.575 vs retrain 0.472";
* ``over_forgotten``: on some attack it does not, but on every such attack the forget set looks
  *less* like members than after retraining (an unlearner that over-shoots; an attacker can
  detect that too, so it is not indistinguishable either);
* ``unmeasured``: no attack result with an interval and a gap to retrain (no bootstrap, or no
  applicable attack), so nothing can be said.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from .entries import is_applicable

#: the AUC gap to retraining an interval must be able to show for "indistinguishable"
MARGIN = 0.05


def _comparable(entry: Mapping[str, Any]) -> Optional[tuple[float, float, tuple[float, float]]]:
    """``(auc, retrain auc, (ci low, ci high))`` of one forget-vs-test entry, or None."""
    gap = (entry.get("gap_to_retrain") or {}).get("auc")
    ci = entry.get("auc_ci")
    auc = entry.get("auc")
    if gap is None or auc is None or not isinstance(ci, (list, tuple)) or len(ci) != 2 or None in ci:
        return None
    return float(auc), float(auc) - float(gap), (float(ci[0]), float(ci[1]))


def unlearning_verdicts(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One verdict per unlearned model of ``result`` (see the module docstring)."""
    out = []
    for model in result.get("models") or []:
        if model.get("role") != "unlearned":
            continue
        name = model["name"]
        rows = []
        for e in result.get("results") or []:
            if (e.get("model") == name and e.get("members") == "forget" and e.get("mitigation", "none") == "none"
                    and is_applicable(e)):
                got = _comparable(e)
                if got is not None:
                    rows.append((e["attack"], *got))
        verdict: dict[str, Any] = {"model": name, "unlearner": model.get("unlearner"), "n_attacks": len(rows)}
        if not rows:
            verdict.update(status="unmeasured", text="unmeasured: no attack result with an interval and a gap to "
                                                     "retrain (forget vs test)")
        else:
            outside = [r for r in rows if not r[3][0] <= r[2] <= r[3][1]]
            above = [r for r in outside if r[1] > r[2]]  # the forget set looks more like members than after retraining
            if outside:
                attack, auc, retrain, ci = max(above or outside, key=lambda r: abs(r[1] - r[2]))
                if above:
                    status, words = "not_forgotten", "did not forget"
                else:  # below retraining on every attack that differs: "too forgotten", which an attacker sees too
                    status, words = "over_forgotten", "forgot more than retraining (detectable too)"
                verdict.update(status=status,
                               text=f"{words}: {attack} forget-vs-test AUC {auc:.3f} vs retrain {retrain:.3f} "
                                    f"(outside [{ci[0]:.3f}, {ci[1]:.3f}]; {len(outside)} of {len(rows)} attacks)",
                               worst={"attack": attack, "auc": auc, "retrain_auc": retrain, "auc_ci": list(ci)})
            elif max((r[3][1] - r[3][0]) / 2 for r in rows) > MARGIN + 1e-12:
                attack, auc, retrain, ci = max(rows, key=lambda r: r[3][1] - r[3][0])
                verdict.update(status="inconclusive",
                               text=f"inconclusive: no gap to retraining measured, but the intervals are too wide to "
                                    f"show a gap of {MARGIN:.2f} AUC ({attack}: [{ci[0]:.3f}, {ci[1]:.3f}]); more "
                                    "forget records would tell",
                               worst={"attack": attack, "auc": auc, "retrain_auc": retrain, "auc_ci": list(ci)})
            else:
                attack, auc, retrain, ci = max(rows, key=lambda r: abs(r[1] - r[2]))
                verdict.update(status="indistinguishable",
                               text=f"indistinguishable from retraining: on all {len(rows)} attacks the retrained "
                                    f"model's AUC lies within the interval (largest gap {attack}: {auc:.3f} vs "
                                    f"{retrain:.3f})",
                               worst={"attack": attack, "auc": auc, "retrain_auc": retrain, "auc_ci": list(ci)})
        out.append(verdict)
    return out


__all__ = ["unlearning_verdicts", "MARGIN"]

"""Per-record vulnerability and subgroups (slices), from one attack's scores.

An average AUC hides the records at risk (Aerni et al., CCS 2024), and the EDPB asks that
membership be insignificant for any data subject. Two views of one attack's per-record scores,
members against non-members (higher = more likely a member):

* :func:`records_at_risk`: how many members an attacker identifies at FPR <= 0.1 % and <= 1 %
  (the exact empirical TPR of the entry, times the members), and the top-k members by score,
  each given by its **id** (the user's id column, or the record's row in the data source), its
  score, its rank and the FPR at which it would be flagged: never the record's content.
* :func:`slice_metrics`: the same metrics (AUC and TPR at each FPR, with bootstrap intervals)
  per class and per value of any column the configuration names; a slice with fewer than
  ``min_size`` members or non-members is reported as too small, never hidden.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .errors import InputError
from .metrics import evaluate


def flagged_fpr(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> np.ndarray:
    """For each member score s, the FPR of the threshold that flags it: the share of non-members
    scoring s or more (a tie with a non-member flags that non-member too)."""
    non = np.sort(np.asarray(nonmember_scores, dtype=np.float64))
    s = np.asarray(member_scores, dtype=np.float64)
    at_or_above = non.size - np.searchsorted(non, s, side="left")
    return at_or_above / max(non.size, 1)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def records_at_risk(entry: dict[str, Any], member_scores: Any, nonmember_scores: Any, member_ids: Any, *,
                    top: int = 20) -> dict[str, Any]:
    """The records an attacker finds, for one result entry and its per-record scores."""
    m = np.asarray(member_scores, dtype=np.float64)
    n = np.asarray(nonmember_scores, dtype=np.float64)
    ids = np.asarray(member_ids)
    if m.shape != ids.shape:
        raise InputError(f"member_ids must hold one id per member score ({m.size}); got shape {ids.shape}")
    order = np.argsort(-m, kind="stable")[:max(int(top), 0)]
    fpr = flagged_fpr(m[order], n)
    counts = {key: int(round(float(tpr) * m.size)) for key, tpr in (entry.get("tpr_at_fpr") or {}).items()
              if tpr is not None}
    return {
        "model": entry["model"], "mitigation": entry["mitigation"], "attack": entry["attack"],
        "members": entry["members"], "n_members": int(m.size), "n_nonmembers": int(n.size),
        "at_risk": counts,  # {fpr: members identified at that FPR}
        "top": [{"id": _plain(ids[i]), "score": float(m[i]), "rank": r + 1, "fpr": float(f)}
                for r, (i, f) in enumerate(zip(order, fpr))],
        "score_quantiles": {q: float(np.quantile(m, float(q))) for q in ("0.5", "0.9", "0.99")} if m.size else {},
    }


def slice_metrics(member_scores: Any, nonmember_scores: Any, member_values: Any, nonmember_values: Any, *,
                  column: str, fprs: Sequence[float], n_bootstrap: int, confidence: float, seed: int,
                  min_size: int = 50, names: Optional[dict[Any, str]] = None) -> list[dict[str, Any]]:
    """One row per value of ``column``: members and non-members holding that value, and the
    attack's AUC and TPR at each FPR on them (with bootstrap intervals), or ``too_small``."""
    m, n = np.asarray(member_scores, dtype=np.float64), np.asarray(nonmember_scores, dtype=np.float64)
    mv, nv = np.asarray(member_values), np.asarray(nonmember_values)
    if mv.shape != m.shape or nv.shape != n.shape:
        raise InputError(f"slice column {column!r}: one value per record is needed")
    rows = []
    values = sorted(set(mv.tolist()) | set(nv.tolist()), key=lambda v: (str(type(v)), v))
    for k, value in enumerate(values):
        in_m, in_n = mv == value, nv == value
        row: dict[str, Any] = {"column": column, "value": _plain(value),
                               "label": (names or {}).get(value, str(value)),
                               "n_members": int(in_m.sum()), "n_nonmembers": int(in_n.sum())}
        if row["n_members"] < min_size or row["n_nonmembers"] < min_size:
            row["too_small"] = True
            row["reason"] = f"fewer than {min_size} members or non-members"
        else:
            metrics = evaluate(m[in_m], n[in_n], fprs=tuple(fprs), n_bootstrap=n_bootstrap, confidence=confidence,
                               seed=seed + k).to_dict()
            row.update({key: metrics[key] for key in ("auc", "auc_ci", "tpr_at_fpr", "tpr_at_fpr_ci")})
            row["too_small"] = False
        rows.append(row)
    return rows


__all__ = ["records_at_risk", "slice_metrics", "flagged_fpr"]

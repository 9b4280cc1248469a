"""The records-at-risk and slices sections of a result (issue 13), from the per-record scores that
the result entries carry inside the pipeline (:data:`mia_audit.result.SCORES_KEY`).

Per audited model, the strongest per-record attack on its released outputs (members = train,
no mitigation): LiRA or RMIA where one ran (the highest AUC among them), else the attack with the
highest AUC. Its member records are named by id (``Dataset.ids``, else the record's row in the
data source), never by content; its slices are the classes and the columns of
``[report] slices``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from mia_audit.errors import InputError
from mia_audit.per_record import records_at_risk, slice_metrics
from mia_audit.result import SCORES_KEY
from mia_audit.seeding import derive_seed


def _strongest(entries: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    from mia_audit.attacks import ATTACKS, access_of

    usable = [e for e in entries if e.get("applicable") and SCORES_KEY in e and e.get("auc") is not None]
    if not usable:
        return None
    with_references = [e for e in usable if e["attack"] in ATTACKS
                       and access_of(ATTACKS.get(e["attack"])) == "references"]
    pool = with_references or usable
    return max(pool, key=lambda e: (float(e["auc"]), e["attack"]))


def check_slice_columns(report: Any, dataset: Any) -> None:
    """Refuse, before any training, a ``[report] slices`` column the data set does not keep."""
    raw = getattr(dataset, "raw", None) or {}
    missing = [c for c in report.slices if c not in raw]
    if missing:
        known = ", ".join(sorted(raw)) or "none (this data set keeps no raw columns)"
        raise InputError(f"report.slices: column {missing[0]!r} is not a column of data set {dataset.name!r}; "
                         f"its columns are {known}")


def per_record_sections(results: list[dict[str, Any]], dataset: Any, split: Any, config: Any
                        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(records, slices)`` sections: one records-at-risk block and the slice rows per model
    (the ``[report] slices`` columns were checked before any training: :func:`check_slice_columns`)."""
    report = config.report
    raw = getattr(dataset, "raw", None) or {}
    ids = dataset.ids if getattr(dataset, "ids", None) is not None else np.arange(len(dataset.y))
    by_model: dict[str, list[dict[str, Any]]] = {}
    for e in results:
        if e.get("mitigation") == "none" and e.get("members") == "train":
            by_model.setdefault(e["model"], []).append(e)
    records, slices = [], []
    for model, entries in by_model.items():
        best = _strongest(entries)
        if best is None:
            continue
        member_scores, nonmember_scores = best[SCORES_KEY]
        members, nonmembers = split.train, split.test
        records.append(records_at_risk(best, member_scores, nonmember_scores, ids[members], top=report.top_records))
        columns = [("class", dataset.y, dict(enumerate(getattr(dataset, "class_names", None) or [])))]
        columns += [(c, np.asarray(raw[c]), None) for c in report.slices]
        for column, values, names in columns:
            rows = slice_metrics(member_scores, nonmember_scores, values[members], values[nonmembers], column=column,
                                 fprs=config.metrics.fprs, n_bootstrap=config.metrics.n_bootstrap,
                                 confidence=config.metrics.confidence, min_size=report.min_slice,
                                 seed=derive_seed(config.seed, "slices", model, best["attack"], column), names=names)
            slices += [{"model": model, "attack": best["attack"], **row} for row in rows]
    return records, slices


__all__ = ["per_record_sections", "check_slice_columns"]

"""The attacks of an audit that fit on population records: ``access = "population"`` (``qmia``).

Population records (``Context.population``) are records of the dataset in neither train, test
nor validation (``references.population`` of them, drawn by the audit), so known non-members
of every audited model. The handler queries the audited model (each output mitigation
included) on them, fits the attack on their features and the model's signals, and scores the
members then the test set with the same fitted attack.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mia_audit.errors import NotApplicableError


def population_scores(ctx: Any, attack: Any, adapter: Any, member_idx: np.ndarray) -> np.ndarray:
    """The "population" handler: ``attack`` (QMIA) fitted on ``adapter``'s outputs on the population
    records, then scores of members then the test set (in that order)."""
    from mia_audit.attacks.qmia import MIN_POPULATION
    from mia_audit.signals import compute_signals

    population = ctx.population
    n = 0 if population is None else int(np.asarray(population).size)
    if n < MIN_POPULATION:
        raise NotApplicableError(
            f"{attack.name} needs at least {MIN_POPULATION} population records (records outside train, test and "
            f"validation; references.population, capped by the records the dataset has left); got {n}")
    X, y = ctx.dataset.X, ctx.dataset.y
    population = np.asarray(population, dtype=np.int64)
    outputs = adapter.predict(X[population])
    if not outputs.has_posteriors:
        raise NotApplicableError(f"{attack.name} needs posterior outputs (logits or probs); these outputs are "
                                 "label-only")
    attack.fit_population(X[population], compute_signals(outputs, y[population]), labels=y[population])
    rows = np.r_[member_idx, ctx.split.test].astype(np.int64)
    signals = compute_signals(adapter.predict(X[rows]), y[rows])
    return attack.score_records(X[rows], signals, labels=y[rows])


__all__ = ["population_scores"]

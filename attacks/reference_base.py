"""Attacks that need more than one model's signals: reference models, or query access.

Two kinds, each declared by the class attribute ``access`` (:attr:`Attack.access`), on which
the pipeline dispatches:

``access = "references"`` (LiRA, RMIA)
    The attack compares the target's per-query signals on a record with those of K
    reference models trained on random halves of a pool (:mod:`mia_audit.reference`).
    ``fit_references(reference, mask)`` learns per-record statistics from the
    reference signals (arrays (K, N, A)) and the (K, N) membership mask; then
    ``score_target(target, pool_indices)`` scores the target's signals (n, A) on the
    pool records ``pool_indices``. RMIA also takes ``population``: the target's signals
    on pool records known *not* to be its members, and their indices.

``access = "queries"`` (the label-only boundary attack)
    The attack queries the model itself: ``score_queries(adapter, X, y)``.

Neither kind can score from one model's :class:`~mia_audit.signals.Signals`, so their
``membership_scores(signals, is_member)`` raises :class:`NotApplicableError` (after
the usual check that the signals it needs exist). :func:`needs_more_than_signals`
tells every kind but ``"signals"`` apart from the single-model attacks, and
:func:`run_reference_attack` / :func:`run_query_attack` are what the pipeline calls.

Scores: higher = more likely a member, as everywhere in the toolkit.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import abc

import numpy as np

from mia_audit.errors import InputError, NotApplicableError, NotFittedError, bad_value
from mia_audit.reference.queries import QuerySignals, query_signals
from mia_audit.signals import Signals

from .base import Attack


def access_of(factory: Any) -> str:
    """The access kind an attack class (or instance) declares (:attr:`Attack.access`)."""
    return str(getattr(factory, "access", "signals"))


def needs_more_than_signals(factory: Any) -> bool:
    """True for attacks that need reference models, model pairs or query access (not one model's signals)."""
    return access_of(factory) != "signals"


def attack_evidence(factory: Any) -> tuple[str, ...]:
    """The kinds of evidence a result of this attack gives a verdict (see :mod:`mia_audit.verdict`):
    ``posterior`` when it reads any signal beyond the predicted label's correctness, else
    ``label``; plus ``reference`` when it compares with reference models (LiRA, RMIA, U-LiRA)."""
    reads = set(getattr(factory, "requires", ()))
    kinds = ["posterior" if reads - {"correct"} else "label"]
    if access_of(factory) in ("references", "unlearned-references"):
        kinds.append("reference")
    return tuple(kinds)


def evidence_by_attack(names: Any = None) -> dict[str, tuple[str, ...]]:
    """{attack name: its evidence kinds} for ``names`` (default: every registered attack);
    names that are not registered are left out (they give no evidence)."""
    from .registry import ATTACKS

    wanted = ATTACKS.names() if names is None else [n for n in dict.fromkeys(names) if n in ATTACKS.names()]
    return {n: attack_evidence(ATTACKS.get(n)) for n in wanted}


def signal_attack_names() -> list[str]:
    """Names of the registered attacks that score from one model's signals alone."""
    from .registry import ATTACKS

    return [n for n in ATTACKS.names() if not needs_more_than_signals(ATTACKS.get(n))]


# ---------------------------------------------------------------------------- validation


def check_reference(reference: Any, mask: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(logit_confidence, confidence, mask) as float64 (K, N, A), float64 (K, N, A), bool (K, N)."""
    if not isinstance(reference, QuerySignals):
        raise bad_value("reference", "a mia_audit.reference.QuerySignals (e.g. store.signals())", type(reference).__name__)
    if not reference.has_posteriors:
        raise NotApplicableError("the reference signals are label-only; reference attacks need logits or probs")
    lc = np.asarray(reference.logit_confidence, dtype=np.float64)
    conf = np.asarray(reference.confidence, dtype=np.float64)
    if lc.ndim != 3 or conf.shape != lc.shape:
        raise InputError(f"reference signals must be arrays of shape (K, N, A); got {lc.shape} and {conf.shape}")
    if not (np.all(np.isfinite(lc)) and np.all(np.isfinite(conf))):
        raise InputError("reference signals must be finite; they contain NaN or inf")
    m = np.asarray(mask)
    if m.shape != lc.shape[:2]:
        raise InputError(f"mask must have shape (K, N) = {lc.shape[:2]} (one row per reference model); got {m.shape}")
    if m.dtype != bool:
        if not np.all((m == 0) | (m == 1)):
            raise InputError("mask must hold only 0/1 or False/True")
        m = m.astype(bool)
    return lc, conf, m


def check_target_signals(target: Any, n_queries: int, n_pool: int, pool_indices: Any, name: str = "target") -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """(logit_confidence, confidence, pool_indices) of the target: (n, A), (n, A), (n,) int."""
    if not isinstance(target, QuerySignals):
        raise bad_value(name, "a mia_audit.reference.QuerySignals (see mia_audit.reference.query_signals)", type(target).__name__)
    if not target.has_posteriors:
        raise NotApplicableError(f"the {name} model's outputs are label-only; this attack needs posterior outputs "
                                 "(logits or probs)")
    lc = np.asarray(target.logit_confidence, dtype=np.float64)
    conf = np.asarray(target.confidence, dtype=np.float64)
    if lc.ndim != 2 or conf.shape != lc.shape or lc.shape[1] != n_queries:
        raise InputError(f"{name} signals must have shape (n, {n_queries}) (the references' queries); "
                         f"got {lc.shape}")
    if not (np.all(np.isfinite(lc)) and np.all(np.isfinite(conf))):
        raise InputError(f"{name} signals must be finite; they contain NaN or inf")
    idx = np.asarray(pool_indices)
    if idx.ndim != 1 or idx.shape[0] != lc.shape[0]:
        raise InputError(f"{'pool_indices' if name == 'target' else name + ' indices'} must be a 1-D array with one "
                         f"pool index per {name} row ({lc.shape[0]}); got shape {idx.shape}")
    if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n_pool):
        raise InputError(f"{'pool_indices' if name == 'target' else name + ' indices'} must be integers in "
                         f"[0, {n_pool - 1}]; got {idx.dtype} values"
                         + (f" from {idx.min()} to {idx.max()}" if np.issubdtype(idx.dtype, np.number) else ""))
    return lc, conf, idx.astype(np.int64)


# ---------------------------------------------------------------------------- base classes


class ReferenceAttack(Attack):
    """An attack fitted on reference models' signals; see the module docstring."""

    access = "references"
    requires: tuple[str, ...] = ("logit_confidence",)

    def fit_references(self, reference: QuerySignals, mask: Any) -> "ReferenceAttack":
        """Learn from K reference models' signals (K, N, A) and the (K, N) membership mask."""
        lc, conf, m = check_reference(reference, mask)
        self._fit(lc, conf, m)
        self.n_pool_, self.n_queries_ = int(lc.shape[1]), int(lc.shape[2])
        return self

    def score_target(self, target: QuerySignals, pool_indices: Any, *,
                     population: Optional[tuple[QuerySignals, Any]] = None) -> np.ndarray:
        """Scores (n,) of the target's signals (n, A) on the pool records ``pool_indices``.
        ``population``: (the target's signals on records known not to be its members,
        their pool indices), used by attacks that compare against a population (RMIA)."""
        if not hasattr(self, "n_pool_"):
            raise NotFittedError(f"attack {self.name!r} must be fitted before score_target(); "
                                 "call fit_references(reference, mask)")
        lc, conf, idx = check_target_signals(target, self.n_queries_, self.n_pool_, pool_indices)
        out = np.asarray(self._score_target(lc, conf, idx, population), dtype=np.float64)
        return out

    @abc.abstractmethod
    def _fit(self, lc: np.ndarray, conf: np.ndarray, mask: np.ndarray) -> None:
        """Learn from validated reference statistics (every subclass implements it)."""

    @abc.abstractmethod
    def _score_target(self, lc, conf, idx, population) -> np.ndarray:
        """Scores of validated target statistics (every subclass implements it)."""

    def _score(self, signals: Signals) -> np.ndarray:
        raise NotApplicableError(
            f"attack {self.name!r} needs reference models, not one model's signals; run it with "
            "mia_audit.attacks.reference_base.run_reference_attack (see mia_audit.reference.train_references)"
        )


class QueryAttack(Attack):
    """An attack that queries the model itself: ``score_queries(adapter, X, y)``."""

    access = "queries"

    @abc.abstractmethod
    def score_queries(self, model: Any, X: Any, y: Any) -> np.ndarray:
        """Scores (n,) from querying ``model`` around the records (every subclass implements it)."""

    def _score(self, signals: Signals) -> np.ndarray:
        raise NotApplicableError(
            f"attack {self.name!r} needs query access to the model, not its signals; run it with "
            "mia_audit.attacks.reference_base.run_query_attack(attack, model, X, y)"
        )


# ---------------------------------------------------------------------------- entry points


class ReferenceScorer:
    """A reference store checked once against its pool, scoring targets with reference attacks.

    ``store``: a complete :class:`mia_audit.reference.ReferenceStore` (or its path) trained on
    the pool ``X_pool, y_pool`` (checked by hash, here, once). The store's signals are read
    once, and each target is queried at most once per pool record, however many attacks and
    member sets score it: :meth:`score` keeps the last target's per-query signals (a target is
    the same object, e.g. one mitigation variant of an audited model) and queries only the
    records not yet seen. On CIFAR-10 with 18 queries per image, five attacks on two member
    sets re-queried the target ten times before. The scores are those of
    :func:`run_reference_attack`, which is this class used once.
    """

    def __init__(self, store: Any, X_pool: Any, y_pool: Any, *, batch_size: Optional[int] = None,
                 device: Any = "cpu"):
        from mia_audit.reference import ReferenceStore

        self.store = store if isinstance(store, ReferenceStore) else ReferenceStore(store)
        self.X = np.asarray(X_pool)
        self.y = np.asarray(y_pool)
        self.store.check_data(self.X, self.y)
        self.batch_size = batch_size
        self.device = device
        self._references: Optional[QuerySignals] = None
        self._released: Optional[tuple[Any, QuerySignals]] = None  # (release, the references' signals under it)
        self._target: Any = None  # the last target (held, so that its id cannot be reused)
        self._seen: Optional[np.ndarray] = None  # (N,) rows of the pool the last target has answered
        self._lc: Optional[np.ndarray] = None
        self._conf: Optional[np.ndarray] = None
        self._label_only = False

    @property
    def can_release(self) -> bool:
        """Whether the reference models can answer through a target's output mitigation: their
        weights are in the store (not for models of a user's training function or imported
        ones, kept as their signals)."""
        return not self.store.spec.is_custom

    def reference_signals(self, release: Optional[Callable[[Any, Any], Any]] = None) -> QuerySignals:
        """The reference models' per-query signals (K, N, A): as stored, or, with ``release`` (a
        fitted output mitigation's ``transform``), their outputs put through it: each model is
        loaded from the store and queried again, so that they answer as the mitigated target
        does (an adaptive attacker, who knows the mitigation). The last ``release`` is kept."""
        if release is None or not self.can_release:
            if self._references is None:
                self._references = self.store.signals()
            return self._references
        if self._released is None or self._released[0] != release:
            parts = [query_signals(self.store.load_model(k, device=self.device), self.X, self.y,
                                   self.store.spec.queries, batch_size=self.batch_size, release=release)
                     for k in range(self.store.n_models)]
            if not all(p.has_posteriors for p in parts):  # a label-only release: the attack says what it needs
                return QuerySignals(None, None)
            self._released = (release, QuerySignals.stack(parts))
        return self._released[1]

    def target_signals(self, target: Any, pool_indices: Any) -> QuerySignals:
        """``target``'s per-query signals (n, A) on the pool records ``pool_indices``."""
        idx = _pool_indices(pool_indices, self.store.n_records, "pool_indices")
        if target is not self._target:
            self._target, self._seen, self._lc, self._conf = target, np.zeros(self.store.n_records, bool), None, None
            self._label_only = False
        if self._label_only:
            return QuerySignals(None, None)
        todo = np.unique(idx[~self._seen[idx]])
        if todo.size:
            got = query_signals(target, self.X[todo], self.y[todo], self.store.spec.queries,
                                batch_size=self.batch_size)
            if not got.has_posteriors:  # label-only outputs: the attacks say what they need
                self._label_only = True
                return got
            if self._lc is None:
                shape = (self.store.n_records, got.logit_confidence.shape[1])
                self._lc = np.zeros(shape, got.logit_confidence.dtype)
                self._conf = np.zeros(shape, got.confidence.dtype)
            self._lc[todo], self._conf[todo] = got.logit_confidence, got.confidence
            self._seen[todo] = True
        return QuerySignals(logit_confidence=self._lc[idx], confidence=self._conf[idx])

    def score(self, attack: "ReferenceAttack", target: Any, pool_indices: Any, *,
              population_indices: Any = None, release: Optional[Callable[[Any, Any], Any]] = None) -> np.ndarray:
        """Scores (n,) of ``target`` on the pool records ``pool_indices``, by ``attack`` (see
        :func:`run_reference_attack`). ``release``: the output mitigation ``target`` answers
        through (its ``transform``), applied to the reference models too where
        :attr:`can_release` (else they answer unmitigated: a non-adaptive attacker)."""
        if not isinstance(attack, ReferenceAttack):
            raise bad_value("attack", "a reference attack (access = 'references'), e.g. create_attack('lira-online')",
                            type(attack).__name__)
        least = int(getattr(attack, "min_reference_models", 2))
        if self.store.n_models < least:
            raise NotApplicableError(f"{attack.name} estimates a variance from each record's IN and OUT reference "
                                     f"models, which needs at least {least} reference models (references.n_models); "
                                     f"the store has {self.store.n_models}")
        idx = _pool_indices(pool_indices, self.store.n_records, "pool_indices")
        target_signals = self.target_signals(target, idx)
        population = None
        if population_indices is not None:
            z = _pool_indices(population_indices, self.store.n_records, "population_indices")
            population = (self.target_signals(target, z), z)
        references = self.reference_signals(release if target_signals.has_posteriors else None)
        if not references.has_posteriors:
            raise NotApplicableError(f"{attack.name} needs posterior outputs (logits or probs) of the reference "
                                     "models; under this mitigation they release labels only")
        attack.fit_references(references, self.store.mask)
        return attack.score_target(target_signals, idx, population=population)


def run_reference_attack(
    attack: ReferenceAttack,
    store: Any,
    target: Any,
    X_pool: Any,
    y_pool: Any,
    pool_indices: Any,
    *,
    population_indices: Any = None,
    batch_size: Optional[int] = None,
) -> np.ndarray:
    """Scores of ``target`` on the pool records ``pool_indices``, by a reference attack.

    ``store``: a complete :class:`mia_audit.reference.ReferenceStore` (or its path) trained
    on the pool ``X_pool, y_pool`` (checked by hash). ``target``: the model under audit,
    anything :func:`mia_audit.adapters.as_adapter` takes (mitigation wrappers included).
    ``pool_indices``: the records to score, e.g. ``np.r_[members, nonmembers]`` as pool
    indices. ``population_indices``: pool records that are *not* members of the target
    and not among those scored (RMIA's z-samples; ignored by LiRA). The target is
    queried with the store's queries; the attack is fitted on the store's signals and
    mask. Returns float64 scores, higher = more likely a member. Nothing is modified.
    Several attacks or targets on one store: :class:`ReferenceScorer` (each check, read and
    query once).
    """
    if not isinstance(attack, ReferenceAttack):
        raise bad_value("attack", "a reference attack (access = 'references'), e.g. create_attack('lira-online')",
                        type(attack).__name__)
    scorer = ReferenceScorer(store, X_pool, y_pool, batch_size=batch_size)
    return scorer.score(attack, target, pool_indices, population_indices=population_indices)


def run_query_attack(attack: QueryAttack, model: Any, X: Any, y: Any) -> np.ndarray:
    """Scores of a query attack (e.g. ``boundary``) on the records ``X, y`` of ``model``."""
    if not isinstance(attack, QueryAttack):
        raise bad_value("attack", "a query attack (access = 'queries'), e.g. create_attack('boundary')",
                        type(attack).__name__)
    return attack.score_queries(model, X, y)


def _pool_indices(value: Any, n: int, param: str) -> np.ndarray:
    idx = np.asarray(value)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise bad_value(param, "a non-empty 1-D array of integer pool indices", f"{idx.dtype} array of shape {idx.shape}")
    if idx.min() < 0 or idx.max() >= n:
        raise InputError(f"{param} must lie in [0, {n - 1}] (the pool has {n} records); "
                         f"got values from {idx.min()} to {idx.max()}")
    return idx.astype(np.int64)


__all__ = ["ReferenceAttack", "QueryAttack", "ReferenceScorer", "access_of", "run_reference_attack", "run_query_attack", "needs_more_than_signals",
           "signal_attack_names", "check_reference", "check_target_signals"]

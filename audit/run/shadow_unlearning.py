"""Shadow and reference models that are trained, then unlearned by the method under audit.

Orchestration for the unlearning attacks (it imports ``unlearners``; the attacks in
:mod:`mia_audit.attacks.two_model` and :mod:`mia_audit.attacks.ulira` stay pure):

:func:`shadow_pairs` (two-model attack, Chen et al. CCS 2021)
    On shadow data disjoint from the target's: ``n_originals`` shadow originals, each
    trained (the unlearner's own ``fit``, so SISA / EUPG originals are the models those
    methods deploy) on a random ``train_fraction`` of the shadow pool. Each original is
    unlearned ``deletions_per_original`` times, every time from the original, forgetting one
    group of ``group_size`` of its training records (size 1 = the paper's main setting, one
    unlearned model per deleted record; the groups of one original are disjoint). For each
    unlearned model the deleted records are positives and ``negatives_per_deletion`` x
    ``group_size`` records outside that original's training set are negatives, drawn
    without replacement per unlearned model (the paper draws one negative per positive).
    Both models of the pair are queried on the same rows in one batch (so identical
    models give bitwise-identical outputs). Returns :class:`ShadowPairs`.

:func:`ulira_references` (U-LiRA, Hayes et al. 2024)
    On a pool of N records (the target's forget records and never-seen records, padded
    with population records so the reference models train on about as many records as
    the target): K models, each trained on a random half of the pool (complementary
    pairs, :func:`mia_audit.reference.splits.membership_mask`: every record is in exactly K/2
    training sets). Each model's training half is cut at random into
    ``forget_sets_per_model`` = R disjoint forget sets of (nearly) equal size, and the model
    is unlearned once per forget set, always from the trained model. So there are M = K R
    unlearned reference models; every pool record is trained-then-unlearned in exactly
    K/2 of them and never seen in K R / 2; the forget fraction of each unlearning is 1/R
    (R = 10 gives the 10 % forget sets of the deepunlearn reference pipeline, which also
    unlearns several forget sets per trained model). The M unlearned models'
    per-query signals on every pool record (:func:`mia_audit.reference.query_signals`:
    logit-scaled confidence and p_y, with flips and shifts for images) and the two masks
    are returned as :class:`ULiRAReferences`. With K = 16 and R = 10 that is 16 trainings
    and 160 unlearnings (for an approximate method about 10 % of a training each); for
    ``retrain`` it is 176 trainings, so use fewer forget sets there.

:func:`two_model_audit` fits the two-model attack on shadow pairs, scores a target pair,
and returns the AUCs, the paper's comparison with the classical attack on the original
(DegCount / DegRate) and the identical-output warnings. :func:`ulira_audit` does the same
for U-LiRA.

Seeds: one ``seed``; every model's initial weights, training, split and unlearning draw
their own child seed (:func:`mia_audit.seeding.derive_seed`), so the same seed gives the same
shadow set on the same device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np

from mia_audit.checks import positive_int
from mia_audit.errors import InputError, bad_value
from mia_audit.seeding import check_seed, derive_seed, rng


# ---------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ModelRecipe:
    """How a shadow / reference model is built and trained: an architecture of
    :data:`mia_audit.models.MODELS` with its parameters and a :class:`mia_audit.training.TrainRecipe`
    (None for xgboost). The input shape and class count come from the data. With ``trainer`` (the
    user's :class:`mia_audit.user_code.TrainFunction`) every shadow model is trained by it instead,
    ``recipe`` being the gradient unlearners' settings on a torch module (or None)."""

    architecture: str
    recipe: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)
    trainer: Any = None

    def __post_init__(self) -> None:
        from mia_audit.models import MODELS
        from mia_audit.training import TrainRecipe

        if self.trainer is not None:
            if self.recipe is not None and not isinstance(self.recipe, TrainRecipe):
                raise bad_value("model.recipe", "a TrainRecipe or None", self.recipe)
            object.__setattr__(self, "params", dict(self.params))
            return
        MODELS.get(self.architecture)  # unknown names list the valid ones
        if self.architecture == "xgboost":
            if self.recipe is not None:
                raise bad_value("model.recipe", "None for xgboost (its settings are model params)", self.recipe)
        elif not isinstance(self.recipe, TrainRecipe):
            raise bad_value("model.recipe", f"a TrainRecipe for torch model {self.architecture!r}", self.recipe)
        if not isinstance(self.params, Mapping):
            raise bad_value("model.params", "a dict of model parameters", self.params)
        object.__setattr__(self, "params", dict(self.params))

    def build(self, input_shape: tuple[int, ...], n_classes: int, seed: int) -> Any:
        from mia_audit.models import build_model

        return build_model(self.architecture, input_shape=input_shape, n_classes=n_classes, seed=seed, **self.params)


def _check_model(model: object) -> ModelRecipe:
    if not isinstance(model, ModelRecipe):
        raise bad_value("model", "a mia_audit.run.shadow_unlearning.ModelRecipe(architecture, recipe, params)",
                        type(model).__name__)
    return model


def _check_data(X: object, y: object, n_classes: Optional[int]) -> tuple[np.ndarray, np.ndarray, int]:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 2:
        raise bad_value("X", "an array of records, shape (n, ...)", f"shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise InputError(f"y must be a 1-D array with one label per record of X ({X.shape[0]}); got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise bad_value("y", "integer class labels", f"dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise bad_value("y", "class labels >= 0", int(y.min()))
    inferred = int(y.max()) + 1 if y.size else 0
    if n_classes is None:
        n_classes = inferred
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise bad_value("n_classes", "an integer >= 2", n_classes)
    if inferred > n_classes:
        raise InputError(f"y holds class {inferred - 1} but n_classes is {n_classes}")
    return X, y.astype(np.int64), int(n_classes)


def make_unlearner(unlearner: object, options: Optional[Mapping[str, Any]] = None) -> Any:
    """An :class:`unlearners.Unlearner` from a registered name and options, or one given as is."""
    from mia_audit.unlearners import Unlearner, create_unlearner

    if isinstance(unlearner, Unlearner):
        if options:
            raise InputError("unlearner_options must be empty when unlearner is an Unlearner object (set its options "
                             "when creating it)")
        return unlearner
    if not isinstance(unlearner, str):
        raise bad_value("unlearner", "a registered unlearner name or an unlearners.Unlearner", type(unlearner).__name__)
    if options is not None and not isinstance(options, Mapping):
        raise bad_value("unlearner_options", "a dict of the unlearner's options", options)
    return create_unlearner(unlearner, **dict(options or {}))


def probabilities(model: Any, X: Any, n_classes: int) -> np.ndarray:
    """Class probabilities (n, C), float64, of a torch module or xgboost model (any adapter)."""
    from mia_audit.adapters import as_adapter

    outputs = as_adapter(model, n_classes=n_classes).predict(X)
    if not outputs.has_posteriors:
        raise InputError("the model gives labels only; the unlearning attacks need posterior outputs")
    return np.exp(outputs.log_probs())


def _train(unlearner: Any, model: ModelRecipe, X: np.ndarray, y: np.ndarray, n_classes: int, *, seed: int,
           label: tuple, device: Any) -> Any:
    if model.trainer is not None:  # the user's training function trains the shadow model
        from mia_audit.unlearners import Records, Trained, fingerprints

        if unlearner.needs_own_training:  # e.g. SISA: its shards, each trained by the user's function
            return unlearner.fit_trained_by(model.trainer, X, y, seed=derive_seed(seed, *label, "train"), device=device)
        done = model.trainer.train(X, y, seed=derive_seed(seed, *label, "train"), device=device, n_classes=n_classes)
        return Trained(model=done.model, init=None, recipe=model.recipe, train_keys=np.sort(fingerprints(Records(X, y))),
                       seconds=float(done.seconds), device=str(done.device), trainer=model.trainer)
    net = model.build(tuple(X.shape[1:]), n_classes, derive_seed(seed, *label, "init"))
    return unlearner.fit(net, X, y, model.recipe, seed=derive_seed(seed, *label, "train"), device=device)


# ---------------------------------------------------------------------------- two-model shadow pairs


@dataclass(frozen=True)
class ShadowPairs:
    """Shadow (original, unlearned) posterior pairs with labels.

    probs_original, probs_unlearned  (n, C) float64 posteriors of each pair's two models
    is_deleted      (n,) bool: True = deleted by that unlearning, False = never seen
    record          (n,) int: row of the shadow pool
    original        (n,) int: index of the shadow original
    unlearned       (n,) int: index of the unlearned model (global count)
    seconds         {"train": ..., "unlearn": ...} summed wall-clock seconds
    settings        what was done (JSON-able)
    """

    probs_original: np.ndarray
    probs_unlearned: np.ndarray
    is_deleted: np.ndarray
    record: np.ndarray
    original: np.ndarray
    unlearned: np.ndarray
    seconds: dict[str, float]
    settings: dict[str, Any]

    def __len__(self) -> int:
        return int(self.is_deleted.shape[0])


def shadow_pairs(X: Any, y: Any, *, model: ModelRecipe, unlearner: Any, unlearner_options: Optional[Mapping] = None,
                 n_originals: int = 4, deletions_per_original: int = 20, group_size: int = 1,
                 train_fraction: float = 0.5, negatives_per_deletion: int = 1, n_classes: Optional[int] = None,
                 seed: int = 0, device: Any = "auto") -> ShadowPairs:
    """Shadow pairs for the two-model attack (see the module docstring).

    ``X`` (n, ...) and ``y`` (n,) are the shadow pool, disjoint from the target's data.
    ``unlearner`` is a registered name (with ``unlearner_options``) or an Unlearner.
    """
    X, y, n_classes = _check_data(X, y, n_classes)
    model = _check_model(model)
    method = make_unlearner(unlearner, unlearner_options)
    n_originals = positive_int("n_originals", n_originals)
    deletions = positive_int("deletions_per_original", deletions_per_original)
    group_size = positive_int("group_size", group_size)
    negatives = positive_int("negatives_per_deletion", negatives_per_deletion)
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float)) or not 0 < train_fraction < 1:
        raise bad_value("train_fraction", "a number in (0, 1)", train_fraction)
    seed = check_seed(seed)
    n = X.shape[0]
    n_train = int(round(train_fraction * n))
    n_out = n - n_train
    if n_train < deletions * group_size + 2:
        raise InputError(
            f"each shadow original trains on {n_train} records (train_fraction {train_fraction} of {n}); "
            f"deletions_per_original x group_size = {deletions * group_size} deleted records need at least "
            f"{deletions * group_size + 2}; give more shadow data or fewer deletions"
        )
    if n_out < negatives * group_size:
        raise InputError(
            f"each unlearned shadow model needs negatives_per_deletion x group_size = {negatives * group_size} "
            f"never-seen records; only {n_out} shadow records lie outside a shadow original's training set"
        )
    from mia_audit.device import resolve_device

    device = resolve_device(device)
    parts: dict[str, list] = {k: [] for k in ("p_o", "p_u", "deleted", "record", "original", "unlearned")}
    seconds = {"train": 0.0, "unlearn": 0.0}
    count = 0
    for k in range(n_originals):
        g = rng(seed, "shadow", "split", k)
        order = g.permutation(n)
        train_rows = np.sort(order[:n_train])
        out_rows = np.sort(order[n_train:])
        trained = _train(method, model, X[train_rows], y[train_rows], n_classes, seed=seed,
                         label=("shadow", "original", k), device=device)
        seconds["train"] += float(trained.seconds)
        groups = g.permutation(n_train)[: deletions * group_size].reshape(deletions, group_size)
        for j in range(deletions):
            forget_pos = np.sort(groups[j])
            keep = np.ones(n_train, dtype=bool)
            keep[forget_pos] = False
            retain_rows, forget_rows = train_rows[keep], train_rows[forget_pos]
            neg_pos = np.sort(g.choice(n_out, size=negatives * group_size, replace=False))
            neg_rows = out_rows[neg_pos]
            rows = np.concatenate([forget_rows, neg_rows])
            # both models on the same rows in the same batching: a batch of another size can take
            # another GEMM kernel and sum in another order (float32 rounding, ~1e-8), so only this
            # gives identical models bitwise-identical pairs, as the exact identical-output check
            # of the attack's trap warnings needs. The original is queried before the unlearning.
            parts["p_o"].append(probabilities(trained.model, X[rows], n_classes))
            result = method.unlearn(trained, (X[retain_rows], y[retain_rows]), (X[forget_rows], y[forget_rows]),
                                    seed=derive_seed(seed, "shadow", "unlearn", k, j))
            seconds["unlearn"] += float(result.seconds)
            parts["p_u"].append(probabilities(result.model.model, X[rows], n_classes))
            parts["deleted"].append(np.r_[np.ones(forget_rows.size, bool), np.zeros(neg_rows.size, bool)])
            parts["record"].append(rows)
            parts["original"].append(np.full(rows.size, k))
            parts["unlearned"].append(np.full(rows.size, count))
            count += 1
    return ShadowPairs(
        probs_original=np.concatenate(parts["p_o"]),
        probs_unlearned=np.concatenate(parts["p_u"]),
        is_deleted=np.concatenate(parts["deleted"]),
        record=np.concatenate(parts["record"]).astype(np.int64),
        original=np.concatenate(parts["original"]).astype(np.int64),
        unlearned=np.concatenate(parts["unlearned"]).astype(np.int64),
        seconds=seconds,
        settings={"unlearner": method.name, "unlearner_options": method.options(), "n_originals": n_originals,
                  "deletions_per_original": deletions, "group_size": group_size, "train_fraction": float(train_fraction),
                  "negatives_per_deletion": negatives, "n_shadow_records": int(n), "seed": seed,
                  "architecture": model.architecture},
    )


def _unwrap(model: Any) -> Any:
    """The deployed model of an :class:`unlearners.Trained`, anything else as is."""
    from mia_audit.unlearners import Trained

    return model.model if isinstance(model, Trained) else model


def pair_probabilities(original: Any, unlearned: Any, X: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The (n, C) posteriors of an (original, unlearned) pair on records ``X``; the models are
    torch modules, xgboost models, adapters or :class:`unlearners.Trained`."""
    return probabilities(_unwrap(original), X, n_classes), probabilities(_unwrap(unlearned), X, n_classes)


def two_model_audit(shadow: ShadowPairs, probs_original: Any, probs_unlearned: Any, is_deleted: Any, *,
                    feature: str = "sorted_diff", classifier: str = "random-forest", seed: int = 0,
                    **attack_options: Any) -> dict[str, Any]:
    """Fit the two-model attack on ``shadow`` pairs and attack the target pairs.

    ``probs_original`` / ``probs_unlearned`` (n, C): the target original's and unlearned
    model's posteriors on the target records; ``is_deleted`` (n,): True for the records the
    target unlearning deleted, False for records the target original never saw.
    Returns ``{"scores", "baseline_scores", "is_deleted", "auc", "comparison" (see
    :func:`mia_audit.attacks.two_model.privacy_degradation`), "identical_share" {"shadow", "target"},
    "warnings", "settings"}``.
    """
    from mia_audit.attacks.two_model import TwoModelAttack, check_pair, identical_output_share, privacy_degradation, trap_warnings

    if not isinstance(shadow, ShadowPairs):
        raise bad_value("shadow", "ShadowPairs (from mia_audit.run.shadow_unlearning.shadow_pairs)", type(shadow).__name__)
    attack = TwoModelAttack(feature=feature, classifier=classifier, seed=seed, **attack_options)
    attack.fit_pairs(shadow.probs_original, shadow.probs_unlearned, shadow.is_deleted)
    p_o, p_u = check_pair(probs_original, probs_unlearned)
    target_shares = identical_output_share(p_o, p_u, is_deleted)
    deleted = np.asarray(is_deleted).astype(bool)
    scores = attack.score_pair(p_o, p_u)
    out: dict[str, Any] = {
        "scores": scores,
        "is_deleted": deleted,
        "identical_share": {"shadow": attack.identical_share_, "target": target_shares},
        "warnings": list(attack.warnings_) + trap_warnings(target_shares, where="target pairs"),
        "settings": {"feature": attack.feature, "classifier": attack.classifier, "seed": attack.seed,
                     "shadow": dict(shadow.settings)},
    }
    if attack.baseline:
        baseline = attack.score_original(p_o)
        out["baseline_scores"] = baseline
        comparison = privacy_degradation(scores, baseline, deleted)
        out["comparison"] = comparison
        out["auc"] = comparison["auc_two_model"]
    else:
        from mia_audit.metrics import auc

        out["auc"] = auc(scores[deleted], scores[~deleted])
    return out


# ---------------------------------------------------------------------------- U-LiRA references


@dataclass(frozen=True)
class ULiRAReferences:
    """Reference statistics for U-LiRA on a pool of N records.

    signals      :class:`mia_audit.reference.QuerySignals` (M, N, A) of the M = K R unlearned
                 reference models on every pool record and query
    unlearned    (M, N) bool: the record was trained on, then forgotten, by model m
    never_seen   (M, N) bool: the record was not in model m's training set
    trained      (K, N) bool: training membership of the K trained models
    original     (M,) int: which trained model each unlearned model comes from
    queries      the :class:`mia_audit.reference.QuerySet` the signals were taken with
    seconds      {"train": ..., "unlearn": ...}
    settings     what was done (JSON-able)
    """

    signals: Any
    unlearned: np.ndarray
    never_seen: np.ndarray
    trained: np.ndarray
    original: np.ndarray
    queries: Any
    seconds: dict[str, float]
    settings: dict[str, Any]


def ulira_references(X: Any, y: Any, *, model: ModelRecipe, unlearner: Any,
                     unlearner_options: Optional[Mapping] = None, n_models: int = 16, forget_sets_per_model: int = 10,
                     queries: Any = "auto", n_classes: Optional[int] = None, seed: int = 0,
                     device: Any = "auto") -> ULiRAReferences:
    """K = ``n_models`` reference models on random halves of the pool (X, y), each unlearned
    once per forget set of a random partition of its half into ``forget_sets_per_model``
    parts (see the module docstring). ``queries``: as :meth:`mia_audit.reference.QuerySet.for_data`
    ("auto": flips and 1-pixel shifts for images, one query otherwise)."""
    from mia_audit.reference.queries import QuerySet, QuerySignals, query_signals
    from mia_audit.reference.splits import check_n_models, membership_mask

    X, y, n_classes = _check_data(X, y, n_classes)
    model = _check_model(model)
    method = make_unlearner(unlearner, unlearner_options)
    n_models = check_n_models(n_models)
    parts = positive_int("forget_sets_per_model", forget_sets_per_model, minimum=2)  # 1 would forget everything
    query_set = QuerySet.for_data(X.shape, queries, augment=getattr(model.recipe, "augment", None))
    seed = check_seed(seed)
    n = X.shape[0]
    if n // 2 < parts + 1:
        raise InputError(
            f"each reference model trains on about {n // 2} pool records; forget_sets_per_model={parts} forget sets "
            f"need at least {parts + 1} (one record retained); give a larger pool or fewer forget sets"
        )
    from mia_audit.device import resolve_device

    device = resolve_device(device)
    trained_mask = membership_mask(n_models, n, derive_seed(seed, "u-lira", "mask"))
    signals, unlearned, never_seen, origin = [], [], [], []
    seconds = {"train": 0.0, "unlearn": 0.0}
    for k in range(n_models):
        train_rows = np.flatnonzero(trained_mask[k])
        trained = _train(method, model, X[train_rows], y[train_rows], n_classes, seed=seed,
                         label=("u-lira", "reference", k), device=device)
        seconds["train"] += float(trained.seconds)
        order = rng(seed, "u-lira", "forget-sets", k).permutation(train_rows.size)
        for r, chunk in enumerate(np.array_split(order, parts)):
            keep = np.ones(train_rows.size, dtype=bool)
            keep[chunk] = False
            retain_rows, forget_rows = train_rows[keep], train_rows[np.sort(chunk)]
            result = method.unlearn(trained, (X[retain_rows], y[retain_rows]), (X[forget_rows], y[forget_rows]),
                                    seed=derive_seed(seed, "u-lira", "unlearn", k, r))
            seconds["unlearn"] += float(result.seconds)
            got = query_signals(result.model.model, X, y, query_set)
            if not got.has_posteriors:
                raise InputError("the unlearned reference models give labels only; u-lira needs posterior outputs")
            signals.append(got)
            forgot = np.zeros(n, dtype=bool)
            forgot[forget_rows] = True
            unlearned.append(forgot)
            never_seen.append(~trained_mask[k])
            origin.append(k)
    return ULiRAReferences(
        signals=QuerySignals.stack(signals),
        unlearned=np.stack(unlearned),
        never_seen=np.stack(never_seen),
        trained=trained_mask,
        original=np.asarray(origin, dtype=np.int64),
        queries=query_set,
        seconds=seconds,
        settings={"unlearner": method.name, "unlearner_options": method.options(), "n_models": n_models,
                  "forget_sets_per_model": parts, "n_pool": int(n), "queries": query_set.to_dict(), "seed": seed,
                  "architecture": model.architecture},
    )


def ulira_audit(references: ULiRAReferences, target: Any, X: Any, y: Any, records: Any, is_forgotten: Any, *,
                fixed_variance: bool = False) -> dict[str, Any]:
    """Fit U-LiRA on ``references`` and attack the audited unlearned model ``target``.

    ``target``: the unlearned model (torch module, xgboost model, adapter or
    :class:`unlearners.Trained`); ``X, y``: the pool the references were built on;
    ``records`` (n,): pool rows to score; ``is_forgotten`` (n,): True for rows in the
    target's forget set, False for rows the target never saw. Returns ``{"scores",
    "is_forgotten", "auc", "settings"}``.
    """
    from mia_audit.attacks.ulira import ULiRA

    from mia_audit.metrics import auc
    from mia_audit.reference.queries import query_signals

    if not isinstance(references, ULiRAReferences):
        raise bad_value("references", "ULiRAReferences (from mia_audit.run.shadow_unlearning.ulira_references)",
                        type(references).__name__)
    X, y = np.asarray(X), np.asarray(y)
    n_pool = references.unlearned.shape[1]
    if X.shape[0] != n_pool or y.shape != (n_pool,):
        raise InputError(f"X and y must be the pool the references were built on ({n_pool} records); "
                         f"got {X.shape[0]} records and labels of shape {y.shape}")
    rows = np.asarray(records)
    if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer):
        raise bad_value("records", "a non-empty 1-D array of integer pool rows", f"shape {rows.shape}, dtype {rows.dtype}")
    if rows.min() < 0 or rows.max() >= n_pool:
        raise InputError(f"records must be pool rows in [0, {n_pool - 1}]; got values from {rows.min()} to {rows.max()}")
    forgotten = np.asarray(is_forgotten)
    if forgotten.shape != rows.shape or (forgotten.size and not np.all((forgotten == 0) | (forgotten == 1))):
        raise InputError(f"is_forgotten must be a 0/1 array with one entry per scored record ({rows.size}); "
                         f"got shape {forgotten.shape}")
    forgotten = forgotten.astype(bool)
    if forgotten.all() or not forgotten.any():
        raise InputError(f"is_forgotten must contain both forgotten and never-seen records; got {int(forgotten.sum())} "
                         f"forgotten and {int((~forgotten).sum())} never-seen")
    attack = ULiRA(fixed_variance=fixed_variance).fit_references(references.signals, references.unlearned,
                                                                 references.never_seen)
    scores = attack.score_target(query_signals(_unwrap(target), X[rows], y[rows], references.queries), rows)
    return {"scores": scores, "is_forgotten": forgotten, "auc": auc(scores[forgotten], scores[~forgotten]),
            "settings": {"fixed_variance": bool(fixed_variance), "references": dict(references.settings)}}


__all__ = ["ModelRecipe", "ShadowPairs", "ULiRAReferences", "shadow_pairs", "ulira_references", "two_model_audit",
           "ulira_audit", "pair_probabilities", "probabilities", "make_unlearner"]

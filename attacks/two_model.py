"""``two-model``: membership inference from an original and an unlearned model (Chen et al. CCS 2021).

Chen, Zhang, Wang, Backes, Humbert, Zhang, "When machine unlearning jeopardizes
privacy" (CCS 2021; code: MinChen00/UnlearningLeaks). The attacker queries a target
record on both versions of a model, the original (trained with the record) and the
unlearned one (after a deletion), and asks: was this record in the original's
training set and deleted? A higher score means "more likely deleted".

Features of one record, from the probability vectors ``p_o`` (original) and ``p_u``
(unlearned), each of length C (:func:`pair_features`):

=================  ===============================================================
``direct_diff``    p_o - p_u                                              (C)
``sorted_diff``    p_o sorted in descending order, p_u rearranged in the   (C)
                   same class order, then the difference
``l2_distance``    ||p_o - p_u||_2                                         (1)
``direct_concat``  [p_o, p_u]                                              (2C)
``sorted_concat``  [p_o sorted descending, p_u in the same class order]    (2C)
=================  ===============================================================

"Sorted" follows the reference code: one class order per record, the original's
descending order, applied to both vectors, so each column still compares the same
class in the two models (sorting ``p_u`` on its own would pair different classes).
Ascending or descending only permutes columns, which no classifier used here minds.
Ties in ``p_o`` are broken by class index (stable sort), so features are deterministic.

The attack classifier (a random forest by default; logistic regression or an MLP from
scikit-learn as options; the reference code offers LR, DT, RF and MLP attack models, its
command line defaulting to a decision tree, which a forest of trees generalises with
less variance on a few hundred shadow pairs) is trained on shadow pairs built by
:mod:`mia_audit.run.shadow_unlearning`: positives are the deleted records of shadow unlearned
models, negatives are records no shadow model of the pair was trained on, queried on
the same pair. The paper's main setting deletes one record per unlearned model; group
deletions are an option of the orchestration.

The default forest is scikit-learn's usual one, 100 trees grown to full depth
(``n_estimators`` sets the count); the reference code's random-forest attack model has
500 trees with at least 30 records per leaf. Fully grown trees give more extreme
probabilities (leaves of a few shadow pairs), the reference forest smoother ones: the
two can rank records alike while their confidences differ. AUC depends only on the
ranking, but DegRate (below: the mean difference between the two-model and the
classical attack's confidence in each record's true status) depends on the classifier's
calibration, and DegCount, which compares the same two confidences, can too; compare
them only between runs with the same classifier and settings.

Default feature: ``sorted_diff``. The paper and its code evaluate all five
constructions side by side, with no single one best everywhere. The difference of
sorted posteriors does not depend on which class a record belongs to (it generalises
across classes from few shadow pairs), keeps the direction of the change per rank that
the Euclidean distance throws away, and has half the dimension of the concatenations.
Measured on this project's test problem (digits MLPs trained on 100 records, retrain,
single deletions, 24 shadow and 24 target deletions): AUC 0.79 (sorted_diff), 0.83
(direct_diff), 0.82 (l2_distance), 0.49 (direct_concat), 0.56 (sorted_concat); with
more shadow pairs (40 deletions) 0.92 / 0.92 / 0.88 / 0.57 / 0.74. The concatenations
need many more shadow pairs to learn the same thing.

The paper compares the attack with the classical attack on the original model alone,
trained the same way on the same shadow records but with ``p_o`` as the only feature
(``basic_mia`` in the reference code). :meth:`TwoModelAttack.fit_pairs` fits that
baseline too (:meth:`TwoModelAttack.score_original`), and
:func:`privacy_degradation` gives both AUCs and the paper's two per-record statistics:
DegCount, the share of target records whose true status (deleted or not) the two-model
attack predicts with higher confidence than the classical attack, and DegRate, the
mean of that confidence difference (the confidence being the attack's probability of
the record's true status).

The trap of deterministic unlearning: where unlearning leaves a record's output
bit-for-bit unchanged (SISA shards not touched by the deletion, a model retrained to the
same weights), the classifier can separate deleted from never-seen records by "did the
output change at all", not by memorisation. :func:`identical_output_share` measures the
share of records with ``p_o == p_u`` exactly, per kind of record; :func:`trap_warnings`
turns a non-zero share into a warning that :meth:`TwoModelAttack.fit_pairs` stores in
``warnings_`` and :func:`mia_audit.run.shadow_unlearning.two_model_audit` returns with the
scores. We flag rather than drop those records: an attacker querying the deployed
system sees exactly those unchanged outputs, so dropping them would understate what
leaks; the report shows the shares so a reader can tell memorisation from change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mia_audit.outputs import Outputs
from mia_audit.checks import boolean, positive_int
from mia_audit.errors import InputError, NotApplicableError, NotFittedError, bad_value
from mia_audit.seeding import check_seed
from mia_audit.signals import Signals

from .base import Attack
from .registry import ATTACKS

FEATURES = ("direct_diff", "sorted_diff", "l2_distance", "direct_concat", "sorted_concat")
#: the classical single-model attack's feature (the original's posterior only)
BASELINE_FEATURE = "original_only"
CLASSIFIERS = ("random-forest", "logistic-regression", "mlp")
#: share of exactly unchanged outputs above which a warning is raised
IDENTICAL_WARNING_SHARE = 0.01


# ---------------------------------------------------------------------------- pure functions


def check_probabilities(probs: object, param: str) -> np.ndarray:
    """``probs`` as a float64 (n, C) matrix of probability rows (C >= 2); never modified."""
    try:
        arr = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_value(param, "an (n, C) array of class probabilities", type(probs).__name__) from None
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise bad_value(param, "an (n, C) array of class probabilities with C >= 2", f"shape {arr.shape}")
    try:  # the same checks as any model output: finite, >= 0, rows summing to 1
        Outputs("probs", arr, arr.shape[1])
    except InputError as exc:
        raise InputError(f"{param}: {exc}; pass softmax outputs, not logits") from None
    return arr


def check_pair(probs_original: object, probs_unlearned: object) -> tuple[np.ndarray, np.ndarray]:
    p_o = check_probabilities(probs_original, "probs_original")
    p_u = check_probabilities(probs_unlearned, "probs_unlearned")
    if p_o.shape != p_u.shape:
        raise InputError(
            f"probs_original and probs_unlearned must have the same shape (one row per record, one column per "
            f"class); got {p_o.shape} and {p_u.shape}"
        )
    return p_o, p_u


def check_feature(feature: object, *, baseline: bool = False) -> str:
    allowed = FEATURES + ((BASELINE_FEATURE,) if baseline else ())
    if feature not in allowed:
        raise bad_value("feature", f"one of {', '.join(allowed)}", feature)
    return str(feature)


def _descending_order(p: np.ndarray) -> np.ndarray:
    """Per row, the class indices by decreasing probability; ties by class index."""
    return np.argsort(-p, axis=1, kind="stable")


def pair_features(probs_original: object, probs_unlearned: object, feature: str) -> np.ndarray:
    """The (n, d) attack features of ``feature`` (see the module docstring); inputs unchanged."""
    feature = check_feature(feature, baseline=True)
    p_o, p_u = check_pair(probs_original, probs_unlearned)
    if feature == "direct_diff":
        return p_o - p_u
    if feature == "l2_distance":
        return np.sqrt(np.sum((p_o - p_u) ** 2, axis=1, keepdims=True))
    if feature == "direct_concat":
        return np.concatenate([p_o, p_u], axis=1)
    if feature == BASELINE_FEATURE:
        return p_o.copy()
    order = _descending_order(p_o)
    s_o = np.take_along_axis(p_o, order, axis=1)
    s_u = np.take_along_axis(p_u, order, axis=1)
    if feature == "sorted_diff":
        return s_o - s_u
    return np.concatenate([s_o, s_u], axis=1)


def identical_output_share(probs_original: object, probs_unlearned: object,
                           is_deleted: object = None) -> dict[str, float]:
    """Share of records whose output did not change at all (``p_o == p_u`` exactly).

    Returns ``{"all": share}``, plus ``"deleted"`` and ``"never_seen"`` when
    ``is_deleted`` (n,) is given (a share is NaN for an empty group).
    """
    p_o, p_u = check_pair(probs_original, probs_unlearned)
    same = np.all(p_o == p_u, axis=1)
    out = {"all": float(same.mean()) if same.size else float("nan")}
    if is_deleted is not None:
        deleted = _check_labels(is_deleted, len(same), "is_deleted", need_both=False)
        for key, rows in (("deleted", deleted), ("never_seen", ~deleted)):
            out[key] = float(same[rows].mean()) if rows.any() else float("nan")
    return out


def trap_warnings(shares: dict[str, float], *, where: str) -> list[str]:
    """Warnings for the "any change at all" trap, from :func:`identical_output_share`."""
    flagged = {k: v for k, v in shares.items() if np.isfinite(v) and v >= IDENTICAL_WARNING_SHARE}
    if not flagged:
        return []
    text = ", ".join(f"{k} {v:.1%}" for k, v in shares.items() if np.isfinite(v))
    return [
        f"{where}: some records have exactly the same output before and after unlearning ({text}); "
        "the attack can then separate records by whether their output changed at all (label-only or "
        "rounded outputs, or deterministic unlearning such as untouched SISA shards), which is a real "
        "leak of the deployed pair but not a measure of memorisation"
    ]


def _check_labels(labels: object, n: int, param: str, *, need_both: bool = True) -> np.ndarray:
    m = np.asarray(labels)
    if m.ndim != 1 or m.shape[0] != n:
        raise InputError(f"{param} must be a 1-D array with one entry per record ({n}); got shape {m.shape}")
    if m.size and not np.all((m == 0) | (m == 1)):
        raise InputError(f"{param} must hold only 0/1 or False/True")
    m = m.astype(bool)
    if need_both and (m.all() or not m.any()):
        raise InputError(
            f"{param} must contain both deleted and never-seen records; got {int(m.sum())} deleted and "
            f"{int((~m).sum())} never-seen"
        )
    return m


def make_classifier(classifier: str, *, seed: int, n_estimators: int = 100) -> Any:
    """An unfitted scikit-learn attack classifier, seeded (one thread: the cores are shared)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    state = int(seed) % 2**32
    if classifier == "random-forest":
        return RandomForestClassifier(n_estimators=n_estimators, random_state=state, n_jobs=1)
    if classifier == "logistic-regression":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if classifier == "mlp":
        return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), max_iter=1000,
                                                             random_state=state))
    raise bad_value("classifier", f"one of {', '.join(CLASSIFIERS)}", classifier)


def _positive_probability(model: Any, features: np.ndarray) -> np.ndarray:
    proba = model.predict_proba(features)
    classes = list(model.classes_)
    return np.asarray(proba[:, classes.index(1)], dtype=np.float64)


def privacy_degradation(two_model_scores: object, single_model_scores: object, is_member: object) -> dict[str, Any]:
    """The paper's comparison of the two-model attack with the classical attack on the original.

    ``two_model_scores`` and ``single_model_scores`` (n,) are the two attacks' probabilities
    that each record was a member (deleted), in [0, 1]; ``is_member`` (n,) the truth.
    Returns ``{"auc_two_model", "auc_single_model", "auc_difference", "deg_count",
    "deg_rate", "n_members", "n_nonmembers"}`` where, with the confidence of an attack in
    a record's true status ``c = s`` for members and ``1 - s`` for non-members,
    DegCount = mean(c_two > c_single) and DegRate = mean(c_two - c_single)
    (Chen et al. 2021; ``calculate_comparison_metrics`` in the reference code).
    """
    from mia_audit.metrics import as_scores, auc

    two = as_scores(two_model_scores, "two_model_scores")
    single = as_scores(single_model_scores, "single_model_scores")
    if two.shape != single.shape:
        raise InputError(
            f"two_model_scores and single_model_scores must score the same records; got {two.size} and {single.size}"
        )
    for param, s in (("two_model_scores", two), ("single_model_scores", single)):
        if s.min() < 0 or s.max() > 1:
            raise InputError(
                f"{param} must be attack probabilities in [0, 1] (DegCount and DegRate compare confidences); "
                f"got values from {s.min():.3g} to {s.max():.3g}"
            )
    member = _check_labels(is_member, two.size, "is_member")
    conf_two = np.where(member, two, 1.0 - two)
    conf_single = np.where(member, single, 1.0 - single)
    diff = conf_two - conf_single
    auc_two = auc(two[member], two[~member])
    auc_single = auc(single[member], single[~member])
    return {
        "auc_two_model": auc_two,
        "auc_single_model": auc_single,
        "auc_difference": auc_two - auc_single,
        "deg_count": float(np.mean(diff > 0)),
        "deg_rate": float(np.mean(diff)),
        "n_members": int(member.sum()),
        "n_nonmembers": int((~member).sum()),
    }


# ---------------------------------------------------------------------------- the attack


@ATTACKS.register("two-model")
class TwoModelAttack(Attack):
    """Original vs unlearned posteriors, classifier trained on shadow pairs (Chen et al. CCS 2021)."""

    name = "two-model"
    requires = ("confidence",)  # posterior outputs (probability vectors), not labels only
    requires_fit = True
    #: needs an (original, unlearned) pair per record and shadow pairs, not one model's signals
    access = "pairs"
    reference = ("Chen, Zhang, Wang, Backes, Humbert, Zhang. When machine unlearning jeopardizes privacy. "
                 "CCS 2021.")

    def __init__(self, *, feature: str = "sorted_diff", classifier: str = "random-forest", n_estimators: int = 100,
                 baseline: bool = True, seed: int = 0) -> None:
        self.feature = check_feature(feature)
        if classifier not in CLASSIFIERS:
            raise bad_value("classifier", f"one of {', '.join(CLASSIFIERS)}", classifier)
        self.classifier = classifier
        self.n_estimators = positive_int("n_estimators", n_estimators)
        self.baseline = boolean("baseline", baseline)
        self.seed = check_seed(seed)

    # ------------------------------------------------------------------ fitting and scoring
    def fit_pairs(self, probs_original: object, probs_unlearned: object, is_deleted: object) -> "TwoModelAttack":
        """Train on shadow pairs: (n, C) posteriors of shadow originals and their unlearned
        versions, and ``is_deleted`` (n,) (1 = deleted by that unlearning, 0 = never seen)."""
        p_o, p_u = check_pair(probs_original, probs_unlearned)
        deleted = _check_labels(is_deleted, p_o.shape[0], "is_deleted")
        labels = deleted.astype(np.int64)
        model = make_classifier(self.classifier, seed=self.seed, n_estimators=self.n_estimators)
        model.fit(pair_features(p_o, p_u, self.feature), labels)
        baseline = None
        if self.baseline:
            baseline = make_classifier(self.classifier, seed=self.seed, n_estimators=self.n_estimators)
            baseline.fit(pair_features(p_o, p_u, BASELINE_FEATURE), labels)
        shares = identical_output_share(p_o, p_u, deleted)
        self.model_ = model
        self.baseline_model_ = baseline
        self.n_classes_ = int(p_o.shape[1])
        self.identical_share_ = shares
        self.warnings_ = trap_warnings(shares, where="shadow pairs")
        return self

    def _check_fitted(self, n_classes: int) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"attack {self.name!r} must be fitted before scoring; call fit_pairs(probs_original, "
                "probs_unlearned, is_deleted) on shadow pairs (mia_audit.run.shadow_unlearning.shadow_pairs)"
            )
        if n_classes != self.n_classes_:
            raise InputError(
                f"the attack was fitted on {self.n_classes_}-class posteriors; got {n_classes} classes"
            )

    def score_pair(self, probs_original: object, probs_unlearned: object) -> np.ndarray:
        """Probability that each record (row) was deleted, shape (n,), float64; higher = deleted."""
        p_o, p_u = check_pair(probs_original, probs_unlearned)
        self._check_fitted(p_o.shape[1])
        if p_o.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        return _positive_probability(self.model_, pair_features(p_o, p_u, self.feature))

    def score_original(self, probs_original: object) -> np.ndarray:
        """The classical attack's probability of membership from the original's posteriors only
        (the paper's baseline, fitted on the same shadow records), shape (n,)."""
        p_o = check_probabilities(probs_original, "probs_original")
        self._check_fitted(p_o.shape[1])
        if self.baseline_model_ is None:
            raise InputError("baseline=False: this attack was fitted without the single-model baseline")
        if p_o.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        return _positive_probability(self.baseline_model_, p_o)

    # ------------------------------------------------------------------ single-model interface
    def _not_applicable(self) -> NotApplicableError:
        return NotApplicableError(
            f"attack {self.name!r} compares an original and an unlearned model: it needs both models' posteriors "
            "and shadow pairs (mia_audit.run.shadow_unlearning.two_model_audit), not one model's signals"
        )

    def fit(self, signals: Signals, is_member: np.ndarray) -> "TwoModelAttack":
        raise self._not_applicable()

    def score(self, signals: Signals) -> np.ndarray:
        raise self._not_applicable()

    def membership_scores(self, signals: Signals, is_member: np.ndarray) -> np.ndarray:
        raise self._not_applicable()

    def _score(self, signals: Signals) -> np.ndarray:
        raise self._not_applicable()


__all__ = ["TwoModelAttack", "FEATURES", "CLASSIFIERS", "pair_features", "identical_output_share", "trap_warnings",
           "privacy_degradation", "check_probabilities", "check_pair", "make_classifier"]

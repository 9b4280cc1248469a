"""Interoperability with TensorFlow Privacy's membership-inference module.

TensorFlow Privacy 0.8.12 is the last release with
``privacy_tests/membership_inference_attack``; its code needs no TensorFlow. It is an
optional piece, installed with ``pip install --no-deps tensorflow-privacy==0.8.12``
plus ``pandas``, ``statsmodels`` and ``immutabledict`` (the ``tfp`` extra installs
those three). :func:`tfp_mia` imports it the supported way:

* ``sys.skip_tf_privacy_import = True`` before the first import, so the package's
  ``__init__`` does not pull TensorFlow;
* on scikit-learn >= 1.7, ``sklearn.utils.parallel_backend`` (moved to joblib) is
  provided as joblib's, and on >= 1.8 the private
  ``sklearn.metrics._ranking._binary_clf_curve`` that its epsilon bound calls is
  provided by an equivalent built on :class:`mia_audit.metrics.ScoreRanking`.

Conversions: :func:`to_attack_input_data` turns our per-sample inputs into its
``AttackInputData`` (members = its "train", non-members = its "test");
:func:`signals_from_attack_input_data` goes the other way.

Where the two differ by design:

* score direction: its ``membership_scores_*`` follow "higher = member" for the
  threshold attacks, as ours do everywhere; its LiRA helper
  (``advanced_mia.compute_score_lira``) gives members *lower* scores, so never mix
  those with ours without negating them;
* its log-probabilities clip p at 1e-30 and its loss comes from a plain softmax, so
  on very confident outputs (losses below about 1e-16) its losses tie at 0 where
  ours stay distinct; on ordinary outputs the AUCs agree to 1e-9 (tested);
* its attacker advantage is max |TPR - FPR|; ours is max (TPR - FPR) because our
  scores point one way;
* its trained attacks (logistic regression, ...) use unseeded global randomness and
  its own train/test split of the attack data; ours (``loss-lr``) is seeded and
  scores every sample out of fold, so the two agree only within sampling error.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

from .errors import InputError, MiaAuditError
from .outputs import Outputs
from .signals import Signals, check_labels, compute_signals

TFP_VERSION = "0.8.12"
INSTALL_HINT = (
    f"pip install 'mia-audit[tfp]' && pip install --no-deps tensorflow-privacy=={TFP_VERSION}"
)


def _binary_clf_curve(y_true, y_score, pos_label=None, sample_weight=None):
    """(fps, tps, thresholds) at each distinct score, highest first (scikit-learn's private helper)."""
    from .metrics import ScoreRanking

    y = np.asarray(y_true)
    pos = 1 if pos_label is None else pos_label
    if sample_weight is not None:
        raise InputError("sample_weight is not supported by this _binary_clf_curve replacement; got weights")
    s = np.asarray(y_score, dtype=np.float64)
    ranking = ScoreRanking(s[y == pos], s[y != pos])
    return np.cumsum(ranking.nonmember_counts), np.cumsum(ranking.member_counts), np.asarray(ranking.values)


def _install_sklearn_shims() -> None:
    import sklearn.metrics._ranking as ranking
    import sklearn.utils

    if not hasattr(sklearn.utils, "parallel_backend"):
        import joblib

        sklearn.utils.parallel_backend = joblib.parallel_backend
    if not hasattr(ranking, "_binary_clf_curve"):
        ranking._binary_clf_curve = _binary_clf_curve


def tfp_available() -> bool:
    try:
        tfp_mia()
    except MiaAuditError:
        return False
    return True


def tfp_mia() -> ModuleType:
    """TF Privacy's ``membership_inference_attack`` module (see the module docstring)."""
    sys.skip_tf_privacy_import = True
    try:
        _install_sklearn_shims()
        from tensorflow_privacy.privacy.privacy_tests.membership_inference_attack import (
            membership_inference_attack as mia,
        )
    except ImportError as exc:
        raise MiaAuditError(f"TensorFlow Privacy's membership-inference module is not importable ({exc}); "
                            f"install it with: {INSTALL_HINT}") from None
    return mia


def tfp_data_structures() -> ModuleType:
    tfp_mia()
    from tensorflow_privacy.privacy.privacy_tests.membership_inference_attack import data_structures

    return data_structures


def to_attack_input_data(members: Outputs, member_labels: Any, nonmembers: Outputs, nonmember_labels: Any,
                         *, with_labels: bool = True) -> Any:
    """TF Privacy's ``AttackInputData`` for our outputs (members -> train, non-members -> test).

    ``with_labels=False`` leaves the labels out, so its entropy attack uses the plain
    prediction entropy instead of Song & Mittal's modified entropy.
    """
    ds = tfp_data_structures()
    for name, o in (("members", members), ("nonmembers", nonmembers)):
        if not isinstance(o, Outputs) or not o.has_posteriors:
            raise InputError(f"{name} must be logits or probs Outputs for TF Privacy; got "
                             f"{getattr(o, 'kind', type(o).__name__)}")
    y_in = check_labels(member_labels, len(members), members.n_classes)
    y_out = check_labels(nonmember_labels, len(nonmembers), nonmembers.n_classes)
    kind = "logits" if members.kind == "logits" else "probs"
    if nonmembers.kind != members.kind:
        raise InputError(f"members and nonmembers must have the same kind of outputs; got {members.kind} and {nonmembers.kind}")
    kwargs = {f"{kind}_train": members.values.copy(), f"{kind}_test": nonmembers.values.copy()}
    if with_labels:
        kwargs.update(labels_train=y_in.copy(), labels_test=y_out.copy())
    return ds.AttackInputData(**kwargs)


def signals_from_attack_input_data(data: Any) -> tuple[Signals, Signals]:
    """Our signals for the train (members) and test (non-members) parts of an ``AttackInputData``."""
    parts = []
    for split in ("train", "test"):
        labels = getattr(data, f"labels_{split}")
        logits, probs = getattr(data, f"logits_{split}"), getattr(data, f"probs_{split}")
        if labels is None or (logits is None and probs is None):
            raise InputError(f"AttackInputData must hold labels_{split} and logits_{split} or probs_{split}")
        values = logits if logits is not None else probs
        kind = "logits" if logits is not None else "probs"
        outputs = Outputs(kind, np.array(values, dtype=np.float64), int(np.asarray(values).shape[1]))
        parts.append(compute_signals(outputs, np.asarray(labels)))
    return parts[0], parts[1]


def run_tfp_attacks(data: Any, attack_types: list[str]) -> dict[str, Any]:
    """Run TF Privacy's attacks on the whole data set; returns {attack type name: single result}."""
    mia = tfp_mia()
    ds = tfp_data_structures()
    types = []
    for name in attack_types:
        try:
            types.append(getattr(ds.AttackType, name))
        except AttributeError:
            valid = ", ".join(t.name for t in ds.AttackType)
            raise InputError(f"attack_types must name TF Privacy attack types ({valid}); got {name!r}") from None
    results = mia.run_attacks(data, ds.SlicingSpec(entire_dataset=True), attack_types=types)
    return {r.attack_type.name: r for r in results.single_attack_results}

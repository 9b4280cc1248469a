"""Shadow pairs (two-model attack) and U-LiRA references: who is trained, deleted and queried.

A recording unlearner (returns the original unchanged and remembers each call's forget
records) checks the designs exactly; tiny Adult MLPs (2 epochs) keep it fast.
"""

import copy

import numpy as np
import pytest

from mia_audit.data import load_dataset
from mia_audit.errors import InputError
from mia_audit.run.shadow_unlearning import (ModelRecipe, ShadowPairs, make_unlearner, pair_probabilities, probabilities,
                                     shadow_pairs, two_model_audit, ulira_audit, ulira_references)
from mia_audit.training import recipe_for
from mia_audit.unlearners import Records, Unlearner, fingerprints


class Recorder(Unlearner):
    """Keeps the original; records the fingerprints of every call's retain and forget records."""

    name = "recorder"

    def __init__(self):
        self.calls = []

    def _unlearn(self, model, retain, forget, validation, seed):
        self.calls.append({"forget": fingerprints(forget), "retain": fingerprints(retain), "seed": seed,
                           "train": model.train_keys, "original": model.model})
        return copy.deepcopy(model.model), {}


@pytest.fixture(scope="module")
def adult():
    data = load_dataset("adult")
    rows = np.random.default_rng(0).permutation(len(data.y))[:120]
    model = ModelRecipe("mlp", recipe_for("mlp", "tabular").replace(epochs=2, batch_size=32), {"hidden": (16,)})
    return data.X[rows], data.y[rows], model


def keys(X, y):
    return fingerprints(Records(X, y))


# Posteriors of the same model on the same record, computed in different batches, agree only
# to float32 rounding: the MLPs run in float32 (eps 1.2e-7) and a different batch size can pick
# a different GEMM kernel (120 rows against 4 do on an AVX-512 machine, with ATEN_CPU_CAPABILITY
# avx2 as well), which sums in another order and moves a logit by a few ulps; a two-class
# probability moves by at most a quarter of the logit gap's change. Measured: up to 1.1e-8 (1 and
# 2 threads, default and avx2 alike). PROB_ATOL = 1e-6 leaves ~100x room above that and stays ~40x
# below the smallest change retraining makes (3.9e-5 in test_group_deletions_and_determinism).
# shadow_pairs itself queries both models of a pair in the same batch, so there a no-op
# unlearner's pairs are bitwise equal.
PROB_ATOL = 1e-6


def test_single_deletions_design(adult):
    X, y, model = adult
    rec = Recorder()
    X0, y0 = X.copy(), y.copy()
    pairs = shadow_pairs(X, y, model=model, unlearner=rec, n_originals=2, deletions_per_original=5,
                         negatives_per_deletion=3, n_classes=2, seed=7, device="cpu")
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert isinstance(pairs, ShadowPairs) and len(pairs) == 2 * 5 * (1 + 3)
    assert pairs.probs_original.shape == pairs.probs_unlearned.shape == (40, 2)
    assert pairs.is_deleted.sum() == 10 and len(rec.calls) == 10
    all_keys = keys(X, y)
    for j, call in enumerate(rec.calls):
        rows = pairs.unlearned == j
        deleted = pairs.record[rows & pairs.is_deleted]
        never = pairs.record[rows & ~pairs.is_deleted]
        assert deleted.size == 1 and never.size == 3
        # the deleted record is this call's forget set, inside the original's training set
        np.testing.assert_array_equal(np.sort(all_keys[deleted]), np.sort(call["forget"]))
        assert np.isin(call["forget"], call["train"]).all()
        # retain + forget = the original's whole training set (60 records = half the pool)
        assert call["retain"].size + call["forget"].size == call["train"].size == 60
        # negatives were never seen by the original
        assert not np.isin(all_keys[never], call["train"]).any()
    # single deletions of one original are distinct records
    for k in range(2):
        d = pairs.record[(pairs.original == k) & pairs.is_deleted]
        assert np.unique(d).size == 5
    # a no-op unlearner, end to end: shadow_pairs queries both models of a pair on the same rows in
    # the same batch, so the outputs are bitwise identical and every pair is flagged by the attack's
    # exact identical-output check (shadow and target alike)
    np.testing.assert_array_equal(pairs.probs_original, pairs.probs_unlearned)
    out = two_model_audit(pairs, pairs.probs_original, pairs.probs_unlearned, pairs.is_deleted, seed=0)
    assert out["identical_share"]["shadow"]["never_seen"] == 1.0
    assert out["identical_share"]["shadow"]["deleted"] == 1.0
    assert out["identical_share"]["target"]["never_seen"] == out["identical_share"]["target"]["deleted"] == 1.0
    assert len(out["warnings"]) == 2
    # each original queried on the whole pool (one 120-row batch) against its pairs' 4-row batches:
    # two different computations, equal only up to float32 rounding (see PROB_ATOL)
    for k, first_call in ((0, 0), (1, 5)):
        whole = probabilities(rec.calls[first_call]["original"], X, 2)
        rows = pairs.original == k
        np.testing.assert_allclose(pairs.probs_original[rows], whole[pairs.record[rows]], rtol=0, atol=PROB_ATOL)


def test_group_deletions_and_determinism(adult):
    X, y, model = adult
    kw = dict(model=model, unlearner="retrain", n_originals=1, deletions_per_original=2, group_size=4,
              negatives_per_deletion=1, n_classes=2, device="cpu")
    a = shadow_pairs(X, y, seed=3, **kw)
    b = shadow_pairs(X, y, seed=3, **kw)
    assert len(a) == 2 * (4 + 4) and a.is_deleted.sum() == 8
    for f in ("probs_original", "probs_unlearned", "record", "is_deleted"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.record, shadow_pairs(X, y, seed=4, **kw).record)
    assert a.settings["group_size"] == 4 and a.settings["unlearner"] == "retrain"
    # retraining changed the deleted records' outputs, by more than float32 rounding across
    # batches (measured smallest change 3.9e-5; `!=` alone would pass on rounding noise)
    assert np.all(np.abs(a.probs_original - a.probs_unlearned).max(axis=1) > PROB_ATOL)


def test_ulira_references_design(adult):
    X, y, model = adult
    rec = Recorder()
    refs = ulira_references(X, y, model=model, unlearner=rec, n_models=4, forget_sets_per_model=3, n_classes=2,
                            seed=1, device="cpu")
    M, N = 4 * 3, 120
    assert refs.signals.logit_confidence.shape == (M, N, 1) and refs.unlearned.shape == refs.never_seen.shape == (M, N)
    assert not (refs.unlearned & refs.never_seen).any()
    # every record: trained-then-unlearned in exactly K/2 models, never seen in K R / 2
    np.testing.assert_array_equal(refs.unlearned.sum(axis=0), np.full(N, 2))
    np.testing.assert_array_equal(refs.never_seen.sum(axis=0), np.full(N, 6))
    np.testing.assert_array_equal(refs.trained.sum(axis=0), np.full(N, 2))
    all_keys = keys(X, y)
    for m, call in enumerate(rec.calls):
        k = refs.original[m]
        np.testing.assert_array_equal(np.sort(call["forget"]), np.sort(all_keys[refs.unlearned[m]]))
        np.testing.assert_array_equal(refs.never_seen[m], ~refs.trained[k])
        assert refs.unlearned[m].sum() == 20  # 60 training records in 3 forget sets
    # the no-op unlearned model is the original: its signals equal those of its trained model
    a, b = refs.signals.logit_confidence[0], refs.signals.logit_confidence[1]
    np.testing.assert_array_equal(a, b)


def test_ulira_audit_runs_on_a_model_object(adult):
    X, y, model = adult
    refs = ulira_references(X, y, model=model, unlearner="retrain", n_models=4, forget_sets_per_model=2, n_classes=2,
                            seed=2, device="cpu")
    u = make_unlearner("retrain")
    tr = np.flatnonzero(refs.trained[0])
    original = u.fit(model.build((X.shape[1],), 2, 0), X[tr], y[tr], model.recipe, seed=0, device="cpu")
    rows = np.r_[tr[:5], np.flatnonzero(~refs.trained[0])[:5]]
    out = ulira_audit(refs, original, X, y, rows, np.r_[np.ones(5), np.zeros(5)])
    fixed = ulira_audit(refs, original, X, y, rows, np.r_[np.ones(5), np.zeros(5)], fixed_variance=True)
    assert fixed["settings"]["fixed_variance"] and not np.array_equal(fixed["scores"], out["scores"])
    assert out["scores"].shape == (10,) and np.all(np.isfinite(out["scores"])) and 0 <= out["auc"] <= 1
    with pytest.raises(InputError, match="records must be pool rows in \\[0, 119\\]"):
        ulira_audit(refs, original, X, y, np.array([0, 500]), np.array([1, 0]))
    with pytest.raises(InputError, match="is_forgotten must contain both"):
        ulira_audit(refs, original, X, y, rows, np.ones(10))
    p_o, p_u = pair_probabilities(original, original.model, X[:3], 2)
    np.testing.assert_array_equal(p_o, p_u)
    np.testing.assert_allclose(probabilities(original.model, X[:3], 2).sum(axis=1), 1.0)


def test_bad_input_names_the_parameter(adult):
    X, y, model = adult
    kw = dict(model=model, unlearner="retrain", n_classes=2, device="cpu")
    with pytest.raises(InputError, match="model must be a mia_audit.run.shadow_unlearning.ModelRecipe"):
        shadow_pairs(X, y, model="mlp", unlearner="retrain")
    with pytest.raises(InputError, match="model.recipe must be a TrainRecipe"):
        ModelRecipe("mlp", None)
    with pytest.raises(InputError, match="model must be one of"):
        ModelRecipe("perceptron", None)
    with pytest.raises(InputError, match="unlearner must be one of .*retrain"):
        shadow_pairs(X, y, model=model, unlearner="forget-all")
    with pytest.raises(InputError, match="unknown option 'epoch'"):
        shadow_pairs(X, y, model=model, unlearner="retrain", unlearner_options={"epoch": 1})
    with pytest.raises(InputError, match="train_fraction must be a number in \\(0, 1\\)"):
        shadow_pairs(X, y, train_fraction=1.0, **kw)
    with pytest.raises(InputError, match="n_originals must be an integer >= 1"):
        shadow_pairs(X, y, n_originals=0, **kw)
    with pytest.raises(InputError, match="deletions_per_original x group_size = 100"):
        shadow_pairs(X, y, deletions_per_original=10, group_size=10, **kw)
    with pytest.raises(InputError, match="y must be a 1-D array with one label per record"):
        shadow_pairs(X, y[:5], **kw)
    with pytest.raises(InputError, match="n_models must be an even integer"):
        ulira_references(X, y, n_models=3, **kw)
    with pytest.raises(InputError, match="forget_sets_per_model=80 forget sets"):
        ulira_references(X, y, n_models=2, forget_sets_per_model=80, **kw)
    with pytest.raises(InputError, match="shadow must be ShadowPairs"):
        two_model_audit("pairs", np.eye(2), np.eye(2), [1, 0])

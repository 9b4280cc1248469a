"""U-LiRA (Hayes et al. 2024): golden math, contract, and real-data controls.

Real data: a pool of 400 digits records (64 pixel features, 10 classes). 8 reference MLPs
(64 hidden units, Adam lr 3e-3, 40 epochs) train on random halves of the pool; each is
unlearned once per part of a random partition of its half (4 parts: forget sets of 50;
2 parts for ``retrain``, to halve the retraining). The audited model is trained the same
way on its own random half of the pool, forgets a quarter (half for ``retrain``) of its
records with the same method, and is scored on them (positives) against the 200 pool
records it never saw. Measured AUCs, per-record / fixed variance: ``retrain`` (exact)
0.536 / 0.513 (SE 0.035: a null control); a no-op "unlearner" 0.744 / 0.758 and
``finetune`` for one epoch at lr 3e-4 0.717 / 0.745 (SE 0.046; the signal tests use the
fixed variance, LiRA's choice for few reference models).
"""

import copy

import numpy as np
import pytest
from scipy.stats import norm

from mia_audit.attacks import create_attack
from mia_audit.attacks.ulira import ULiRA
from mia_audit.data import load_dataset
from mia_audit.errors import InputError, NotApplicableError, NotFittedError
from mia_audit.outputs import Outputs
from mia_audit.reference import QuerySignals
from mia_audit.run.shadow_unlearning import ModelRecipe, make_unlearner, ulira_audit, ulira_references
from mia_audit.signals import compute_signals
from mia_audit.training import recipe_for
from mia_audit.unlearners import UNLEARNERS, Unlearner


def auc_se(n1, n0):
    return float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))


def qs(lc):
    lc = np.asarray(lc, dtype=np.float64)
    return QuerySignals(lc, 1 / (1 + np.exp(-lc)))


# ---------------------------------------------------------------------------- golden math


def reference_world(seed, M=9, N=6, A=1):
    g = np.random.default_rng(seed)
    lc = g.normal(size=(M, N, A)) * 2
    state = g.integers(0, 3, size=(M, N))  # 0 never seen, 1 trained and unlearned, 2 trained and kept
    state[:6] = np.array([0, 1, 2, 1, 0, 2])[:, None]  # every record gets >= 2 models of each kind
    return lc, state == 1, state == 0


def naive_scores(lc, unlearned, never, target, rows, fixed):
    M, N, A = lc.shape
    out = []
    pooled = {}
    if fixed:
        for side, mask in (("in", unlearned), ("out", never)):
            sq, dof = np.zeros(A), 0
            for i in range(N):
                vals = lc[mask[:, i], i, :]
                sq += ((vals - vals.mean(axis=0)) ** 2).sum(axis=0)
                dof += vals.shape[0] - 1
            pooled[side] = np.sqrt(sq / dof)
    for t, i in zip(target, rows):
        total = 0.0
        for a in range(A):
            vin = lc[unlearned[:, i], i, a]
            vout = lc[never[:, i], i, a]
            sin = pooled["in"][a] if fixed else np.std(vin, ddof=1)
            sout = pooled["out"][a] if fixed else np.std(vout, ddof=1)
            total += np.log(norm.pdf(t[a], vin.mean(), sin)) - np.log(norm.pdf(t[a], vout.mean(), sout))
        out.append(total / A)
    return np.array(out)


@pytest.mark.parametrize("fixed", [False, True])
@pytest.mark.parametrize("A", [1, 3])
def test_scores_match_a_naive_scipy_loop(fixed, A):
    lc, unlearned, never = reference_world(0, A=A)
    g = np.random.default_rng(1)
    rows = np.array([0, 3, 5, 3])
    target = g.normal(size=(4, A))
    copies = lc.copy(), unlearned.copy(), never.copy(), target.copy()
    got = ULiRA(fixed_variance=fixed).fit_references(qs(lc), unlearned, never).score_target(qs(target), rows)
    np.testing.assert_allclose(got, naive_scores(lc, unlearned, never, target, rows, fixed), rtol=1e-10)
    for a, b in zip(copies, (lc, unlearned, never, target)):
        np.testing.assert_array_equal(a, b)


def test_retained_records_do_not_enter_the_fit():
    lc, unlearned, never = reference_world(2)
    kept = ~(unlearned | never)
    changed = lc.copy()
    changed[kept] += 100.0  # values of models that trained on the record and kept it
    rows = np.arange(6)
    target = qs(np.random.default_rng(3).normal(size=(6, 1)))
    a = ULiRA().fit_references(qs(lc), unlearned, never).score_target(target, rows)
    b = ULiRA().fit_references(qs(changed), unlearned, never).score_target(target, rows)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- contract


def test_registered_and_not_applicable_to_one_models_signals():
    attack = create_attack("u-lira", seed=0)
    assert isinstance(attack, ULiRA) and ULiRA.access == "unlearned-references" and ULiRA.reference
    sig = compute_signals(Outputs("logits", np.zeros((4, 3)), 3), [0, 1, 2, 0])
    with pytest.raises(NotApplicableError):
        attack.membership_scores(sig, np.array([1, 1, 0, 0]))


def test_bad_input_names_the_parameter():
    lc, unlearned, never = reference_world(4)
    with pytest.raises(NotFittedError, match="fit_references"):
        ULiRA().score_target(qs(np.zeros((2, 1))), [0, 1])
    with pytest.raises(InputError, match="fixed_variance must be True or False"):
        create_attack("u-lira", fixed_variance="yes")
    with pytest.raises(InputError, match="must not overlap"):
        ULiRA().fit_references(qs(lc), unlearned, never | unlearned)
    with pytest.raises(InputError, match="never_seen must have shape"):
        ULiRA().fit_references(qs(lc), unlearned, never[:, :3])
    few = unlearned.copy()
    few[:, 2] = False
    few[0, 2] = True
    with pytest.raises(InputError, match="at least 2 trained-then-unlearned reference model.*record 2 has 1"):
        ULiRA().fit_references(qs(lc), few, never & ~few)
    fitted = ULiRA().fit_references(qs(lc), unlearned, never)
    with pytest.raises(InputError, match="pool_indices must be integers in \\[0, 5\\]"):
        fitted.score_target(qs(np.zeros((1, 1))), [6])
    with pytest.raises(InputError, match="target signals must have shape \\(n, 1\\)"):
        fitted.score_target(qs(np.zeros((1, 2))), [0])


# ---------------------------------------------------------------------------- real data


class NoOp(Unlearner):
    """Returns the original unchanged (an unlearner that does nothing)."""

    name = "no-op"

    def _unlearn(self, model, retain, forget, validation, seed):
        return copy.deepcopy(model.model), {}


N_POOL, K, PARTS = 400, 8, 4


@pytest.fixture(scope="module")
def digits_pool():
    data = load_dataset("digits")
    X = data.X.reshape(len(data.y), -1)
    pool = np.random.default_rng(0).permutation(len(data.y))[:N_POOL]
    model = ModelRecipe("mlp", recipe_for("mlp", "tabular").replace(epochs=40, batch_size=32, lr=3e-3),
                        {"hidden": (64,)})
    return X[pool], data.y[pool], model


def audit_auc(pool, unlearner, options=None, *, parts=PARTS, fixed_variance=False):
    X, y, model = pool
    refs = ulira_references(X, y, model=model, unlearner=unlearner, unlearner_options=options, n_models=K,
                            forget_sets_per_model=parts, n_classes=10, seed=3, device="cpu")
    method = make_unlearner(unlearner, options)
    g = np.random.default_rng(99)
    order = g.permutation(N_POOL)
    train, never = np.sort(order[: N_POOL // 2]), np.sort(order[N_POOL // 2:])
    forget = np.sort(train[g.permutation(train.size)[: train.size // parts]])
    retain = np.setdiff1d(train, forget)
    original = method.fit(model.build((X.shape[1],), 10, 123), X[train], y[train], model.recipe, seed=5, device="cpu")
    unlearned = method.unlearn(original, (X[retain], y[retain]), (X[forget], y[forget]), seed=6)
    rows = np.r_[forget, never]
    is_forgotten = np.r_[np.ones(forget.size, bool), np.zeros(never.size, bool)]
    out = ulira_audit(refs, unlearned.model, X, y, rows, is_forgotten, fixed_variance=fixed_variance)
    return out["auc"], auc_se(forget.size, never.size)


def test_exact_unlearning_sits_at_half(digits_pool):
    # 2 forget sets per reference model (forget sets of 100): half the retraining of 4
    value, se = audit_auc(digits_pool, "retrain", parts=2)
    assert abs(value - 0.5) < 4 * se, value


def test_a_no_op_unlearner_on_a_memorising_model_is_exposed(digits_pool):
    value, se = audit_auc(digits_pool, NoOp(), fixed_variance=True)  # 8 references: LiRA's fixed variance
    assert value > 0.5 + 4 * se, value


@pytest.mark.skipif("finetune" not in UNLEARNERS, reason="the finetune unlearner is not registered")
def test_one_light_epoch_of_finetuning_is_exposed(digits_pool):
    value, se = audit_auc(digits_pool, "finetune", {"epochs": 1, "lr": 3e-4}, fixed_variance=True)
    assert value > 0.5 + 4 * se, value

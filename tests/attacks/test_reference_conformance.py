"""Conformance of the attacks that need more than one model's signals (synthetic data).

Reference attacks (LiRA, RMIA) get reference signals drawn from per-record IN / OUT
Gaussians; query attacks (boundary) get a model whose labels are robust on members.
"""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mia_audit.attacks import ATTACKS, create_attack
from mia_audit.attacks.reference_base import needs_more_than_signals, signal_attack_names
from mia_audit.adapters import CallableAdapter
from mia_audit.errors import NotApplicableError, NotFittedError
from mia_audit.outputs import Outputs
from mia_audit.reference import QuerySignals
from mia_audit.signals import compute_signals

OTHERS = [n for n in ATTACKS.names() if needs_more_than_signals(ATTACKS.get(n))]
REFERENCE = [n for n in OTHERS if ATTACKS.get(n).access in ("references", "unlearned-references")]
QUERY = [n for n in OTHERS if ATTACKS.get(n).access == "queries"]
K, N, A = 8, 900, 2


def auc_se(n1, n0):
    return np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))


def qs(lc):
    return QuerySignals(lc, 1 / (1 + np.exp(-lc)))


@pytest.fixture(scope="module")
def world():
    g = np.random.default_rng(0)
    centre = g.normal(size=(N, 1))
    mask = np.zeros((K, N), bool)
    for i in range(N):
        mask[g.permutation(K)[: K // 2], i] = True
    lc = centre[None] + 0.5 * g.normal(size=(K, N, A)) + 2.0 * mask[:, :, None]
    return qs(lc.astype(np.float32)), mask, centre, g


def draw(centre, idx, member, g):
    return qs(centre[idx] + 0.5 * g.normal(size=(len(idx), A)) + (2.0 if member else 0.0))


def test_the_three_kinds_partition_the_registry():
    assert set(REFERENCE) >= {"lira-online", "lira-offline", "rmia-online", "rmia-offline"}
    assert "boundary" in QUERY
    assert not set(OTHERS) & set(signal_attack_names())
    assert set(OTHERS) | set(signal_attack_names()) == set(ATTACKS.names())


@pytest.mark.parametrize("name", OTHERS)
def test_signals_alone_are_not_applicable(name):
    g = np.random.default_rng(1)
    y = g.integers(0, 3, 20)
    sig = compute_signals(Outputs("logits", g.normal(size=(20, 3)), 3), y)
    with pytest.raises(NotApplicableError):
        create_attack(name, seed=0).membership_scores(sig, np.r_[np.ones(10), np.zeros(10)])
    labels = compute_signals(Outputs("labels", y, 3), y)
    with pytest.raises(NotApplicableError):
        create_attack(name, seed=0).membership_scores(labels, np.r_[np.ones(10), np.zeros(10)])


@pytest.mark.parametrize("name", REFERENCE)
def test_members_score_higher_null_at_half_deterministic(name, world):
    ref, mask, centre, _ = world
    g = np.random.default_rng(2)
    members, nonmembers, population = np.arange(0, 300), np.arange(300, 600), np.arange(600, 900)
    pop = (draw(centre, population, False, g), population)
    t_in, t_out = draw(centre, members, True, g), draw(centre, nonmembers, False, g)
    target = QuerySignals(np.r_[t_in.logit_confidence, t_out.logit_confidence], np.r_[t_in.confidence, t_out.confidence])
    idx = np.r_[members, nonmembers]
    copies = (ref.logit_confidence.copy(), mask.copy(), target.logit_confidence.copy())
    attack = create_attack(name, seed=0)
    with pytest.raises(NotFittedError, match="fit_references"):
        attack.score_target(target, idx, population=pop)
    s = attack.fit_references(ref, mask).score_target(target, idx, population=pop)
    assert isinstance(s, np.ndarray) and s.shape == (600,) and s.dtype == np.float64 and np.all(np.isfinite(s))
    is_member = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    assert roc_auc_score(is_member, s) > 0.5 + 8 * auc_se(300, 300)
    again = create_attack(name, seed=0).fit_references(ref, mask).score_target(target, idx, population=pop)
    np.testing.assert_array_equal(s, again)
    np.testing.assert_array_equal(ref.logit_confidence, copies[0])
    np.testing.assert_array_equal(mask, copies[1])
    np.testing.assert_array_equal(target.logit_confidence, copies[2])
    # null control: two sets of non-members
    null = qs(np.r_[draw(centre, members, False, g).logit_confidence, t_out.logit_confidence])
    s0 = attack.score_target(null, idx, population=pop)
    assert abs(roc_auc_score(is_member, s0) - 0.5) < 4 * auc_se(300, 300)


@pytest.mark.parametrize("name", REFERENCE)
def test_label_only_targets_are_not_applicable(name, world):
    ref, mask, _, _ = world
    attack = create_attack(name, seed=0).fit_references(ref, mask)
    with pytest.raises(NotApplicableError, match="label-only"):
        attack.score_target(QuerySignals(None, None), [0, 1])


@pytest.mark.parametrize("name", QUERY)
def test_query_attacks_on_a_label_only_black_box(name):
    g = np.random.default_rng(3)
    X = g.normal(size=(400, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    # members (first 200) sit far from the boundary x0 = 0, non-members close to it
    X[:200, 0] += np.sign(X[:200, 0]) * 1.0
    model = CallableAdapter(lambda b: (b[:, 0] > 0).astype(np.int64), n_classes=2, returns="labels")
    s = create_attack(name, seed=0, max_noise=1.0).score_queries(model, X, y)
    assert s.shape == (400,) and s.dtype == np.float64 and np.all(np.isfinite(s))
    assert roc_auc_score(np.r_[np.ones(200), np.zeros(200)], s) > 0.5 + 8 * auc_se(200, 200)
    np.testing.assert_array_equal(s, create_attack(name, seed=0, max_noise=1.0).score_queries(model, X, y))

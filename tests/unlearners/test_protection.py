"""Data protection of EUPG: MDAV k-anonymity, the k-anonymity checker, DP tables, DP-Pix."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mia_audit.errors import InputError
from mia_audit.unlearners.protection.columns import check_columns, groups_from_feature_names, infer_one_hot_groups
from mia_audit.unlearners.protection.kanon import class_sizes, is_k_anonymous
from mia_audit.unlearners.protection.mdav import mdav_anonymize, mdav_groups


@pytest.fixture(scope="module")
def adult():
    from mia_audit.data import load_dataset

    return load_dataset("adult")


def adult_sample(adult, n, seed):
    rows = np.sort(np.random.default_rng(seed).choice(adult.y.size, n, replace=False))
    return adult.X[rows]


def naive_mdav(Z, k):
    """MDAV written as a plain loop over Python lists (the reference for mdav_groups)."""
    Z = np.asarray(Z, dtype=np.float64)
    rest = list(range(len(Z)))
    groups = []

    def dist(i, p):
        return float(np.sum((Z[i] - p) ** 2))

    def far(p):
        return max(rest, key=lambda i: (dist(i, p), -i))

    def near(i):
        return sorted(rest, key=lambda j: (j != i, dist(j, Z[i]), j))[:k]

    while len(rest) >= 3 * k:
        c = np.mean(Z[rest], axis=0)
        r = far(c)
        s = far(Z[r])
        for seed in (r, s):
            g = near(seed)
            groups.append(g)
            rest = [i for i in rest if i not in g]
    if len(rest) >= 2 * k:
        g = near(far(np.mean(Z[rest], axis=0)))
        groups.append(g)
        rest = [i for i in rest if i not in g]
    if rest:
        groups.append(rest)
    labels = np.empty(len(Z), dtype=np.int64)
    for number, g in enumerate(groups):
        labels[g] = number
    return labels


# ---------------------------------------------------------------------------- MDAV


def test_golden_two_clusters_give_their_centroids():
    X = np.array([[0, 0], [1, 0], [0, 1], [10, 10], [11, 10], [10, 11]], dtype=np.float64)
    out, labels = mdav_anonymize(X, 3, categorical_groups=[])
    low, high = np.array([1 / 3, 1 / 3]), np.array([31 / 3, 31 / 3])
    np.testing.assert_allclose(out[:3], np.tile(low, (3, 1)))
    np.testing.assert_allclose(out[3:], np.tile(high, (3, 1)))
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1 and labels[0] != labels[3]


def test_golden_three_points_per_cluster_with_an_odd_one():
    # 7 records, k = 3: 2k <= 7 < 3k, so the record farthest from the centroid (20, 20) takes
    # its 2 nearest and the other 4 form the last group
    X = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [20, 20], [19, 20], [20, 19]], dtype=np.float64)
    labels = mdav_groups(X, 3)
    assert sorted(np.bincount(labels).tolist()) == [3, 4]
    assert len(set(labels[4:])) == 1 and len(set(labels[:4])) == 1


@pytest.mark.parametrize("n,k", [(61, 3), (50, 5), (97, 7)])
def test_mdav_matches_a_naive_loop(n, k):
    Z = np.random.default_rng(n).normal(size=(n, 4))
    np.testing.assert_array_equal(mdav_groups(Z, k), naive_mdav(Z, k))


@pytest.mark.parametrize("k", [3, 5, 10])
def test_mdav_on_adult_is_k_anonymous_and_stays_one_hot(adult, k):
    X = adult_sample(adult, 437, seed=k)
    groups = groups_from_feature_names(adult.feature_names)
    out, labels = mdav_anonymize(X, k, categorical_groups=groups)
    assert out.dtype == X.dtype and out.shape == X.shape
    assert is_k_anonymous(out, k)
    sizes = np.bincount(labels)
    assert sizes.min() >= k and sizes.max() <= 2 * k - 1
    for cols in groups:
        block = out[:, cols]
        assert np.all((block == 0) | (block == 1)) and np.all(block.sum(axis=1) == 1)
    # microaggregation keeps the numeric columns' means
    np.testing.assert_allclose(out[:, :6].mean(axis=0), X[:, :6].mean(axis=0), atol=1e-5)
    # and the data are really changed (not already k-anonymous)
    assert not is_k_anonymous(X, k)


def test_mdav_mode_of_a_one_hot_group():
    X = np.array([[0, 1, 0, 5.0], [0, 1, 0, 6.0], [1, 0, 0, 7.0]])
    out, _ = mdav_anonymize(X, 3, categorical_groups=[[0, 1, 2]])
    np.testing.assert_array_equal(out, [[0, 1, 0, 6.0]] * 3)


def test_columns_outside_the_quasi_identifiers_are_unchanged(adult):
    X = adult_sample(adult, 200, seed=3)
    qi = [0, 2, 5]  # age, education-num, hours-per-week
    out, _ = mdav_anonymize(X, 5, quasi_identifiers=qi, categorical_groups=[])
    others = np.setdiff1d(np.arange(X.shape[1]), qi)
    np.testing.assert_array_equal(out[:, others], X[:, others])
    assert is_k_anonymous(out, 5, qi) and not is_k_anonymous(out, 5)


def test_mdav_refuses_bad_input():
    with pytest.raises(InputError, match="at least k records"):
        mdav_groups(np.zeros((4, 2)), 5)
    with pytest.raises(InputError, match="k must be an integer >= 1"):
        mdav_groups(np.zeros((4, 2)), 0)
    with pytest.raises(InputError, match="shape \\(n, d\\)"):
        mdav_anonymize(np.zeros((4, 2, 2)), 2)
    X = np.array([[1, 0, 0.5], [0, 1, 0.2], [1, 0, 0.1]])
    with pytest.raises(InputError, match="partly inside quasi_identifiers"):
        mdav_anonymize(X, 2, quasi_identifiers=[0, 2], categorical_groups=[[0, 1]])
    with pytest.raises(InputError, match="not one-hot"):
        mdav_anonymize(X, 2, categorical_groups=[[1, 2]])
    with pytest.raises(InputError, match="column indices in \\[0, 2\\]"):
        check_columns(3, [0, 7], None)


# ---------------------------------------------------------------------------- checker


def test_checker_golden():
    X = np.array([[1, 2], [1, 2], [3, 4], [3, 4], [3, 4]])
    np.testing.assert_array_equal(np.sort(class_sizes(X)), [2, 3])
    assert is_k_anonymous(X, 2) and not is_k_anonymous(X, 3)
    assert is_k_anonymous(X, 5, quasi_identifiers=[]) is True  # no quasi-identifiers: one class


# ---------------------------------------------------------------------------- one-hot groups


def test_groups_from_names_and_from_data_agree_on_adult(adult):
    groups = groups_from_feature_names(adult.feature_names)
    assert len(groups) == 7 and groups[0][0] == 6
    assert infer_one_hot_groups(adult.X) == groups
    # a subsample misses some categories: the inferred groups are the present columns of each attribute
    X = adult_sample(adult, 300, seed=0)
    present = np.flatnonzero(X.any(axis=0))
    expected = [[c for c in g if c in present] for g in groups]
    assert infer_one_hot_groups(X) == expected


# ---------------------------------------------------------------------------- DP tables


def test_dp_table_stays_in_range_and_one_hot(adult):
    pytest.importorskip("opendp")
    from mia_audit.unlearners.protection.dp_tabular import dp_protect_table

    X = adult_sample(adult, 120, seed=5)
    groups = groups_from_feature_names(adult.feature_names)
    out, summary = dp_protect_table(X, 0.5, categorical_groups=groups)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert summary["numeric_attributes"] == 6 and summary["categorical_attributes"] == 7
    assert summary["epsilon_per_attribute"] == pytest.approx(0.5 / 13)
    lo, hi = X[:, :6].min(axis=0), X[:, :6].max(axis=0)
    assert np.all(out[:, :6] >= lo) and np.all(out[:, :6] <= hi)
    for cols in groups:
        block = out[:, cols]
        assert np.all((block == 0) | (block == 1)) and np.all(block.sum(axis=1) == 1)
    np.testing.assert_array_equal(X, adult_sample(adult, 120, seed=5))  # input unchanged


def test_dp_table_huge_epsilon_is_near_the_data_and_tiny_epsilon_is_not(adult):
    pytest.importorskip("opendp")
    from mia_audit.unlearners.protection.dp_tabular import dp_protect_table

    X = adult_sample(adult, 150, seed=6)
    groups = groups_from_feature_names(adult.feature_names)
    n_cat = np.array([len(g) for g in groups])
    width = X[:, :6].max(axis=0) - X[:, :6].min(axis=0)

    near, _ = dp_protect_table(X, 1e7, categorical_groups=groups)
    # Laplace scale = width * 13 / 1e7: |noise| < width * 1e-3 except with probability ~exp(-770)
    assert np.all(np.abs(near[:, :6] - X[:, :6]) <= 1e-3 * width + 1e-6)
    same = np.mean([np.all(near[:, g] == X[:, g], axis=1) for g in groups])
    assert same == 1.0  # P(other category) <= m exp(-eps/13 / 2): nil

    far, _ = dp_protect_table(X, 1e-3, categorical_groups=groups)
    # numeric: noise scale ~ 13000 x width, so almost every value is clipped to an end of its range
    lo, hi = X[:, :6].min(axis=0), X[:, :6].max(axis=0)
    at_ends = np.mean((far[:, :6] == lo) | (far[:, :6] == hi))
    assert at_ends > 0.99
    # categorical: the true category is kept with probability ~ 1/m (uniform choice)
    kept = np.array([np.all(far[:, g] == X[:, g], axis=1) for g in groups])  # (groups, n)
    p = np.repeat(1.0 / n_cat, X.shape[0])
    expected, se = p.mean(), np.sqrt(np.sum(p * (1 - p))) / p.size
    assert abs(kept.mean() - expected) < 5 * se + 0.01


def test_dp_without_opendp_names_the_extra(monkeypatch):
    from mia_audit.unlearners.protection.dp_tabular import dp_protect_table

    monkeypatch.setitem(sys.modules, "opendp", None)
    monkeypatch.setitem(sys.modules, "opendp.prelude", None)
    with pytest.raises(InputError, match=r'pip install "mia-audit\[dp\]"'):
        dp_protect_table(np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.2]]), 1.0, categorical_groups=[])


def test_dp_refuses_bad_epsilon():
    from mia_audit.unlearners.protection.dp_tabular import dp_protect_table

    with pytest.raises(InputError, match="epsilon must be a finite number > 0; got 0"):
        dp_protect_table(np.zeros((3, 2)), 0)


# ---------------------------------------------------------------------------- DP-Pix


def test_pixelize_golden():
    from mia_audit.unlearners.protection.dp_pix import pixelize, unpixelize

    img = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    cells, smallest = pixelize(img, 2)
    np.testing.assert_allclose(cells[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    assert smallest == 4
    back = unpixelize(cells, 2, 4, 4)
    np.testing.assert_allclose(back[0, 0, :2, :2], 2.5)
    # partial edge blocks: a 3 x 3 image with b = 2 has blocks of 4, 2, 2 and 1 pixels
    cells, smallest = pixelize(np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3), 2)
    np.testing.assert_allclose(cells[0, 0], [[2.0, 3.5], [6.5, 8.0]])
    assert smallest == 1


def test_dp_pix_blocks_range_and_epsilon_extremes():
    pytest.importorskip("opendp")
    from mia_audit.data import load_dataset
    from mia_audit.unlearners.protection.dp_pix import dp_pix, pixelize

    X = load_dataset("digits").X[:40]
    out, summary = dp_pix(X, 0.5)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert summary["sensitivity_0_255"] == 255.0  # 255 m / b^2 with m = 16, b = 4
    blocks = out.reshape(40, 1, 2, 4, 2, 4)
    assert np.all(blocks == blocks[:, :, :, :1, :, :1])  # constant within each 4 x 4 block
    near, _ = dp_pix(X, 1e9)
    cells, _ = pixelize(X.astype(np.float64), 4)
    np.testing.assert_allclose(near[:, :, ::4, ::4], cells, atol=1e-4)
    far, _ = dp_pix(X, 1e-4)  # noise scale 2.5e6 on 0..255: every cell clipped to 0 or 255
    assert np.mean((far == 0) | (far == 1)) > 0.99

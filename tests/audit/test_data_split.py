"""Split invariants and make_split."""

from __future__ import annotations

import numpy as np
import pytest

from mia_audit.data import Dataset, Split, make_split
from mia_audit.errors import InputError


def test_split_sorts_and_derives_retain():
    train = np.array([5, 1, 3, 7])
    s = Split(train=train, test=[0, 2], n=10, forget=[7, 3])
    assert s.train.tolist() == [1, 3, 5, 7] and s.train.dtype == np.int64
    assert s.forget.tolist() == [3, 7] and s.retain.tolist() == [1, 5]
    assert train.tolist() == [5, 1, 3, 7]  # caller's array untouched
    assert s.to_dict() == {"n": 10, "train": 4, "test": 2, "forget": 2, "retain": 2, "unused": 4}
    assert s.unused.tolist() == [4, 6, 8, 9]
    assert s.indices()["retain"] == [1, 5]


def test_split_default_forget_empty():
    s = Split(train=[0, 1], test=[2], n=3)
    assert s.forget.size == 0 and s.forget.dtype == np.int64 and s.retain.tolist() == [0, 1]


def test_forget_outside_train_refused():
    with pytest.raises(InputError, match=r"forget must be a subset of train; 2 indices of forget are not in train \(first: 4\)"):
        Split(train=[0, 1, 2], test=[3], n=10, forget=[1, 4, 9])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(train=[0, 1], test=[1, 2], n=5), r"disjoint; 1 indices are in both \(first: 1\)"),
        (dict(train=[0, 5], test=[1], n=5), r"train must be indices in \[0, 5\)"),
        (dict(train=[0, -1], test=[1], n=5), "non-negative"),
        (dict(train=[0, 0], test=[1], n=5), "distinct"),
        (dict(train=[0.5], test=[1], n=5), "integer"),
        (dict(train=[True], test=[1], n=5), "integer"),
        (dict(train=[0, 1], test=[2], n=5, forget=[1], retain=[0, 1]), "retain must be train minus forget"),
        (dict(train=[0, 1], test=[2], n=-1), "n must be"),
    ],
)
def test_split_invariants(kwargs, match):
    with pytest.raises(InputError, match=match):
        Split(**kwargs)


def test_with_forget_returns_new_split():
    s = Split(train=[0, 1, 2, 3], test=[4], n=5)
    f = s.with_forget([2])
    assert f is not s and s.forget.size == 0
    assert f.forget.tolist() == [2] and f.retain.tolist() == [0, 1, 3] and f.test.tolist() == [4]
    with pytest.raises(InputError, match="forget must be a subset of train"):
        s.with_forget([4])


def test_make_split_default_halves():
    s = make_split(100, seed=0)
    assert s.train.size == 50 and s.test.size == 50
    assert np.intersect1d(s.train, s.test).size == 0
    assert np.array_equal(np.union1d(s.train, s.test), np.arange(100))
    assert (np.diff(s.train) > 0).all() and s.forget.size == 0


def test_make_split_sizes_and_subsampling():
    s = make_split(1000, test_size=100, train_size=0.2, seed=1)
    assert s.train.size == 200 and s.test.size == 100 and s.to_dict()["unused"] == 700
    s = make_split(1000, test_size=0.3, seed=1)
    assert s.test.size == 300 and s.train.size == 700


def test_make_split_deterministic():
    a, b = make_split(500, seed=7), make_split(500, seed=7)
    c = make_split(500, seed=8)
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    assert not np.array_equal(a.train, c.train)


def test_make_split_stratified():
    y = np.repeat([0, 1, 2, 3], [400, 300, 200, 100])
    y_copy = y.copy()
    s = make_split(1000, test_size=0.2, train_size=0.4, stratify=y, seed=3)
    assert np.bincount(y[s.train]).tolist() == [160, 120, 80, 40]
    assert np.bincount(y[s.test]).tolist() == [80, 60, 40, 20]
    assert np.array_equal(y, y_copy)
    d = Dataset(name="toy", X=np.zeros((1000, 2)), y=y, n_classes=4, kind="tabular")
    s2 = make_split(d, test_size=0.2, train_size=0.4, stratify=True, seed=3)
    assert np.array_equal(s.train, s2.train) and s2.n == 1000


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(test_size=1.5), "test_size"),
        (dict(test_size=0), "test_size"),
        (dict(test_size=0.6, train_size=0.6), "at most the pool size 100"),
        (dict(train_size=101), "train_size"),
        (dict(test_size=True), "test_size"),
        (dict(stratify=np.zeros(5)), "stratify"),
        (dict(stratify=True), "needs a Dataset"),
        (dict(seed=-1), "seed"),
        (dict(test_size=100), "leaves no record"),
    ],
)
def test_make_split_errors(kwargs, match):
    kwargs.setdefault("seed", 0)
    with pytest.raises(InputError, match=match):
        make_split(100, **kwargs)


def test_make_split_stratify_impossible():
    y = np.array([0] * 9 + [1])
    with pytest.raises(InputError, match="stratify"):
        make_split(10, stratify=y, seed=0)

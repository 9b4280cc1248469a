"""Forget-set selection: every kind, its errors, determinism, inputs unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from mia_audit.data import PREDICATES, Dataset, ForgetSpec, Split, load_dataset, make_split, select_forget
from mia_audit.errors import InputError


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="module")
def split(digits) -> Split:
    return make_split(digits, test_size=0.5, seed=0)


@pytest.fixture(scope="module")
def adult() -> Dataset:
    return load_dataset("adult")


def test_registered_predicates():
    assert PREDICATES.names() == ["older", "red"]


def test_random_fraction_and_size(digits, split):
    f = select_forget(digits, split, {"kind": "random", "fraction": 0.1}, seed=1)
    assert f.forget.size == round(0.1 * split.train.size)
    assert np.isin(f.forget, split.train).all()
    assert np.array_equal(f.train, split.train) and np.array_equal(f.test, split.test)
    assert f.retain.size + f.forget.size == split.train.size
    g = select_forget(digits, split, ForgetSpec(kind="random", size=25), seed=1)
    assert g.forget.size == 25
    assert split.forget.size == 0  # the input split is unchanged


def test_random_is_deterministic(digits, split):
    spec = {"kind": "random", "fraction": 0.2}
    a = select_forget(digits, split, spec, seed=5)
    b = select_forget(digits, split, spec, seed=5)
    c = select_forget(digits, split, spec, seed=6)
    assert np.array_equal(a.forget, b.forget) and not np.array_equal(a.forget, c.forget)
    assert spec == {"kind": "random", "fraction": 0.2}


def test_classes_all_and_fraction(digits, split):
    f = select_forget(digits, split, {"kind": "classes", "classes": [3, 7]}, seed=0)
    in_train = split.train[np.isin(digits.y[split.train], [3, 7])]
    assert np.array_equal(f.forget, in_train)
    half = select_forget(digits, split, {"kind": "classes", "classes": [3, 7], "fraction": 0.5}, seed=0)
    for c in (3, 7):
        n_c = int((digits.y[split.train] == c).sum())
        assert int((digits.y[half.forget] == c).sum()) == round(0.5 * n_c)
    assert set(digits.y[half.forget]) == {3, 7}
    capped = select_forget(digits, split, {"kind": "classes", "classes": [3], "size": 10}, seed=0)
    assert capped.forget.size == 10 and (digits.y[capped.forget] == 3).all()


def test_indices(digits, split):
    chosen = split.train[[5, 0, 9]]
    given = chosen.copy()
    f = select_forget(digits, split, {"kind": "indices", "indices": chosen}, seed=0)
    assert f.forget.tolist() == sorted(chosen.tolist())
    assert np.array_equal(chosen, given)


def test_indices_outside_train_refused(digits, split):
    outside = [int(split.test[0]), int(split.test[1])]
    with pytest.raises(InputError, match=rf"forget must be a subset of train; 2 indices of forget are not in train \(first: {min(outside)}\)"):
        select_forget(digits, split, {"kind": "indices", "indices": [int(split.train[0])] + outside}, seed=0)


def test_predicate_callable(digits, split):
    seen = {}

    def zeros(dataset, indices):
        seen["n"] = indices.size
        return dataset.y[indices] == 0

    f = select_forget(digits, split, ForgetSpec(kind="predicate", predicate=zeros), seed=0)
    assert seen["n"] == split.train.size
    assert np.array_equal(f.forget, split.train[digits.y[split.train] == 0])
    capped = select_forget(digits, split, ForgetSpec(kind="predicate", predicate=zeros, size=7), seed=0)
    assert capped.forget.size == 7 and (digits.y[capped.forget] == 0).all()
    again = select_forget(digits, split, ForgetSpec(kind="predicate", predicate=zeros, size=7), seed=0)
    assert np.array_equal(capped.forget, again.forget)


def test_predicate_bad_mask(digits, split):
    with pytest.raises(InputError, match="bool mask of shape"):
        select_forget(digits, split, {"kind": "predicate", "predicate": lambda d, i: np.ones(3, bool)}, seed=0)
    with pytest.raises(InputError, match="bool mask"):
        select_forget(digits, split, {"kind": "predicate", "predicate": lambda d, i: d.y[i]}, seed=0)


def test_older_on_adult(adult):
    split = make_split(adult, test_size=0.5, seed=2)
    f = select_forget(adult, split, {"kind": "predicate", "predicate": "older"}, seed=0)
    expected = split.train[adult.raw["age"][split.train] >= 60]
    assert np.array_equal(f.forget, expected) and expected.size > 1000
    g = select_forget(adult, split, {"kind": "predicate", "predicate": "older", "size": 100, "options": {"min_age": 70}}, seed=0)
    assert g.forget.size == 100 and (adult.raw["age"][g.forget] >= 70).all()


def test_older_needs_age(digits, split):
    with pytest.raises(InputError, match=r"needs dataset.raw\['age'\]"):
        select_forget(digits, split, {"kind": "predicate", "predicate": "older"}, seed=0)


def test_red_needs_rgb_images(digits, split):
    with pytest.raises(InputError, match="RGB image dataset"):
        select_forget(digits, split, {"kind": "predicate", "predicate": "red"}, seed=0)


def test_red_predicate_on_synthetic_images():
    n = 12
    X = np.zeros((n, 3, 8, 8), dtype=np.float32)
    X[:, 2] = 0.8  # blue
    X[::3, :, :4, :] = np.array([0.9, 0.05, 0.05], dtype=np.float32)[:, None, None]  # half red
    data = Dataset(name="synthetic", X=X, y=np.zeros(n, dtype=int), n_classes=2, kind="image")
    split = Split(train=np.arange(8), test=np.arange(8, 12), n=n)
    f = select_forget(data, split, {"kind": "predicate", "predicate": "red"}, seed=0)
    assert f.forget.tolist() == [0, 3, 6]
    strict = {"kind": "predicate", "predicate": "red", "options": {"threshold": 1.0}}
    with pytest.raises(InputError, match="selects no train record"):
        select_forget(data, split, strict, seed=0)


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"kind": "lottery"}, "forget kind must be one of random, classes, indices, predicate; got 'lottery'"),
        ({"kind": "random"}, "exactly one of fraction or size"),
        ({"kind": "random", "fraction": 0.1, "size": 3}, "exactly one of fraction or size"),
        ({"kind": "random", "fraction": 1.0}, r"fraction must be a number in \(0, 1\)"),
        ({"kind": "random", "fraction": 0.0}, r"fraction must be a number in \(0, 1\)"),
        ({"kind": "random", "size": 0}, "size must be a positive integer"),
        ({"kind": "random", "size": 100000}, "at most the train size 899"),
        ({"kind": "classes", "classes": [10]}, r"class labels in \[0, 10\)"),
        ({"kind": "classes", "classes": [-1]}, r"class labels in \[0, 10\)"),
        ({"kind": "classes"}, "needs classes"),
        ({"kind": "classes", "classes": []}, "non-empty"),
        ({"kind": "indices"}, "needs indices"),
        ({"kind": "indices", "indices": [0, 0]}, "distinct"),
        ({"kind": "random", "fraction": 0.1, "classes": [1]}, "'classes' is not used by kind 'random'"),
        ({"kind": "predicate"}, "needs predicate"),
        ({"kind": "predicate", "predicate": "blue"}, "forget predicate must be one of older, red; got 'blue'"),
        ({"kind": "predicate", "predicate": "older", "options": {"max_age": 3}}, "option 'max_age'.*valid options: min_age"),
        ({"kind": "predicate", "predicate": 3}, "callable"),
        ({"kind": "random", "fraction": 0.1, "colour": "red"}, "key 'colour' is not known"),
        ({"fraction": 0.1}, "needs 'kind'"),
        ({"kind": "random", "fraction": 0.0001}, "selects nothing"),
    ],
)
def test_bad_specs(digits, split, spec, match):
    with pytest.raises(InputError, match=match):
        select_forget(digits, split, spec, seed=0)


def test_empty_selection_refused(digits, split):
    with pytest.raises(InputError, match="selects no train record"):
        select_forget(digits, split, {"kind": "predicate", "predicate": lambda d, i: np.zeros(i.size, bool)}, seed=0)


def test_pool_size_mismatch(digits):
    with pytest.raises(InputError, match="pool of 10 records"):
        select_forget(digits, make_split(10, seed=0), {"kind": "random", "size": 1}, seed=0)


def test_spec_to_dict_roundtrip():
    spec = ForgetSpec.from_dict({"kind": "predicate", "predicate": "red", "size": 525, "options": {"threshold": 50}})
    assert spec.to_dict() == {"kind": "predicate", "predicate": "red", "size": 525, "options": {"threshold": 50}}
    assert ForgetSpec.from_dict(spec.to_dict()) == spec
    assert ForgetSpec(kind="indices", indices=np.array([3, 1])).to_dict() == {"kind": "indices", "indices": [3, 1]}

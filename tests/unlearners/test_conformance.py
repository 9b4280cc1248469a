"""One conformance suite over every registered unlearner.

For each method and each small problem (a CNN on digits, an MLP on Adult, XGBoost on
Adult) where the method applies: the input model and arrays are unchanged, the output
is a valid model, the same seed gives the same model on the CPU, and a forget set
outside the training set is refused clearly. Where it does not apply, it says so with
NotApplicableError.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mia_audit.adapters import as_adapter, model_sha256
from mia_audit.errors import InputError, NotApplicableError
from mia_audit.unlearners import UNLEARNERS, Trained, create_unlearner, fingerprints, train_original
from mia_audit.unlearners.records import Records

ALL = UNLEARNERS.names()
PROBLEMS = ("digits_cnn", "adult_mlp", "adult_xgb")

ISSUE_METHODS = {
    "retrain", "sisa", "finetune", "neggrad", "neggrad+", "random-label", "scrub", "salun",
    "distillation", "rotate", "pseudo-label", "pruning", "deviation", "gradient-mask", "divergence",
    "eupg-kanon", "eupg-dp", "mia-guided", "perturbation",
}

_CACHE: dict = {}


def original_for(unlearner, problem):
    """The model the method deploys on ``problem`` (its own fit, or a shared plain one)."""
    key = (unlearner.name if unlearner.needs_own_training else "plain", problem.name)
    if key not in _CACHE:
        X, y = problem.records("train")
        fit = unlearner.fit if unlearner.needs_own_training else train_original
        _CACHE[key] = fit(problem.model, X, y, problem.recipe, seed=0, device="cpu")
    return _CACHE[key]


def run(unlearner, problem, seed=1):
    original = original_for(unlearner, problem)
    return original, unlearner.unlearn(original, problem.records("retain"), problem.records("forget"),
                                       validation=problem.records("test"), seed=seed)


def test_registry_holds_every_method_of_the_issue():
    assert ISSUE_METHODS <= set(ALL), f"missing: {sorted(ISSUE_METHODS - set(ALL))}"


def test_unknown_unlearner_and_option_are_refused():
    with pytest.raises(InputError, match="unlearner must be one of .*retrain.*got 'retrian'"):
        create_unlearner("retrian")
    with pytest.raises(InputError, match="^unlearner 'retrain': unknown option 'epochs'; valid options: none$"):
        create_unlearner("retrain", epochs=3)


@pytest.mark.parametrize("name", ALL)
def test_applies_to_at_least_one_torch_problem_and_describes_itself(name, digits_cnn, adult_mlp):
    u = create_unlearner(name)
    assert UNLEARNERS.describe(name) and u.reference
    trained = [original_for(u, p) for p in (digits_cnn, adult_mlp)]
    assert any(u.applicable(t) is None for t in trained), f"{name} applies to neither torch problem"


@pytest.mark.parametrize("problem_name", PROBLEMS)
@pytest.mark.parametrize("name", ALL)
def test_contract(name, problem_name, request):
    problem = request.getfixturevalue(problem_name)
    u = create_unlearner(name)
    framework = "xgboost" if problem_name == "adult_xgb" else "torch"
    if framework not in u.frameworks:
        plain = original_for(create_unlearner("retrain"), problem)
        with pytest.raises(NotApplicableError, match=re.escape(repr(name)) + " applies to .*xgboost"):
            u.unlearn(plain, problem.records("retain"), problem.records("forget"), seed=1)
        return
    original = original_for(u, problem)
    reason = u.applicable(original)
    if reason is not None:
        with pytest.raises(NotApplicableError):
            u.unlearn(original, problem.records("retain"), problem.records("forget"), seed=1)
        pytest.skip(f"{name} does not apply to {problem.name}: {reason}")

    X_before, y_before = problem.X.copy(), problem.y.copy()
    sha_before = model_sha256(original.model)
    _, result = run(u, problem, seed=1)

    # the input model and the caller's arrays are unchanged
    assert model_sha256(original.model) == sha_before
    np.testing.assert_array_equal(problem.X, X_before)
    np.testing.assert_array_equal(problem.y, y_before)

    # the output is a valid model
    assert isinstance(result.model, Trained) and result.model.model is not original.model
    assert result.method == name and isinstance(result.seconds, float) and result.seconds >= 0
    json.dumps(result.to_dict())
    test_X, test_y = problem.records("test")
    out = as_adapter(result.model.model, n_classes=10 if problem_name == "digits_cnn" else 2).predict(test_X)
    values = out.values
    assert values.shape == (len(test_y), out.n_classes) and np.all(np.isfinite(values))
    forget_keys = fingerprints(Records(*problem.records("forget")))
    assert not np.isin(forget_keys, result.model.train_keys).any()

    # same seed, same model (CPU)
    _, again = run(u, problem, seed=1)
    assert model_sha256(again.model.model) == model_sha256(result.model.model)


@pytest.mark.parametrize("name", ALL)
def test_forget_outside_train_is_refused(name, adult_mlp):
    u = create_unlearner(name)
    original = original_for(u, adult_mlp)
    if u.applicable(original) is not None:
        pytest.skip("not applicable to the MLP")
    outside = adult_mlp.records("test")
    with pytest.raises(InputError, match="forget: .* not in the model's training set"):
        u.unlearn(original, adult_mlp.records("retain"), (outside[0][:5], outside[1][:5]), seed=1)
    X_r, y_r = adult_mlp.records("retain")
    X_f, y_f = adult_mlp.records("forget")
    # a forget record with an identical copy in retain (duplicate rows) is allowed and counted
    result = u.unlearn(original, (np.r_[X_r, X_f[:2]], np.r_[y_r, y_f[:2]]), (X_f, y_f), seed=1)
    assert result.details["forget_with_identical_copy_in_retain"] == 2
    kept = fingerprints(Records(X_f[:2], y_f[:2]))
    assert np.isin(kept, result.model.train_keys).all()
    with pytest.raises(InputError, match="model must be an unlearners.Trained"):
        u.unlearn(original.model, (X_r, y_r), (X_f, y_f), seed=1)

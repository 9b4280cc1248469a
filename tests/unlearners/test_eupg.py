"""EUPG (paper 004): pre-train on protected data, fine-tune; forget by fine-tuning the protected model."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mia_audit.adapters import model_sha256
from mia_audit.errors import InputError
from mia_audit.seeding import derive_seed
from mia_audit.training import train_model
from mia_audit.unlearners import create_unlearner, train_original
from mia_audit.unlearners.protection.kanon import is_k_anonymous
from mia_audit.unlearners.protection.mdav import mdav_anonymize


@pytest.fixture(scope="module")
def kanon_mlp(adult_mlp):
    u = create_unlearner("eupg-kanon")
    X, y = adult_mlp.records("train")
    return u, u.fit(adult_mlp.model, X, y, adult_mlp.recipe, seed=0, device="cpu")


def test_fit_pretrains_on_k_anonymous_data_then_fine_tunes_on_the_data(kanon_mlp, adult_mlp):
    u, trained = kanon_mlp
    X, y = adult_mlp.records("train")
    protected, _ = mdav_anonymize(X, 10)
    assert is_k_anonymous(protected, 10)
    pre = train_model(adult_mlp.model, protected, y, adult_mlp.recipe, seed=derive_seed(0, "eupg-kanon", "pretrain"),
                      device="cpu").model
    assert model_sha256(trained.state["pretrained"]) == model_sha256(pre)
    deployed = train_model(pre, X, y, adult_mlp.recipe.replace(epochs=1), seed=derive_seed(0, "eupg-kanon", "finetune"),
                           device="cpu").model
    assert model_sha256(trained.model) == model_sha256(deployed)
    summary = trained.state["protection"]
    assert summary["k"] == 10 and summary["smallest_group"] >= 10 and summary["largest_group"] <= 19
    assert trained.state["fit_epochs"] == 1 and trained.method == "eupg-kanon"


def test_unlearn_fine_tunes_the_protected_model_not_the_deployed_one(kanon_mlp, adult_mlp):
    u, trained = kanon_mlp
    retain, forget = adult_mlp.records("retain"), adult_mlp.records("forget")
    result = u.unlearn(trained, retain, forget, seed=1)
    recipe = adult_mlp.recipe.replace(epochs=1)
    seed = derive_seed(1, "eupg-kanon", "unlearn")
    from_protected = train_model(trained.state["pretrained"], *retain, recipe, seed=seed, device="cpu").model
    from_deployed = train_model(trained.model, *retain, recipe, seed=seed, device="cpu").model
    assert model_sha256(result.model.model) == model_sha256(from_protected)
    assert model_sha256(result.model.model) != model_sha256(from_deployed)
    assert result.details["start"] == "protected pre-trained model" and result.details["epochs"] == 1
    # the protected model is kept, so a later request starts from it again
    assert result.model.state["pretrained"] is trained.state["pretrained"]


def test_unlearning_costs_a_twentieth_of_retraining_by_default(adult_mlp):
    recipe = adult_mlp.recipe.replace(epochs=20)
    X, y = adult_mlp.records("train")
    u = create_unlearner("eupg-kanon")
    trained = u.fit(adult_mlp.model, X, y, recipe, seed=0, device="cpu")
    result = u.unlearn(trained, adult_mlp.records("retain"), adult_mlp.records("forget"), seed=1)
    retrain = create_unlearner("retrain").unlearn(trained, adult_mlp.records("retain"), adult_mlp.records("forget"),
                                                  seed=1)
    # the same records, 1 epoch against the recipe's 20 (seconds are reported, not asserted)
    assert result.details["epochs"] == 1 and retrain.details["epochs"] == 20
    custom = create_unlearner("eupg-kanon", epochs=4).unlearn(trained, adult_mlp.records("retain"),
                                                              adult_mlp.records("forget"), seed=1)
    assert custom.details["epochs"] == 4


def test_xgboost_adds_trees_to_the_protected_booster(adult_xgb):
    u = create_unlearner("eupg-kanon")
    X, y = adult_xgb.records("train")
    trained = u.fit(adult_xgb.model, X, y, None, seed=0, device="cpu")
    pre = trained.state["pretrained"].get_booster().get_dump()
    deployed = trained.model.get_booster().get_dump()
    assert len(pre) == 20 and len(deployed) == 21 and deployed[:20] == pre  # ceil(20 / 20) = 1 added tree
    result = u.unlearn(trained, adult_xgb.records("retain"), adult_xgb.records("forget"), seed=1)
    after = result.model.model.get_booster().get_dump()
    assert len(after) == 21 and after[:20] == pre and after[20] != deployed[20]
    assert result.details["added_estimators"] == 1
    assert trained.model.get_booster().get_dump() == deployed  # the deployed model is untouched


def test_eupg_dp_protects_tables_and_images(adult_mlp, digits_cnn):
    pytest.importorskip("opendp")
    u = create_unlearner("eupg-dp", epsilon=2.0)
    X, y = adult_mlp.records("train")
    tab = u.fit(adult_mlp.model, X, y, adult_mlp.recipe, seed=0, device="cpu")
    summary = tab.state["protection"]
    assert summary["privacy_model"].startswith("epsilon-DP (Laplace") and summary["epsilon"] == 2.0
    assert summary["numeric_attributes"] == 6 and summary["categorical_attributes"] == 7
    assert model_sha256(tab.model) != model_sha256(tab.state["pretrained"])
    X, y = digits_cnn.records("train")
    img = u.fit(digits_cnn.model, X, y, digits_cnn.recipe, seed=0, device="cpu")
    assert img.state["protection"]["privacy_model"] == "epsilon-DP (DP-Pix)"
    one = u.unlearn(img, digits_cnn.records("retain"), digits_cnn.records("forget"), seed=3)
    two = u.unlearn(img, digits_cnn.records("retain"), digits_cnn.records("forget"), seed=3)
    assert model_sha256(one.model.model) == model_sha256(two.model.model)


def test_eupg_dp_without_opendp_names_the_extra(monkeypatch, adult_mlp):
    monkeypatch.setitem(sys.modules, "opendp", None)
    monkeypatch.setitem(sys.modules, "opendp.prelude", None)
    X, y = adult_mlp.records("train")
    with pytest.raises(InputError, match=r'pip install "mia-audit\[dp\]"'):
        create_unlearner("eupg-dp").fit(adult_mlp.model, X, y, adult_mlp.recipe, seed=0, device="cpu")


def test_quasi_identifier_option_limits_the_protection(adult_mlp):
    X, _ = adult_mlp.records("train")
    u = create_unlearner("eupg-kanon", k=5, quasi_identifiers=[0, 5])
    out, summary = u.protect(X)
    np.testing.assert_array_equal(np.delete(out, [0, 5], axis=1), np.delete(X, [0, 5], axis=1))
    assert is_k_anonymous(out, 5, [0, 5]) and summary["k"] == 5


def test_options_are_validated_and_plain_models_refused(adult_mlp, digits_cnn):
    with pytest.raises(InputError, match="k must be an integer >= 1; got 0"):
        create_unlearner("eupg-kanon", k=0)
    with pytest.raises(InputError, match="epsilon must be a finite number > 0; got -1"):
        create_unlearner("eupg-dp", epsilon=-1)
    with pytest.raises(InputError, match="quasi_identifiers must be None or a list of column indices"):
        create_unlearner("eupg-kanon", quasi_identifiers=["age"])
    with pytest.raises(InputError, match="epochs must be an integer >= 1"):
        create_unlearner("eupg-dp", epochs=0)
    with pytest.raises(InputError, match="apply to tables"):
        X, y = digits_cnn.records("train")
        create_unlearner("eupg-kanon", quasi_identifiers=[0]).fit(digits_cnn.model, X, y, digits_cnn.recipe, seed=0,
                                                                  device="cpu")
    X, y = adult_mlp.records("train")
    plain = train_original(adult_mlp.model, X, y, adult_mlp.recipe, seed=0, device="cpu")
    with pytest.raises(InputError, match="forgets only from models trained by its own fit"):
        create_unlearner("eupg-kanon").unlearn(plain, adult_mlp.records("retain"), adult_mlp.records("forget"), seed=1)


def test_feature_names_are_an_explicit_argument_never_set_afterwards(adult_mlp):
    from mia_audit.data import load_dataset
    from mia_audit.unlearners.protection.columns import groups_from_feature_names

    names = load_dataset("adult").feature_names
    X, _ = adult_mlp.records("train")
    u = create_unlearner("eupg-kanon", k=5)
    named = u.with_feature_names(names)
    assert named is not u and type(named) is type(u) and named.options() == u.options()
    assert u.table_groups(X) is None  # u itself is unchanged: groups inferred from the values
    assert named.table_groups(X) == groups_from_feature_names(names)
    assert u.with_feature_names(None) is u
    given = create_unlearner("eupg-kanon", categorical_groups=[[0, 1]]).with_feature_names(names)
    assert given.table_groups(X) == [[0, 1]]  # the option wins over the names
    plain = create_unlearner("retrain")
    assert plain.with_feature_names(names) is plain  # methods that do not read column names
    with pytest.raises(InputError, match="feature_names must name the"):
        create_unlearner("eupg-kanon", feature_names=["a=1", "a=2"]).table_groups(X)
    with pytest.raises(InputError, match="feature_names must be None or a list of column names"):
        create_unlearner("eupg-dp", feature_names="age")

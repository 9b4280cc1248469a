"""SISA (Bourtoule et al. 2021): sharded, sliced training; exact forgetting by shard retraining."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mia_audit.adapters import as_adapter, model_sha256
from mia_audit.errors import InputError
from mia_audit.unlearners import create_unlearner, fingerprints
from mia_audit.unlearners.records import Records
from mia_audit.unlearners.sisa import ShardEnsemble, XGBShardEnsemble, assign_shards


@pytest.fixture(scope="module")
def sisa_mlp(adult_mlp):
    u = create_unlearner("sisa")
    X, y = adult_mlp.records("train")
    return u, u.fit(adult_mlp.model, X, y, adult_mlp.recipe, seed=0, device="cpu")


def records_of(problem, trained, shard, slc=None):
    """Rows of the problem's train set that SISA put in ``shard`` (and slice ``slc``)."""
    X, y = problem.records("train")
    keys = fingerprints(Records(X, y))
    state = trained.state
    order = np.argsort(state["keys"])
    pos = order[np.searchsorted(state["keys"][order], keys)]
    mask = state["shard"][pos] == shard
    if slc is not None:
        mask &= state["slice"][pos] == slc
    return mask


def test_assignment_is_stratified_and_balanced():
    y = np.random.default_rng(0).integers(0, 3, size=301)
    shard, slc = assign_shards(y, 5, 3, seed=4)
    bucket = shard * 3 + slc
    assert np.bincount(shard).max() - np.bincount(shard).min() <= 1
    sizes = np.bincount(bucket, minlength=15)
    assert sizes.max() - sizes.min() <= 1
    for c in range(3):
        per = np.bincount(bucket[y == c], minlength=15)
        assert per.max() - per.min() <= 1
    again = assign_shards(y, 5, 3, seed=4)
    np.testing.assert_array_equal(again[0], shard)
    assert not np.array_equal(assign_shards(y, 5, 3, seed=5)[0], shard)


def test_fit_trains_one_model_per_shard_with_checkpoints(sisa_mlp, adult_mlp):
    u, trained = sisa_mlp
    state = trained.state
    assert trained.method == "sisa" and isinstance(trained.model, ShardEnsemble)
    assert len(trained.model.members) == 5 and trained.model.n_classes == 2
    assert state["slice_epochs"] == 2  # ceil(2 E / (R + 1)) with E = 3, R = 3
    assert [len(c) for c in state["checkpoints"]] == [4] * 5  # initial + after each of 3 slices
    for member, ckpts in zip(state["members"], state["checkpoints"]):
        final = member.state_dict()
        assert all(torch.equal(final[k], ckpts[-1][k]) for k in final)
        assert not all(torch.equal(ckpts[0][k], ckpts[1][k]) for k in final)
    assert np.bincount(state["shard"]).tolist() == [80] * 5


def test_prediction_is_the_mean_softmax_of_the_shard_models(sisa_mlp, adult_mlp):
    _, trained = sisa_mlp
    X, _ = adult_mlp.records("test")
    xb = torch.as_tensor(X[:50])
    with torch.no_grad():
        probs = torch.stack([torch.softmax(m(xb), dim=1) for m in trained.model.members]).mean(0)
        ours = torch.softmax(trained.model(xb), dim=1)
    torch.testing.assert_close(ours, probs, rtol=1e-5, atol=1e-6)
    out = as_adapter(trained.model).predict(X[:50])
    np.testing.assert_allclose(np.exp(out.values) / np.exp(out.values).sum(1, keepdims=True), probs.numpy(), atol=1e-5)


def test_forgetting_records_of_one_shard_retrains_only_that_shard(sisa_mlp, adult_mlp):
    u, trained = sisa_mlp
    X, y = adult_mlp.records("train")
    in_slice = records_of(adult_mlp, trained, shard=2, slc=1)
    rows = np.flatnonzero(in_slice)[:5]
    forget = (X[rows], y[rows])
    keep = np.setdiff1d(np.arange(len(y)), rows)
    result = u.unlearn(trained, (X[keep], y[keep]), forget, seed=1)
    d = result.details
    assert d["shards_retrained"] == [2] and d["slices_retrained"] == {"2": [1, 2]}
    assert d["records_per_shard"] == [80, 80, 75, 80, 80]
    new = result.model
    for s in (0, 1, 3, 4):
        assert model_sha256(new.state["members"][s]) == model_sha256(trained.state["members"][s])
    assert model_sha256(new.state["members"][2]) != model_sha256(trained.state["members"][2])
    # retraining restarts from the checkpoint after slice 0, which is kept
    old_ck, new_ck = trained.state["checkpoints"][2], new.state["checkpoints"][2]
    for i in (0, 1):
        assert all(torch.equal(old_ck[i][k], new_ck[i][k]) for k in old_ck[i])
    assert not all(torch.equal(old_ck[3][k], new_ck[3][k]) for k in old_ck[3])
    # the forget records are gone from the state and the ensemble's members are the shard models
    assert not np.isin(fingerprints(Records(*forget)), new.state["keys"]).any()
    assert all(a is b for a, b in zip(new.model.members, new.state["members"]))
    # the original is untouched
    assert model_sha256(trained.state["members"][2]) == model_sha256(trained.model.members[2])


def test_forgetting_in_the_first_slice_retrains_every_slice_and_can_repeat(sisa_mlp, adult_mlp):
    u, trained = sisa_mlp
    X, y = adult_mlp.records("train")
    rows = np.flatnonzero(records_of(adult_mlp, trained, shard=0, slc=0))[:3]
    keep = np.setdiff1d(np.arange(len(y)), rows)
    first = u.unlearn(trained, (X[keep], y[keep]), (X[rows], y[rows]), seed=1)
    assert first.details["slices_retrained"] == {"0": [0, 1, 2]}
    # the initial weights (checkpoint 0) are kept: retraining is from scratch for that shard
    assert all(torch.equal(trained.state["checkpoints"][0][0][k], first.model.state["checkpoints"][0][0][k])
               for k in trained.state["checkpoints"][0][0])
    # a second request on the unlearned model touches only its own shard
    rows2 = np.flatnonzero(records_of(adult_mlp, trained, shard=4, slc=2))[:2]
    keep2 = np.setdiff1d(keep, rows2)
    second = u.unlearn(first.model, (X[keep2], y[keep2]), (X[rows2], y[rows2]), seed=2)
    assert second.details["shards_retrained"] == [4]
    assert second.details["records_per_shard"] == [77, 80, 80, 80, 78]
    assert model_sha256(second.model.state["members"][0]) == model_sha256(first.model.state["members"][0])


def test_same_seed_same_ensemble(adult_mlp, sisa_mlp):
    u, trained = sisa_mlp
    X, y = adult_mlp.records("train")
    again = u.fit(adult_mlp.model, X, y, adult_mlp.recipe, seed=0, device="cpu")
    assert model_sha256(again.model) == model_sha256(trained.model)
    other = u.fit(adult_mlp.model, X, y, adult_mlp.recipe, seed=1, device="cpu")
    assert model_sha256(other.model) != model_sha256(trained.model)


def test_xgboost_shards_refit_only_where_forget_records_are(adult_xgb):
    u = create_unlearner("sisa", shards=4)
    X, y = adult_xgb.records("train")
    trained = u.fit(adult_xgb.model, X, y, None, seed=0, device="cpu")
    ens = trained.model
    assert isinstance(ens, XGBShardEnsemble) and len(ens.members) == 4 and trained.framework == "xgboost"
    mean = np.mean([m.predict_proba(X[:20]) for m in ens.members], axis=0)
    np.testing.assert_allclose(ens.predict_proba(X[:20]), mean, rtol=1e-6)
    out = as_adapter(ens, n_classes=2).predict(X[:20])
    np.testing.assert_allclose(out.values, ens.predict_proba(X[:20]))
    rows = np.flatnonzero(records_of(adult_xgb, trained, shard=1))[:4]
    keep = np.setdiff1d(np.arange(len(y)), rows)
    result = u.unlearn(trained, (X[keep], y[keep]), (X[rows], y[rows]), seed=1)
    assert result.details["shards_retrained"] == [1]
    new = result.model.model
    for s in (0, 2, 3):
        raw = [bytes(m.members[s].get_booster().save_raw("json")) for m in (new, ens)]
        assert raw[0] == raw[1]
    assert new.sha256() != ens.sha256() and trained.model.sha256() == ens.sha256()
    assert u.unlearn(trained, (X[keep], y[keep]), (X[rows], y[rows]), seed=1).model.model.sha256() == new.sha256()


def test_bad_options_and_too_little_data(adult_mlp):
    for option, value in (("shards", 0), ("slices", 1.5), ("slice_epochs", -1)):
        with pytest.raises(InputError, match=f"{option} must be an integer >= 1"):
            create_unlearner("sisa", **{option: value})
    X, y = adult_mlp.records("train")
    with pytest.raises(InputError, match="at least shards x slices = 15 training records; got 10"):
        create_unlearner("sisa").fit(adult_mlp.model, X[:10], y[:10], adult_mlp.recipe, seed=0, device="cpu")

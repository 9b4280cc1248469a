"""Reference attacks on a deployed model (issue 12): population records plus the user's training
function give LiRA and RMIA offline; QMIA needs only the population; without them each attack
says what it needs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mia_audit.run.deployed import run_deployed_audit

HIDDEN = [64, 64]


def _fit(X, y, *, seed, device):
    """The user's training code: here the toolkit's own MLP and loop, as a user might call them."""
    from mia_audit.models import build_model
    from mia_audit.training import recipe_for, train_model

    net = build_model("mlp", input_shape=tuple(X.shape[1:]), n_classes=2, seed=seed, hidden=HIDDEN)
    recipe = recipe_for("mlp", "tabular").replace(epochs=40, batch_size=32, lr=3e-3)
    return train_model(net, X, y, recipe, seed=seed, device="cpu").model


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    from mia_audit.data import load_dataset

    data = load_dataset("adult")
    idx = np.random.default_rng(5).permutation(len(data))[:1800]
    parts = {"members": idx[:400], "nonmembers": idx[400:800], "population": idx[800:1800]}
    folder = tmp_path_factory.mktemp("deployed-refs")
    for name, rows in parts.items():
        np.savez(folder / f"{name}.npz", X=data.X[rows], y=data.y[rows])
    model = _fit(data.X[parts["members"]], data.y[parts["members"]], seed=11, device="cpu")
    torch.save(model.state_dict(), folder / "model.pt")
    return folder, list(data.input_shape)


def _target(folder, shape, **extra):
    return {"model": "model.pt", "architecture": "mlp", "input_shape": shape, "n_classes": 2,
            "params": {"hidden": HIDDEN}, "device": "cpu", "members": "members.npz",
            "nonmembers": "nonmembers.npz", **extra}


def test_population_and_training_code_give_offline_reference_attacks(deployed, tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))
    folder, shape = deployed
    names = ["loss", "lira-offline", "rmia-offline", "qmia"]
    result = run_deployed_audit(_target(folder, shape, population="population.npz"), attacks=names, seed=3,
                                base_dir=folder, train_fn=_fit, metrics={"n_bootstrap": 0},
                                references={"n_models": 4, "population": 500})
    by_attack = {e["attack"]: e for e in result["results"]}
    assert set(by_attack) == set(names) and all(e["applicable"] for e in by_attack.values())
    se = np.sqrt((400 + 400 + 1) / (12 * 400 * 400))
    assert by_attack["rmia-offline"]["auc"] > 0.5 + 3 * se  # the overfitted MLP leaks to RMIA too
    info = result["reference_models"]["references"]
    assert info["n_models"] == 4 and info["n_pool"] == 400 + 400 + 500 and info["n_population"] == 500
    assert result["models"][0]["training_code"]["train"].endswith("_fit")
    assert result["data"]["n_train"] == 400 and result["data"]["n_test"] == 400


def test_without_training_code_reference_attacks_say_what_they_need(deployed):
    folder, shape = deployed
    result = run_deployed_audit(_target(folder, shape), attacks=["loss", "lira-offline", "qmia"], seed=3,
                                base_dir=folder, metrics={"n_bootstrap": 0})
    lira = next(e for e in result["results"] if e["attack"] == "lira-offline")
    qmia = next(e for e in result["results"] if e["attack"] == "qmia")  # no population records given
    assert not qmia["applicable"] and "got 0" in qmia["reason"]
    assert not lira["applicable"] and "target.train" in lira["reason"] and "target.population" in lira["reason"]
    assert "lira-offline" in str(result["verdict"]["coverage"][0]["not_run"])


def test_a_training_function_named_in_the_target_is_found_beside_the_config(deployed, tmp_path):
    folder, shape = deployed
    (folder / "own_training.py").write_text("def fit(X, y):\n    return None\n")
    with pytest.raises(Exception, match="target.train") as info:
        run_deployed_audit(_target(folder, shape, population="population.npz", train="own_training:fit",
                                   code_dir=str(folder)), attacks=["lira-offline"], base_dir=folder)
    assert "does not take fit" in str(info.value)


def test_an_endpoint_with_population_and_training_code_gets_reference_attacks(deployed, tmp_path, monkeypatch):
    """The README's third example: a deployed endpoint; the reference models train here."""
    import json

    from mia_audit.adapters import TorchAdapter
    from tests.audit.test_http_adapter import Endpoint, serve

    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))
    folder, shape = deployed
    net = _fit(np.load(folder / "members.npz")["X"], np.load(folder / "members.npz")["y"], seed=11, device="cpu")
    adapter = TorchAdapter(net)

    def respond(instances, n):
        return 200, json.dumps({"predictions": adapter.predict(np.asarray(instances, np.float32)).values.tolist()}).encode()

    with serve(Endpoint(respond)) as url:
        target = {"endpoint": url, "n_classes": 2, "returns": "logits", "members": str(folder / "members.npz"),
                  "nonmembers": str(folder / "nonmembers.npz"), "population": str(folder / "population.npz")}
        result = run_deployed_audit(target, attacks=["loss", "rmia-offline", "qmia"], seed=3, train_fn=_fit,
                                    metrics={"n_bootstrap": 0}, references={"n_models": 2, "population": 500})
    assert all(e["applicable"] for e in result["results"]), [e.get("reason") for e in result["results"]]
    assert result["environment"]["device"] == "remote endpoint"

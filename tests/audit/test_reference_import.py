"""Imported reference models (issue 12): models trained elsewhere, with their mask and record ids,
give bitwise the same scores as the same models trained in this process."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mia_audit.adapters import as_adapter
from mia_audit.attacks import create_attack, run_reference_attack
from mia_audit.errors import DataFileError, InputError
from mia_audit.reference import train_references
from mia_audit.reference.imported import import_references

HIDDEN = [32]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from mia_audit.data import load_dataset
    from mia_audit.models import build_model
    from mia_audit.training import recipe_for, train_model

    data = load_dataset("adult")
    idx = np.random.default_rng(9).permutation(len(data))[:600]
    X, y = data.X[idx], data.y[idx]
    recipe = recipe_for("mlp", "tabular").replace(epochs=5)
    root = tmp_path_factory.mktemp("import")
    store = train_references(root / "in-process", X, y, model="mlp", n_models=4, seed=1, recipe=recipe,
                             model_params={"hidden": HIDDEN}, n_classes=2, executor="sequential", device="cpu")
    target = train_model(build_model("mlp", input_shape=X.shape[1:], n_classes=2, seed=3, hidden=HIDDEN),
                         X[:300], y[:300], recipe, seed=4, device="cpu").model
    return {"X": X, "y": y, "store": store, "root": root, "target": as_adapter(target, n_classes=2)}


def _export(t, folder, order=None):
    """The folder a user would bring: the K weight files, the mask and the record ids."""
    store = t["store"]
    n = t["X"].shape[0]
    ids = np.arange(1000, 1000 + n)
    order = np.arange(n) if order is None else order
    (folder / "models").mkdir(parents=True)
    for k in range(store.n_models):
        shutil.copy(store.path / "models" / f"model_{k:04d}.safetensors", folder / "models" / f"ref_{k:02d}.safetensors")
    np.save(folder / "mask.npy", store.mask[:, order])
    np.save(folder / "ids.npy", ids[order])
    return ids


def _import(t, folder, ids, path):
    return import_references(path, folder, t["X"], t["y"], ids, n_classes=2, seed=1,
                             load_options={"architecture": "mlp", "params": {"hidden": HIDDEN},
                                           "input_shape": list(t["X"].shape[1:]), "device": "cpu"})


@pytest.mark.parametrize("attack", ["lira-offline", "lira-online", "rmia-offline"])
def test_imported_models_give_bitwise_the_same_scores(trained, tmp_path, attack):
    t = trained
    rng = np.random.default_rng(0)
    ids = _export(t, tmp_path / "folder", order=rng.permutation(t["X"].shape[0]))  # columns in another order
    imported = _import(t, tmp_path / "folder", ids, tmp_path / "store")
    assert imported.spec.architecture == "imported" and np.array_equal(imported.mask, t["store"].mask)
    rows = np.arange(100, 500)
    pop = np.arange(500, 600)
    a = run_reference_attack(create_attack(attack, seed=0), t["store"], t["target"], t["X"], t["y"], rows,
                             population_indices=pop)
    b = run_reference_attack(create_attack(attack, seed=0), imported, t["target"], t["X"], t["y"], rows,
                             population_indices=pop)
    assert np.array_equal(a, b)  # the same weights, the same queries: the very same computation


def test_a_record_the_import_does_not_cover_is_refused(trained, tmp_path):
    t = trained
    ids = _export(t, tmp_path / "folder")
    wrong = ids.copy()
    wrong[5] = -1
    with pytest.raises(InputError, match="1 of the audit's 600 records are not among"):
        _import(t, tmp_path / "folder", wrong, tmp_path / "store")


def test_a_changed_import_folder_is_refused_when_the_store_is_reopened(trained, tmp_path):
    t = trained
    ids = _export(t, tmp_path / "folder")
    _import(t, tmp_path / "folder", ids, tmp_path / "store")
    victim = tmp_path / "folder" / "models" / "ref_01.safetensors"
    shutil.copy(tmp_path / "folder" / "models" / "ref_00.safetensors", victim)  # another model in its place
    with pytest.raises(InputError, match="other settings"):
        _import(t, tmp_path / "folder", ids, tmp_path / "store")


@pytest.mark.parametrize("damage, match", [
    (lambda f: (f / "mask.npy").unlink(), "mask.npy not found"),
    (lambda f: np.save(f / "ids.npy", np.zeros(600)), "duplicate ids"),
    (lambda f: np.save(f / "mask.npy", np.zeros((4, 600))), "boolean"),
    (lambda f: (f / "models" / "ref_03.safetensors").unlink(), "3 model files"),
])
def test_a_bad_import_folder_gets_a_clear_error(trained, tmp_path, damage, match):
    t = trained
    ids = _export(t, tmp_path / "folder")
    damage(tmp_path / "folder")
    with pytest.raises((InputError, DataFileError), match=match):
        _import(t, tmp_path / "folder", ids, tmp_path / "store")

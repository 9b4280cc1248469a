"""Mitigations: the output wrappers (top-k, rounding, output noise), the registry, and
evaluate_mitigations on a tiny real audit (Adult, 300 members / 300 non-members)."""

import hashlib
import sys
import types

import numpy as np
import pytest
from scipy import stats
from scipy.special import softmax

from mia_audit.attacks import signal_attack_names
from mia_audit.adapters import (
    CallableAdapter,
    LabelOnly,
    ModelAdapter,
    OutputNoise,
    Rounding,
    Temperature,
    TopK,
    as_adapter,
    model_sha256,
    record_normals,
)
from mia_audit.errors import InputError
from mia_audit.run.mitigations import evaluate_mitigations
from mia_audit.mitigations import DP_EXTRA_MESSAGE, MITIGATIONS, Mitigation, create_mitigation

C = 4


def _logits(X):
    X = np.asarray(X, dtype=np.float64)
    return 3.0 * np.c_[X[:, 0], X[:, 1] - X[:, 0], np.sin(X[:, 2]), X[:, 0] * X[:, 1]]


def _X(n=200, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32)


LOGITS = CallableAdapter(_logits, n_classes=C, returns="logits", batch_size=64)
PROBS = CallableAdapter(lambda X: softmax(_logits(X), axis=1), n_classes=C, returns="probs", batch_size=64)

WRAPPERS = {
    "top-k": lambda a: TopK(a, 2),
    "top-1": lambda a: TopK(a, 1),
    "rounding": lambda a: Rounding(a, 1),
    "rounding-0": lambda a: Rounding(a, 0),
    "temperature": lambda a: Temperature(a, 5.0),
    "output-noise": lambda a: OutputNoise(a, 0.1, seed=3),
}
ARGMAX_KEEPING = ("top-k", "top-1", "rounding", "rounding-0", "temperature")


def _probs(outputs):
    return softmax(outputs.values, axis=1) if outputs.kind == "logits" else outputs.values


# ---------------------------------------------------------------------------- wrappers


@pytest.mark.parametrize("inner", [LOGITS, PROBS], ids=["logits", "probs"])
@pytest.mark.parametrize("which", sorted(WRAPPERS))
def test_wrappers_give_rows_summing_to_one(which, inner):
    X = _X()
    wrapped = WRAPPERS[which](inner)
    out = wrapped.predict(X)
    assert isinstance(wrapped, ModelAdapter) and out.kind == wrapped.output_kind
    p = _probs(out)
    assert p.shape == (200, C) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    if which in ARGMAX_KEEPING:
        np.testing.assert_array_equal(wrapped.predict_labels(X), inner.predict_labels(X))
    # batching does not change anything
    np.testing.assert_array_equal(wrapped.predict(X, batch_size=7).values, out.values)
    assert wrapped.predict(X[:0]).values.shape == (0, C)
    assert wrapped.describe()["wrappers"] == [wrapped.tag]


def test_label_only_gives_labels():
    X = _X()
    out = LabelOnly(PROBS).predict(X)
    assert out.kind == "labels" and out.values.shape == (200,)
    np.testing.assert_array_equal(out.values, np.argmax(_logits(X), axis=1))


def test_top_k_golden_case_and_binary_identity():
    p = np.array([[0.1, 0.5, 0.15, 0.25], [0.4, 0.4, 0.1, 0.1]])
    fixed = CallableAdapter(lambda X: p[: len(X)], n_classes=4)
    np.testing.assert_allclose(TopK(fixed, 2).predict(np.zeros((2, 1))).values,
                               [[0.125, 0.5, 0.125, 0.25], [0.4, 0.4, 0.1, 0.1]])
    np.testing.assert_allclose(TopK(fixed, 1).predict(np.zeros((2, 1))).values,
                               [[0.5 / 3, 0.5, 0.5 / 3, 0.5 / 3], [0.4, 0.2, 0.2, 0.2]])
    np.testing.assert_allclose(TopK(fixed, 4).predict(np.zeros((2, 1))).values, p)
    binary = CallableAdapter(lambda X: np.c_[X[:, 0], 1 - X[:, 0]], n_classes=2)
    X = np.random.default_rng(0).uniform(size=(50, 1))
    np.testing.assert_allclose(TopK(binary, 1).predict(X).values, binary.predict(X).values, atol=1e-15)


def test_rounding_golden_cases():
    p = np.array([
        [0.46, 0.54, 0.0],   # ties at 0.5 after rounding: the model's class 1 stays the argmax
        [0.33, 0.34, 0.33],  # all 0.3: renormalised to 1/3, class 1 stays the argmax
        [0.04, 0.02, 0.94],
    ])
    fixed = CallableAdapter(lambda X: p[: len(X)], n_classes=3)
    X = np.zeros((3, 1))
    out = Rounding(fixed, 1).predict(X).values
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.0, 1.0]], atol=1e-15)
    np.testing.assert_array_equal(np.argmax(out, axis=1), [1, 1, 2])
    # at 0 decimals a row may round to all zeros: the one-hot vector of the predicted class
    zero = CallableAdapter(lambda X: np.tile([0.2, 0.45, 0.35], (len(X), 1)), n_classes=3)
    np.testing.assert_array_equal(Rounding(zero, 0).predict(np.zeros((2, 1))).values, [[0, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(Rounding(fixed, 0).predict(X).values.argmax(axis=1), [1, 1, 2])


def test_output_noise_is_a_function_of_seed_and_record():
    X = _X(300)
    noisy = OutputNoise(PROBS, 0.1, seed=7)
    first = noisy.predict(X).values
    np.testing.assert_array_equal(noisy.predict(X).values, first)  # same call again
    np.testing.assert_array_equal(OutputNoise(PROBS, 0.1, seed=7).predict(X).values, first)  # a new wrapper
    perm = np.random.default_rng(1).permutation(300)
    np.testing.assert_array_equal(noisy.predict(X[perm], batch_size=13).values, first[perm])  # any batch, order
    np.testing.assert_array_equal(noisy.predict(X[5:6]).values, first[5:6])  # alone
    np.testing.assert_array_equal(noisy.predict(X.astype(np.float64)).values, first)  # same values, other dtype
    dup = np.r_[X[:1], X[:1]]
    out = noisy.predict(dup).values
    np.testing.assert_array_equal(out[0], out[1])
    other = OutputNoise(PROBS, 0.1, seed=8).predict(X).values
    assert not np.allclose(other, first)
    np.testing.assert_allclose(OutputNoise(PROBS, 0.0, seed=7).predict(X).values, PROBS.predict(X).values)
    # the noise is really there and of the asked size
    assert 0.01 < np.abs(first - PROBS.predict(X).values).mean() < 0.2


def test_record_normals_are_standard_normal_and_independent_of_the_seed():
    X = _X(3000, seed=4)
    z = record_normals(X, 3, seed=0)
    assert z.shape == (3000, 3)
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 4 / np.sqrt(3000)
    z1 = record_normals(X, 3, seed=1)
    assert abs(np.corrcoef(z.ravel(), z1.ravel())[0, 1]) < 4 / np.sqrt(9000)


def test_output_noise_hashes_non_numeric_rows():
    objects = np.array([["a", 1], ["b", 2], ["a", 1]], dtype=object)
    z = record_normals(objects, 2, seed=0)
    np.testing.assert_array_equal(z[0], z[2])
    assert not np.array_equal(z[0], z[1])


@pytest.mark.parametrize("make, match", [
    (lambda: TopK(LOGITS, 0), "k must be an integer from 1 to 4"),
    (lambda: TopK(LOGITS, 5), "k must be an integer from 1 to 4"),
    (lambda: TopK(LOGITS, 1.0), "k must be"),
    (lambda: TopK(LOGITS, True), "k must be"),
    (lambda: Rounding(LOGITS, -1), "decimals must be an integer >= 0"),
    (lambda: Rounding(LOGITS, 1.5), "decimals must be"),
    (lambda: OutputNoise(LOGITS, -0.1), "sigma must be a finite number >= 0"),
    (lambda: OutputNoise(LOGITS, float("nan")), "sigma must be"),
    (lambda: OutputNoise(LOGITS, "0.1"), "sigma must be"),
    (lambda: OutputNoise(LOGITS, 0.1, seed=-1), "seed must be"),
    (lambda: OutputNoise(LOGITS, 0.1, seed=1.5), "seed must be"),
    (lambda: TopK(LabelOnly(LOGITS), 1), "labels only"),
    (lambda: Rounding(LabelOnly(LOGITS), 1), "labels only"),
    (lambda: OutputNoise(LabelOnly(LOGITS), 0.1), "labels only"),
])
def test_wrapper_parameter_errors(make, match):
    with pytest.raises(InputError, match=match):
        make()


def test_wrappers_stack():
    adapter = Rounding(OutputNoise(TopK(LOGITS, 2), 0.05, seed=1), 2)
    assert adapter.describe()["wrappers"] == ["top-k(k=2)", "output-noise(sigma=0.05, seed=1)", "rounding(decimals=2)"]
    np.testing.assert_allclose(adapter.predict(_X()).values.sum(axis=1), 1.0, atol=1e-12)


# ---------------------------------------------------------------------------- registry


def test_registry_names_and_defaults():
    assert MITIGATIONS.names() == ["dp-sgd", "label-only", "output-noise", "rounding", "temperature", "top-k"]
    assert create_mitigation("label-only").describe() == {"name": "label-only", "label": "label-only",
                                                          "kind": "output", "params": {}}
    assert create_mitigation("top-k").params == {"k": 1}
    assert create_mitigation("rounding").params == {"decimals": 1}
    assert create_mitigation("output-noise").params == {"sigma": 0.1, "seed": 0}
    assert create_mitigation("temperature").params == {"T": "fit"}
    assert create_mitigation("temperature", T=2).label == "temperature(T=2)"
    assert create_mitigation("output-noise", sigma=0.25, seed=3).label == "output-noise(sigma=0.25, seed=3)"
    for name in MITIGATIONS.names():
        assert MITIGATIONS.describe(name)


def test_registry_errors_list_valid_names_and_parameters():
    with pytest.raises(InputError, match="mitigation must be one of dp-sgd, label-only, output-noise, rounding, "
                                         "temperature, top-k; got 'topk'"):
        create_mitigation("topk")
    with pytest.raises(InputError, match="^mitigation 'top-k': unknown parameter 'K'; valid parameters: k$"):
        create_mitigation("top-k", K=2)
    with pytest.raises(InputError, match="^mitigation 'label-only': unknown parameter 'T'; valid parameters: none$"):
        create_mitigation("label-only", T=2)
    for name, params, match in [("top-k", {"k": 0}, "k must be"), ("rounding", {"decimals": -2}, "decimals must be"),
                                ("output-noise", {"sigma": -1}, "sigma must be"),
                                ("temperature", {"T": 0}, "T must be a finite number > 0 or 'fit'"),
                                ("temperature", {"T": "auto"}, "T must be")]:
        with pytest.raises(InputError, match=match):
            create_mitigation(name, **params)


def test_dp_sgd_needs_the_optional_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "opacus", None)  # `import opacus` raises ImportError
    with pytest.raises(InputError) as err:
        create_mitigation("dp-sgd")
    assert str(err.value) == DP_EXTRA_MESSAGE == "dp-sgd needs the optional extra: pip install 'mia-audit[dp]'"


def test_dp_sgd_with_opacus_is_training_time_only(monkeypatch):
    monkeypatch.setitem(sys.modules, "opacus", types.ModuleType("opacus"))
    m = create_mitigation("dp-sgd")
    assert m.kind == "training"
    with pytest.raises(InputError, match="training-time"):
        m.apply(LOGITS)


def test_apply_wraps_without_changing_the_adapter():
    X = _X()
    before = LOGITS.predict(X).values.copy()
    for name, params in [("label-only", {}), ("temperature", {"T": 3.0}), ("top-k", {"k": 2}),
                         ("rounding", {}), ("output-noise", {})]:
        wrapped = create_mitigation(name, **params).apply(LOGITS)
        assert isinstance(wrapped, ModelAdapter) and wrapped.inner is LOGITS
        wrapped.predict(X)
    np.testing.assert_array_equal(LOGITS.predict(X).values, before)
    assert LOGITS.wrappers == ()


def test_temperature_fit_needs_validation_and_fits():
    g = np.random.default_rng(0)
    X = g.normal(size=(4000, 3))
    # labels drawn from softmax(logits / 2): the fitted temperature is about 2
    p = softmax(_logits(X) / 2.0, axis=1)
    y = (g.random((4000, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    m = create_mitigation("temperature", T="fit")
    with pytest.raises(InputError, match="needs validation data"):
        m.apply(LOGITS)
    with pytest.raises(InputError, match="validation must be a pair"):
        m.apply(LOGITS, validation=X)
    wrapped = m.apply(LOGITS, validation=(X, y))
    assert isinstance(wrapped, Temperature) and wrapped.T == pytest.approx(2.0, rel=0.1)
    assert m.params == {"T": "fit"}  # the fitted value lives on the wrapper, not the mitigation
    assert m.applied_params(wrapped) == {"T": "fit", "fitted_T": wrapped.T}


# ---------------------------------------------------------------------------- evaluate_mitigations


def _auc_se(n1, n0):
    return float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))


def _sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_audit():
    """An MLP (128 hidden) overfitted a little on 300 Adult records (train acc 0.94, test 0.79)."""
    from mia_audit.config import AttackConfig, AuditConfig, DataConfig, MetricsConfig
    from mia_audit.data import load_dataset, make_split, select_forget
    from mia_audit.models import build_model
    from mia_audit.run.attack_entries import accuracy_of, evaluate_attacks, membership_signals
    from mia_audit.training import recipe_for, train_model

    data = load_dataset("adult")
    split = make_split(data, train_size=300, test_size=300, stratify=data.y, seed=3)
    split = select_forget(data, split, {"kind": "random", "fraction": 0.1}, seed=4)
    model = build_model("mlp", input_shape=data.input_shape, n_classes=2, seed=1, hidden=(128,))
    recipe = recipe_for("mlp", "tabular").replace(epochs=60, batch_size=32)
    trained = train_model(model, data.X[split.train], data.y[split.train], recipe, seed=2, device="cpu")
    config = AuditConfig(data=DataConfig(name="adult", train_size=300, test_size=300),
                         attacks=AttackConfig(names=None, members=["train", "forget"]),
                         metrics=MetricsConfig(n_bootstrap=20), device="cpu")
    adapter = as_adapter(trained.model)
    signals = membership_signals(adapter, data, split)
    base = evaluate_attacks(signals, model="original", attack_names=signal_attack_names(), config=config,
                            show_progress=False)
    module = trained.model
    before = {"model": model_sha256(module), "modes": [m.training for m in module.modules()],
              "X": _sha(data.X), "y": _sha(data.y), "train": split.train.copy(), "test": split.test.copy()}
    mitigations = [create_mitigation("label-only"), create_mitigation("temperature", T=1000.0),
                   create_mitigation("temperature", T="fit"), create_mitigation("rounding", decimals=1),
                   create_mitigation("output-noise", sigma=0.1, seed=0)]
    params_before = [dict(m.params) for m in mitigations]
    entries, utility = evaluate_mitigations(
        adapter, data, split, mitigations=mitigations, attack_names=signal_attack_names(), config=config,
        validation_indices=split.unused[:1000], show_progress=False)
    return {"data": data, "split": split, "adapter": adapter, "module": module, "config": config,
            "accuracy": accuracy_of(signals), "base": base, "before": before, "mitigations": mitigations,
            "params_before": params_before, "entries": entries, "utility": {u["label"]: u for u in utility},
            "utility_list": utility}


def _entry(entries, mitigation, attack, members="train"):
    (e,) = [e for e in entries if e["mitigation"] == mitigation and e["attack"] == attack and e["members"] == members]
    return e


def test_the_tiny_model_overfits_a_little(tiny_audit):
    acc = tiny_audit["accuracy"]
    assert acc["train"] > acc["test"] + 0.08


def test_every_attack_and_member_set_once_per_mitigation(tiny_audit):
    labels = [m.label for m in tiny_audit["mitigations"]]
    pairs = [(e["mitigation"], e["attack"], e["members"]) for e in tiny_audit["entries"]]
    assert len(pairs) == len(set(pairs))
    assert set(pairs) == {(m, a, s) for m in labels for a in signal_attack_names() for s in ("train", "forget")}
    assert [u["label"] for u in tiny_audit["utility_list"]] == labels
    for e in tiny_audit["entries"]:
        assert e["model"] == "original" and e["nonmembers"] == "test" and isinstance(e["applicable"], bool)


def test_label_only_leaves_only_the_gap_attack(tiny_audit):
    entries, base = tiny_audit["entries"], tiny_audit["base"]
    for e in entries:
        if e["mitigation"] != "label-only":
            continue
        if e["attack"] == "gap":
            assert e["applicable"] is True and 0.0 <= e["auc"] <= 1.0
        else:
            assert e["applicable"] is False
            assert "needs posterior outputs" in e["reason"] and "label-only" in e["reason"]
            assert not any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in e.values())
            assert "auc" not in e and "advantage" not in e
    gap = _entry(entries, "label-only", "gap")
    loss_before = _entry(base, "none", "loss")
    assert gap["auc"] <= loss_before["auc"] + 3 * _auc_se(300, 300)
    # releasing labels does not change the gap attack, whose AUC is half the accuracy gap above 0.5
    assert gap["auc"] == _entry(base, "none", "gap")["auc"]
    acc = tiny_audit["utility"]["label-only"]["accuracy"]
    assert gap["auc"] == pytest.approx(0.5 + (acc["train"] - acc["test"]) / 2, abs=1e-12)


def test_temperature_keeps_accuracy_and_flattens(tiny_audit):
    u = tiny_audit["utility"]["temperature(T=1000)"]
    assert u["accuracy"] == tiny_audit["accuracy"]
    assert u["params"] == {"T": 1000.0}
    assert u["ece"] > u["ece_before"]  # near-uniform outputs are under-confident
    fitted = tiny_audit["utility"]["temperature(T=fit)"]
    assert fitted["accuracy"] == tiny_audit["accuracy"]
    assert 1.0 < fitted["params"]["fitted_T"] < 10.0  # an overfitted model is over-confident
    assert fitted["ece"] < fitted["ece_before"]


def test_utility_fields(tiny_audit):
    utility = tiny_audit["utility"]
    assert utility["label-only"]["ece"] is None
    assert utility["rounding(decimals=1)"]["accuracy"] == tiny_audit["accuracy"]
    for u in utility.values():
        assert set(u) == {"name", "label", "model", "params", "outputs", "accuracy", "ece", "ece_before"}
        assert u["outputs"] == ("labels" if u["name"] == "label-only" else "probs" if u["name"] in ("top-k", "rounding", "output-noise") else "logits")
        assert set(u["accuracy"]) == {"train", "test", "retain", "forget"}
        assert u["ece_before"] == utility["label-only"]["ece_before"] and 0 < u["ece_before"] < 1
        assert u["ece"] is None or 0 <= u["ece"] <= 1


def test_nothing_is_mutated(tiny_audit):
    before, module = tiny_audit["before"], tiny_audit["module"]
    assert model_sha256(module) == before["model"]
    assert [m.training for m in module.modules()] == before["modes"]
    assert _sha(tiny_audit["data"].X) == before["X"] and _sha(tiny_audit["data"].y) == before["y"]
    np.testing.assert_array_equal(tiny_audit["split"].train, before["train"])
    np.testing.assert_array_equal(tiny_audit["split"].test, before["test"])
    assert tiny_audit["adapter"].wrappers == ()
    assert [m.params for m in tiny_audit["mitigations"]] == tiny_audit["params_before"]


def test_evaluate_mitigations_input_errors(tiny_audit):
    t = tiny_audit
    kw = dict(attack_names=["gap"], config=t["config"])
    with pytest.raises(InputError, match="given twice"):
        evaluate_mitigations(t["adapter"], t["data"], t["split"],
                             mitigations=[create_mitigation("top-k"), create_mitigation("top-k", k=1)], **kw)
    with pytest.raises(InputError, match="give validation_indices"):
        evaluate_mitigations(t["adapter"], t["data"], t["split"], mitigations=[create_mitigation("temperature")], **kw)
    with pytest.raises(InputError, match="outside the audit's train set"):
        evaluate_mitigations(t["adapter"], t["data"], t["split"], mitigations=[create_mitigation("temperature")],
                             validation_indices=t["split"].train[:10], **kw)
    with pytest.raises(InputError, match="mitigations must be a list of Mitigation"):
        evaluate_mitigations(t["adapter"], t["data"], t["split"], mitigations=["label-only"], **kw)
    with pytest.raises(InputError, match="attack must be one of"):
        evaluate_mitigations(t["adapter"], t["data"], t["split"], mitigations=[create_mitigation("label-only")],
                             attack_names=["nope"], config=t["config"])
    assert isinstance(create_mitigation("label-only"), Mitigation)

"""The mitigation contract (issue 10): every registered mitigation declares a kind the pipeline
runs, and behaves as its kind says, checked over the registry itself (not a hand-kept list)."""

import numpy as np
import pytest
from scipy.special import softmax

from mia_audit.adapters import CallableAdapter, ModelAdapter
from mia_audit.errors import InputError
from mia_audit.mitigations import MITIGATIONS, create_mitigation
from mia_audit.run.mitigations import MITIGATION_KINDS, by_kind

C = 3
X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
Y = np.random.default_rng(1).integers(0, C, size=64)
MODEL = CallableAdapter(lambda x: 2.0 * np.asarray(x, np.float64)[:, :C], n_classes=C, returns="logits")


def _make(name):
    try:
        return create_mitigation(name)
    except InputError as exc:  # an optional extra that is not installed (dp-sgd without opacus)
        pytest.skip(f"{name}: {exc}")


@pytest.mark.parametrize("name", MITIGATIONS.names())
def test_every_registered_mitigation_declares_a_kind_the_pipeline_runs(name):
    m = _make(name)
    assert m.name == name and m.kind in MITIGATION_KINDS
    assert by_kind([m])[m.kind] == [m]
    assert m.label.startswith(name) and m.describe()["kind"] == m.kind


@pytest.mark.parametrize("name", MITIGATIONS.names())
def test_each_kind_behaves_as_declared(name):
    m = _make(name)
    before = MODEL.predict(X).values.copy()
    if m.kind == "output":
        wrapped = m.apply(MODEL, validation=(X, Y))
        assert isinstance(wrapped, ModelAdapter) and wrapped.n_classes == C
        out = wrapped.predict(X)
        assert len(out.values) == len(X) and out.kind in ("logits", "probs", "labels")
        if out.kind != "labels":
            probs = softmax(out.values, axis=1) if out.kind == "logits" else out.values
            assert np.all(np.isfinite(probs)) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)
        assert m.applied_params(wrapped).keys() >= m.params.keys()
    else:  # "training": trains a model of its own and refuses to wrap a trained one
        assert callable(getattr(m, "train", None))
        with pytest.raises(InputError, match="training"):
            m.apply(MODEL)
    np.testing.assert_array_equal(MODEL.predict(X).values, before)  # the model is never changed


def test_a_kind_the_pipeline_cannot_run_is_refused():
    m = create_mitigation("rounding")

    class Odd(type(m)):
        kind = "telepathy"

    odd = Odd.__new__(Odd)
    odd.__dict__.update(m.__dict__)
    with pytest.raises(InputError, match="has kind 'telepathy'; the pipeline runs output, training"):
        by_kind([m, odd])
    assert by_kind([m]) == {"output": [m], "training": []}

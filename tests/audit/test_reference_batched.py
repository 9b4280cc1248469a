"""Batched training (torch.func) against the plain train_model loop, with the same seeds.

The two agree to floating-point rounding: the same batches in the same order, the same
initial weights and the same optimiser maths; only the order of additions inside a
batched matrix product differs. After a few epochs the weights differ by < 1e-5
(measured: ~1e-8), far below anything that changes a prediction, so the tests demand
max |dw| < 1e-4 and identical predicted labels on all but a handful of pool records.
"""

import numpy as np
import pytest
import torch

from mia_audit.data import load_dataset
from mia_audit.errors import InputError
from mia_audit.models import build_model
from mia_audit.reference import (BatchedExecutor, SequentialExecutor, can_batch, init_seed, membership_mask,
                             train_batched, train_seed)
from mia_audit.reference.build import make_spec
from mia_audit.training import TrainRecipe, train_model


@pytest.fixture(scope="module")
def digits():
    d = load_dataset("digits")
    return d.X[:600], d.y[:600]


def both(models, X, y, mask, recipe):
    members = [np.flatnonzero(m) for m in mask]
    seeds = [train_seed(0, k) for k in range(len(models))]
    batched = train_batched(models, X, y, members, recipe, seeds, device="cpu")
    plain = [train_model(m, X[idx], y[idx], recipe, seed=s, device="cpu") for m, idx, s in zip(models, members, seeds)]
    return batched, plain


def max_weight_difference(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return max(float((sa[n] - sb[n]).abs().max()) for n in sa)


def predictions(model, X):
    with torch.no_grad():
        return model(torch.as_tensor(X)).argmax(1).numpy()


@pytest.mark.parametrize("recipe", [
    TrainRecipe(epochs=3, batch_size=32, lr=1e-3),
    TrainRecipe(epochs=3, batch_size=50, lr=0.05, optimizer="sgd", momentum=0.9, weight_decay=5e-4,
                label_smoothing=0.1, schedule="cosine"),
], ids=["adam", "sgd-momentum-cosine"])
def test_mlp_batched_equals_sequential(digits, recipe):
    X, y = digits
    X = X.reshape(len(X), -1)
    models = [build_model("mlp", input_shape=(64,), n_classes=10, seed=init_seed(0, k), hidden=[32]) for k in range(4)]
    before = [m.state_dict()["head.weight"].clone() for m in models]
    batched, plain = both(models, X, y, membership_mask(4, len(X), 0), recipe)
    for b, p in zip(batched, plain):
        assert max_weight_difference(b.model, p.model) < 1e-4
        assert np.mean(predictions(b.model, X) != predictions(p.model, X)) <= 0.005
        np.testing.assert_allclose(b.history, p.history, rtol=1e-5)
        assert not b.model.training
    for m, w in zip(models, before):  # the caller's models are not trained in place
        torch.testing.assert_close(m.state_dict()["head.weight"], w, rtol=0, atol=0)


def test_cnn_with_flip_crop_batched_equals_sequential(digits):
    X, y = digits
    X, y = X[:201], y[:201]  # odd pool: two training-set sizes
    recipe = TrainRecipe(epochs=2, batch_size=32, lr=3e-3, augment="flip-crop")
    mask = membership_mask(2, len(X), 0)
    models = [build_model("cnn", input_shape=X.shape[1:], n_classes=10, seed=init_seed(0, k), channels=[4], hidden=16)
              for k in range(2)]
    for k in range(2):  # one model at a time: the sizes differ (100 and 101)
        b, p = both([models[k]], X, y, mask[k:k + 1], recipe)
        assert max_weight_difference(b[0].model, p[0].model) < 1e-4


def test_same_seeds_same_models_and_global_rng_untouched(digits):
    X, y = digits
    X = X.reshape(len(X), -1)
    recipe = TrainRecipe(epochs=2, batch_size=64)
    models = [build_model("mlp", input_shape=(64,), n_classes=10, seed=k, hidden=[16], dropout=0.2) for k in range(3)]
    members = [np.flatnonzero(m) for m in membership_mask(4, len(X), 1)[:3]]
    state = torch.get_rng_state()
    a = train_batched(models, X, y, members, recipe, [1, 2, 3], device="cpu")
    b = train_batched(models, X, y, members, recipe, [1, 2, 3], device="cpu")
    assert torch.equal(state, torch.get_rng_state())
    for ra, rb in zip(a, b):
        assert max_weight_difference(ra.model, rb.model) == 0.0


def test_only_stateless_architectures_are_batched(digits):
    assert can_batch(build_model("mlp", input_shape=(5,), n_classes=2, seed=0))
    assert can_batch(build_model("cnn", input_shape=(1, 8, 8), n_classes=2, seed=0))
    assert not can_batch(build_model("resnet18", input_shape=(1, 8, 8), n_classes=2, seed=0, width=2))
    assert not can_batch(build_model("lstm", input_shape=(4, 3), n_classes=2, seed=0, hidden_size=4))
    # the batched executor falls back to the plain loop for them: same results as the sequential executor
    X, y = digits
    X, y = X[:40], y[:40]
    spec = make_spec(X, y, model="resnet18", n_models=2, seed=0, model_params={"width": 8},
                     recipe=TrainRecipe(epochs=1, batch_size=16), queries="none")
    mask = membership_mask(2, len(X), 0)
    fallback = list(BatchedExecutor().run(spec, X, y, mask, [0, 1], device="cpu"))
    plain = list(SequentialExecutor().run(spec, X, y, mask, [0, 1], device="cpu"))
    for f, p in zip(sorted(fallback, key=lambda r: r.index), plain):
        assert f.weights == p.weights
        np.testing.assert_array_equal(f.signals.logit_confidence, p.signals.logit_confidence)


def test_bad_inputs_are_refused(digits):
    X, y = digits
    X = X.reshape(len(X), -1)
    recipe = TrainRecipe(epochs=1)
    mlp = [build_model("mlp", input_shape=(64,), n_classes=10, seed=k, hidden=[8]) for k in range(2)]
    with pytest.raises(InputError, match="members must give every model the same number of records"):
        train_batched(mlp, X, y, [np.arange(10), np.arange(11)], recipe, [0, 1], device="cpu")
    with pytest.raises(InputError, match="models, members and seeds must have one entry per model"):
        train_batched(mlp, X, y, [np.arange(10)], recipe, [0, 1], device="cpu")
    with pytest.raises(InputError, match="cannot be trained batched"):
        train_batched([build_model("lstm", input_shape=(8, 8), n_classes=10, seed=0)], X.reshape(-1, 8, 8), y,
                      [np.arange(10)], recipe, [0], device="cpu")
    with pytest.raises(InputError, match="members must index rows of X"):
        train_batched(mlp, X, y, [np.arange(10), np.arange(590, 600) + 5], recipe, [0, 1], device="cpu")
    with pytest.raises(InputError, match="recipe must be a TrainRecipe"):
        train_batched(mlp, X, y, [np.arange(10), np.arange(10)], {"epochs": 1}, [0, 1], device="cpu")


# ---------------------------------------------------------------------------- a kill loses at most one chunk


class Killed(BatchedExecutor):
    """The default batched executor, killed (an exception from inside training) once the
    progress ticks pass ``after`` models."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def run(self, spec, X, y, mask, indices, *, device, tick=None):
        done = 0.0

        def killer(amount):
            nonlocal done
            done += amount
            if done > self.after:
                raise RuntimeError("killed")

        yield from super().run(spec, X, y, mask, indices, device=device, tick=killer)


def _train(path, X, y, executor):
    from mia_audit.reference import train_references

    return train_references(path, X, y, model="mlp", model_params={"hidden": [16]}, n_models=16, seed=0,
                            recipe=TrainRecipe(epochs=2, batch_size=32), device="cpu", progress=False,
                            executor=executor)


def _stamps(path):
    return {p.relative_to(path): p.stat().st_mtime_ns for p in path.rglob("model_*")}


def test_a_kill_during_batched_training_keeps_the_models_already_trained(digits, tmp_path):
    from mia_audit.reference import ReferenceStore

    X, y = digits
    X, y = X[:300].reshape(300, -1), y[:300]
    assert BatchedExecutor().chunk_for("cpu") == 8
    with pytest.raises(RuntimeError, match="killed"):
        _train(tmp_path / "refs", X, y, Killed(after=9))  # killed during the second chunk's first epoch
    store = ReferenceStore(tmp_path / "refs")
    assert store.completed() == list(range(8))  # the first chunk survives (one chunk of 16 saved nothing)
    saved = _stamps(tmp_path / "refs")
    resumed = _train(tmp_path / "refs", X, y, BatchedExecutor())
    assert resumed.is_complete and {k: v for k, v in _stamps(tmp_path / "refs").items() if k in saved} == saved
    fresh = _train(tmp_path / "fresh", X, y, BatchedExecutor())
    # the same store as an uninterrupted run: same groups of models, CPU, no dropout: bitwise
    np.testing.assert_array_equal(resumed.signals().logit_confidence, fresh.signals().logit_confidence)
    for k in range(16):
        name = f"models/model_{k:04d}.safetensors"
        assert (tmp_path / "refs" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name


def test_each_batched_model_is_saved_as_soon_as_it_is_queried(digits, tmp_path, monkeypatch):
    from mia_audit.reference import ReferenceStore, jobs

    X, y = digits
    X, y = X[:300].reshape(300, -1), y[:300]
    real, calls = jobs.query_signals, []

    def query_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "query_signals", query_then_die)
    with pytest.raises(RuntimeError, match="killed"):
        _train(tmp_path / "refs", X, y, BatchedExecutor(chunk_size=16))
    assert ReferenceStore(tmp_path / "refs").completed() == [0, 1]  # not all or nothing per chunk
    monkeypatch.setattr(jobs, "query_signals", real)
    assert _train(tmp_path / "refs", X, y, BatchedExecutor(chunk_size=16)).is_complete


def test_batched_chunks_are_fixed_blocks_of_indices(digits):
    from mia_audit.reference.executors import _blocks

    assert _blocks([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert _blocks([2, 3, 5, 9, 10, 11], 4) == [[2, 3], [5], [9, 10, 11]]  # a resume: the same groups
    assert BatchedExecutor().chunk_for("cuda:0") == 64 and BatchedExecutor(chunk_size=5).chunk_for("cpu") == 5

"""airbench94's training pieces in the recipe: alternating flips, Lookahead, a parameter trained for
the first epochs only (airnet's whitening bias), and airnet's level-2 test-time augmentation. Each is
checked against a naive loop or a by-hand computation, in train_model, the batched trainer and DP-SGD."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mia_audit.errors import InputError
from mia_audit.lookahead import LOOKAHEAD_DECAY, Lookahead, lookahead_decay
from mia_audit.models import build_model
from mia_audit.reference import batched as batched_module, init_seed, membership_mask, train_batched, train_seed
from mia_audit.training import TrainRecipe, epoch_flips, initial_flips, recipe_for, train_model
from mia_audit import training as training_module


@pytest.fixture(autouse=True, scope="module")
def _one_cpu_thread():
    from ..conftest import torch_threads_from_env

    before = torch.get_num_threads()
    torch.set_num_threads(torch_threads_from_env())
    yield
    torch.set_num_threads(before)


def _blobs(n=64, d=5, seed=0):
    gen = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = gen.normal(size=(n, d)) + 2.0 * y[:, None]
    return X.astype(np.float32), y


def _numbered_images(n, side=8):
    """Images whose top-left pixel of channel 0 holds the record's number and whose left and right
    halves differ (so a flip shows)."""
    g = torch.Generator().manual_seed(0)
    X = torch.rand(n, 1, side, side, generator=g)
    X[:, 0, :, side // 2:] += 5.0
    X[:, 0, 0, 0] = torch.arange(n, dtype=torch.float32)
    return X


# ---------------------------------------------------------------------------- recipe fields


def test_new_fields_validate_and_round_trip_through_json():
    recipe = recipe_for("airnet", "image")
    assert recipe.alternating_flip and recipe.lookahead and recipe.freeze_after == (("whiten.bias", 3),)
    d = recipe.to_dict()
    assert d["freeze_after"] == [["whiten.bias", 3]]
    assert TrainRecipe(**json.loads(json.dumps(d))) == recipe
    assert "freeze_after" not in TrainRecipe().to_dict() and "lookahead" not in TrainRecipe().to_dict()
    with pytest.raises(InputError, match=r"recipe\.alternating_flip.*augment"):
        TrainRecipe(alternating_flip=True)
    with pytest.raises(InputError, match=r"recipe\.lookahead"):
        TrainRecipe(lookahead=1)
    for bad in ("whiten.bias", [("whiten.bias",)], [("whiten.bias", -1)], [("whiten.bias", 1.5)], [(3, 1)],
                [("a", 1), ("a", 2)], {"a": 1}):
        with pytest.raises(InputError, match=r"recipe\.freeze_after"):
            TrainRecipe(freeze_after=bad)


def test_a_freeze_name_the_model_lacks_is_named():
    X, y = _blobs()
    model = build_model("mlp", input_shape=(5,), n_classes=2, seed=0, hidden=[4])
    recipe = TrainRecipe(epochs=1, batch_size=16, freeze_after=(("whiten.bias", 3),))
    with pytest.raises(InputError, match=r"recipe\.freeze_after names the parameter 'whiten\.bias'.*head\.weight"):
        train_model(model, X, y, recipe, seed=0, device="cpu")


# ---------------------------------------------------------------------------- Lookahead


def test_lookahead_follows_the_formula_step_by_step():
    """Scripted weights: the tensor is set to a known value before each step; the pulls at steps 5
    and 10 and the last one (12, not a multiple of 5) follow slow = d * slow + (1 - d) * w."""
    total = 12
    t = torch.zeros(3)
    la = Lookahead([t, torch.zeros(2, dtype=torch.int64)], total)
    assert len(la.tensors) == 1  # integer buffers (num_batches_tracked) are left alone
    slow, fast = None, torch.zeros(3)
    for step in range(1, total + 1):
        fast = fast + torch.tensor([1.0, -2.0, 0.5]) * step  # what the optimiser did this step
        t.copy_(fast)
        la.step()
        if step == 1:
            slow = fast.clone()
        if step % 5 == 0:
            d = LOOKAHEAD_DECAY * (step / total) ** 3
            slow = d * slow + (1 - d) * fast
            fast = slow.clone()
        torch.testing.assert_close(t, fast, rtol=1e-6, atol=1e-6)
    la.finish()
    d = LOOKAHEAD_DECAY * 1.0 ** 3
    torch.testing.assert_close(t, d * slow + (1 - d) * fast, rtol=1e-6, atol=1e-6)
    assert lookahead_decay(485, 485) == pytest.approx(0.95 ** 5)


def test_lookahead_in_train_model_equals_a_naive_gradient_descent_loop():
    """Full-batch plain SGD (one step per epoch, so the order does not matter), with Lookahead, against
    the same steps written out by hand."""
    X, y = _blobs()
    model = build_model("mlp", input_shape=(5,), n_classes=2, seed=1, hidden=[6])
    recipe = TrainRecipe(epochs=7, batch_size=len(X), lr=0.3, optimizer="sgd", momentum=0.0, lookahead=True)
    trained = train_model(model, X, y, recipe, seed=0, device="cpu").model
    plain = train_model(model, X, y, recipe.replace(lookahead=False), seed=0, device="cpu").model

    net = build_model("mlp", input_shape=(5,), n_classes=2, seed=1, hidden=[6])
    params = list(net.parameters())
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    slow = None
    for step in range(1, recipe.epochs + 1):
        loss = torch.nn.functional.cross_entropy(net(Xt), yt)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= recipe.lr * g
            if step == 1:
                slow = [p.clone() for p in params]
            if step % 5 == 0 or step == recipe.epochs:
                d = LOOKAHEAD_DECAY * (step / recipe.epochs) ** 3
                for s, p in zip(slow, params):
                    s.mul_(d).add_((1 - d) * p)
                    p.copy_(s)
    for (name, a), b in zip(trained.named_parameters(), params):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=name)
    gap = max(float((a - b).detach().abs().max()) for a, b in zip(trained.parameters(), plain.parameters()))
    assert gap > 1e-3  # the pulls changed the weights


# ---------------------------------------------------------------------------- freeze_after


def test_a_frozen_parameter_keeps_its_value_after_its_epochs_and_is_trainable_again():
    X, y = _blobs()
    model = build_model("mlp", input_shape=(5,), n_classes=2, seed=2, hidden=[6])
    recipe = TrainRecipe(epochs=3, batch_size=16, lr=0.05, optimizer="sgd", momentum=0.9, weight_decay=1e-2,
                         freeze_after=(("head.bias", 1),))
    three = train_model(model, X, y, recipe, seed=3, device="cpu").model
    one = train_model(model, X, y, recipe.replace(epochs=1), seed=3, device="cpu").model
    start = dict(model.named_parameters())["head.bias"]
    assert torch.equal(three.head.bias, one.head.bias)  # the first epoch is the same computation
    assert not torch.equal(one.head.bias, start)  # ... and it did train the bias
    assert not torch.equal(three.head.weight, one.head.weight)  # the rest trained on
    assert all(p.requires_grad for p in three.parameters())  # the returned model trains as usual
    never = train_model(model, X, y, recipe.replace(freeze_after=(("head.bias", 0),)), seed=3, device="cpu").model
    assert torch.equal(never.head.bias, start)


# ---------------------------------------------------------------------------- alternating flips


def _recording(monkeypatch, module):
    """Wrap ``module.augment_images`` to record, per call, the record numbers and their flips."""
    calls = []
    original = module.augment_images

    def record(images, augment, generator, flip=None):
        calls.append((images[:, 0, 0, 0].round().long().tolist(), None if flip is None else flip.tolist()))
        return original(images, augment, generator, flip=flip)

    monkeypatch.setattr(module, "augment_images", record)
    return calls


def _flips_by_epoch(calls, batches_per_epoch, n):
    epochs = len(calls) // batches_per_epoch
    table = np.full((epochs, n), -1)
    for i, (ids, flips) in enumerate(calls):
        table[i // batches_per_epoch, ids] = flips
    return table


def test_alternating_flips_alternate_per_record_in_train_model(monkeypatch):
    n = 200
    X, y = _numbered_images(n), np.arange(n) % 2
    calls = _recording(monkeypatch, training_module)
    recipe = TrainRecipe(epochs=4, batch_size=50, lr=1e-3, augment="flip-crop", alternating_flip=True)
    model = build_model("cnn", input_shape=(1, 8, 8), n_classes=2, seed=0, channels=[2], hidden=4)
    train_model(model, X, y, recipe, seed=0, device="cpu")
    table = _flips_by_epoch(calls, 4, n)
    assert (table >= 0).all()  # every record seen once per epoch
    assert (table[1] == 1 - table[0]).all() and (table[2] == table[0]).all() and (table[3] == table[1]).all()
    share = table[0].mean()
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / n)  # drawn with probability 1/2 (SE 0.035)
    # the random flips of the plain recipe do not alternate
    calls.clear()
    train_model(model, X, y, recipe.replace(alternating_flip=False), seed=0, device="cpu")
    assert all(flips is None for _, flips in calls)


def test_initial_and_epoch_flips():
    g = torch.Generator().manual_seed(5)
    flips = initial_flips(10, g, TrainRecipe(augment="flip-crop", alternating_flip=True))
    assert flips.dtype == torch.bool and flips.shape == (10,)
    assert initial_flips(10, g, TrainRecipe(augment="flip-crop")) is None
    pos = torch.tensor([3, 0, 7])
    assert torch.equal(epoch_flips(flips, pos, 0), flips[pos])
    assert torch.equal(epoch_flips(flips, pos, 3), ~flips[pos])


def test_batched_trainer_gives_each_model_its_own_alternating_flips(monkeypatch):
    n = 120
    X, y = _numbered_images(n), np.arange(n) % 2
    recipe = TrainRecipe(epochs=3, batch_size=30, lr=3e-3, augment="flip-crop", alternating_flip=True)
    mask = membership_mask(2, n, 0)
    members = [np.flatnonzero(m) for m in mask]
    models = [build_model("cnn", input_shape=(1, 8, 8), n_classes=2, seed=init_seed(0, k), channels=[2], hidden=4)
              for k in range(2)]
    seeds = [train_seed(0, k) for k in range(2)]
    calls_b = _recording(monkeypatch, batched_module)
    batched = train_batched(models, X, y, members, recipe, seeds, device="cpu")
    calls_p = _recording(monkeypatch, training_module)
    plain = [train_model(m, X[idx], y[idx], recipe, seed=s, device="cpu") for m, idx, s in zip(models, members, seeds)]
    per_model_b = [calls_b[k::2] for k in range(2)]  # batched: model 0, model 1, model 0, ...
    steps = len(calls_p) // 2
    for k in range(2):
        assert per_model_b[k] == calls_p[k * steps:(k + 1) * steps]  # the same records, the same flips
        a, b = batched[k].model.state_dict(), plain[k].model.state_dict()
        assert max(float((a[name] - b[name]).abs().max()) for name in a) < 1e-4
    assert per_model_b[0] != per_model_b[1]


def test_batched_equals_sequential_with_lookahead_and_a_freeze():
    X, y = _blobs(n=160)
    recipe = TrainRecipe(epochs=4, batch_size=20, lr=0.05, optimizer="sgd", momentum=0.9, nesterov=True,
                         lookahead=True, freeze_after=(("head.bias", 2),))
    mask = membership_mask(2, len(X), 1)
    members = [np.flatnonzero(m) for m in mask]
    models = [build_model("mlp", input_shape=(5,), n_classes=2, seed=init_seed(1, k), hidden=[8]) for k in range(2)]
    seeds = [train_seed(1, k) for k in range(2)]
    batched = train_batched(models, X, y, members, recipe, seeds, device="cpu")
    for k, (m, idx, s) in enumerate(zip(models, members, seeds)):
        plain = train_model(m, X[idx], y[idx], recipe, seed=s, device="cpu").model
        a, b = batched[k].model.state_dict(), plain.state_dict()
        assert max(float((a[name] - b[name]).abs().max()) for name in a) < 1e-4
        # the bias stopped after 2 of 4 epochs; Lookahead's later pulls still move it towards its slow copy
        assert not torch.equal(plain.head.bias, m.head.bias)
        assert all(p.requires_grad for p in batched[k].model.parameters())


# ---------------------------------------------------------------------------- DP-SGD


def test_dp_sgd_honours_the_new_fields():
    pytest.importorskip("opacus")
    from mia_audit.dp_training import train_model_dp

    n = 96
    X, y = _numbered_images(n), np.arange(n) % 2
    model = build_model("cnn", input_shape=(1, 8, 8), n_classes=2, seed=0, channels=[2], hidden=4)
    recipe = TrainRecipe(epochs=3, batch_size=32, lr=0.05, optimizer="sgd", momentum=0.0, augment="flip-crop",
                         alternating_flip=True, lookahead=True, freeze_after=(("head.3.bias", 0),))
    result = train_model_dp(model, X, y, recipe, seed=0, noise_multiplier=1.0, device="cpu")
    assert torch.equal(result.model.state_dict()["head.3.bias"], model.state_dict()["head.3.bias"])
    assert not torch.equal(result.model.state_dict()["head.3.weight"], model.state_dict()["head.3.weight"])
    again = train_model_dp(model, X, y, recipe, seed=0, noise_multiplier=1.0, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(result.model.state_dict().values(),
                                                 again.model.state_dict().values()))


# ---------------------------------------------------------------------------- airnet's level-2 TTA


def test_tta_level_2_is_the_weighted_mean_of_six_views():
    g = torch.Generator().manual_seed(4)
    X = torch.rand(12, 3, 16, 16, generator=g)
    a = build_model("airnet", input_shape=(3, 16, 16), n_classes=5, seed=3, widths=(8, 16, 16), tta=2)
    plain = build_model("airnet", input_shape=(3, 16, 16), n_classes=5, seed=3, widths=(8, 16, 16), tta=False)
    a.init_from_data(X)
    with torch.no_grad():
        a.train()
        a(X)
    plain.load_state_dict(a.state_dict())
    a.eval(), plain.eval()
    x = X[:6]
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    with torch.no_grad():
        def mirror(v):
            return 0.5 * (plain(v) + plain(v.flip(-1)))

        up_left, down_right = padded[:, :, :16, :16], padded[:, :, 2:, 2:]
        # by hand, as airbench's infer_mirror_translate; the shifted views by a naive loop over pixels
        naive = torch.empty_like(x)
        for i in range(16):
            for j in range(16):
                naive[:, :, i, j] = x[:, :, abs(i - 1), abs(j - 1)]  # reflect: index -1 -> 1
        torch.testing.assert_close(up_left, naive)
        by_hand = 0.5 * mirror(x) + 0.5 * (0.5 * (mirror(up_left) + mirror(down_right)))
        torch.testing.assert_close(a(x), by_hand, rtol=1e-5, atol=1e-5)
        a.tta = 1
        torch.testing.assert_close(a(x), mirror(x), rtol=1e-5, atol=1e-5)
        a.train(), plain.train()
        torch.testing.assert_close(a(x), plain(x), rtol=1e-5, atol=1e-5)

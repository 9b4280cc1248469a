"""Golden checks of the structural step of each NeurIPS-2023-challenge method (paper 002)
against a naive loop or definition, plus option validation and applicability."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mia_audit.errors import InputError, NotApplicableError
from mia_audit.unlearners import Trained, create_unlearner
from mia_audit.unlearners.deviation import deviate_, deviation_layers
from mia_audit.unlearners.distillation import first_and_last_layers, soft_cross_entropy, softened_kl
from mia_audit.unlearners.divergence import contrastive_loss, uniform_kl
from mia_audit.unlearners.gradient_mask import (filter_similarity_mask, he_reinit_, n_selected,
                                      retain_minus_forget_gradients)
from mia_audit.unlearners.pruning import global_l1_masks, prunable_layers, prune_and_reinit_
from mia_audit.unlearners.pseudo_label import normalised_entropy, pseudo_labels
from mia_audit.unlearners.rotate import lr_schedule, transpose_conv_kernels_
from mia_audit.unlearners.torch_loops import TensorData

METHODS = ("distillation", "rotate", "pseudo-label", "pruning", "deviation", "gradient-mask", "divergence")
CONV_ONLY = ("rotate", "pseudo-label", "deviation", "gradient-mask")


def seeded(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


class TwoConv(nn.Module):
    """A net with a square, a non-square and a grouped convolution."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, (1, 3), padding=(0, 1))
        self.c = nn.Conv2d(4, 6, 5, padding=2, groups=2)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        x = self.c(F.relu(self.b(F.relu(self.a(x)))))
        return self.head(x.mean(dim=(2, 3)))


def make_net(seed=0):
    from mia_audit.seeding import isolated_torch_seed

    with isolated_torch_seed(seed):
        return TwoConv()


# ---------------------------------------------------------------------------- rotate


def test_rotate_transposes_every_square_kernel_like_a_naive_loop():
    net = make_net()
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    counts = transpose_conv_kernels_(net)
    assert counts == {"n_transposed": 2, "n_skipped_non_square": 1}
    for name in ("a.weight", "c.weight"):
        old, new = before[name], dict(net.named_parameters())[name]
        O, I, H, W = old.shape
        for o in range(O):
            for i in range(I):
                for r in range(H):
                    for c in range(W):
                        assert new[o, i, r, c] == old[o, i, c, r]
        assert not torch.equal(new, old)
    for name in ("b.weight", "a.bias", "c.bias", "head.weight"):
        assert torch.equal(dict(net.named_parameters())[name], before[name])
    # transposing twice gives the original back
    transpose_conv_kernels_(net)
    assert torch.equal(net.a.weight, before["a.weight"])


def test_lr_schedules():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = lr_schedule(opt, "linear", 6)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([1 / 4, 2 / 4, 3 / 4, 4 / 4, 3 / 4, 2 / 4])
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = lr_schedule(opt, "cosine", 4)
    for _ in range(4):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert lr_schedule(opt, "none", 4) is None


# ---------------------------------------------------------------------------- pruning


def test_global_l1_masks_prune_exactly_the_smallest_weights():
    g = seeded(3)
    weights = [torch.randn(5, 4, generator=g), torch.randn(7, 2, 3, 3, generator=g), torch.randn(11, generator=g)]
    weights[0][0, :3] = 0.25  # ties
    weights[2][:4] = -0.25
    for amount in (0.1, 0.5, 0.99):
        masks = global_l1_masks(weights, amount)
        values = [(abs(float(v)), t, j) for t, w in enumerate(weights) for j, v in enumerate(w.reshape(-1).tolist())]
        k = int(round(amount * len(values)))
        naive = set((t, j) for _, t, j in sorted(values)[:k])  # ties by (tensor, position), as a stable sort
        got = set((t, j) for t, m in enumerate(masks) for j in np.flatnonzero(m.reshape(-1).numpy()))
        assert got == naive and len(got) == k


def test_pruning_reinitialises_exactly_99_percent_by_l1_rank():
    net = make_net()
    layers = prunable_layers(net)
    assert len(layers) == 4
    before = [m.weight.detach().clone() for m in layers]
    biases = [m.bias.detach().clone() for m in layers]
    all_abs = torch.cat([w.abs().reshape(-1) for w in before])
    n = all_abs.numel()
    k = int(round(0.99 * n))
    threshold = torch.sort(all_abs).values[k - 1]
    details = prune_and_reinit_(layers, 0.99, seeded(1))
    assert details["n_pruned"] == k and details["n_weights"] == n
    changed = kept = 0
    for m, old in zip(layers, before):
        new = m.weight.detach()
        diff = new != old
        changed += int(diff.sum())
        # kept weights are exactly the large ones, unchanged
        assert torch.all(old[~diff].abs() >= threshold)
        kept += int((~diff).sum())
        # re-drawn weights lie in the default initialisation range U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        bound = 1 / math.sqrt(old[0].numel())
        assert torch.all(new[diff].abs() <= bound + 1e-7)
    assert changed == k and kept == n - k
    assert all(torch.equal(m.bias, b) for m, b in zip(layers, biases))  # biases untouched


# ---------------------------------------------------------------------------- gradient-mask


def test_filter_similarity_mask_matches_a_naive_loop():
    g = seeded(5)
    grad = torch.randn(6, 3, 3, 3, generator=g)
    grad[0, 0, 0, :] = 0.1  # ties inside a filter
    grad[0, 1, 0, :] = -0.1
    mask = filter_similarity_mask(grad, 0.3)
    size = 27
    k = n_selected(size, 0.3)
    assert k == 8  # round(8.1)
    for o in range(6):
        values = sorted((abs(float(v)), j) for j, v in enumerate(grad[o].reshape(-1).tolist()))
        naive = sorted(j for _, j in values[:k])
        assert sorted(np.flatnonzero(mask[o].reshape(-1).numpy()).tolist()) == naive
    assert n_selected(9, 0.3) == 3 and n_selected(5, 0.5) == 3 and n_selected(1, 0.3) == 0


def test_gradients_are_retain_descent_plus_forget_ascent():
    net = make_net()
    g = seeded(0)
    retain = TensorData(torch.randn(9, 2, 5, 5, generator=g), torch.randint(0, 3, (9,), generator=g))
    forget = TensorData(torch.randn(4, 2, 5, 5, generator=g), torch.randint(0, 3, (4,), generator=g))
    grads = retain_minus_forget_gradients(net, retain, forget, batch_size=3, gen=seeded(7))
    rows = torch.randperm(9, generator=seeded(7))[:4]
    ref = make_net()
    loss = F.cross_entropy(ref(retain.X[rows]), retain.y[rows]) - F.cross_entropy(ref(forget.X), forget.y)
    expected = torch.autograd.grad(loss, [ref.a.weight, ref.b.weight, ref.c.weight])
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert all(p.grad is None for p in net.parameters())


def test_he_reinit_only_touches_the_mask_with_he_scale():
    conv = nn.Conv2d(64, 128, 3)
    old = conv.weight.detach().clone()
    mask = torch.zeros_like(old, dtype=torch.bool)
    mask[:, :, 1, :] = True
    he_reinit_(conv, mask, seeded(2))
    new = conv.weight.detach()
    assert torch.equal(new[~mask], old[~mask])
    drawn = new[mask]
    std = math.sqrt(2.0 / (128 * 9))  # fan_out
    se = std / math.sqrt(2 * drawn.numel())
    assert abs(float(drawn.std()) - std) < 4 * se


def test_gradient_mask_hooks_scale_gradients_and_are_removed(digits_cnn):
    from mia_audit.unlearners import train_original

    X, y = digits_cnn.records("train")
    original = train_original(digits_cnn.model, X, y, digits_cnn.recipe, seed=0, device="cpu")
    result = create_unlearner("gradient-mask", epochs=1).unlearn(
        original, digits_cnn.records("retain"), digits_cnn.records("forget"), seed=1)
    net = result.model.model
    assert type(net) is type(original.model)
    assert all(not c.weight._backward_hooks for c in net.modules() if isinstance(c, nn.Conv2d))
    assert result.details["reinitialised_share"] == pytest.approx(
        sum(c.out_channels * n_selected(c.weight[0].numel(), 0.3) for c in net.modules() if isinstance(c, nn.Conv2d))
        / sum(c.weight.numel() for c in net.modules() if isinstance(c, nn.Conv2d)))
    # the masked convolution: selected weights get the whole gradient, the others a tenth
    conv = nn.Conv2d(1, 2, 3)
    mask = filter_similarity_mask(torch.randn(2, 1, 3, 3, generator=seeded(4)), 0.3)
    scale = mask.float() * 0.9 + 0.1
    conv.weight.register_hook(lambda g: g * scale)
    x = torch.randn(3, 1, 5, 5, generator=seeded(6))
    conv(x).sum().backward()
    plain = nn.Conv2d(1, 2, 3)
    plain.load_state_dict(conv.state_dict())
    plain(x).sum().backward()
    torch.testing.assert_close(conv.weight.grad, plain.weight.grad * scale)


# ---------------------------------------------------------------------------- pseudo-label


def test_pseudo_label_rule_on_a_hand_made_table():
    big = 8.0
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    # fine-tuned predictions:   0 (right) 1 (right) 0 (wrong) 0 (right) 1 (right) 2 (right)
    ft = torch.tensor([[big, 0, 0], [0, big, 0], [big, 0, 0], [big, 0, 0], [0, big, 0], [0, 0, big]])
    # retrained predictions:    1 confident-wrong, 1 right, 1 confident-wrong (ft wrong), 2 unsure-wrong,
    #                           0 confident-wrong, 2 confident-right
    rt = torch.tensor([[0, big, 0], [0, big, 0], [0, big, 0], [0.0, 0.1, 0.2], [big, 0, 0], [0, 0, big]])
    labels, from_rt = pseudo_labels(y, ft, rt, max_entropy=0.5)
    assert labels.tolist() == [1, 1, 0, 0, 0, 2]
    assert from_rt.tolist() == [True, False, False, False, True, False]
    # an entropy threshold of 0 never switches; of 1 also switches the unsure record 3 (rt says 2)
    assert pseudo_labels(y, ft, rt, max_entropy=0.0)[0].tolist() == [0, 1, 0, 0, 1, 2]
    assert pseudo_labels(y, ft, rt, max_entropy=1.0)[0].tolist() == [1, 1, 0, 2, 0, 2]
    h = normalised_entropy(torch.tensor([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0]]))
    torch.testing.assert_close(h, torch.tensor([1.0, 0.0]), atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------- deviation


def test_deviation_noise_has_the_stated_sigma():
    conv = nn.Conv2d(128, 128, 3)  # 147,456 weights
    old = conv.weight.detach().clone()
    n = deviate_([conv], 0.6, seeded(11))
    assert n == old.numel()
    delta = (conv.weight.detach() - old).reshape(-1).double()
    se_std = 0.6 / math.sqrt(2 * n)
    se_mean = 0.6 / math.sqrt(n)
    assert abs(float(delta.std()) - 0.6) < 4 * se_std
    assert abs(float(delta.mean())) < 4 * se_mean
    conv2 = nn.Conv2d(2, 2, 3)
    bias = conv2.bias.detach().clone()
    deviate_([conv2], 0.005, seeded(1))
    assert torch.equal(conv2.bias, bias)


def test_deviation_layers_first_or_all():
    net = make_net()
    assert deviation_layers(net, "first") == [net.a]
    assert deviation_layers(net, "all") == [net.a, net.b, net.c]


# ---------------------------------------------------------------------------- distillation and divergence


def test_first_and_last_layers():
    from mia_audit.models import build_model

    cnn = build_model("cnn", input_shape=(1, 8, 8), n_classes=10, seed=0, channels=(4, 8), hidden=16)
    assert first_and_last_layers(cnn) == [cnn.features[0], cnn.head[-1]]
    mlp = build_model("mlp", input_shape=(5,), n_classes=2, seed=0, hidden=(4,))
    assert first_and_last_layers(mlp) == [mlp.features[0], mlp.head]
    logreg = build_model("mlp", input_shape=(5,), n_classes=2, seed=0, hidden=())
    assert first_and_last_layers(logreg) == [logreg.head]
    resnet = build_model("resnet18", input_shape=(3, 8, 8), n_classes=10, seed=0, width=4)
    assert first_and_last_layers(resnet) == [resnet.stem[0], resnet.head]


def test_distillation_losses_match_their_definitions():
    g = seeded(8)
    s, t = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    T = 2.0
    p, q = torch.softmax(t / T, 1), torch.softmax(s / T, 1)
    kl = float(sum((p[i] * (p[i] / q[i]).log()).sum() for i in range(5)) / 5)
    sce = float(sum(-(p[i] * q[i].log()).sum() for i in range(5)) / 5)
    assert float(softened_kl(s, t, T)) == pytest.approx(kl, rel=1e-5)
    assert float(soft_cross_entropy(s, t, T)) == pytest.approx(sce, rel=1e-5)


def test_divergence_losses_match_their_definitions():
    g = seeded(9)
    f, r = torch.randn(3, 4, generator=g), torch.randn(5, 4, generator=g)
    tau = 1.15
    total = 0.0
    for i in range(3):
        sims = [float(f[i] @ r[j]) / tau for j in range(5)]
        m = max(sims)
        lse = m + math.log(sum(math.exp(v - m) for v in sims))
        total += sum(lse - v for v in sims)
    assert float(contrastive_loss(f, r, tau)) == pytest.approx(total / 15, rel=1e-5)
    logp = torch.log_softmax(f, 1)
    expected = float(sum((-math.log(4) - logp[i].mean()) for i in range(3)) / 3)
    assert float(uniform_kl(f)) == pytest.approx(expected, rel=1e-5)
    assert float(uniform_kl(torch.zeros(2, 4))) == pytest.approx(0.0, abs=1e-7)


# ---------------------------------------------------------------------------- options and applicability


@pytest.mark.parametrize("name, options, param", [
    ("distillation", {"temperature": 0}, "temperature"),
    ("distillation", {"warmup_epochs": -1}, "warmup_epochs"),
    ("distillation", {"warmup_lr": float("nan")}, "warmup_lr"),
    ("rotate", {"schedule": "step"}, "schedule"),
    ("rotate", {"epochs": 0}, "epochs"),
    ("pseudo-label", {"max_entropy": 1.5}, "max_entropy"),
    ("pseudo-label", {"retrain_epochs": 0}, "retrain_epochs"),
    ("pseudo-label", {"finetune_epochs": 1.5}, "finetune_epochs"),
    ("pseudo-label", {"rotate": "yes"}, "rotate"),
    ("pruning", {"amount": 1.0}, "amount"),
    ("pruning", {"amount": 0}, "amount"),
    ("pruning", {"entropy_weight": -1}, "entropy_weight"),
    ("deviation", {"sigma": -0.1}, "sigma"),
    ("deviation", {"final_sigma": "small"}, "final_sigma"),
    ("deviation", {"layers": "last"}, "layers"),
    ("gradient-mask", {"fraction": 0}, "fraction"),
    ("gradient-mask", {"fraction": 1.2}, "fraction"),
    ("gradient-mask", {"other_grad_scale": 2}, "other_grad_scale"),
    ("divergence", {"temperature": -1}, "temperature"),
    ("divergence", {"forget_lr": 0}, "forget_lr"),
    ("divergence", {"lr": True}, "lr"),
])
def test_bad_options_raise_input_error(name, options, param):
    with pytest.raises(InputError, match=rf"^{param} must be .*; got"):
        create_unlearner(name, **options)


def test_deviation_is_sgd_only():
    with pytest.raises(InputError, match="unknown option 'optimizer'"):
        create_unlearner("deviation", optimizer="adam")


def test_conv_methods_refuse_the_mlp_and_the_others_apply(adult_mlp):
    from mia_audit.unlearners import train_original

    X, y = adult_mlp.records("train")
    original = train_original(adult_mlp.model, X, y, adult_mlp.recipe, seed=0, device="cpu")
    for name in CONV_ONLY:
        u = create_unlearner(name)
        with pytest.raises(NotApplicableError, match=f"'{name}' needs a network with Conv2d"):
            u.unlearn(original, adult_mlp.records("retain"), adult_mlp.records("forget"), seed=1)
    for name in ("distillation", "pruning", "divergence"):
        assert create_unlearner(name).applicable(original) is None
    assert create_unlearner("pseudo-label", rotate=False).applicable(original) is None


def test_rotate_refuses_a_net_with_only_non_square_kernels():
    net = nn.Sequential(nn.Conv2d(1, 2, (1, 3)), nn.Flatten(), nn.LazyLinear(2))
    net(torch.zeros(1, 1, 4, 4))
    model = Trained(model=net, init=None, recipe=None, train_keys=np.zeros(0, dtype=np.uint64))
    with pytest.raises(NotApplicableError, match="non-square"):
        create_unlearner("rotate").check_applicable(model)


@pytest.mark.parametrize("name", METHODS)
def test_result_is_a_plain_module_with_the_same_keys(name, digits_cnn):
    from mia_audit.unlearners import train_original

    X, y = digits_cnn.records("train")
    original = train_original(digits_cnn.model, X, y, digits_cnn.recipe, seed=0, device="cpu")
    result = create_unlearner(name, epochs=1).unlearn(original, digits_cnn.records("retain"),
                                                      digits_cnn.records("forget"),
                                                      validation=digits_cnn.records("test"), seed=2)
    net = result.model.model
    assert type(net) is type(original.model)
    assert list(net.state_dict()) == list(original.model.state_dict())
    assert not net.training and all(p.requires_grad for p in net.parameters())
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in net.modules())
    assert result.details["epochs"] == 1

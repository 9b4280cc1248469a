"""``mia-guided``: unlearning guided by a membership-inference loss, after ReMI (Sula, Kumar, Hou,
Wang & Tourani, "Silver Linings in the Shadows: Harnessing Membership Inference for Machine
Unlearning", arXiv 2407.00866, 2024; paper 001 of the project).

What the paper does (from its abstract and summary, which is what the project holds):
the unlearned model is trained with a loss that combines the target model's
classification loss with a membership-inference (privacy-leakage) term on the data to
forget, computed by a differentiable leakage estimator (a membership-inference attack,
or membership fingerprinting) that reads the model's outputs; the loss is augmented by
a KL-divergence objective that makes forgotten data look like out-of-sample data, with
a Gaussian upper bound used for tractability.

What this module does:

* **Attack** (the leakage estimator): a small MLP (one hidden layer of
  ``attack_hidden`` units) on the target's per-record features: its softmax posteriors
  sorted in decreasing order and its cross-entropy on the true label (the classic
  Shokri/Salem attack features; differentiable in the target's weights). Its logit is
  the membership score (higher = member).
* **Members / non-members** for the attack: retained records are members; the
  ``validation`` records passed to ``unlearn`` are non-members. Without validation
  records, the fallback non-members are Gaussian-perturbed copies of retained records
  (``x + 0.5 * s * eps``, ``s`` the per-feature standard deviation of retain), inputs
  the model never trained on; integer inputs (token ids) need validation records.
* **Warm-up**: the attack is first fitted with ``attack_warmup`` Adam steps (default
  10, rate ``attack_lr``, default 3e-2, also used for the later attack steps) on the
  original model's (fixed) features of retain vs non-members, all of them per step (at
  most 4096 per class, redrawn), with the classes weighted equally, so that it is a
  real attack when unlearning starts.
* **Alternating updates**, for ``epochs`` passes over retain (batches in the same order
  as ``finetune`` with the same seed), each step: (a) one target step minimising

      CE(retain batch) + lam * mean_forget_batch softplus(attack_logit(x_f))

  i.e. cross-entropy on retain plus ``lam`` times the attack's binary cross-entropy
  towards "non-member" on a batch of forget records (the forget set's share of a retain
  batch, cycled, so a pass over retain sees each forget record about once; the
  attack's weights are held fixed in this step); then (b) one attack step separating
  that retain batch (members, its logits from step (a), detached) from a random batch of
  non-members (the target's outputs in eval mode, no gradients).

With ``lam=0`` no attack is trained and the updates are exactly those of ``finetune``
with the same seed and settings (same order generator, same optimiser, same loss).

Departures: the attack is trained alongside on retain vs held-out records instead of
being built beforehand from shadow models; the KL-divergence augmentation and the
Gaussian upper bound of the paper are not implemented (the leakage term is the attack's
own loss, which the alternating updates keep current); defaults (``lam=1``, 2 epochs)
are ours, chosen to stay within ~10 % of retraining.
"""

from __future__ import annotations

from typing import Optional

from mia_audit.checks import nonnegative_int
from mia_audit.errors import InputError
from mia_audit.seeding import derive_seed

from .finetune import RETAIN_ORDER
from .neggrad import CycledBatches
from .registry import UNLEARNERS
from .torch_loops import (GradientUnlearner, TensorData, autocast, batches, ce_loss, generator, number, positive_int,
                          step)

FALLBACK_NOISE = 0.5  # noise of the fallback non-members, in per-feature standard deviations of retain
WARMUP_RECORDS = 4096  # records per class in an attack warm-up step (all when fewer)


def attack_features(logits, y):
    """Per-record attack input (n, C + 1): the softmax sorted in decreasing order, then the
    cross-entropy on ``y`` (its gradient is bounded, unlike that of a log-loss feature)."""
    import torch
    from torch.nn import functional as F

    logits = logits.float()
    probs = torch.softmax(logits, dim=1).sort(dim=1, descending=True).values
    loss = F.cross_entropy(logits, y, reduction="none")
    return torch.cat([probs, loss[:, None]], dim=1)


def attack_model(reference, hidden: int, seed: int):
    """A fresh MLP (standardisation fixed on ``reference`` features, ``hidden`` ReLU units, one
    logit) on ``reference``'s device, with weights drawn from ``seed``."""
    import torch
    from torch import nn

    from mia_audit.seeding import isolated_torch_seed

    class _Standardise(nn.Module):
        def __init__(self, mean, std):
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)

        def forward(self, x):
            return (x - self.mean) / self.std

    mean = reference.mean(dim=0)
    std = reference.std(dim=0, unbiased=False).clamp_min(1e-6) if reference.shape[0] > 1 else torch.ones_like(mean)
    with isolated_torch_seed(seed):
        net = nn.Sequential(_Standardise(mean, std), nn.Linear(int(reference.shape[1]), hidden), nn.ReLU(),
                            nn.Linear(hidden, 1))
    return net.to(reference.device)


def attack_loss(attack, members, non_members):
    """Balanced binary cross-entropy of ``attack``: the mean over members (label 1) and the
    mean over non-members (label 0), averaged."""
    from torch.nn import functional as F

    z_m, z_n = attack(members).squeeze(1), attack(non_members).squeeze(1)
    return 0.5 * (F.softplus(-z_m).mean() + F.softplus(z_n).mean())


def fit_attack(attack, members, non_members, *, steps: int, lr: float, gen) -> list[float]:
    """Fit ``attack`` on fixed member / non-member features with ``steps`` Adam steps on the
    balanced loss over all records (at most ``WARMUP_RECORDS`` per class, redrawn each step);
    the loss per step."""
    import torch

    optimizer = torch.optim.Adam(attack.parameters(), lr=lr)
    device = members.device

    def draw(features):
        n = features.shape[0]
        if n <= WARMUP_RECORDS:
            return features
        return features[torch.randint(0, n, (WARMUP_RECORDS,), generator=gen).to(device)]

    return [step(optimizer, attack_loss(attack, draw(members), draw(non_members))) for _ in range(steps)]


def eval_features(net, data: TensorData, batch_size: int = 1024):
    """Attack features of ``data`` under ``net`` in eval mode, without gradients."""
    import torch

    was_training = net.training
    net.eval()
    parts = []
    with torch.no_grad(), autocast(net):
        for start in range(0, len(data), batch_size):
            parts.append(attack_features(net(data.X[start:start + batch_size]), data.y[start:start + batch_size]))
    net.train(was_training)
    return torch.cat(parts).float()


def attack_auc(attack, members, non_members) -> float:
    """AUC of the attack's scores, members against non-members (:func:`mia_audit.metrics.auc`)."""
    import torch

    from mia_audit.metrics import auc

    with torch.no_grad():
        a = attack(members).squeeze(1).double().cpu().numpy()
        b = attack(non_members).squeeze(1).double().cpu().numpy()
    return float(auc(a, b))


def member_score(attack, features) -> float:
    """Mean membership probability the attack gives to ``features``."""
    import torch

    with torch.no_grad():
        return float(torch.sigmoid(attack(features).squeeze(1)).mean().item())


@UNLEARNERS.register("mia-guided")
class MiaGuided(GradientUnlearner):
    """Fine-tune on retain plus lam x a membership-inference loss that makes forget look like non-members."""

    name = "mia-guided"
    reference = ("Membership-inference-guided unlearning after ReMI (Sula, Kumar, Hou, Wang & Tourani, 'Silver "
                 "Linings in the Shadows: Harnessing Membership Inference for Machine Unlearning', arXiv 2024).")
    default_epochs = 2

    def __init__(self, *, lam: float = 1.0, attack_hidden: int = 32, attack_lr: float = 3e-2,
                 attack_warmup: int = 10, epochs: Optional[int] = None, lr: Optional[float] = None,
                 batch_size: Optional[int] = None, optimizer: Optional[str] = None):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer)
        self.lam = number("lam", lam, low=0.0)
        self.attack_hidden = positive_int("attack_hidden", attack_hidden)
        self.attack_lr = number("attack_lr", attack_lr, low=0.0, low_open=True)
        self.attack_warmup = nonnegative_int("attack_warmup", attack_warmup)

    def non_members(self, data, seed) -> tuple[TensorData, str]:
        import torch

        validation, retain = data["validation"], data["retain"]
        if validation is not None and len(validation) >= 2:
            return validation, "validation records"
        if not retain.X.is_floating_point():
            raise InputError("mia-guided needs validation records (non-members) for integer inputs such as "
                             "token ids; pass validation=(X, y) to unlearn")
        gen = generator(seed, self.name, "fallback")
        std = retain.X.float().std(dim=0, unbiased=False)
        eps = torch.randn(tuple(retain.X.shape), generator=gen).to(retain.X.device)
        X = (retain.X.float() + FALLBACK_NOISE * std * eps).to(retain.X.dtype)
        return TensorData(X, retain.y), f"retain records with Gaussian noise ({FALLBACK_NOISE} x per-feature std)"

    def _update(self, net, model, data, settings, seed):
        import torch
        from torch.nn import functional as F

        retain, forget = data["retain"], data["forget"]
        device = retain.X.device
        optimizer = self.new_optimizer(net.parameters(), settings)
        order = generator(seed, RETAIN_ORDER)
        lam = self.lam
        details: dict = {"lam": lam}
        if lam > 0:
            outsiders, source = self.non_members(data, seed)
            attack_gen = generator(seed, self.name, "attack")
            members_0, outsiders_0 = eval_features(net, retain), eval_features(net, outsiders)
            forget_0 = eval_features(net, forget)
            attack = attack_model(torch.cat([members_0, outsiders_0]), self.attack_hidden,
                                  derive_seed(seed, self.name, "attack-init"))
            warmup = fit_attack(attack, members_0, outsiders_0, steps=self.attack_warmup, lr=self.attack_lr,
                                gen=attack_gen)
            attack_optimizer = torch.optim.Adam(attack.parameters(), lr=self.attack_lr)
            forget_bs = forget_batch_size(settings["batch_size"], len(forget), len(retain))
            forget_batches = CycledBatches(len(forget), forget_bs, generator(seed, self.name, "forget"), device)
            details.update(non_members=source, forget_batch_size=forget_bs,
                           attack_warmup_loss=warmup[-1] if warmup else None,
                           attack_auc_retain_vs_non_members_before=attack_auc(attack, members_0, outsiders_0),
                           attack_auc_forget_vs_non_members_before=attack_auc(attack, forget_0, outsiders_0),
                           forget_member_score_before=member_score(attack, forget_0),
                           non_member_score_before=member_score(attack, outsiders_0))
        history, attack_history = [], []
        for _ in range(settings["epochs"]):
            total, count, a_total, a_count = 0.0, 0, 0.0, 0
            for index in batches(len(retain), settings["batch_size"], order, device):
                xb, yb = retain.X[index], retain.y[index]
                if lam == 0:  # exactly finetune's step
                    with autocast(net):
                        loss = ce_loss(net, xb, yb)
                    total += step(optimizer, loss.float()) * index.numel()
                    count += index.numel()
                    continue
                # (b) target step: CE on retain + lam * attack's loss towards "non-member" on forget
                f_index = forget_batches.next()
                attack.requires_grad_(False)
                with autocast(net):
                    logits = net(torch.cat([xb, forget.X[f_index]]))
                r_logits, f_logits = logits[:index.numel()].float(), logits[index.numel():].float()
                z = attack(attack_features(f_logits, forget.y[f_index])).squeeze(1)
                loss = F.cross_entropy(r_logits, yb) + lam * F.softplus(z).mean()
                total += step(optimizer, loss) * index.numel()
                count += index.numel()
                attack.requires_grad_(True)
                # (a) attack step: this retain batch (members) vs a random batch of non-members
                o_index = torch.randint(0, len(outsiders), (index.numel(),), generator=attack_gen).to(device)
                members = attack_features(r_logits.detach(), yb)
                others = eval_features(net, TensorData(outsiders.X[o_index], outsiders.y[o_index]))
                a_total += step(attack_optimizer, attack_loss(attack, members, others))
                a_count += 1
            history.append(total / max(count, 1))
            if a_count:
                attack_history.append(a_total / a_count)
        details["loss_per_epoch"] = history
        if lam > 0:
            forget_after, outsiders_after = eval_features(net, forget), eval_features(net, outsiders)
            details.update(attack_loss_per_epoch=attack_history,
                           attack_auc_forget_vs_non_members_after=attack_auc(attack, forget_after, outsiders_after),
                           forget_member_score_after=member_score(attack, forget_after),
                           non_member_score_after=member_score(attack, outsiders_after))
        return details


def forget_batch_size(batch_size: int, n_forget: int, n_retain: int) -> int:
    """Forget records per step: the forget set's share of a retain batch (at least 2, at most
    all of forget), so one pass over retain sees each forget record about once."""
    share = -(-int(batch_size) * int(n_forget) // max(int(n_retain), 1))
    return int(min(n_forget, max(2, share)))


__all__ = ["MiaGuided", "attack_features", "attack_model", "attack_loss", "fit_attack", "attack_auc", "eval_features",
           "member_score"]

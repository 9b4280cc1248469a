"""``scrub``: SCRUB, student-teacher unlearning (Kurmanji, Triantafillou, Hayes & Triantafillou,
"Towards Unbounded Machine Unlearning", NeurIPS 2023).

The teacher is the original model, frozen (eval mode); the student starts as a copy of
it. With ``d(x) = KL(p_teacher(x) || p_student(x))`` on temperature-``T`` softmaxes
(scaled by ``T**2``, averaged over the batch, as their ``DistillKL``), SCRUB optimises

    min  alpha * mean_retain d(x_r) + gamma * mean_retain CE(student(x_r), y_r) - mean_forget d(x_f)

by alternating, as the paper's Algorithm 1:

* a **max-step**: one pass over the forget records minimising ``-d(x_f)`` (pushing the
  student away from the teacher on the forget set), done only in the first ``msteps``
  epochs;
* a **min-step**: one pass over the retained records minimising
  ``alpha * d(x_r) + gamma * CE(x_r)`` (staying close to the teacher and correct on retain);

for ``epochs`` epochs, so after ``msteps`` epochs only min-steps remain (they repair
retain performance that the max-steps damaged). One optimiser serves both steps, as in
the authors' code. Defaults follow the authors' small-scale settings where the budget
allows: ``alpha=0.001``, ``gamma=0.99``, ``temperature=4``; ``epochs=2`` and
``msteps=1`` (they use 3-10 epochs and 2-5 max-steps) to stay within ~10 % of
retraining with a 30-epoch recipe; the learning rate is 0.2x the recipe's (they use
5e-4 where the original trained at 1e-3 or more: the max-steps' unbounded KL ascent
destroys the model at the recipe's full rate).

Departures: the authors' code runs the max-step while ``epoch <= msteps`` (one more than
the paper's ``i < MAX-STEPS``); we follow the paper. The "+R" rewinding variant and the
unused third distillation term (``beta``) of their code are not implemented. The
forget set has its own batch size (``forget_batch_size``, default 16, as the authors'
separate forget loader): a small forget set still gets several max-steps per pass.
"""

from __future__ import annotations

import copy
from typing import Optional

from mia_audit.checks import nonnegative_int
from mia_audit.errors import InputError

from .registry import UNLEARNERS
from .torch_loops import GradientUnlearner, autocast, batches, generator, number, positive_int, step


def distill_kl(student_logits, teacher_logits, temperature: float):
    """``KL(softmax(t / T) || softmax(s / T)) * T**2`` averaged over the batch (float32)."""
    from torch.nn import functional as F

    T = float(temperature)
    log_p_s = F.log_softmax(student_logits.float() / T, dim=1)
    p_t = F.softmax(teacher_logits.float() / T, dim=1)
    return F.kl_div(log_p_s, p_t, reduction="batchmean") * (T * T)


@UNLEARNERS.register("scrub")
class Scrub(GradientUnlearner):
    """SCRUB: a student moves away from the frozen original on forget and stays close to it on retain."""

    name = "scrub"
    reference = ("SCRUB (Kurmanji, Triantafillou, Hayes & Triantafillou, 'Towards Unbounded Machine "
                 "Unlearning', NeurIPS 2023).")
    default_epochs = 2
    lr_scale = 0.2

    def __init__(self, *, msteps: int = 1, alpha: float = 0.001, gamma: float = 0.99, temperature: float = 4.0,
                 forget_batch_size: int = 16, epochs: Optional[int] = None,
                 lr: Optional[float] = None, batch_size: Optional[int] = None, optimizer: Optional[str] = None):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer)
        self.msteps = nonnegative_int("msteps", msteps)
        if self.msteps > self.epochs:
            raise InputError(f"msteps must be an integer <= epochs ({self.epochs}); got {msteps!r}")
        self.alpha = number("alpha", alpha, low=0.0)
        self.gamma = number("gamma", gamma, low=0.0)
        self.temperature = number("temperature", temperature, low=0.0, low_open=True)
        self.forget_batch_size = positive_int("forget_batch_size", forget_batch_size)

    def _update(self, net, model, data, settings, seed):
        retain, forget = data["retain"], data["forget"]
        teacher = copy.deepcopy(model.model).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        optimizer = self.new_optimizer(net.parameters(), settings)
        device = retain.X.device
        retain_order = generator(seed, self.name, "retain")
        forget_order = generator(seed, self.name, "forget")
        forget_bs = self.forget_batch_size
        T, alpha, gamma = self.temperature, self.alpha, self.gamma
        from torch.nn import functional as F
        import torch

        def kl_to_teacher(xb):
            with torch.no_grad(), autocast(net):
                t_logits = teacher(xb)
            with autocast(net):
                s_logits = net(xb)
            return s_logits, distill_kl(s_logits, t_logits, T)

        max_kl, min_loss = [], []
        max_steps = min_steps = 0
        for epoch in range(settings["epochs"]):
            if epoch < self.msteps:  # max-step: move away from the teacher on forget
                total, count = 0.0, 0
                for index in batches(len(forget), forget_bs, forget_order, device):
                    _, kl = kl_to_teacher(forget.X[index])
                    total += -step(optimizer, -kl) * index.numel()
                    count += index.numel()
                    max_steps += 1
                max_kl.append(total / max(count, 1))
            total, count = 0.0, 0  # min-step: stay close to the teacher and correct on retain
            for index in batches(len(retain), settings["batch_size"], retain_order, device):
                s_logits, kl = kl_to_teacher(retain.X[index])
                loss = alpha * kl + gamma * F.cross_entropy(s_logits.float(), retain.y[index])
                total += step(optimizer, loss) * index.numel()
                count += index.numel()
                min_steps += 1
            min_loss.append(total / max(count, 1))
        return {"msteps": self.msteps, "alpha": alpha, "gamma": gamma, "temperature": T,
                "forget_batch_size": min(forget_bs, len(forget)), "max_steps": max_steps, "min_steps": min_steps,
                "forget_kl_per_max_epoch": max_kl, "retain_loss_per_epoch": min_loss}


__all__ = ["Scrub", "distill_kl"]

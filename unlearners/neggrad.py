"""``neggrad`` and ``neggrad+``: gradient ascent on the forget records.

``neggrad``
    Gradient ascent on the forget set: maximise the cross-entropy of the forget records
    (minimise its negative) for a few passes over them with a small learning rate, and
    nothing else (Golatkar et al. 2020 and Kurmanji et al. 2023 use it as the "NegGrad"
    baseline). The forget set is small, so this is the cheapest method, but nothing holds
    the rest of the model in place: too many steps or too large a rate destroys the
    model. Defaults: 5 passes over the forget records at 0.3x the recipe's learning rate.

``neggrad+``
    NegGrad+ of Kurmanji, Triantafillou, Hayes & Triantafillou (NeurIPS 2023, "Towards
    Unbounded Machine Unlearning", appendix): fine-tune on

        alpha * CE(retain batch) - (1 - alpha) * CE(forget batch)

    over paired batches: each retain batch (one pass over retain per epoch, shuffled) is
    paired with the next batch of forget records (its own shuffled order, restarted
    when used up, so the small forget set is cycled as in their ``zip(retain, cycle(forget))``
    loop). ``alpha`` defaults to 0.99 (their experiments tune it between 0.9 and 0.999);
    2 epochs at the recipe's learning rate by default.
"""

from __future__ import annotations

from typing import Optional

from .registry import UNLEARNERS
from .torch_loops import GradientUnlearner, autocast, batches, ce_loss, generator, number, run_epochs, step


def neg_ce_loss(net, xb, yb):
    return -ce_loss(net, xb, yb)


class CycledBatches:
    """Endless random batches of ``n`` indices: a fresh order each time the records run out."""

    def __init__(self, n: int, batch_size: int, gen, device):
        self.n, self.batch_size, self.gen, self.device = n, min(batch_size, n), gen, device
        self._pending: list = []
        self.passes = 0

    def next(self):
        if not self._pending:
            self._pending = list(batches(self.n, self.batch_size, self.gen, self.device))
            self.passes += 1
        return self._pending.pop(0)


@UNLEARNERS.register("neggrad")
class NegGrad(GradientUnlearner):
    """Gradient ascent on the forget records (maximise their cross-entropy) with a small learning rate."""

    name = "neggrad"
    reference = ("NegGrad, gradient ascent on the forget set (Golatkar et al., CVPR 2020; Kurmanji et al., "
                 "'Towards Unbounded Machine Unlearning', NeurIPS 2023).")
    default_epochs = 5
    lr_scale = 0.3

    def __init__(self, *, epochs: Optional[int] = None, lr: Optional[float] = None,
                 batch_size: Optional[int] = None, optimizer: Optional[str] = None):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer)

    def _update(self, net, model, data, settings, seed):
        forget = data["forget"]
        optimizer = self.new_optimizer(net.parameters(), settings)
        history = run_epochs(net, forget, epochs=settings["epochs"], batch_size=settings["batch_size"],
                             optimizer=optimizer, gen=generator(seed, self.name, "order"), loss_fn=neg_ce_loss)
        return {"forget_loss_per_epoch": [-h for h in history], "passes_over": "forget"}


@UNLEARNERS.register("neggrad+")
class NegGradPlus(GradientUnlearner):
    """Fine-tune on alpha * CE(retain) - (1 - alpha) * CE(forget) over paired batches (NegGrad+)."""

    name = "neggrad+"
    reference = ("NegGrad+ (Kurmanji, Triantafillou, Hayes & Triantafillou, 'Towards Unbounded Machine "
                 "Unlearning', NeurIPS 2023).")
    default_epochs = 2

    def __init__(self, *, alpha: float = 0.99, epochs: Optional[int] = None, lr: Optional[float] = None,
                 batch_size: Optional[int] = None, optimizer: Optional[str] = None):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer)
        self.alpha = number("alpha", alpha, low=0.0, high=1.0)

    def _update(self, net, model, data, settings, seed):
        retain, forget = data["retain"], data["forget"]
        optimizer = self.new_optimizer(net.parameters(), settings)
        device = retain.X.device
        order = generator(seed, self.name, "retain")
        forget_batches = CycledBatches(len(forget), settings["batch_size"], generator(seed, self.name, "forget"),
                                       device)
        alpha = self.alpha
        history, steps = [], 0
        for _ in range(settings["epochs"]):
            total, count = 0.0, 0
            for index in batches(len(retain), settings["batch_size"], order, device):
                f_index = forget_batches.next()
                with autocast(net):
                    loss = (alpha * ce_loss(net, retain.X[index], retain.y[index])
                            - (1.0 - alpha) * ce_loss(net, forget.X[f_index], forget.y[f_index]))
                total += step(optimizer, loss.float()) * index.numel()
                count += index.numel()
                steps += 1
            history.append(total / max(count, 1))
        return {"alpha": alpha, "loss_per_epoch": history, "steps": steps,
                "passes_over_forget": forget_batches.passes}


__all__ = ["NegGrad", "NegGradPlus", "CycledBatches", "neg_ce_loss"]

"""``rotate``: transpose every Conv2d kernel, then fine-tune on retain.

The 5th-place method of the NeurIPS 2023 machine-unlearning challenge as described step by
step in Salgado Herrera et al. 2024 (paper 002, section IV-B2):

1. every weight of every ``Conv2d`` layer is *transposed*: each (kh, kw) kernel slice of the
   weight (out, in, kh, kw) becomes its transpose (the solution's code swaps axes 2 and 3).
   The filters stay useful features (an edge detector becomes the transposed edge
   detector) so the network keeps much of what it learned in general, but the exact function
   it computed, and with it what it memorised about individual records, is broken;
2. the model is fine-tuned on retain with cross-entropy (cosine-decayed learning rate, as in
   the solution's code).

Departures and choices:

* Kernels that are not square (kh != kw) are left unchanged: transposing them would change
  the layer's shape and its padding would no longer fit the output size. ``details`` counts
  them (``n_skipped_non_square``). A model with no Conv2d at all (e.g. an MLP) is refused with
  :class:`NotApplicableError`; a model whose only kernels are non-square is refused too.
* Cost: the solution fine-tuned 3 epochs after a ResNet-18 trained for far longer; the default
  here is 2 epochs over retain (about 7 % of a 30-epoch retraining) with the model's own
  optimiser at its recipe's learning rate (``lr`` overrides), decayed to 0 by a cosine schedule.

This module also holds the Conv2d helpers shared by the other challenge methods
(``pseudo-label``, ``deviation``, ``gradient-mask``) and the fine-tuning loop with a
learning-rate schedule that several of them use.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from mia_audit.errors import NotApplicableError

from .base import Trained
from .registry import UNLEARNERS
from .torch_loops import GradientUnlearner, TensorData, ce_loss, choice, generator, run_epochs

SCHEDULES = ("cosine", "linear", "none")


# ---------------------------------------------------------------------------- Conv2d helpers


def conv2d_layers(net) -> list:
    """Every ``torch.nn.Conv2d`` of ``net`` in registration order."""
    from torch import nn

    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


def require_conv2d(name: str, net, why: str) -> None:
    """Raise NotApplicableError when ``net`` has no Conv2d layer."""
    if not conv2d_layers(net):
        raise NotApplicableError(
            f"unlearner {name!r} needs a network with Conv2d layers ({why}); "
            f"the {type(net).__name__} model has none"
        )


def transposable(conv) -> bool:
    """True when the kernel is square (its transpose has the same shape)."""
    return conv.weight.dim() == 4 and conv.weight.shape[2] == conv.weight.shape[3]


def transpose_conv_kernels_(net) -> dict[str, int]:
    """Transpose in place the spatial axes (2, 3) of every square Conv2d kernel of ``net``.

    Returns counts: ``n_transposed`` layers, ``n_skipped_non_square`` layers left unchanged.
    """
    import torch

    done = skipped = 0
    with torch.no_grad():
        for conv in conv2d_layers(net):
            if transposable(conv):
                conv.weight.copy_(conv.weight.transpose(2, 3).clone())
                done += 1
            else:
                skipped += 1
    return {"n_transposed": done, "n_skipped_non_square": skipped}


# ---------------------------------------------------------------------------- fine-tuning


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps in one epoch of :func:`torch_loops.run_epochs` (a last batch of one
    record is merged into the one before)."""
    count = -(-int(n) // int(batch_size))
    if count > 1 and n % batch_size == 1:
        count -= 1
    return max(count, 1)


def lr_schedule(optimizer, kind: str, total_steps: int, *, eta_min: float = 0.0):
    """A per-step scheduler: "cosine" (decay to ``eta_min``), "linear" (linear warm-up over the
    first half of the steps, linear decay over the second half, never 0) or "none" (None)."""
    import torch

    total_steps = max(int(total_steps), 1)
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=eta_min)
    if kind == "linear":
        half = max(total_steps // 2, 1)

        def factor(t: int) -> float:
            # step t = 0 .. total_steps - 1; peak 1 at the middle, 1 / (half + 1) at both ends
            return (t + 1) / (half + 1) if t < half else (total_steps - t + 1) / (total_steps - half + 1)

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return None


def finetune(unlearner: GradientUnlearner, net, data: TensorData, settings: dict[str, Any], *, epochs: int,
             gen, schedule: str = "cosine", loss_fn: Callable = ce_loss, params=None,
             lr: Optional[float] = None) -> list[float]:
    """``epochs`` passes of ``loss_fn`` over ``data`` with a new optimiser (``settings``) and a
    per-step ``schedule``; returns the mean loss per epoch."""
    optimizer = unlearner.new_optimizer(net.parameters() if params is None else params, settings, lr=lr)
    scheduler = lr_schedule(optimizer, schedule, epochs * steps_per_epoch(len(data), settings["batch_size"]))
    return run_epochs(net, data, epochs=epochs, batch_size=settings["batch_size"], optimizer=optimizer, gen=gen,
                      loss_fn=loss_fn, after_step=None if scheduler is None else scheduler.step)


def floats(history: list[float]) -> list[float]:
    """A loss history as plain floats (for the JSON details)."""
    return [float(v) for v in history]


# ---------------------------------------------------------------------------- the method


@UNLEARNERS.register("rotate")
class Rotate(GradientUnlearner):
    """Transpose every Conv2d kernel, then fine-tune on retain (NeurIPS 2023 challenge, 5th place)."""

    name = "rotate"
    reference = ("Salgado Herrera et al. 2024, Comparative Analysis of Machine Unlearning Approaches (AMIAD), "
                 "IV-B2: 'rotate', 5th place of the NeurIPS 2023 unlearning challenge.")
    default_epochs = 2
    lr_scale = 1.0

    def __init__(self, *, epochs: Optional[int] = None, lr: Optional[float] = None,
                 batch_size: Optional[int] = None, optimizer: Optional[str] = None, schedule: str = "cosine"):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer)
        self.schedule = choice("schedule", schedule, SCHEDULES)

    def check_applicable(self, model: Trained) -> None:
        super().check_applicable(model)
        net = model.model
        require_conv2d(self.name, net, "it transposes their kernels")
        if not any(transposable(c) for c in conv2d_layers(net)):
            raise NotApplicableError(
                f"unlearner {self.name!r} transposes square Conv2d kernels; every Conv2d of the "
                f"{type(net).__name__} model has a non-square kernel"
            )

    def _update(self, net, model, data, settings, seed):
        counts = transpose_conv_kernels_(net)
        history = finetune(self, net, data["retain"], settings, epochs=settings["epochs"],
                           gen=generator(seed, self.name, "retain"), schedule=self.schedule)
        return {**counts, "schedule": self.schedule, "loss_history": floats(history)}


__all__ = ["Rotate", "conv2d_layers", "require_conv2d", "transpose_conv_kernels_", "transposable",
           "steps_per_epoch", "lr_schedule", "finetune", "floats", "SCHEDULES"]

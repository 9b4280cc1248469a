"""Shared machinery of the gradient-based unlearners (torch).

:class:`GradientUnlearner` holds the settings every such method has (epochs, learning
rate, batch size, optimiser; by default taken from the model's own training recipe)
and runs the method's ``_update`` on a deep copy of the model, on the model's device,
with torch's default generators seeded for the call (dropout) and a CPU
``torch.Generator`` for every data order. :func:`run_epochs` is the one optimisation
loop they share: it draws a fresh order per epoch, runs ``loss_fn(net, xb, yb)`` under
bfloat16 autocast on CUDA (float32 on the CPU), and refuses a non-finite loss.
"""

from __future__ import annotations

import abc
import contextlib
import copy
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

from mia_audit.checks import choice, number, positive_int  # noqa: F401  (the unlearners' option checks)
from mia_audit.errors import InputError
from mia_audit.frameworks import to_tensor
from mia_audit.seeding import derive_seed

from .base import Trained, Unlearner
from .records import Records


# ---------------------------------------------------------------------------- options


# ---------------------------------------------------------------------------- data on the device


@dataclass(frozen=True)
class TensorData:
    """Records as tensors on the model's device (X in the model's dtype, y int64)."""

    X: Any
    y: Any

    def __len__(self) -> int:
        return int(self.X.shape[0])


def to_device(records: Optional[Records], net) -> Optional[TensorData]:
    if records is None:
        return None
    import torch

    from mia_audit.device import model_device, model_dtype

    device, dtype = model_device(net), model_dtype(net)
    X, y = to_tensor(records.X, copy=True), to_tensor(records.y, copy=True)
    X = X.to(device=device, dtype=dtype) if X.is_floating_point() else X.to(device)
    return TensorData(X, y.to(device=device, dtype=torch.int64))


def n_classes_of(net, data: TensorData) -> int:
    """The number of outputs of ``net`` (its ``n_classes`` attribute, else one forward pass)."""
    n = getattr(net, "n_classes", None)
    if n is not None:
        return int(n)
    import torch

    with torch.no_grad():
        return int(net(data.X[:2]).shape[1])


# ---------------------------------------------------------------------------- loops


def generator(seed: int, *labels: Any):
    """A CPU torch.Generator seeded from ``seed`` and a label (data orders, random labels)."""
    import torch

    g = torch.Generator(device="cpu")
    g.manual_seed(derive_seed(seed, *labels))
    return g


def autocast(net, enabled: bool = True):
    """bfloat16 autocast on CUDA (when supported and enabled), a no-op context on the CPU."""
    import torch

    from mia_audit.device import model_device

    device = model_device(net)
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batches(n: int, batch_size: int, gen, device) -> list:
    """One epoch of random index batches (a last batch of one record merged into the one before)."""
    import torch

    from mia_audit.training import split_batches

    order = torch.randperm(n, generator=gen).to(device, non_blocking=True)
    return split_batches(order, batch_size)


def make_optimizer(params, *, kind: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    import torch

    params = [p for p in params if p.requires_grad]
    if not params:
        raise InputError("the model has no trainable parameters")
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def step(optimizer, loss) -> float:
    """One optimiser step on ``loss``; refuses NaN/inf (returns the loss as a float)."""
    value = float(loss.detach().float().item())
    if not math.isfinite(value):
        raise InputError(f"unlearning loss became {value}; lower the unlearner's lr")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return value


def run_epochs(net, data: TensorData, *, epochs: int, batch_size: int, optimizer, gen,
               loss_fn: Callable, after_step: Optional[Callable] = None) -> list[float]:
    """``epochs`` passes of ``loss_fn(net, xb, yb)`` minimisation over ``data``; the mean loss per epoch."""
    history = []
    device = data.X.device
    for _ in range(epochs):
        total, count = 0.0, 0
        for index in batches(len(data), batch_size, gen, device):
            with autocast(net):
                loss = loss_fn(net, data.X[index], data.y[index])
            total += step(optimizer, loss.float()) * index.numel()
            count += index.numel()
            if after_step is not None:
                after_step()
        history.append(total / max(count, 1))
    return history


def ce_loss(net, xb, yb):
    from torch.nn import functional as F

    return F.cross_entropy(net(xb).float(), yb)


# ---------------------------------------------------------------------------- base class


class GradientUnlearner(Unlearner):
    """A torch method with epochs / lr / batch size / optimiser settings.

    ``lr``, ``batch_size`` and ``optimizer`` default to the model's training recipe
    (``lr`` scaled by ``lr_scale``, a per-method default); ``epochs`` is per method. Methods
    that re-initialise most weights set ``min_steps``: unless ``epochs`` is given, the
    epochs are raised so that retain gets at least that many optimiser steps.
    """

    frameworks = ("torch",)
    default_epochs: int = 2
    lr_scale: float = 1.0
    #: with the default epochs, at least this many optimiser steps over retain (None: no floor)
    min_steps: Optional[int] = None

    def __init__(self, *, epochs: Optional[int] = None, lr: Optional[float] = None,
                 batch_size: Optional[int] = None, optimizer: Optional[str] = None):
        self.epochs = positive_int("epochs", self.default_epochs if epochs is None else epochs)
        self._epochs_given = epochs is not None
        self.lr = number("lr", lr, low=0.0, low_open=True, allow_none=True)
        self.batch_size = positive_int("batch_size", batch_size, allow_none=True)
        self.optimizer = None if optimizer is None else choice("optimizer", optimizer, ("adam", "sgd"))

    # settings resolved against the model's recipe
    def settings(self, model: Trained) -> dict[str, Any]:
        recipe = model.recipe
        lr = self.lr if self.lr is not None else (recipe.lr if recipe is not None else 1e-3) * self.lr_scale
        return {
            "epochs": self.epochs,
            "lr": float(lr),
            "batch_size": self.batch_size or (recipe.batch_size if recipe is not None else 128),
            "optimizer": self.optimizer or (recipe.optimizer if recipe is not None else "adam"),
            "momentum": recipe.momentum if recipe is not None else 0.9,
            "weight_decay": recipe.weight_decay if recipe is not None else 0.0,
        }

    def new_optimizer(self, params, settings: dict[str, Any], *, lr: Optional[float] = None):
        return make_optimizer(params, kind=settings["optimizer"], lr=settings["lr"] if lr is None else lr,
                              momentum=settings["momentum"], weight_decay=settings["weight_decay"])

    def _unlearn(self, model: Trained, retain: Records, forget: Records, validation: Optional[Records],
                 seed: int):
        from mia_audit.training import seeded_default_generators

        net = copy.deepcopy(model.model)
        device = next(iter(net.parameters())).device
        settings = self.settings(model)
        if self.min_steps and not self._epochs_given:
            # methods that re-initialise most weights need a number of optimiser steps, not of
            # epochs: on a small retain set the default epochs give too few to recover
            per_epoch = max(1, len(retain) // settings["batch_size"])
            settings["epochs"] = max(settings["epochs"], -(-self.min_steps // per_epoch))
            settings["min_steps"] = self.min_steps
        data = {"retain": to_device(retain, net), "forget": to_device(forget, net),
                "validation": to_device(validation, net)}
        from mia_audit.threads import training_threads  # 1 thread for small models unless the user chose

        sample = next((d.X for d in (data["retain"], data["forget"]) if d is not None and len(d)), None)
        with seeded_default_generators(derive_seed(seed, self.name, "torch"), device), \
                training_threads(net, sample, settings["batch_size"], device=device):
            net.train()
            details = self._update(net, model, data, settings, seed) or {}
        net.eval()
        for p in net.parameters():  # methods that freeze layers leave the model trainable
            p.requires_grad_(True)
        return net, {**settings, **details}

    @abc.abstractmethod
    def _update(self, net, model: Trained, data: dict[str, Optional[TensorData]], settings: dict[str, Any],
                seed: int) -> Optional[dict[str, Any]]:
        """Change ``net`` (a private copy, in train mode) in place; return details."""


__all__ = [
    "GradientUnlearner", "TensorData", "to_device", "run_epochs", "batches", "generator", "autocast",
    "make_optimizer", "step", "ce_loss", "positive_int", "number", "choice", "n_classes_of",
]

"""``distillation``: reset the first and last layers, then distil the original model back.

The 6th-place method of the NeurIPS 2023 machine-unlearning challenge as described step by
step in Salgado Herrera et al. 2024 (paper 002, section IV-B1). The original model is the
teacher; the student is a copy of it that is partly re-initialised and then trained to mimic
the teacher:

1. reset: the first and the last weight layers of the student are re-initialised (their
   ``reset_parameters``, drawn from the call's seed): the first because it shapes every later
   layer, the last because it sets the output distribution;
2. warm-up: ``warmup_epochs`` passes over the *validation* records (data neither model was
   trained on) minimising KL(teacher || student) on temperature-softened predictions, so the
   student learns how the teacher behaves on unseen data;
3. fine-tuning: ``epochs`` passes over retain minimising the sum of the three losses the
   paper names: a soft cross-entropy against the teacher's softened predictions, the
   cross-entropy against the labels, and KL(teacher || student) (softened), with a
   cosine-decayed learning rate as in the solution's code.

Choices and departures:

* "First" and "last" layers are the first and last leaf modules, in registration order, that
  hold parameters and can re-draw them (Conv, Linear, LSTM, ...; normalisation layers are not
  counted): the stem convolution and the linear head of a CNN or ResNet, the input and output
  Linear layers of an MLP (the same layer when it has no hidden layer). The method therefore
  applies to any torch network, the Adult MLP included.
* Temperature: the paper gives none; the default 5.0 is the 6th-place solution's.
* No validation records (``validation=None``): the warm-up is skipped (there are no unseen
  records to imitate the teacher on) and the fine-tuning on retain, which already holds the KL
  term, does all the distillation; ``details["warmup"]`` says so.
* Step floor: unless ``epochs`` is given, the fine-tuning runs at least 150 optimiser steps
  over retain (``min_steps``): on small retain sets 2 epochs left the model collapsed.
* Cost: the solution ran 3 warm-up and 3 retain epochs; defaults here are 1 warm-up epoch over
  validation (usually much smaller than retain) and 2 over retain, each retain step adding a
  teacher forward pass (about 9 % of a 30-epoch retraining). When the validation set is as
  large as retain the warm-up costs a retain epoch more (``warmup_epochs=0`` skips it).
"""

from __future__ import annotations

import copy
from typing import Optional

from mia_audit.checks import nonnegative_int

from .registry import UNLEARNERS
from .rotate import floats, lr_schedule, steps_per_epoch
from .torch_loops import GradientUnlearner, TensorData, generator, number, run_epochs

_NORMS = ("BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm", "LocalResponseNorm", "RMSNorm")


def weight_layers(net) -> list:
    """Leaf modules of ``net`` (registration order) with their own parameters and a
    ``reset_parameters`` method, normalisation layers excluded."""
    found = []
    for module in net.modules():
        if next(iter(module.children()), None) is not None:
            continue
        if not hasattr(module, "reset_parameters") or not list(module.parameters(recurse=False)):
            continue
        if any(tag in type(module).__name__ for tag in _NORMS):
            continue
        found.append(module)
    return found


def first_and_last_layers(net) -> list:
    """The first and the last of :func:`weight_layers` (one module when they coincide)."""
    layers = weight_layers(net)
    if not layers:
        return []
    return [layers[0]] if layers[0] is layers[-1] else [layers[0], layers[-1]]


def softened_kl(student_logits, teacher_logits, temperature: float):
    """KL(softmax(teacher / T) || softmax(student / T)), mean over the batch."""
    from torch.nn import functional as F

    return F.kl_div(F.log_softmax(student_logits / temperature, dim=1),
                    F.softmax(teacher_logits / temperature, dim=1), reduction="batchmean")


def soft_cross_entropy(student_logits, teacher_logits, temperature: float):
    """-sum_c softmax(teacher / T)_c log softmax(student / T)_c, mean over the batch."""
    import torch
    from torch.nn import functional as F

    target = F.softmax(teacher_logits / temperature, dim=1)
    return torch.mean(torch.sum(-target * F.log_softmax(student_logits / temperature, dim=1), dim=1))


def teacher_logits(teacher, X, batch_size: int):
    """The teacher's logits on ``X`` (eval mode, no gradient), float32."""
    import torch

    from .torch_loops import autocast

    out = []
    with torch.no_grad():
        for start in range(0, int(X.shape[0]), batch_size):
            with autocast(teacher):
                out.append(teacher(X[start:start + batch_size]).float())
    return torch.cat(out)


def indexed(data: TensorData) -> TensorData:
    """``data.X`` with the row numbers as "labels", so a loss can look up per-record targets."""
    import torch

    return TensorData(data.X, torch.arange(len(data), device=data.X.device))


@UNLEARNERS.register("distillation")
class Distillation(GradientUnlearner):
    """Reset first and last layers, then distil the original on validation and retain (challenge, 6th place)."""

    name = "distillation"
    reference = ("Salgado Herrera et al. 2024, Comparative Analysis of Machine Unlearning Approaches (AMIAD), "
                 "IV-B1: distillation, 6th place of the NeurIPS 2023 unlearning challenge.")
    default_epochs = 2
    min_steps = 150  # re-initialised layers need steps: on a small retain set 2 epochs collapse the model
    lr_scale = 1.0

    def __init__(self, *, epochs: Optional[int] = None, warmup_epochs: int = 1, temperature: float = 5.0,
                 lr: Optional[float] = None, warmup_lr: Optional[float] = None, batch_size: Optional[int] = None,
                 optimizer: Optional[str] = None):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer)
        self.warmup_epochs = nonnegative_int("warmup_epochs", warmup_epochs)
        self.temperature = number("temperature", temperature, low=0.0, low_open=True)
        self.warmup_lr = number("warmup_lr", warmup_lr, low=0.0, low_open=True, allow_none=True)

    def _update(self, net, model, data, settings, seed):
        teacher = copy.deepcopy(net).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        reset = first_and_last_layers(net)
        for layer in reset:
            layer.reset_parameters()
        T = self.temperature
        bs = settings["batch_size"]
        details = {"reset_layers": [type(m).__name__ for m in reset], "temperature": T}

        validation = data["validation"]
        if validation is not None and self.warmup_epochs > 0:
            targets = teacher_logits(teacher, validation.X, bs)

            def warmup_loss(student, xb, rows):
                return softened_kl(student(xb).float(), targets[rows], T)

            optimizer = self.new_optimizer(net.parameters(), settings, lr=self.warmup_lr)
            history = run_epochs(net, indexed(validation), epochs=self.warmup_epochs, batch_size=bs,
                                 optimizer=optimizer, gen=generator(seed, self.name, "validation"),
                                 loss_fn=warmup_loss)
            details.update(warmup="validation", warmup_epochs=self.warmup_epochs, warmup_history=floats(history))
        else:
            details.update(warmup="skipped (no validation records)" if validation is None else "skipped (0 epochs)",
                           warmup_epochs=0)

        from torch.nn import functional as F

        retain = data["retain"]
        targets = teacher_logits(teacher, retain.X, bs)

        def retain_loss(student, xb, rows):
            out = student(xb).float()
            teach = targets[rows]
            return (soft_cross_entropy(out, teach, T) + F.cross_entropy(out, retain.y[rows])
                    + softened_kl(out, teach, T))

        optimizer = self.new_optimizer(net.parameters(), settings)
        scheduler = lr_schedule(optimizer, "cosine", settings["epochs"] * steps_per_epoch(len(retain), bs))
        history = run_epochs(net, indexed(retain), epochs=settings["epochs"], batch_size=bs, optimizer=optimizer,
                             gen=generator(seed, self.name, "retain"), loss_fn=retain_loss,
                             after_step=scheduler.step)
        details["loss_history"] = floats(history)
        return details


__all__ = ["Distillation", "weight_layers", "first_and_last_layers", "softened_kl", "soft_cross_entropy"]

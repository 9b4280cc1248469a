"""``pseudo-label``: relabel the forget set the way a model that never saw it would answer,
re-initialise the linear head, and train on it together with retain (combined with
``rotate``).

The 5th-place method of the NeurIPS 2023 machine-unlearning challenge as described step by
step in Salgado Herrera et al. 2024 (paper 002, section IV-B3):

1. three sets of predictions on the forget set are stored: the original model's; a naive
   unlearning's (the original fine-tuned on retain for ``finetune_epochs``); and a short
   retraining's (the original's initial weights trained on retain for ``retrain_epochs``);
2. pseudo-labels (:func:`pseudo_labels`): the fine-tuned model's predictions, except where
   the fine-tuned model is right while the short retraining is wrong *with a low entropy*
   (a confident error: a record a model does not learn quickly from the other records); there
   the short retraining's prediction is used, so such records are labelled "erroneously", as
   a model that never saw them would;
3. the linear head (the last Linear layer) of the original is re-initialised and the model
   is trained with cross-entropy on the pseudo-labelled forget set;
4. combined with ``rotate`` as in the paper: before that training every square Conv2d kernel
   is transposed, and the training runs over retain and the pseudo-labelled forget set
   together (cosine-decayed learning rate).

Choices and departures:

* Step floor: unless ``epochs`` is given, the final training runs at least 150 optimiser
  steps over retain (``min_steps``): on small retain sets 1 epoch left the model collapsed.
* "Low entropy" is the Shannon entropy of the short retraining's softmax, divided by
  log(n_classes) (so in [0, 1]), below ``max_entropy`` (default 0.5): the paper gives no
  threshold.
* The original's predictions enter no rule in the paper; they are stored and reported
  (``details``: how many pseudo-labels differ from the original's predictions and from the true
  labels).
* The final training covers the whole network (the paper re-initialises the head and
  "trains it"; rotate fine-tunes the whole network; the combination trains both at once).
* ``rotate=False`` skips the kernel transposition; then the method applies to networks
  without Conv2d (e.g. an MLP). With the default ``rotate=True`` a model without Conv2d is
  refused (NotApplicableError).
* Cost (the paper notes this method is the slowest of the seven): by default 1 epoch of
  fine-tuning, 1 of retraining and 1 final epoch over retain plus forget (about 10 % of a
  30-epoch retraining).
"""

from __future__ import annotations

import copy
import math
from typing import Optional

from mia_audit.checks import boolean
from mia_audit.errors import NotApplicableError

from .distillation import teacher_logits
from .registry import UNLEARNERS
from .rotate import (conv2d_layers, finetune, floats, require_conv2d, transposable,
                     transpose_conv_kernels_)
from .torch_loops import GradientUnlearner, TensorData, generator, number, positive_int


def normalised_entropy(logits):
    """Shannon entropy of softmax(logits) per row, divided by log(n_classes) (in [0, 1])."""
    import torch
    from torch.nn import functional as F

    log_p = F.log_softmax(logits.float(), dim=1)
    return -torch.sum(log_p.exp() * log_p, dim=1) / math.log(logits.shape[1])


def pseudo_labels(y, finetuned_logits, retrained_logits, max_entropy: float):
    """The paper's rule. Returns (labels, from_retrained) where ``from_retrained`` marks the
    records labelled with the short retraining's prediction: the fine-tuned model is right
    (argmax == y), the retraining is wrong, and the retraining's normalised entropy is
    below ``max_entropy``; every other record gets the fine-tuned model's prediction."""
    import torch

    ft = finetuned_logits.argmax(dim=1)
    rt = retrained_logits.argmax(dim=1)
    use_rt = (ft == y) & (rt != y) & (normalised_entropy(retrained_logits) < max_entropy)
    return torch.where(use_rt, rt, ft), use_rt


def last_linear(net):
    """The last ``torch.nn.Linear`` of ``net`` (registration order), or None."""
    from torch import nn

    found = [m for m in net.modules() if isinstance(m, nn.Linear)]
    return found[-1] if found else None


@UNLEARNERS.register("pseudo-label")
class PseudoLabel(GradientUnlearner):
    """Pseudo-label forget by fine-tuned vs short-retrained predictions, re-init head, train with rotate (challenge, 5th place)."""

    name = "pseudo-label"
    reference = ("Salgado Herrera et al. 2024, Comparative Analysis of Machine Unlearning Approaches (AMIAD), "
                 "IV-B3: pseudo-labelling (with rotate), 5th place of the NeurIPS 2023 unlearning challenge.")
    default_epochs = 1
    min_steps = 150  # a re-initialised head needs steps: on a small retain set 1 epoch collapses the model
    lr_scale = 1.0

    def __init__(self, *, epochs: Optional[int] = None, finetune_epochs: int = 1, retrain_epochs: int = 1,
                 max_entropy: float = 0.5, rotate: bool = True, lr: Optional[float] = None,
                 batch_size: Optional[int] = None, optimizer: Optional[str] = None):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer)
        self.finetune_epochs = positive_int("finetune_epochs", finetune_epochs)
        self.retrain_epochs = positive_int("retrain_epochs", retrain_epochs)
        self.max_entropy = number("max_entropy", max_entropy, low=0.0, high=1.0)
        self.rotate = boolean("rotate", rotate)

    def check_applicable(self, model) -> None:
        super().check_applicable(model)
        net = model.model
        if last_linear(net) is None:
            raise NotApplicableError(
                f"unlearner {self.name!r} re-initialises the linear head; the {type(net).__name__} model has no "
                "Linear layer"
            )
        if self.rotate:
            require_conv2d(self.name, net, "it is combined with rotate, which transposes their kernels; "
                                           "rotate=False applies it without")
            if not any(transposable(c) for c in conv2d_layers(net)):
                raise NotApplicableError(
                    f"unlearner {self.name!r} with rotate=True transposes square Conv2d kernels; the "
                    f"{type(net).__name__} model has none (use rotate=False)"
                )

    def _start_of_retraining(self, model, net, seed):
        from mia_audit.device import model_device, model_dtype

        from .base import reinitialised

        init = model.init
        try:
            import torch

            ok = isinstance(init, torch.nn.Module)
        except ImportError:  # pragma: no cover
            ok = False
        fresh = copy.deepcopy(init) if ok else reinitialised(model.model, seed=seed)
        return fresh.to(device=model_device(net), dtype=model_dtype(net))

    def _update(self, net, model, data, settings, seed):
        import torch

        retain, forget = data["retain"], data["forget"]
        bs = settings["batch_size"]

        def predict(m):
            was = m.training
            m.eval()
            out = teacher_logits(m, forget.X, bs)
            m.train(was)
            return out

        # 1. three predictions on forget
        original_logits = predict(net)
        finetuned = copy.deepcopy(net)
        finetune(self, finetuned, retain, settings, epochs=self.finetune_epochs,
                 gen=generator(seed, self.name, "finetune"), schedule="none")
        finetuned_logits = predict(finetuned)
        del finetuned
        retrained = self._start_of_retraining(model, net, seed).train()
        recipe = model.recipe
        retrain_settings = {**settings, "lr": float(recipe.lr) if recipe is not None else settings["lr"]}
        finetune(self, retrained, retain, retrain_settings, epochs=self.retrain_epochs,
                 gen=generator(seed, self.name, "retrain"), schedule="none")
        retrained_logits = predict(retrained)
        del retrained

        # 2. pseudo-labels
        labels, from_rt = pseudo_labels(forget.y, finetuned_logits, retrained_logits, self.max_entropy)

        # 3-4. rotate, re-initialise the head, train on retain + pseudo-labelled forget
        counts = transpose_conv_kernels_(net) if self.rotate else {"n_transposed": 0, "n_skipped_non_square": 0}
        last_linear(net).reset_parameters()
        both = TensorData(torch.cat([retain.X, forget.X]), torch.cat([retain.y, labels]))
        history = finetune(self, net, both, settings, epochs=settings["epochs"],
                           gen=generator(seed, self.name, "train"), schedule="cosine")
        n = len(forget)
        return {
            **counts, "rotate": self.rotate, "finetune_epochs": self.finetune_epochs,
            "retrain_epochs": self.retrain_epochs, "max_entropy": self.max_entropy,
            "n_from_retrained": int(from_rt.sum()),
            "share_pseudo_differs_from_label": float((labels != forget.y).float().sum()) / n,
            "share_pseudo_differs_from_original": float((labels != original_logits.argmax(1)).float().sum()) / n,
            "forget_accuracy_original": float((original_logits.argmax(1) == forget.y).float().mean()),
            "forget_accuracy_finetuned": float((finetuned_logits.argmax(1) == forget.y).float().mean()),
            "forget_accuracy_retrained": float((retrained_logits.argmax(1) == forget.y).float().mean()),
            "loss_history": floats(history),
        }


__all__ = ["PseudoLabel", "pseudo_labels", "normalised_entropy", "last_linear"]

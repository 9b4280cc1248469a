"""``perturbation``: the data-perturbation family of machine unlearning, as evaluated by
Ahmad, Tao, Yong, Shaik, Xie, Li & Acharya ("Balancing privacy and performance: An
empirical study of machine unlearning in deep learning models", Eng. Appl. of AI 2026;
paper 000 of the project) next to data deletion and model update.

Data perturbation replaces the records to forget by perturbed versions that carry less
of their information, and updates the model on the retained records together with the
perturbed ones, so the forget records are overwritten instead of merely left out:

* ``mode="noise"`` (default): Gaussian noise on the forget records' features,
  ``x' = x + noise_scale * s * eps`` with ``eps ~ N(0, I)`` and ``s`` the per-feature
  standard deviation over the retained records (so ``noise_scale`` is in units of each
  feature's spread and works for tabular and image data alike; default 1.0); labels
  are kept. Features must be floating point (token ids of sequence models cannot take
  Gaussian noise: use ``mode="label"`` there).
* ``mode="label"``: label noise; ``round(flip_fraction * n_forget)`` forget records
  chosen at random (default all of them) get a label drawn uniformly from the other
  classes; features are kept.

The model is then fine-tuned with cross-entropy on retain plus the perturbed forget
records, shuffled together, for ``epochs`` epochs (default 2) at the recipe's rate. All
draws come from generators seeded by the call's seed.

What the paper gives and where we depart: the project holds only the paper's abstract,
which names the family ("data perturbation") and evaluates it on CNN, LSTM and Bi-LSTM
models with membership-inference attacks before and after unlearning, without the exact
perturbation or schedule. The two modes above are the usual members of the family
(feature noise and label noise); the per-feature noise scale, the flip fraction and
the short fine-tuning schedule are our choices, documented in the result's details.
"""

from __future__ import annotations

from typing import Optional

from mia_audit.errors import InputError

from .finetune import concat, random_wrong_labels
from .registry import UNLEARNERS
from .torch_loops import (GradientUnlearner, TensorData, ce_loss, choice, generator, n_classes_of, number,
                          run_epochs)

MODES = ("noise", "label")


def noisy_features(X, reference, scale: float, gen):
    """``X + scale * std(reference, per feature) * N(0, 1)`` (a new tensor, X's dtype and device)."""
    import torch

    std = reference.float().std(dim=0, unbiased=False) if reference.shape[0] > 1 else torch.zeros_like(reference[0])
    eps = torch.randn(tuple(X.shape), generator=gen, dtype=torch.float32).to(X.device)
    return (X.float() + float(scale) * std.float() * eps).to(X.dtype)


def flipped_labels(y, n_classes: int, fraction: float, gen):
    """``y`` with ``round(fraction * n)`` entries, chosen at random, set to a random wrong label."""
    import torch

    n = int(y.shape[0])
    count = int(round(float(fraction) * n))
    rows = torch.randperm(n, generator=gen)[:count].to(y.device)
    out = y.clone()
    if count:
        out[rows] = random_wrong_labels(y[rows], n_classes, gen)
    return out, count


@UNLEARNERS.register("perturbation")
class Perturbation(GradientUnlearner):
    """Perturb the forget records (feature or label noise) and fine-tune on them together with retain."""

    name = "perturbation"
    reference = ("Data-perturbation unlearning as evaluated by Ahmad et al., 'Balancing privacy and performance: "
                 "An empirical study of machine unlearning in deep learning models', EAAI 2026.")
    default_epochs = 2

    def __init__(self, *, mode: str = "noise", noise_scale: Optional[float] = None,
                 flip_fraction: Optional[float] = None, epochs: Optional[int] = None, lr: Optional[float] = None,
                 batch_size: Optional[int] = None, optimizer: Optional[str] = None):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer)
        self.mode = choice("mode", mode, MODES)
        if mode == "noise" and flip_fraction is not None:
            raise InputError(f"flip_fraction applies to mode='label' only; got flip_fraction={flip_fraction!r} "
                             "with mode='noise'")
        if mode == "label" and noise_scale is not None:
            raise InputError(f"noise_scale applies to mode='noise' only; got noise_scale={noise_scale!r} "
                             "with mode='label'")
        self.noise_scale = (number("noise_scale", 1.0 if noise_scale is None else noise_scale, low=0.0, low_open=True)
                            if mode == "noise" else None)
        self.flip_fraction = (number("flip_fraction", 1.0 if flip_fraction is None else flip_fraction, low=0.0,
                                     high=1.0, low_open=True) if mode == "label" else None)

    def _update(self, net, model, data, settings, seed):
        retain, forget = data["retain"], data["forget"]
        gen = generator(seed, self.name, self.mode)
        if self.mode == "noise":
            if not forget.X.is_floating_point():
                raise InputError(f"perturbation mode 'noise' needs floating-point features; got {forget.X.dtype} "
                                 "(use mode='label' for integer inputs such as token ids)")
            perturbed = TensorData(noisy_features(forget.X, retain.X, self.noise_scale, gen), forget.y)
            what = {"noise_scale": self.noise_scale, "noise": "gaussian, per-feature std of retain"}
        else:
            labels, count = flipped_labels(forget.y, n_classes_of(net, forget), self.flip_fraction, gen)
            perturbed = TensorData(forget.X, labels)
            what = {"flip_fraction": self.flip_fraction, "labels_flipped": count}
        combined = concat(retain, perturbed)
        optimizer = self.new_optimizer(net.parameters(), settings)
        history = run_epochs(net, combined, epochs=settings["epochs"], batch_size=settings["batch_size"],
                             optimizer=optimizer, gen=generator(seed, self.name, "order"), loss_fn=ce_loss)
        return {"mode": self.mode, **what, "records_perturbed": len(forget), "records_trained": len(combined),
                "loss_per_epoch": history}


__all__ = ["Perturbation", "noisy_features", "flipped_labels", "MODES"]

"""``deviation``: draw the convolution weights around their trained values, then fine-tune.

The 3rd-place method of the NeurIPS 2023 machine-unlearning challenge as described step by
step in Salgado Herrera et al. 2024 (paper 002, section IV-B5):

1. each weight w of the convolutional layers is replaced by a draw from N(w, sigma^2) with
   sigma = 0.6 (the model keeps, on average, what it learned, but every weight moves);
2. the model is fine-tuned on retain with SGD and cross-entropy (cosine-decayed learning
   rate, as in the solution's code);
3. before the last fine-tuning epoch a little more noise (sigma = 0.005) is added to the same
   weights, to shake the optimiser out of a local minimum.

Which layers, and why sigma = 0.6 is not absurd. sigma = 0.6 is huge next to typical
convolution weights (a 3x3 convolution with 64 inputs is initialised within +-0.04, and
trained weights stay of that order): applied to every Conv2d of a ResNet-18 it would destroy
the network. The 3rd-place code (``vision_confuser``, also used as-is in the paper's
benchmark code) perturbs only the modules returned by ``model.named_children()`` whose name
contains "conv" -- ``named_children`` is not recursive, so on torchvision's ResNet-18 that is
the stem convolution ``conv1`` alone (1,728 of 11 million weights); the convolutions inside
``layer1``..``layer4`` are never touched. The last-epoch sigma = 0.005 noise goes to the same
single layer. So the method as run is: wreck the first convolution (whose inputs are
normalised pixels, where sigma = 0.6 is of the order of the weights) and let fine-tuning
rebuild it around the unchanged deeper layers.

We follow what the code did: by default (``layers="first"``) only the first Conv2d of the
network (in registration order: the stem of a ResNet, the first convolution of a small
CNN) is perturbed, with sigma = 0.6 absolute. ``layers="all"`` perturbs every Conv2d as the
paper's text says (then choose a much smaller ``sigma``); ``sigma`` and ``final_sigma`` are
options. The noise comes from a CPU torch.Generator seeded from the call's seed (same draws
on every device).

Other choices: the solution also weighted the cross-entropy by class ("balanced" weights
computed from the model's own predictions); the paper does not mention it and it is left
out. The optimiser is SGD (momentum and weight decay from the model's recipe) as the paper
states, whatever optimiser the original was trained with; its default learning rate is
the recipe's when the recipe uses SGD, else 0.01 (SGD needs a larger step than Adam's usual
1e-3). Cost: the solution ran 4 epochs; the default here is 2 over retain (about 7 % of a
30-epoch retraining). A model without Conv2d is refused (NotApplicableError).
"""

from __future__ import annotations

from typing import Optional

from .registry import UNLEARNERS
from .rotate import conv2d_layers, floats, lr_schedule, require_conv2d, steps_per_epoch
from .torch_loops import GradientUnlearner, ce_loss, choice, generator, number, run_epochs

LAYERS = ("first", "all")
SGD_LR_WITHOUT_SGD_RECIPE = 0.01


def deviation_layers(net, layers: str) -> list:
    """The Conv2d layers the noise goes to: the first one ("first") or all of them ("all")."""
    convs = conv2d_layers(net)
    return convs[:1] if layers == "first" else convs


def deviate_(modules: list, sigma: float, gen) -> int:
    """Replace each weight w of ``modules`` by a draw from N(w, sigma^2), in place. The normal
    draws come from ``gen`` (a CPU torch.Generator). Returns the number of weights changed."""
    import torch

    count = 0
    with torch.no_grad():
        for m in modules:
            noise = torch.randn(m.weight.shape, generator=gen, dtype=torch.float32) * float(sigma)
            m.weight.add_(noise.to(device=m.weight.device, dtype=m.weight.dtype))
            count += int(m.weight.numel())
    return count


@UNLEARNERS.register("deviation")
class Deviation(GradientUnlearner):
    """Draw the first conv's weights from N(w, 0.6^2), fine-tune with SGD, re-noise before the last epoch (challenge, 3rd place)."""

    name = "deviation"
    reference = ("Salgado Herrera et al. 2024, Comparative Analysis of Machine Unlearning Approaches (AMIAD), "
                 "IV-B5: deviation, 3rd place of the NeurIPS 2023 unlearning challenge.")
    default_epochs = 2
    lr_scale = 1.0

    def __init__(self, *, epochs: Optional[int] = None, sigma: float = 0.6, final_sigma: float = 0.005,
                 layers: str = "first", lr: Optional[float] = None, batch_size: Optional[int] = None):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, optimizer="sgd")
        self.sigma = number("sigma", sigma, low=0.0)
        self.final_sigma = number("final_sigma", final_sigma, low=0.0)
        self.layers = choice("layers", layers, LAYERS)

    def settings(self, model):
        settings = super().settings(model)
        recipe = model.recipe
        if self.lr is None and (recipe is None or recipe.optimizer != "sgd"):
            settings["lr"] = SGD_LR_WITHOUT_SGD_RECIPE
        return settings

    def check_applicable(self, model) -> None:
        super().check_applicable(model)
        require_conv2d(self.name, model.model, "it adds noise to their weights")

    def _update(self, net, model, data, settings, seed):
        targets = deviation_layers(net, self.layers)
        n = deviate_(targets, self.sigma, generator(seed, self.name, "noise"))
        retain = data["retain"]
        bs, epochs = settings["batch_size"], settings["epochs"]
        optimizer = self.new_optimizer(net.parameters(), settings)
        scheduler = lr_schedule(optimizer, "cosine", epochs * steps_per_epoch(len(retain), bs))
        gen = generator(seed, self.name, "retain")
        history = []
        final_noise = False
        for epoch in range(epochs):
            if epoch == epochs - 1 and epochs > 1 and self.final_sigma > 0:
                deviate_(targets, self.final_sigma, generator(seed, self.name, "final-noise"))
                final_noise = True
            history += run_epochs(net, retain, epochs=1, batch_size=bs, optimizer=optimizer, gen=gen,
                                  loss_fn=ce_loss, after_step=scheduler.step)
        return {"sigma": self.sigma, "final_sigma": self.final_sigma, "layers": self.layers,
                "n_layers_perturbed": len(targets), "n_weights_perturbed": n,
                "final_noise_added": final_noise, "loss_history": floats(history)}


__all__ = ["Deviation", "deviate_", "deviation_layers", "LAYERS"]

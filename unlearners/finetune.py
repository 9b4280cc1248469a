"""``finetune`` and ``random-label``: the two plainest approximate unlearners.

``finetune``
    The "simple" baseline of Salgado Herrera et al. 2024, the study of the NeurIPS-2023
    unlearning-challenge methods (paper 002 of the project, section VI-A): keep training
    the original model on the retained records only, with cross-entropy, for a few
    epochs. Forgetting relies on the forget records fading while the retained ones are
    rehearsed (catastrophic forgetting). The paper runs it for the same 5-20 epochs as
    its other methods; the default here is 2 epochs with the model's own recipe
    (optimiser, batch size, learning rate), i.e. 2/30 of the default recipes'
    retraining cost.

``random-label``
    Relabel every forget record with a *wrong* label drawn uniformly from the other
    classes (``y' = (y + u) mod C`` with ``u`` uniform on ``1..C-1``, drawn from a
    generator seeded by the call's seed), then fine-tune with cross-entropy on the union
    of the retained records and the relabelled forget records, shuffled together, for a
    few epochs (default 2). This is the random-relabelling baseline of Graves, Nagisetty
    and Ganesh (AAAI 2021, their "unlearning" variant next to "amnesiac" batch
    subtraction), in the form SalUn (Fan et al. 2024) and later benchmarks use as "RL":
    relabelled forget and retain trained jointly so retain accuracy is kept. Our choice
    of *wrong* labels departs from those implementations, which draw from all C classes
    (a draw equal to the true label re-teaches the memorised record): here every forget
    record is guaranteed a label different from its own.
"""

from __future__ import annotations

from typing import Optional

from mia_audit.errors import InputError

from .registry import UNLEARNERS
from .torch_loops import GradientUnlearner, TensorData, ce_loss, generator, n_classes_of, run_epochs

#: generator label of the retained records' order; shared by ``finetune`` and ``mia-guided``
#: so that mia-guided with lam=0 is exactly fine-tuning with the same seed
RETAIN_ORDER = "retain-order"


def random_wrong_labels(y, n_classes: int, gen):
    """A new label for every entry of ``y`` (int64 tensor), uniform over the *other* classes.

    ``gen`` is a CPU ``torch.Generator``; the result is on ``y``'s device.
    """
    import torch

    n_classes = int(n_classes)
    if n_classes < 2:
        raise InputError(f"random relabelling needs a model with at least 2 classes; got {n_classes}")
    if y.numel() and int(y.max().item()) >= n_classes:
        raise InputError(
            f"labels must lie in [0, {n_classes - 1}] for a model with {n_classes} outputs; "
            f"got a label {int(y.max().item())}"
        )
    offset = torch.randint(1, n_classes, (int(y.shape[0]),), generator=gen)
    return (y.cpu() + offset).remainder(n_classes).to(y.device)


def concat(a: TensorData, b: TensorData) -> TensorData:
    import torch

    return TensorData(torch.cat([a.X, b.X]), torch.cat([a.y, b.y]))


@UNLEARNERS.register("finetune")
class FineTune(GradientUnlearner):
    """Fine-tune on the retained records with cross-entropy for a few epochs ("simple" baseline)."""

    name = "finetune"
    reference = ("Fine-tuning on the retain set: the 'simple' baseline of Salgado Herrera et al., 'Comparative "
                 "Analysis of Machine Unlearning Approaches for Data Protection', AMIAD 2024.")
    default_epochs = 2

    def __init__(self, *, epochs: Optional[int] = None, lr: Optional[float] = None,
                 batch_size: Optional[int] = None, optimizer: Optional[str] = None):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer)

    def _update(self, net, model, data, settings, seed):
        retain = data["retain"]
        optimizer = self.new_optimizer(net.parameters(), settings)
        history = run_epochs(net, retain, epochs=settings["epochs"], batch_size=settings["batch_size"],
                             optimizer=optimizer, gen=generator(seed, RETAIN_ORDER), loss_fn=ce_loss)
        return {"retain_loss_per_epoch": history, "records_trained": len(retain)}


@UNLEARNERS.register("random-label")
class RandomLabel(GradientUnlearner):
    """Relabel forget records with random wrong labels and fine-tune on them together with retain."""

    name = "random-label"
    reference = ("Random relabelling (Graves, Nagisetty & Ganesh, 'Amnesiac Machine Learning', AAAI 2021), "
                 "trained jointly with the retain set as the 'RL' baseline of Fan et al. (SalUn, ICLR 2024).")
    default_epochs = 2

    def __init__(self, *, epochs: Optional[int] = None, lr: Optional[float] = None,
                 batch_size: Optional[int] = None, optimizer: Optional[str] = None):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer)

    def _update(self, net, model, data, settings, seed):
        retain, forget = data["retain"], data["forget"]
        labels = random_wrong_labels(forget.y, n_classes_of(net, forget), generator(seed, self.name, "labels"))
        combined = concat(retain, TensorData(forget.X, labels))
        optimizer = self.new_optimizer(net.parameters(), settings)
        history = run_epochs(net, combined, epochs=settings["epochs"], batch_size=settings["batch_size"],
                             optimizer=optimizer, gen=generator(seed, self.name, "order"), loss_fn=ce_loss)
        return {"loss_per_epoch": history, "records_relabelled": len(forget), "records_trained": len(combined),
                "labels": "uniform over the wrong classes"}


__all__ = ["FineTune", "RandomLabel", "random_wrong_labels", "concat", "RETAIN_ORDER"]

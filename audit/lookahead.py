"""airbench94's Lookahead: a slow copy of the weights that the training pulls back to every few steps.

K. Jordan's airbench94 (2024) keeps a copy of the network's floating-point state (weights and
BatchNorm statistics). After every ``period``-th optimiser step ``t`` of ``T``, with
``d = decay * (t / T)**3``::

    slow = d * slow + (1 - d) * state        # torch.lerp(slow, state, 1 - d)
    state = slow

so early in training (``d`` near 0) nothing changes, and near the end each pull keeps 77 % of
the slow copy (``decay = 0.95**5``). After the last step the model is set to the slow copy.

Two choices where airbench's code is silent or would not train: the slow copy starts from the
weights after the first optimiser step (airbench: before it; the first pull, at step 5, keeps a
share ``0.77 * (5 / T)**3`` of it: 1e-6 for airbench's 485 steps), and when the last step is not
a multiple of 5 it gets a pull of its own (airbench drops those last steps). Both matter only
for short runs: with fewer than 5 steps airbench's rule would hand back the untrained weights.
Every operation is element-wise, so
the same object serves one model (``train_model``) and K stacked models (``train_batched``):
each slice gets exactly the update a separate copy would.
"""

from __future__ import annotations

from typing import Any, Iterable

#: the pull comes after every LOOKAHEAD_PERIOD-th optimiser step; at step t of T the slow copy keeps
#: a share LOOKAHEAD_DECAY * (t / T)**3 of itself
LOOKAHEAD_PERIOD = 5
LOOKAHEAD_DECAY = 0.95 ** 5


def lookahead_decay(step: int, total_steps: int) -> float:
    """The share of the slow copy kept at the pull after optimiser step ``step`` of ``total_steps``."""
    return LOOKAHEAD_DECAY * (step / max(int(total_steps), 1)) ** 3


class Lookahead:
    """The slow copy of ``tensors`` (their floating-point ones; others are left alone).

    Call :meth:`step` after each optimiser step and :meth:`finish` after the last one. The
    tensors are updated in place (without autograd), so they may be leaves that require grad."""

    def __init__(self, tensors: Iterable[Any], total_steps: int, period: int = LOOKAHEAD_PERIOD):
        self.tensors = [t for t in tensors if t.is_floating_point()]
        self.slow: list = []
        self.total_steps = int(total_steps)
        self.period = int(period)
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps == 1:
            self.slow = [t.detach().clone() for t in self.tensors]
        if self.steps % self.period == 0:
            self._pull(lookahead_decay(self.steps, self.total_steps))

    def finish(self) -> None:
        """After the last step: the model becomes the slow copy (pulled at that step if it was not a pull step)."""
        if self.steps and self.steps % self.period:
            self._pull(lookahead_decay(self.steps, self.total_steps))

    def _pull(self, keep: float) -> None:
        import torch

        with torch.no_grad():
            for slow, t in zip(self.slow, self.tensors):
                slow.lerp_(t.detach(), 1.0 - keep)
                t.copy_(slow)


__all__ = ["LOOKAHEAD_DECAY", "LOOKAHEAD_PERIOD", "Lookahead", "lookahead_decay"]

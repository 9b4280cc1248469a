"""Label-only attacks: they read only whether the model's prediction is correct.

``gap`` is Yeom et al.'s (2018) baseline: guess "member" when the model classifies the
record correctly. It needs nothing but the predicted label, so it still runs where a
model releases labels only (the label-only mitigation). Its score takes two values, so
with ties counted half its AUC is exactly ``0.5 + (acc_members - acc_nonmembers) / 2``
(half the train-test accuracy gap above chance), and its advantage is the accuracy gap.
"""

from __future__ import annotations

import numpy as np

from mia_audit.signals import Signals

from .base import Attack
from .registry import ATTACKS


@ATTACKS.register("gap")
class GapAttack(Attack):
    """Correctness: a correctly classified record is called a member (Yeom et al. 2018; label-only)."""

    name = "gap"
    requires = ("correct",)
    reference = "Yeom, Giacomelli, Fredrikson, Jha. Privacy risk in machine learning. CSF 2018 (the gap attack)."

    def _score(self, signals: Signals) -> np.ndarray:
        return signals.correct.astype(np.float64, copy=True)

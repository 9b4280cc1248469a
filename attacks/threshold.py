"""Single-model threshold attacks: a score that is a fixed function of one signal.

Their ROC sweeps every threshold, so no fitting is needed; the audit's metrics
choose thresholds on the evaluation data, which is the usual (optimistic for
the attacker) way these attacks are reported.
"""

from __future__ import annotations

import numpy as np

from mia_audit.signals import Signals

from .base import Attack
from .registry import ATTACKS


@ATTACKS.register("loss")
class LossAttack(Attack):
    """Loss threshold: members have lower cross-entropy loss (Yeom et al. 2018)."""

    name = "loss"
    requires = ("loss",)
    reference = "Yeom, Giacomelli, Fredrikson, Jha. Privacy risk in machine learning. CSF 2018."

    def _score(self, signals: Signals) -> np.ndarray:
        return -signals.loss


@ATTACKS.register("confidence")
class ConfidenceAttack(Attack):
    """Confidence on the true class: members get higher p_y (Salem et al. 2019; Song & Mittal 2021).

    Scored as log p_y, a strictly increasing function of p_y, so thresholds and ROC are the
    same as on p_y while confident records do not tie at p_y = 1.0.
    """

    name = "confidence"
    requires = ("confidence",)
    reference = "Song, Mittal. Systematic evaluation of privacy risks of machine learning models. USENIX Security 2021."

    def _score(self, signals: Signals) -> np.ndarray:
        # log p_y ranks records exactly as p_y does, but stays distinct where p_y rounds to 1.0
        # in float64 (losses below 1e-16); so this attack's ROC equals the loss attack's.
        return -signals.loss


@ATTACKS.register("entropy")
class EntropyAttack(Attack):
    """Prediction entropy: members get more certain (lower-entropy) outputs (Salem et al., ML-Leaks)."""

    name = "entropy"
    requires = ("entropy",)
    reference = "Salem et al. ML-Leaks: model and data independent membership inference attacks. NDSS 2019."

    def _score(self, signals: Signals) -> np.ndarray:
        return -signals.entropy


@ATTACKS.register("modified-entropy")
class ModifiedEntropyAttack(Attack):
    """Modified entropy, which uses the true label: members score lower (Song & Mittal 2021)."""

    name = "modified-entropy"
    requires = ("modified_entropy",)
    reference = "Song, Mittal. Systematic evaluation of privacy risks of machine learning models. USENIX Security 2021."

    def _score(self, signals: Signals) -> np.ndarray:
        return -signals.modified_entropy

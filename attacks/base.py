"""The attack contract.

An attack turns per-sample signals (:class:`mia_audit.signals.Signals`) into one float
score per sample. **A higher score means "more likely a member", always.**

* Threshold attacks are pure: ``score(signals)`` works at once.
* Trained attacks (``requires_fit = True``) learn from labelled examples with
  ``fit(signals, is_member)`` and keep what they learned in attributes ending in
  ``_``; ``score`` refuses to run before ``fit``.
* ``membership_scores(signals, is_member)`` gives the scores an audit evaluates.
  For pure attacks that is ``score(signals)``; a trained attack returns held-out
  (out-of-fold) scores, so its AUC is never measured on the data it was fitted on.
"""

from __future__ import annotations

import abc

import numpy as np

from mia_audit.errors import InputError, NotFittedError
from mia_audit.signals import Signals


#: every access kind an attack may declare (see :attr:`Attack.access`)
ACCESS_KINDS = ("signals", "references", "queries", "pairs", "unlearned-references", "population")


class Attack(abc.ABC):
    #: name in the registry (set by the subclass)
    name: str = ""
    #: the signals this attack reads
    requires: tuple[str, ...] = ()
    #: what the attack needs from the audit, one of :data:`ACCESS_KINDS`: ``"signals"`` (one
    #: model's outputs on the records), ``"references"`` (reference models trained like the
    #: target), ``"queries"`` (the model itself, queried near the records), ``"pairs"`` (an
    #: original and its unlearned model, with shadow pairs), ``"unlearned-references"``
    #: (reference models unlearned by the same method) or ``"population"`` (the model's outputs on
    #: the records and on population records known not to be members, with their features:
    #: QMIA). The pipeline dispatches on it through one table (``mia_audit.run.dispatch.HANDLERS``).
    access: str = "signals"
    #: whether ``fit`` must run before ``score``
    requires_fit: bool = False
    #: one-line description with the reference, shown by ``mia-audit list``
    reference: str = ""

    def fit(self, signals: Signals, is_member: np.ndarray) -> "Attack":
        check_membership(signals, is_member)
        for name in self.requires:
            signals.get(name)
        return self

    def score(self, signals: Signals) -> np.ndarray:
        if self.requires_fit and not self.is_fitted:
            raise NotFittedError(f"attack {self.name!r} must be fitted before score(); call fit(signals, is_member)")
        if not isinstance(signals, Signals):
            raise InputError(f"signals must be a mia_audit.signals.Signals; got {type(signals).__name__}")
        for name in self.requires:
            signals.get(name)
        out = np.asarray(self._score(signals), dtype=np.float64)
        return out

    def membership_scores(self, signals: Signals, is_member: np.ndarray) -> np.ndarray:
        """Scores to evaluate the attack on (held-out scores for trained attacks)."""
        check_membership(signals, is_member)
        return self.score(signals)

    @property
    def is_fitted(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    @abc.abstractmethod
    def _score(self, signals: Signals) -> np.ndarray:
        """Scores for validated signals (subclasses implement this)."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({params})"


def check_membership(signals: Signals, is_member: object) -> np.ndarray:
    m = np.asarray(is_member)
    if m.ndim != 1 or m.shape[0] != len(signals):
        raise InputError(
            f"is_member must be a 1-D array with one entry per sample ({len(signals)}); got shape {m.shape}"
        )
    if m.size and not np.all((m == 0) | (m == 1)):
        raise InputError("is_member must hold only 0/1 or False/True")
    m = m.astype(bool)
    if m.all() or not m.any():
        raise InputError(
            f"is_member must contain both members and non-members; got {int(m.sum())} members and {int((~m).sum())} non-members"
        )
    return m

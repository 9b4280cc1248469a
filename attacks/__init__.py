"""Membership-inference attacks. Higher score = more likely a member, everywhere.

``ATTACKS`` maps names to attack classes; ``create_attack(name, seed=..., **options)`` builds one.
"""

from __future__ import annotations

from .base import Attack
from .registry import ATTACKS
from . import threshold as _threshold  # noqa: F401  (registers loss, confidence, entropy, modified-entropy)
from . import loss_lr as _loss_lr  # noqa: F401  (registers loss-lr)
from . import label_only as _label_only  # noqa: F401  (registers gap)
from . import lira as _lira  # noqa: F401  (registers lira-online, lira-offline: need reference models)
from . import rmia as _rmia  # noqa: F401  (registers rmia-online, rmia-offline: need reference models)
from . import boundary as _boundary  # noqa: F401  (registers boundary: needs query access)
from . import two_model as _two_model  # noqa: F401  (registers two-model: needs original/unlearned pairs)
from . import ulira as _ulira  # noqa: F401  (registers u-lira: needs unlearned reference models)
from . import qmia as _qmia  # noqa: F401  (registers qmia: needs population records)
from .base import ACCESS_KINDS
from .reference_base import (ReferenceScorer, access_of, attack_evidence, evidence_by_attack, needs_more_than_signals,
                             run_query_attack, run_reference_attack, signal_attack_names)


def create_attack(name: str, /, *, seed: int | None = None, **options) -> Attack:
    """The attack registered as ``name``; ``seed`` goes to attacks that use randomness.
    Unknown names and options are refused by :meth:`mia_audit.registry.Registry.create`."""
    if seed is not None and "seed" in ATTACKS.options(name):
        options.setdefault("seed", seed)
    return ATTACKS.create(name, **options)


__all__ = ["ACCESS_KINDS", "ATTACKS", "Attack", "ReferenceScorer", "access_of", "attack_evidence", "create_attack", "evidence_by_attack", "needs_more_than_signals", "run_query_attack",
           "run_reference_attack", "signal_attack_names"]

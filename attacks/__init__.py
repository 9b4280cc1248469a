"""Membership-inference attacks. Higher score = more likely a member, everywhere.

``ATTACKS`` maps names to attack classes; ``create_attack(name, seed=..., **options)`` builds one.
"""

from __future__ import annotations

import inspect

from audit.errors import InputError

from .base import Attack
from .registry import ATTACKS
from . import threshold as _threshold  # noqa: F401  (registers loss, confidence, entropy, modified-entropy)
from . import loss_lr as _loss_lr  # noqa: F401  (registers loss-lr)
from . import label_only as _label_only  # noqa: F401  (registers gap)


def create_attack(name: str, /, *, seed: int | None = None, **options) -> Attack:
    """The attack registered as ``name``; ``seed`` goes to attacks that use randomness."""
    factory = ATTACKS.get(name)
    accepted = inspect.signature(factory).parameters
    if seed is not None and "seed" in accepted:
        options.setdefault("seed", seed)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = ", ".join(sorted(accepted)) or "none"
        raise InputError(f"options of attack {name!r}: unknown option {unknown[0]!r}; allowed: {allowed}")
    return factory(**options)


__all__ = ["ATTACKS", "Attack", "create_attack"]

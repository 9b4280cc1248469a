"""The unlearner registry and ``create_unlearner(name, **options)``."""

from __future__ import annotations

import inspect

from mia_audit.errors import InputError
from mia_audit.registry import Registry

UNLEARNERS: Registry = Registry("unlearner")


def create_unlearner(name: str, /, **options):
    """The unlearner registered as ``name`` with its options (unknown options are refused)."""
    factory = UNLEARNERS.get(name)
    accepted = {k for k, p in inspect.signature(factory).parameters.items()
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    unknown = sorted(set(options) - accepted)
    if unknown:
        allowed = ", ".join(sorted(accepted)) or "none"
        raise InputError(f"options of unlearner {name!r}: unknown option {unknown[0]!r}; allowed: {allowed}")
    return factory(**options)


__all__ = ["UNLEARNERS", "create_unlearner"]

"""The unlearner registry and ``create_unlearner(name, **options)``."""

from __future__ import annotations

from mia_audit.registry import Registry

UNLEARNERS: Registry = Registry("unlearner")


def create_unlearner(name: str, /, **options):
    """The unlearner registered as ``name`` with its options (unknown names and options are
    refused by :meth:`mia_audit.registry.Registry.create`)."""
    return UNLEARNERS.create(name, **options)


__all__ = ["UNLEARNERS", "create_unlearner"]

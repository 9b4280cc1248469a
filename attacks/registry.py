"""The one registry of membership-inference attacks."""

from mia_audit.registry import Registry

ATTACKS: Registry = Registry("attack")

"""The one registry of membership-inference attacks."""

from audit.registry import Registry

ATTACKS: Registry = Registry("attack")

"""The result schema's version, written once, and the check every reader of a result applies
(:mod:`mia_audit.result` builds results; the JSON Schema itself is ``reports/schema/``)."""

from __future__ import annotations

from typing import Any, Mapping

from .errors import InputError, bad_value

SCHEMA_VERSION = 1


def check_schema(result: Any, what: str) -> Mapping[str, Any]:
    """``result`` if it is a schema-v1 result dictionary; an InputError naming ``what`` otherwise."""
    if not isinstance(result, Mapping):
        raise bad_value(what, f"a result dictionary (schema version {SCHEMA_VERSION})", type(result).__name__)
    version = result.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError(f"{what}: schema_version must be {SCHEMA_VERSION}; got {version!r}")
    return result


__all__ = ["SCHEMA_VERSION", "check_schema"]

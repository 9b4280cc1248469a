"""The result (schema v1): the one builder and the one reader check.

Every result, whatever made it (``run_audit`` on a model the toolkit trains,
``run_deployed_audit`` on a model file or endpoint, ``audit_model`` and the pytest plugin), is
made by :func:`build_result`; the schema version is written here only. Its sections:

``schema_version``, ``tool``, ``created``, ``config`` (what was asked), ``environment``,
``data`` (:func:`data_section`: the records' hash, sizes, source), ``models``
(:func:`model_record` each), ``results`` (one entry per attack, model, mitigation and member
set), optional sections (``mitigations``, ``unlearners``, ``reference_models``, ``gate``), and
``verdict`` (:func:`mia_audit.verdict.build_verdict`), made last from all the others.

:func:`records_sha256` is the one hash of records: a data set's ``X`` and ``y``, or the
members then non-members an auditor supplies, give the same hash for the same arrays whatever
the entry point. :func:`mia_audit.schema.check_schema` is the check every reader of a stored result applies.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from typing import Any, Mapping, Optional

import numpy as np

from .errors import bad_value
from .schema import SCHEMA_VERSION, check_schema

#: the key under which a result entry carries its per-record scores inside the pipeline; dropped
#: by :func:`build_result` (per-record scores reach a result only through the records section)
SCORES_KEY = "_scores"


def records_sha256(*arrays: Any) -> str:
    """Hex SHA-256 of ``arrays`` in order: each one's dtype, shape and bytes (C order)."""
    h = hashlib.sha256()
    for a in arrays:
        arr = np.asarray(a)
        if arr.dtype.hasobject:
            raise bad_value("records", "numeric arrays", f"an array of Python objects (shape {arr.shape})")
        h.update(f"{arr.dtype.str}{arr.shape};".encode())
        h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def data_section(*, name: str, sha256: str, n_train: int, n_test: int, n_forget: int = 0,
                 n_retain: Optional[int] = None, n_features: Any = None, n_classes: Optional[int] = None,
                 source: Optional[str] = None, license: Optional[str] = None,
                 preprocessing: Optional[str] = None) -> dict[str, Any]:
    """The ``data`` section: which records, how many in each role, and where they came from."""
    return {
        "name": name, "sha256": sha256, "n_train": int(n_train), "n_test": int(n_test), "n_forget": int(n_forget),
        "n_retain": int(n_train - n_forget if n_retain is None else n_retain),
        "n_features": None if n_features is None else [int(s) for s in n_features],
        "n_classes": None if n_classes is None else int(n_classes),
        "source": source, "license": license, "preprocessing": preprocessing,
    }


def model_record(*, name: str, architecture: str, accuracy: Mapping[str, Any], sha256: Optional[str],
                 outputs: str, white_box: bool, seconds: Optional[float] = None, role: str = "original",
                 unlearner: Optional[str] = None, **extra: Any) -> dict[str, Any]:
    """One entry of ``models``: the audited model's name, what it is, what it released."""
    return {"name": name, "role": role, "unlearner": unlearner, "architecture": str(architecture),
            "seconds": None if seconds is None else float(seconds), "sha256": sha256,
            "accuracy": dict(accuracy), "outputs": outputs, "white_box": bool(white_box), **extra}


def build_result(*, config: Mapping[str, Any], environment: Mapping[str, Any], data: Mapping[str, Any],
                 models: list[dict[str, Any]], results: list[dict[str, Any]], policy: Any,
                 evidence: Mapping[str, tuple[str, ...]], **sections: Any) -> dict[str, Any]:
    """A schema-v1 result with its verdict under ``policy`` (a :class:`mia_audit.verdict.Policy`,
    a ``[policy]`` dict, or None for the default); ``evidence``: {attack name: evidence kinds}.
    ``sections`` whose value is None or empty are left out."""
    from .verdict import Policy, build_verdict

    if not isinstance(policy, Policy):
        policy = Policy.from_dict(policy)
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": _tool(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": dict(config),
        "environment": dict(environment),
        "data": dict(data),
        "models": list(models),
        "results": [{k: v for k, v in e.items() if k != SCORES_KEY} for e in results],
        **{k: v for k, v in sections.items() if v},
    }
    result["verdict"] = build_verdict(result, policy, evidence=evidence)
    return result


def _tool() -> dict[str, str]:
    from . import TOOL_NAME, __version__

    return {"name": TOOL_NAME, "version": __version__}


__all__ = ["SCORES_KEY", "SCHEMA_VERSION", "records_sha256", "data_section", "model_record", "build_result", "check_schema"]

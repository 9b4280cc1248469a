"""mia-audit: membership-inference audits of trained and unlearned models.

One import name over five layers (README, "Architecture"): the core (this package's own
modules: data, models, training, adapters, signals, metrics, the result and its verdict,
errors), the methods (``mia_audit.attacks``, ``mia_audit.unlearners``: they import the core),
the renderers (``mia_audit.reports``), the pipeline (``mia_audit.run``: the only code that
imports the methods and the renderers) and the faces (``mia_audit.cli``, ``mia_audit.testing``,
``mia_audit.pytest_plugin``).

The public API below loads on first use: ``import mia_audit`` imports neither torch nor any
submodule.

- ``run_audit(config)``, ``AuditConfig``: an audit of a model the toolkit trains;
- ``run_deployed_audit(target)``: an audit of a model file or an endpoint;
- ``assert_membership_privacy(model, members, nonmembers, ...)``, ``audit_model``: the test face;
- ``create_attack``, ``create_unlearner``: one method by its registered name;
- ``evaluate(member_scores, nonmember_scores, ...)``: the metrics of one attack's scores;
- ``Policy``: the verdict's limits and required evidence;
- the error types: ``MiaAuditError``, ``InputError``, ``DataFileError``, ``NotFittedError``,
  ``NotApplicableError``, ``MembershipPrivacyError``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
TOOL_NAME = "mia-audit"

#: public name -> the module that defines it (imported on first use)
_PUBLIC = {
    "run_audit": "mia_audit.run.pipeline",
    "run_deployed_audit": "mia_audit.run.deployed",
    "AuditConfig": "mia_audit.config",
    "assert_membership_privacy": "mia_audit.testing",
    "audit_model": "mia_audit.testing",
    "MembershipPrivacyError": "mia_audit.testing",
    "create_attack": "mia_audit.attacks",
    "create_unlearner": "mia_audit.unlearners",
    "evaluate": "mia_audit.metrics",
    "Policy": "mia_audit.verdict",
    "MiaAuditError": "mia_audit.errors",
    "InputError": "mia_audit.errors",
    "DataFileError": "mia_audit.errors",
    "NotFittedError": "mia_audit.errors",
    "NotApplicableError": "mia_audit.errors",
}


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        from importlib import import_module

        value = getattr(import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mia_audit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_PUBLIC))


__all__ = sorted(_PUBLIC) + ["__version__", "TOOL_NAME"]

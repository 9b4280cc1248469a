"""A privacy assertion for test suites: :func:`assert_membership_privacy`.

::

    from mia_audit.testing import assert_membership_privacy

    def test_model_does_not_leak():
        assert_membership_privacy(model, (X_train, y_train), (X_test, y_test),
                                  max_auc=0.6, max_tpr_at_fpr={0.01: 0.05})

The model is attacked with every applicable registered attack (members = the
training records given, non-members = held-out records), the figures are checked
against the limits and/or a stored baseline (:mod:`mia_audit.gates`), and an
``AssertionError`` with a table of the figures that exceed is raised. On success the
result (schema v1) is returned, so it can be saved as the next baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .adapters import n_rows as _n_rows
from .errors import InputError, bad_value
from .frameworks import to_numpy
from .schema import check_schema
from .gates import GateReport, Limits, check_result, check_tolerance, format_violations, summary_line
from .metrics import DEFAULT_FPRS, MAX_BOOTSTRAP, check_count, check_fprs
from .seeding import check_seed, derive_seed

MODEL_NAME = "model"


class MembershipPrivacyError(AssertionError):
    """A membership-privacy assertion failed. ``result`` is the audit (schema v1, with its
    ``gate`` section) and ``violations`` the :class:`~mia_audit.gates.GateReport`."""

    def __init__(self, message: str, *, result: dict[str, Any], violations: GateReport):
        super().__init__(message)
        self.result = result
        self.violations = violations


# ---------------------------------------------------------------------------- helpers


def _pair(value: object, param: str) -> tuple[Any, Any]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise bad_value(param, "a pair (X, y)", type(value).__name__)
    return value[0], value[1]


def _device_of(model: Any) -> str:
    from .device import model_device
    from .frameworks import is_torch_module

    inner = model.unwrap() if callable(getattr(model, "unwrap", None)) else model
    return str(model_device(inner)) if is_torch_module(inner) else "cpu"


def _predict(adapter: Any, X: Any, param: str) -> Any:
    """The model's outputs on ``X``; a failure inside the model (a torch shape error, say) becomes
    an InputError naming ``param`` and the records' shape."""
    try:
        return adapter.predict(X)
    except InputError as exc:
        raise InputError(f"{param}: {exc}") from None
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:  # the model's own error, e.g. torch's
        # "mat1 and mat2 shapes cannot be multiplied" or scikit-learn's feature-count ValueError
        text = " ".join(str(exc).split())[:200]
        raise InputError(f"{param}: the model failed on records of shape {tuple(np.shape(X)[1:])} "
                         f"({type(exc).__name__}: {text}); give records of the shape the model takes") from None


def _load_baseline(baseline: object) -> dict[str, Any] | None:
    if baseline is None:
        return None
    if isinstance(baseline, (str, Path)):
        from mia_audit.reports.result_json import load_result

        return load_result(baseline)
    if isinstance(baseline, Mapping):
        return dict(baseline)
    raise bad_value("baseline", "a path to a result JSON, a result dict or None", type(baseline).__name__)


def _baseline_fprs(baseline: Mapping[str, Any] | None) -> set[float]:
    out: set[float] = set()
    if baseline is None:
        return out
    for entry in baseline.get("results") or []:
        tprs = entry.get("tpr_at_fpr") if isinstance(entry, Mapping) else None
        if isinstance(tprs, Mapping):
            for k in tprs:
                try:
                    f = float(k)
                except (TypeError, ValueError):
                    continue
                if 0.0 < f < 1.0:
                    out.add(f)
    return out


# ---------------------------------------------------------------------------- the audit


def audit_model(
    model: Any,
    members: tuple[Any, Any],
    nonmembers: tuple[Any, Any],
    *,
    attacks: Iterable[str] | None = None,
    fprs: Iterable[float] = DEFAULT_FPRS,
    n_classes: int | None = None,
    seed: int = 0,
    n_bootstrap: int = 0,
    policy: Any = None,
    train_fn: Any = None,
    population: tuple[Any, Any] | None = None,
    references: Any = None,
) -> dict[str, Any]:
    """A minimal schema-v1 result: every attack on ``model``, members vs non-members, with its
    verdict under ``policy`` (an :class:`mia_audit.verdict.Policy`, a dict, or None: the default).

    Attacks beyond one model's signals run where what they need is given: ``boundary`` queries
    the model; ``qmia`` fits on ``population`` records ``(X, y)`` (same distribution, not
    members); LiRA and RMIA need ``train_fn`` (your ``fit(X, y, *, seed, device) -> model``),
    which trains ``references["n_models"]`` (default 16) reference models on random halves of
    members, non-members and population (cached like every reference store).

    Signals are computed once per set. With ``attacks=None`` every registered attack
    that works from one model's signals runs (attacks needing reference models, or
    signals the outputs do not give, are left out); named attacks must all apply.
    """
    from mia_audit.attacks import create_attack, signal_attack_names

    from .adapters import as_adapter, model_sha256
    from .config import AttackConfig, AuditConfig, MetricsConfig
    from .data.supplied import supplied_pool
    from .environment import environment
    from .result import build_result, data_section, model_record
    from .run.attack_entries import accuracy_of, evaluate_attacks, policy_evidence
    from .signals import compute_signals

    seed = check_seed(seed)
    n_bootstrap = check_count(n_bootstrap, "n_bootstrap", 0, MAX_BOOTSTRAP)
    targets = tuple(sorted(set(check_fprs(tuple(fprs)))))
    X_in, y_in = _pair(members, "members")
    X_out, y_out = _pair(nonmembers, "nonmembers")
    if _n_rows(X_in) == 0 or _n_rows(X_out) == 0:
        raise InputError(f"members and nonmembers must each hold at least one record; "
                         f"got {_n_rows(X_in)} and {_n_rows(X_out)}")
    if attacks is None:
        names = signal_attack_names()  # reference, pair and query attacks need more than signals
        explicit = False
    else:
        names = [attacks] if isinstance(attacks, str) else list(attacks)
        if not names:
            raise bad_value("attacks", "a non-empty list of attack names or None", attacks)
        explicit = True
    for n in names:  # unknown names fail now
        create_attack(n, seed=derive_seed(seed, "attack", n))

    shape_in, shape_out = tuple(np.shape(X_in)[1:]), tuple(np.shape(X_out)[1:])
    if shape_in != shape_out:
        raise InputError(f"members and nonmembers must have records of one shape; got {shape_in} and {shape_out}")
    adapter = as_adapter(model, n_classes=n_classes)
    signals = {"train": compute_signals(_predict(adapter, X_in, "members"), to_numpy(y_in)),
               "test": compute_signals(_predict(adapter, X_out, "nonmembers"), to_numpy(y_out))}
    from .config import ReferenceConfig
    from .run.dispatch import by_scope

    groups = by_scope(names)
    config = AuditConfig(attacks=AttackConfig(names=names, members=["train"]), seed=seed, device="cpu",
                         metrics=MetricsConfig(fprs=list(targets), n_bootstrap=n_bootstrap),
                         references=references if isinstance(references, ReferenceConfig)
                         else ReferenceConfig(**dict(references or {})))
    entries = evaluate_attacks(signals, model=MODEL_NAME, attack_names=groups["signals"], config=config,
                               members=["train"])
    special = [n for n in names if n not in groups["signals"]]
    if special:
        entries += _special_entries(adapter, special, config=config, train_fn=train_fn, population=population,
                                    data=((to_numpy(X_in), to_numpy(y_in)), (to_numpy(X_out), to_numpy(y_out))))
    refused = [e for e in entries if not e["applicable"]]
    if explicit and refused:
        raise InputError(f"attacks: {refused[0]['attack']!r} cannot run on this model's outputs: "
                         f"{refused[0]['reason']}")
    entries = [e for e in entries if e["applicable"]]  # the default set: those the outputs allow
    if not entries:
        available = set(signals["train"].available)
        raise InputError(f"no attack applies to this model's outputs ({adapter.output_kind}); "
                         f"the registered attacks need {', '.join(sorted(available)) or 'posteriors'}")

    # the records as the toolkit holds them (float32 features, int64 labels): one hash for the same
    # records whether they come as arrays here or as record files to run_deployed_audit
    pool, split, _ = supplied_pool((to_numpy(X_in), to_numpy(y_in)), (to_numpy(X_out), to_numpy(y_out)),
                                   n_classes=adapter.n_classes, name="given")
    accuracy = accuracy_of(signals)
    return build_result(
        config={"kind": "assert_membership_privacy", "attacks": names, "seed": seed,
                "metrics": {"fprs": list(targets), "n_bootstrap": n_bootstrap}},
        environment=environment(_device_of(model)),
        data=data_section(name=pool.name, sha256=pool.sha256(), n_train=split.train.size, n_test=split.test.size,
                          n_features=pool.input_shape, n_classes=pool.n_classes),
        models=[model_record(name=MODEL_NAME, architecture=type(adapter.unwrap()).__name__,
                             sha256=model_sha256(model),
                             accuracy={"train": accuracy["train"], "test": accuracy["test"],
                                       "retain": accuracy["train"], "forget": None},
                             outputs=adapter.output_kind, white_box=adapter.white_box)],
        results=entries, policy=policy, evidence=policy_evidence(entries))


def _special_entries(adapter: Any, names: list[str], *, config: Any, train_fn: Any, population: Any,
                     data: tuple) -> list[dict[str, Any]]:
    """Entries of the attacks that need more than signals, through the pipeline's one-model step
    (what an attack cannot get here, its entry says)."""
    from .data.supplied import supplied_pool
    from .run.dispatch import run_one_model_attacks
    from .user_code import training_function

    trainer = training_function(train_fn, None, param="train_fn")
    pop = None if population is None else _pair(population, "population")
    pool, split, _ = supplied_pool(data[0], data[1], n_classes=adapter.n_classes,
                                   population=None if pop is None else (to_numpy(pop[0]), to_numpy(pop[1])))
    entries, _ = run_one_model_attacks(config=config, dataset=pool, split=split, names=names, model_name=MODEL_NAME,
                                       adapter=adapter, mitigations=[], validation_idx=None, device="cpu",
                                       trainer=trainer)
    return entries


def assert_membership_privacy(
    model: Any,
    members: tuple[Any, Any],
    nonmembers: tuple[Any, Any],
    *,
    max_auc: float | None = None,
    max_tpr_at_fpr: Mapping[float, float] | None = None,
    attacks: Iterable[str] | None = None,
    baseline: str | Path | Mapping[str, Any] | None = None,
    tolerance: float = 0.0,
    n_classes: int | None = None,
    seed: int = 0,
    n_bootstrap: int = 0,
    require: Iterable[str] = ("posterior",),
    train_fn: Any = None,
    population: tuple[Any, Any] | None = None,
    references: Any = None,
) -> dict[str, Any]:
    """Fail (``AssertionError`` with a table) when membership inference works too well, or
    when the audit could not show it: a baseline none of whose figures matches, or a model
    with no result of the evidence ``require`` names (default: a posterior-based attack, so a
    model that gives labels only never passes; ``require=()`` accepts label-only evidence).

    ``members`` / ``nonmembers``: ``(X, y)`` of records the model was / was not trained
    on. ``model``: anything :func:`mia_audit.adapters.as_adapter` accepts (a callable needs
    ``n_classes``; wrap it in a ``CallableAdapter`` to say what it returns).
    ``max_auc``, ``max_tpr_at_fpr`` ({FPR: TPR}): limits on every attack's figures;
    ``baseline``: a result (path or dict) whose figures must not rise by more than
    ``tolerance``. At least one of the three is required. Returns the result (schema v1,
    with ``verdict`` and ``gate`` sections). Neither the model nor the arrays are changed.
    """
    from .verdict import Policy

    limits = Limits(max_auc=max_auc, max_tpr_at_fpr=dict(max_tpr_at_fpr or {}))
    tolerance = check_tolerance(tolerance)
    base = _load_baseline(baseline)
    if limits.is_empty and base is None:
        raise InputError("assert_membership_privacy needs max_auc, max_tpr_at_fpr or a baseline; got none")
    if base is not None:
        check_schema(base, "baseline")
    fprs = set(DEFAULT_FPRS) | set(limits.max_tpr_at_fpr) | _baseline_fprs(base)
    require = (require,) if isinstance(require, str) else tuple(require)
    policy = Policy(max_auc=limits.max_auc, max_tpr_at_fpr=dict(limits.max_tpr_at_fpr), require=require)
    result = audit_model(model, members, nonmembers, attacks=attacks, fprs=fprs, n_classes=n_classes,
                         train_fn=train_fn, population=population, references=references,
                         seed=seed, n_bootstrap=n_bootstrap, policy=policy)
    report = check_result(result, limits=None if limits.is_empty else limits, baseline=base, tolerance=tolerance,
                          require=require)
    result["gate"] = {"limits": limits.to_dict(), "baseline": str(baseline) if isinstance(baseline, (str, Path))
                      else (None if base is None else "given"), "tolerance": tolerance, **report.to_dict()}
    if not report.passed:
        message = f"membership privacy check failed: {summary_line(report)}\n{format_violations(report)}"
        raise MembershipPrivacyError(message, result=result, violations=report)
    return result


__all__ = ["assert_membership_privacy", "audit_model", "MembershipPrivacyError"]

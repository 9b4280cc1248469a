"""``mia-audit check``: the privacy regression gate for pipelines.

    mia-audit check RESULT.json [--max-auc X] [--max-tpr FPR:TPR ...]
                    [--baseline OLD.json [--tolerance T]] [--model NAME ...] [--members SET ...]
                    [--require {posterior,label,reference,none} ...]

Exit codes: 0 every figure within its limits (prints "all N figures within limits");
1 a limit or the baseline is exceeded, or the check could not be made: no baseline figure
matched, or a checked model has no result of the evidence ``--require`` names (default
``posterior``: a label-only audit never passes the gate); 2 bad input (one line on stderr,
from :func:`mia_audit.cli.commands.main`).

This module does not import :mod:`mia_audit.cli.commands` (which imports it); input errors are
raised as :class:`~mia_audit.errors.InputError` or ``argparse.ArgumentTypeError``.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from mia_audit.errors import InputError

EXIT_OK, EXIT_CHECK_FAILED = 0, 1


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1]; got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1]; got {text!r}")
    return value


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0; got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0; got {text!r}")
    return value


def parse_tpr_limit(text: str) -> tuple[float, float]:
    """``"FPR:TPR"`` (e.g. ``"0.001:0.01"``) as ``(fpr, tpr)``, FPR in (0, 1), TPR in [0, 1]."""
    allowed = "FPR:TPR with FPR in (0, 1) and TPR in [0, 1], e.g. 0.001:0.01"
    parts = text.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"must be {allowed}; got {text!r}")
    try:
        fpr, tpr = float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {allowed}; got {text!r}") from None
    if not 0.0 < fpr < 1.0 or not 0.0 <= tpr <= 1.0:
        raise argparse.ArgumentTypeError(f"must be {allowed}; got {text!r}")
    return fpr, tpr


def add_policy_arguments(p: argparse.ArgumentParser, *, require_default: Any = None) -> None:
    """``--max-auc``, ``--max-tpr FPR:TPR`` and ``--require``: the policy's flags, shared by
    ``run``, ``demo``, ``report`` and ``check``."""
    p.add_argument("--max-auc", type=_unit_float, default=None, metavar="X",
                   help="highest AUC allowed for every attack result")
    p.add_argument("--max-tpr", type=parse_tpr_limit, action="extend", nargs="+", default=None,
                   metavar="FPR:TPR", help="highest TPR allowed at an FPR, e.g. 0.001:0.01 (repeatable)")
    p.add_argument("--require", choices=("posterior", "label", "reference", "none"), action="extend", nargs="+",
                   default=require_default, metavar="EVIDENCE",
                   help="evidence every audited model needs: posterior, label, reference, or none "
                        "(default: posterior)")


def tpr_limits(pairs: Any) -> dict[float, float] | None:
    """The ``--max-tpr`` pairs as {FPR: TPR}; None when none was given."""
    if pairs is None:
        return None
    tprs: dict[float, float] = {}
    for fpr, tpr in pairs:
        if fpr in tprs and tprs[fpr] != tpr:
            raise InputError(f"--max-tpr gives two limits for FPR {fpr!r}: {tprs[fpr]!r} and {tpr!r}")
        tprs[fpr] = tpr
    return tprs


def required_evidence(values: Any) -> tuple[str, ...] | None:
    """``--require`` as a tuple of evidence kinds (``none`` alone: no requirement); None if not given."""
    if values is None:
        return None
    if "none" in values:
        if len(values) > 1:
            raise InputError(f"--require none cannot be combined with other kinds; got {' '.join(values)}")
        return ()
    return tuple(dict.fromkeys(values))


def policy_from_args(args: argparse.Namespace, base: Any = None) -> Any:
    """The policy ``base`` (default: the default policy) with the flags given in ``args``."""
    from mia_audit.verdict import Policy

    base = Policy() if base is None else base
    return base.with_limits(max_auc=args.max_auc, max_tpr_at_fpr=tpr_limits(args.max_tpr),
                            require=required_evidence(args.require))


def _cmd_check(args: argparse.Namespace) -> int:
    from mia_audit.reports.result_json import load_result

    from mia_audit.gates import Limits, check_result, check_result_entries, format_violations, notes_line, summary_line
    from mia_audit.run.attack_entries import with_verdict

    if args.tolerance is not None and args.baseline is None:
        raise InputError("--tolerance needs --baseline OLD.json")
    limits = Limits(max_auc=args.max_auc, max_tpr_at_fpr=tpr_limits(args.max_tpr) or {})
    if limits.is_empty and args.baseline is None:
        raise InputError("check needs a limit (--max-auc, --max-tpr FPR:TPR) or --baseline OLD.json")
    require = required_evidence(args.require)
    result = load_result(args.result)
    check_result_entries(result, "result")
    if not isinstance(result.get("verdict"), dict):  # written before verdicts: its coverage, from its entries
        result = with_verdict(dict(result))
    baseline = load_result(args.baseline) if args.baseline is not None else None
    report = check_result(result, limits=None if limits.is_empty else limits, baseline=baseline,
                          tolerance=args.tolerance or 0.0, models=args.model, members=args.members,
                          require=("posterior",) if require is None else require)
    if not report.passed:
        print(summary_line(report))
        print(format_violations(report), end="")
        return EXIT_CHECK_FAILED
    line = notes_line(report.notes)
    if line:
        print(line)
    print(summary_line(report))
    return EXIT_OK


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``check`` command to the CLI's subparsers; returns its parser."""
    p = subparsers.add_parser(
        "check", help="fail (exit 1) when a result's AUC or TPR@FPR exceeds a limit or a baseline",
        description="Check a result JSON against limits and/or a baseline result. Exit 0: all figures "
                    "within limits; 1: a limit or the baseline is exceeded (table printed); 2: bad input.")
    p.add_argument("result", metavar="RESULT.json", help="the result to check")
    add_policy_arguments(p)
    p.add_argument("--baseline", default=None, metavar="OLD.json",
                   help="a previous result: fail when a figure rose above it by more than --tolerance")
    p.add_argument("--tolerance", type=_tolerance, default=None, metavar="T",
                   help="how much a figure may rise over the baseline (default 0)")
    p.add_argument("--model", action="extend", nargs="+", default=None, metavar="NAME",
                   help="check only these models (default: all)")
    p.add_argument("--members", action="extend", nargs="+", default=None, metavar="SET",
                   help="check only these member sets: train, forget, retain (default: all)")
    p.set_defaults(func=_cmd_check)
    return p


__all__ = ["register", "parse_tpr_limit", "add_policy_arguments", "policy_from_args"]

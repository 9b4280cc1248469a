"""Privacy regression gates: check a result (schema v1) against limits or a baseline.

Pure logic on the result dictionary; no model, no torch. Used by
:func:`mia_audit.testing.assert_membership_privacy`, the pytest plugin and
``mia-audit check``.

Two kinds of check, on every applicable result entry (entries with
``"applicable": false`` are skipped):

* **limits**: the entry's AUC must not exceed ``Limits.max_auc`` and its TPR at each
  FPR named in ``Limits.max_tpr_at_fpr`` must not exceed the TPR given there;
* **baseline**: entries are matched to a stored result by (model, mitigation, attack,
  members); a figure (the AUC and every TPR@FPR both entries have) fails when it rose
  by more than ``tolerance`` over the baseline's value. Entries, or figures, the
  baseline lacks are counted in one note, not failures; but when **none** of the
  baseline's figures matches the result (a model renamed, or ``deployed`` against
  ``original``), the gate fails: it compared nothing.

**A gate that compared nothing never passes.** Besides violations, a :class:`GateReport`
carries ``problems``: reasons the check could not be made (no baseline figure matched; an
audited model lacks the evidence ``require`` names, read from the result's ``verdict``
coverage, e.g. only label-only attacks ran on a model whose outputs are labels). A report
with a problem has not passed.

A figure equal to its limit passes. :func:`check_result` returns a :class:`GateReport`,
a list of :class:`Violation` that also carries ``notes``, ``problems`` and ``n_checked``.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .entries import is_applicable
from .errors import InputError, bad_value
from .metrics.ranking import fpr_key
from .schema import check_schema
#: slack for float arithmetic in ``baseline + tolerance`` (figures lie in [0, 1])
_EPS = 1e-12
_KEY_FIELDS = ("model", "mitigation", "attack", "members")


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


@dataclass(frozen=True)
class Limits:
    """Upper limits on attack figures.

    ``max_auc``: the highest AUC allowed, in [0, 1], or None for no AUC limit.
    ``max_tpr_at_fpr``: {FPR: highest TPR allowed}, FPR in (0, 1), TPR in [0, 1].
    """

    max_auc: float | None = None
    max_tpr_at_fpr: Mapping[float, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_auc is not None:
            if not _is_real(self.max_auc) or not 0.0 <= float(self.max_auc) <= 1.0:
                raise bad_value("max_auc", "a number in [0, 1] or None", self.max_auc)
            object.__setattr__(self, "max_auc", float(self.max_auc))
        tprs = {} if self.max_tpr_at_fpr is None else self.max_tpr_at_fpr
        if not isinstance(tprs, Mapping):
            raise bad_value("max_tpr_at_fpr", "a mapping {FPR: TPR}", tprs)
        clean: dict[float, float] = {}
        for fpr, tpr in tprs.items():
            if isinstance(fpr, str):  # "0.001" as in the result JSON
                try:
                    fpr = float(fpr)
                except ValueError:
                    raise bad_value("max_tpr_at_fpr", "FPR keys in the open interval (0, 1)", fpr) from None
            if not _is_real(fpr) or not 0.0 < float(fpr) < 1.0:
                raise bad_value("max_tpr_at_fpr", "FPR keys in the open interval (0, 1)", fpr)
            if not _is_real(tpr) or not 0.0 <= float(tpr) <= 1.0:
                raise bad_value(f"max_tpr_at_fpr[{fpr_key(fpr)}]", "a TPR in [0, 1]", tpr)
            clean[float(fpr)] = float(tpr)
        object.__setattr__(self, "max_tpr_at_fpr", dict(sorted(clean.items())))

    def exceeded(self, entry: Mapping[str, Any]) -> tuple[list[tuple[str, float, float]], list[str]]:
        """``(exceeded, unmeasured)`` for one result entry: each ``(figure, value, limit)``
        above its limit (a value equal to the limit passes; 1e-12 absorbs float noise), and
        the figures a limit names that the entry does not have. Figures are named "auc" and
        "tpr@<fpr>", as in :class:`Violation`. Shared by the gates and the PDF verdict."""
        figures = _figures(entry)
        checks: list[tuple[str, float]] = [] if self.max_auc is None else [("auc", self.max_auc)]
        checks += [(f"tpr@{fpr_key(fpr)}", tpr) for fpr, tpr in self.max_tpr_at_fpr.items()]
        exceeded = [(name, figures[name], limit) for name, limit in checks
                    if name in figures and figures[name] > limit + _EPS]
        return exceeded, [name for name, _ in checks if name not in figures]

    @property
    def is_empty(self) -> bool:
        return self.max_auc is None and not self.max_tpr_at_fpr

    def to_dict(self) -> dict[str, Any]:
        return {"max_auc": self.max_auc,
                "max_tpr_at_fpr": {fpr_key(f): t for f, t in self.max_tpr_at_fpr.items()}}


def fpr_label(fpr: float) -> str:
    """0.001 -> '0.1 %'."""
    return f"{100 * fpr:g} %"


def limit_pct(value: float) -> str:
    """0.01 -> '1.0 %' (at least one decimal, more where the limit needs them)."""
    text = f"{100 * value:.1f}"
    if abs(float(text) - 100 * value) > 1e-9:
        text = f"{100 * value:g}"
    return f"{text} %"


def figure_label(figure: str) -> str:
    """A figure's name as a report prints it: "auc" -> "AUC", "tpr@0.001" -> "TPR@0.001"."""
    return "AUC" if figure == "auc" else f"TPR@{float(figure[4:]):g}"


@dataclass(frozen=True)
class Violation:
    """One figure of one result entry above what is allowed (the one class for it: the gates
    and the verdict both report these).

    ``figure`` is "auc" or "tpr@<fpr>" (e.g. "tpr@0.001"). ``limit`` is what was
    allowed: the limit (kind "limit") or the baseline's value plus the tolerance
    (kind "baseline", where ``baseline`` holds the baseline's value).
    """

    model: str
    mitigation: str
    attack: str
    members: str
    figure: str
    value: float
    limit: float
    kind: str
    baseline: float | None = None
    tolerance: float | None = None

    @property
    def excess(self) -> float:
        return self.value - self.limit

    @property
    def label(self) -> str:
        """"AUC" or "TPR@<fpr>"."""
        return figure_label(self.figure)

    @property
    def severity(self) -> float:
        """How far above the limit, relative to it (for ranking offenders)."""
        return (self.value - self.limit) / max(self.limit, 1e-12)

    def describe(self) -> str:
        if self.figure == "auc":
            return f"AUC {self.value:.3f} > {self.limit:.2f}"
        fpr = float(self.figure[4:])
        return f"TPR {100 * self.value:.2f} % > {limit_pct(self.limit)} at FPR {fpr_label(fpr)}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GateReport(list):
    """The violations found (a list of :class:`Violation`), plus ``notes`` (entries or
    figures the baseline lacks, as text), ``problems`` (why the check could not be made:
    it then fails) and ``n_checked`` (figures compared)."""

    def __init__(self, violations: Iterable[Violation] = (), *, notes: Sequence[str] = (), n_checked: int = 0,
                 problems: Sequence[str] = ()):
        super().__init__(violations)
        self.notes = list(notes)
        self.problems = list(problems)
        self.n_checked = int(n_checked)

    @property
    def passed(self) -> bool:
        return len(self) == 0 and not self.problems and self.n_checked > 0

    def __bool__(self) -> bool:  # truthy = "something is wrong", as for a list of violations
        return not self.passed

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "n_checked": self.n_checked, "problems": list(self.problems),
                "violations": [v.to_dict() for v in self], "notes": list(self.notes)}


# ---------------------------------------------------------------------------- validation


def check_tolerance(tolerance: object) -> float:
    if not _is_real(tolerance) or not math.isfinite(float(tolerance)) or float(tolerance) < 0:  # type: ignore[arg-type]
        raise bad_value("tolerance", "a finite number >= 0", tolerance)
    return float(tolerance)  # type: ignore[arg-type]


def check_result_entries(result: object, what: str) -> list[dict[str, Any]]:
    """The result entries of a schema-v1 result, checked for what the gates read."""
    check_schema(result, what)
    entries = result.get("results")
    if not isinstance(entries, list):
        raise InputError(f"{what}: 'results' must be a list of result entries; got {type(entries).__name__}")
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise InputError(f"{what}: results[{i}] must be an object; got {type(entry).__name__}")
        for key in _KEY_FIELDS:
            if not isinstance(entry.get(key), str):
                raise InputError(f"{what}: results[{i}].{key} must be a string; got {entry.get(key)!r}")
        if entry.get("applicable", True) is False:
            continue
        if not _is_real(entry.get("auc")) or not is_applicable(entry):
            raise InputError(f"{what}: results[{i}].auc must be a number; got {entry.get('auc')!r}")
        tprs = entry.get("tpr_at_fpr")
        if not isinstance(tprs, Mapping):
            raise InputError(f"{what}: results[{i}].tpr_at_fpr must be an object {{FPR: TPR}}; got {tprs!r}")
        for k, v in tprs.items():
            try:
                float(k)
            except (TypeError, ValueError):
                raise InputError(f"{what}: results[{i}].tpr_at_fpr has a key that is not an FPR: {k!r}") from None
            if not _is_real(v):
                raise InputError(f"{what}: results[{i}].tpr_at_fpr[{k!r}] must be a number; got {v!r}")
    return entries


def _entry_key(entry: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return tuple(entry[k] for k in _KEY_FIELDS)  # type: ignore[return-value]


def _figures(entry: Mapping[str, Any]) -> dict[str, float]:
    """{"auc": x, "tpr@0.001": y, ...}, TPRs in ascending FPR order."""
    out = {"auc": float(entry["auc"])}
    tprs = entry.get("tpr_at_fpr") or {}
    for key in sorted(tprs, key=float):
        out[f"tpr@{fpr_key(float(key))}"] = float(tprs[key])
    return out


def _names(values: object, param: str) -> set[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    try:
        names = list(values)  # type: ignore[call-overload]
    except TypeError:
        raise bad_value(param, "a list of names or None", values) from None
    if not names or not all(isinstance(n, str) for n in names):
        raise bad_value(param, "a non-empty list of names or None", values)
    return set(names)


# ---------------------------------------------------------------------------- the check


def check_result(
    result: Mapping[str, Any],
    *,
    limits: Limits | None = None,
    baseline: Mapping[str, Any] | None = None,
    tolerance: float = 0.0,
    models: Iterable[str] | None = None,
    members: Iterable[str] | None = None,
    require: Sequence[str] = (),
) -> GateReport:
    """Every figure of ``result`` above its limit or above the baseline plus ``tolerance``.

    ``models`` / ``members``: check only entries of these models / member sets (each
    name must occur in the result). ``require``: evidence kinds (``mia_audit.verdict.EVIDENCE``)
    every checked model must have, read from ``result["verdict"]["coverage"]``; a model
    without them is a problem, and the report fails. Raises :class:`InputError` when
    neither limits nor a baseline is given, on malformed inputs, when a limit names an FPR
    an entry has no TPR for, and when nothing is left to check.
    """
    if limits is not None and not isinstance(limits, Limits):
        raise bad_value("limits", "a mia_audit.gates.Limits or None", type(limits).__name__)
    tolerance = check_tolerance(tolerance)
    if (limits is None or limits.is_empty) and baseline is None:
        raise InputError("give at least one limit (max_auc, max_tpr_at_fpr) or a baseline to compare with")
    entries = check_result_entries(result, "result")
    base_index: dict[tuple[str, str, str, str], Mapping[str, Any]] | None = None
    if baseline is not None:
        base_index = {}
        for entry in check_result_entries(baseline, "baseline"):
            if not is_applicable(entry):
                continue
            key = _entry_key(entry)
            if key in base_index:
                raise InputError(f"baseline: two entries for model={key[0]}, mitigation={key[1]}, "
                                 f"attack={key[2]}, members={key[3]}")
            base_index[key] = entry

    want_models, want_members = _names(models, "models"), _names(members, "members")
    for wanted, field_name in ((want_models, "model"), (want_members, "members")):
        if wanted is not None:
            have = {e[field_name] for e in entries}
            missing = sorted(wanted - have)
            if missing:
                raise InputError(f"{field_name}: the result has no entry for {missing[0]!r}; "
                                 f"it has {', '.join(sorted(have)) or 'none'}")
    selected = [e for e in entries
                if is_applicable(e)
                and (want_models is None or e["model"] in want_models)
                and (want_members is None or e["members"] in want_members)]
    if not selected:
        raise InputError("result: no applicable result entries to check")

    violations: list[Violation] = []
    notes: list[str] = []
    problems = _missing_evidence(result, {e["model"] for e in selected}, require)
    n_checked = 0
    n_baseline_checked = 0
    for entry in selected:
        key = _entry_key(entry)
        label = f"model={key[0]} mitigation={key[1]} attack={key[2]} members={key[3]}"
        figures = _figures(entry)
        if limits is not None:
            exceeded, unmeasured = limits.exceeded(entry)
            if unmeasured:
                have = ", ".join(k[4:] for k in figures if k.startswith("tpr@")) or "none"
                raise InputError(f"result: {label} has no TPR at FPR {unmeasured[0][4:]} to check "
                                 f"(it has FPRs {have})")
            n_checked += (limits.max_auc is not None) + len(limits.max_tpr_at_fpr)
            violations += [Violation(*key, figure=name, value=value, limit=limit, kind="limit")
                           for name, value, limit in exceeded]
        if base_index is not None:
            base = base_index.get(key)
            if base is None:
                notes.append(f"{label}: not in the baseline (not compared)")
                continue
            base_figures = _figures(base)
            for name, value in figures.items():
                if name not in base_figures:
                    notes.append(f"{label}: {name} not in the baseline (not compared)")
                    continue
                n_checked += 1
                n_baseline_checked += 1
                before = base_figures[name]
                if value - before > tolerance + _EPS:
                    violations.append(Violation(*key, figure=name, value=value, limit=before + tolerance,
                                                kind="baseline", baseline=before, tolerance=tolerance))
    if base_index is not None and n_baseline_checked == 0:
        n_base = sum(len(_figures(e)) for e in base_index.values())
        base_models = sorted({k[0] for k in base_index})
        have_models = sorted({e["model"] for e in selected})
        problems.append(f"none of the baseline's {n_base} figures matches this result (its models: "
                        f"{', '.join(base_models) or 'none'}; this result's: {', '.join(have_models)}); nothing "
                        "was compared")
    if n_checked == 0 and not problems:
        problems.append("no figure was compared")
    return GateReport(violations, notes=notes, n_checked=n_checked, problems=problems)


def _missing_evidence(result: Mapping[str, Any], models: set[str], require: Sequence[str]) -> list[str]:
    """One problem per checked model that lacks a required evidence kind (from the verdict's coverage)."""
    if isinstance(require, str) or not all(isinstance(k, str) for k in require):
        raise bad_value("require", "a list of evidence kinds (posterior, label, reference)", require)
    if not require:
        return []
    coverage = (result.get("verdict") or {}).get("coverage") if isinstance(result.get("verdict"), Mapping) else None
    if not isinstance(coverage, list):
        raise InputError("result: it has no verdict section, so the evidence of its attacks is unknown; "
                         "re-render it with `mia-audit report` (or check with require=())")
    rows = {r.get("model"): r for r in coverage if isinstance(r, Mapping) and r.get("mitigation", "none") == "none"}
    problems = []
    for model in sorted(models):
        row = rows.get(model) or {}
        have = set(row.get("evidence") or ())
        missing = [k for k in require if k not in have]
        if missing:
            outputs = row.get("access") or "unknown outputs"
            ran = ", ".join(row.get("attacks_run") or ()) or "none"
            problems.append(f"model {model} has no {' or '.join(missing)}-based attack result (outputs: {outputs}; "
                            f"ran: {ran}), so the gate cannot pass on it")
    return problems


# ---------------------------------------------------------------------------- text


def _num(x: float) -> str:
    return f"{x:.4f}"


def _excess(v: Violation) -> str:
    d = v.excess
    return f"+{d:.4f}" if d >= 5e-5 else f"+{d:.1e}"


def notes_line(notes: Sequence[str]) -> str | None:
    """The notes collapsed into one line with a count (None when there are none)."""
    if not notes:
        return None
    figures = sum(1 for n in notes if re.search(r": (auc|tpr@\S+) not in the baseline", n))
    entries = len(notes) - figures
    parts = ([f"{entries} result entr{'y' if entries == 1 else 'ies'}"] if entries else []) \
        + ([f"{figures} figure{'' if figures == 1 else 's'}"] if figures else [])
    one = len(notes) == 1
    return (f"note: {' and '.join(parts)} of this result {'is' if one else 'are'} not in the baseline "
            f"and {'was' if one else 'were'} not compared")


def format_violations(violations: Sequence[Violation], *, notes: Sequence[str] | None = None) -> str:
    """A fixed-width table, one row per violation, then each problem and the notes in one line."""
    if notes is None:
        notes = getattr(violations, "notes", ())
    problems = getattr(violations, "problems", ())
    if not len(violations):
        text = "no figure exceeds its limit or baseline\n"
    else:
        header = ("model", "mitigation", "attack", "members", "figure", "value", "allowed", "excess", "check")
        rows = []
        for v in violations:
            check = "limit" if v.kind == "limit" else f"baseline {_num(v.baseline)} + tolerance {v.tolerance:g}"
            rows.append((v.model, v.mitigation, v.attack, v.members, v.figure, _num(v.value), _num(v.limit),
                         _excess(v), check))
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        numeric = {5, 6, 7}

        def line(cells: Sequence[str]) -> str:
            parts = [str(c).rjust(w) if i in numeric else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
            return "  ".join(parts).rstrip()

        lines = [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
        text = "\n".join(lines) + "\n"
    text += "".join(f"cannot pass: {p}\n" for p in problems)
    line = notes_line(notes)
    if line:
        text += line + "\n"
    return text


def summary_line(report: GateReport) -> str:
    """One line: "all N figures within limits", "K of N figures exceed ...", or why nothing
    could be checked."""
    if report.passed:
        return f"all {report.n_checked} figures within limits"
    if len(report):
        return f"{len(report)} of {report.n_checked} figures exceed their limit or baseline"
    return f"check failed: {report.problems[0]}" if report.problems else "check failed: no figure was compared"


__all__ = ["Limits", "Violation", "GateReport", "check_result", "format_violations", "summary_line",
           "check_tolerance", "notes_line", "check_result_entries"]

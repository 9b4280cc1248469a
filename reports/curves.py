"""Which ROC curves a report draws, read from a result alone (no plotting here).

* Attacks whose scores are monotone in each other (loss, confidence and, on two classes,
  modified entropy) rank the records identically, so they have the same ROC: such entries
  share one line with a joint label ("loss = confidence = modified-entropy"). Sameness is
  read from the curves themselves (the same AUC and the same ROC points), never assumed
  from the attacks' names.
* An attack whose ROC has at most one operating point between (0, 0) and (1, 1) (a
  label-only attack such as ``gap``, or any attack on label-only outputs) is drawn as that
  point, not as a line.
* A panel keeps at most :data:`MAX_LINES` lines, the highest AUCs first; the rest are named
  in a caption (their figures are in the tables).
* One figure per model; its panels are the model's mitigations (raw outputs first), each for
  one member set: the training set for a model that was trained, the forget set for an
  unlearned or retrained model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from mia_audit.entries import is_applicable

from .readers import UNLEARNING_ROLES, model_info, model_names

MAX_LINES = 6
_SAME = 1e-9  # ROC points are rank statistics: equal rankings give equal points to rounding


@dataclass(frozen=True)
class Curve:
    """One line (or point) of a panel: the attacks it stands for and the entry it draws."""

    attacks: tuple[str, ...]
    entry: Mapping[str, Any]
    point: bool

    @property
    def label(self) -> str:
        return " = ".join(self.attacks)


@dataclass(frozen=True)
class Panel:
    title: str
    mitigation: str
    members: str
    curves: tuple[Curve, ...]
    omitted: tuple[str, ...]  # labels of curves beyond MAX_LINES


def has_roc(entry: Mapping[str, Any]) -> bool:
    """Whether a result entry has a curve to draw (entries marked ``"applicable": false`` have none)."""
    roc = entry.get("roc")
    return (is_applicable(entry) and isinstance(roc, Mapping) and isinstance(roc.get("fpr"), list)
            and isinstance(roc.get("tpr"), list) and len(roc["fpr"]) == len(roc["tpr"]) > 0)


def interior_points(entry: Mapping[str, Any]) -> list[tuple[float, float]]:
    """The ROC's distinct corner points other than (0, 0) and (1, 1)."""
    roc = entry["roc"]
    seen = []
    for x, y in zip(roc["fpr"], roc["tpr"]):
        p = (float(x), float(y))
        if p in ((0.0, 0.0), (1.0, 1.0)) or (seen and seen[-1] == p):
            continue
        seen.append(p)
    return seen


def is_operating_point(entry: Mapping[str, Any]) -> bool:
    """An ROC with at most one interior point: a hard yes/no attack, drawn as a point."""
    return len(interior_points(entry)) <= 1


def same_curve(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two entries have the same ROC (the same AUC and the same points, to rounding)."""
    if abs(float(a["auc"]) - float(b["auc"])) > _SAME:
        return False
    ra, rb = a["roc"], b["roc"]
    if len(ra["fpr"]) != len(rb["fpr"]):
        return False
    return all(abs(float(x) - float(y)) <= _SAME for key in ("fpr", "tpr") for x, y in zip(ra[key], rb[key]))


def curves_of(entries: Sequence[Mapping[str, Any]]) -> list[Curve]:
    """The panel's curves: entries with the same ROC merged (in the given order), then sorted by
    AUC, highest first."""
    groups: list[list[Mapping[str, Any]]] = []
    for e in entries:
        if not has_roc(e):
            continue
        for g in groups:
            if same_curve(g[0], e):
                g.append(e)
                break
        else:
            groups.append([e])
    curves = [Curve(tuple(x["attack"] for x in g), g[0], is_operating_point(g[0])) for g in groups]
    return sorted(curves, key=lambda c: -float(c.entry["auc"]))


def panel_members(result: Mapping[str, Any], model: str, *, drawn: bool = True) -> str | None:
    """The member set a model's ROC figure (and its mitigation rows) show: forget for unlearned
    and retrained models, train for the others (or the only member set the model has);
    ``drawn=True`` counts only entries with a curve to draw, ``False`` every applicable one."""
    sets = [e["members"] for e in result.get("results") or [] if e.get("model") == model
            and (has_roc(e) if drawn else is_applicable(e))]
    if not sets:
        return None
    preferred = "forget" if model_info(result, model).get("role") in UNLEARNING_ROLES else "train"
    return preferred if preferred in sets else sets[0]


def model_panels(result: Mapping[str, Any], model: str) -> list[Panel]:
    """The panels of ``model``'s ROC figure: one per mitigation (raw outputs first)."""
    members = panel_members(result, model)
    if members is None:
        return []
    by_mitigation: dict[str, list[Mapping[str, Any]]] = {}
    for e in result.get("results") or []:
        if e.get("model") == model and e.get("members") == members and has_roc(e):
            by_mitigation.setdefault(e.get("mitigation", "none"), []).append(e)
    order = sorted(by_mitigation, key=lambda m: (m != "none", list(by_mitigation).index(m)))
    panels = []
    for mitigation in order:
        curves = curves_of(by_mitigation[mitigation])
        title = ("raw outputs" if mitigation == "none" else mitigation) + f": {members} vs test"
        panels.append(Panel(title, mitigation, members, tuple(curves[:MAX_LINES]),
                            tuple(c.label for c in curves[MAX_LINES:])))
    return panels


def figure_models(result: Mapping[str, Any]) -> list[str]:
    """The models that get an ROC figure, in the result's order."""
    return [m for m in model_names(result) if panel_members(result, m) is not None]


__all__ = ["Curve", "Panel", "MAX_LINES", "curves_of", "figure_models", "has_roc", "interior_points",
           "is_operating_point", "model_panels", "panel_members", "same_curve"]

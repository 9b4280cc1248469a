"""ROC curves on log-log axes, drawn from a result JSON alone: one figure per model.

What is drawn (merged curves, operating points, at most six lines a panel, the member set
per model) is decided in :mod:`mia_audit.reports.curves`; this module only draws it. The
same figures go into the PDF and into ``roc-<model>.png`` beside it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from .curves import Curve, Panel, figure_models, model_panels
from .figures import ROW_WIDTH_IN
from .png import figure_png, pyplot
from .result_json import write_bytes_atomic

PANELS_PER_ROW = 3

# Okabe & Ito's colour-blind-safe palette (yellow left out: too pale on white), then two more
# that differ from all of them; the line style of attack i is (i + i // 8) mod 4, so that no two
# of the first 32 attacks share both colour and style.
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B")
_LABEL_WIDTH = 36  # characters of a legend line under a panel a third of the page wide
_DASHES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def attack_styles(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """One colour, line style and marker per attack name, the same in every figure of a report."""
    unique = list(dict.fromkeys(names))
    n = len(_COLOURS)
    return {name: {"color": _COLOURS[i % n], "linestyle": _DASHES[(i + i // n) % len(_DASHES)],
                   "marker": _MARKERS[i % len(_MARKERS)]}
            for i, name in enumerate(unique)}


def report_styles(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return attack_styles([e["attack"] for e in result.get("results") or []])


def wrap_label(text: str, width: int = _LABEL_WIDTH) -> str:
    """``text`` broken into lines of at most ``width`` characters at spaces (longer words stay whole)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) or text


def _draw_curve(ax, curve: Curve, style: Mapping[str, Any], floor: float) -> None:
    e = curve.entry
    label = f"{curve.label} (AUC {float(e['auc']):.3f}" + (", one point)" if curve.point else ")")
    label = wrap_label(label)
    if curve.point:
        from .curves import interior_points

        points = interior_points(e) or [(floor, floor)]
        x, y = points[0]
        ax.plot([max(x, floor)], [max(y, floor)], linestyle="none", marker=style["marker"], markersize=6,
                color=style["color"], label=label)
        return
    fpr = [max(float(x), floor) for x in e["roc"]["fpr"]]
    tpr = [max(float(y), floor) for y in e["roc"]["tpr"]]
    ax.step(fpr, tpr, where="post", label=label, linewidth=1.4, color=style["color"], linestyle=style["linestyle"])


def plot_panel(ax, panel: Panel, styles: Mapping[str, Mapping[str, Any]], *, fontsize: float = 5.8) -> None:
    """One panel: its curves, the diagonal, log-log axes, and a legend below the axes."""
    from matplotlib.ticker import LogLocator, NullFormatter

    n0 = max(int(c.entry.get("n_nonmembers") or 1) for c in panel.curves)
    floor = min(1.0 / n0, 1e-3)
    for curve in panel.curves:
        _draw_curve(ax, curve, styles.get(curve.attacks[0], {"color": "k", "linestyle": "-", "marker": "o"}), floor)
    ax.plot([floor, 1], [floor, 1], color="grey", linestyle="--", linewidth=0.8, label="random guess")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # minor ticks at 2 and 5 only: quicker to lay out, as readable
        axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlim(floor, 1)
    ax.set_ylim(floor, 1.02)
    ax.set_xlabel("false positive rate", fontsize=7)
    ax.set_ylabel("true positive rate", fontsize=7)
    ax.tick_params(labelsize=6.5)
    ax.set_title(panel.title, fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if panel.omitted:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], linestyle="none"))
        labels.append(wrap_label(f"not drawn (lower AUC): {', '.join(panel.omitted)}"))
    ax.legend(handles, labels, fontsize=fontsize, loc="upper center", bbox_to_anchor=(0.5, -0.27), frameon=False,
              handlelength=2.2, borderaxespad=0, labelspacing=0.3)


def _legend_lines(panel: Panel) -> int:
    lines = [wrap_label(f"{c.label} (AUC 0.000, one point)") for c in panel.curves]
    if panel.omitted:
        lines.append(wrap_label(f"not drawn (lower AUC): {', '.join(panel.omitted)}"))
    return sum(text.count("\n") + 1 for text in lines) + 1


def model_figure(panels: Sequence[Panel], styles: Mapping[str, Mapping[str, Any]], *, title: str):
    """A matplotlib Figure: the panels of one model, in rows of up to three."""
    plt = pyplot()
    cols = min(PANELS_PER_ROW, max(1, len(panels)))
    rows = (len(panels) + cols - 1) // cols
    panel_in = ROW_WIDTH_IN / PANELS_PER_ROW
    width = panel_in * cols  # a model with one or two panels gets a narrower figure: the PDF sets them side by side
    legend_in = 0.105 * max(_legend_lines(p) for p in panels) + 0.5
    axes_in = panel_in * 0.58  # wider than high: three figures of three panels fit on a page
    row_in = axes_in + legend_in
    height = 0.25 + rows * row_in
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        plot_panel(ax, panel, styles)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9, x=0.03 / cols, ha="left", y=1 - 0.05 / height)
    # fixed margins (in inches) instead of tight_layout: one layout pass less, same look
    fig.subplots_adjust(left=0.45 / width, right=1 - 0.1 / width, wspace=0.38 * 3 / (3 + cols - 1) if cols > 1 else 0,
                        top=1 - 0.4 / height, bottom=legend_in / height,
                        hspace=legend_in / axes_in)
    return fig


def model_roc_png(result: Mapping[str, Any], model: str, *, dpi: int = 150,
                  styles: Mapping[str, Mapping[str, Any]] | None = None) -> bytes | None:
    """PNG bytes of ``model``'s ROC figure, or None when it has no curve."""
    panels = model_panels(result, model)
    if not panels:
        return None
    return figure_png(model_figure(panels, styles or report_styles(result), title=f"Model: {model}"), dpi=dpi)


def roc_pngs(result: Mapping[str, Any], *, dpi: int = 130) -> dict[str, bytes]:
    """{model: PNG bytes}, one ROC figure per model that has curves, in the result's order."""
    styles = report_styles(result)
    out = {}
    for model in figure_models(result):
        png = model_roc_png(result, model, dpi=dpi, styles=styles)
        if png is not None:
            out[model] = png
    return out


def roc_file_name(model: str, taken: set[str] | None = None) -> str:
    """``roc-<model>.png`` with the model name made a plain file name (letters, digits, '.', '_',
    '-'); a number is added where two models would get the same name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.") or "model"
    name, i = f"roc-{stem}.png", 2
    while taken is not None and name in taken:
        name, i = f"roc-{stem}-{i}.png", i + 1
    if taken is not None:
        taken.add(name)
    return name


def roc_files(result: Mapping[str, Any], *, dpi: int = 130) -> dict[str, bytes]:
    """{file name: PNG bytes}: ``roc-<model>.png`` per model."""
    taken: set[str] = set()
    return {roc_file_name(model, taken): png for model, png in roc_pngs(result, dpi=dpi).items()}


def is_roc_file(name: str) -> bool:
    """Whether a file name in an output directory is one of ours (``roc.png`` of earlier versions
    included), so that a new output set never carries an old model's curves along."""
    return name == "roc.png" or (name.startswith("roc-") and name.endswith(".png"))


def write_roc_pngs(result: Mapping[str, Any], out_dir: str | Path, *, dpi: int = 130) -> list[Path]:
    """Write ``roc-<model>.png`` files into ``out_dir`` (each atomically)."""
    return [write_bytes_atomic(Path(out_dir) / name, png) for name, png in roc_files(result, dpi=dpi).items()]


__all__ = ["ROW_WIDTH_IN", "attack_styles", "is_roc_file", "model_figure", "model_roc_png", "plot_panel",
           "report_styles", "roc_file_name", "roc_files", "roc_pngs", "write_roc_pngs"]

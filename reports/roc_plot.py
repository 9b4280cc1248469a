"""ROC curves on log-log axes, drawn from a result JSON alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mia_audit.entries import is_applicable

from .png import figure_png, pyplot
from .result_json import write_bytes_atomic


def has_roc(entry: dict[str, Any]) -> bool:
    """Whether a result entry has a curve to draw (entries marked ``"applicable": false`` have none)."""
    return is_applicable(entry) and isinstance(entry.get("roc"), dict)


def _panels(result: dict[str, Any]) -> list[tuple[str, str, str, list[dict[str, Any]]]]:
    order: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in result["results"]:
        if has_roc(r):
            order.setdefault((r["model"], r["mitigation"], r["members"]), []).append(r)
    return [(m, mit, mem, rows) for (m, mit, mem), rows in order.items()]


def attack_styles(names: list[str]) -> dict[str, dict[str, Any]]:
    """One colour and line style per attack name, the same in every panel of a report."""
    import matplotlib

    unique = list(dict.fromkeys(names))
    cmap = matplotlib.colormaps["tab10" if len(unique) <= 10 else "tab20"]
    dashes = ["-", "--", "-.", ":"]
    return {name: {"color": cmap(i % cmap.N), "linestyle": dashes[(i // cmap.N) % len(dashes)]}
            for i, name in enumerate(unique)}


def plot_roc_panel(ax, entries: list[dict[str, Any]], *, title: str,
                   styles: dict[str, dict[str, Any]] | None = None, legend_fontsize: float = 7,
                   legend: bool = True) -> None:
    """Draw the ROC curves of ``entries`` (one line per attack) on log-log axes with the diagonal.

    ``legend=False`` leaves the legend to the caller (a figure-level legend, say)."""
    n0 = max(e["n_nonmembers"] for e in entries)
    floor = min(1.0 / n0, 1e-3)
    for e in entries:
        fpr = [max(x, floor) for x in e["roc"]["fpr"]]
        tpr = [max(y, floor) for y in e["roc"]["tpr"]]
        style = (styles or {}).get(e["attack"], {})
        ax.step(fpr, tpr, where="post", label=f"{e['attack']} (AUC {e['auc']:.3f})", linewidth=1.4, **style)
    ax.plot([floor, 1], [floor, 1], color="grey", linestyle="--", linewidth=1, label="random guess")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import LogLocator, NullFormatter

    for axis in (ax.xaxis, ax.yaxis):  # minor ticks at 2 and 5 only: quicker to lay out, as readable
        axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlim(floor, 1)
    ax.set_ylim(floor, 1.02)
    ax.set_xlabel("false positive rate (non-members flagged)")
    ax.set_ylabel("true positive rate (members found)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    if legend:
        ax.legend(fontsize=legend_fontsize, loc="lower right")


def roc_figure(result: dict[str, Any]):
    """A matplotlib Figure: one panel per (model, mitigation, member set), one line per attack."""
    plt = pyplot()
    panels = _panels(result)
    n = max(1, len(panels))
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.6 * rows), squeeze=False)
    styles = attack_styles([e["attack"] for *_, entries in panels for e in entries])
    for ax, (model, mitigation, members, entries) in zip(axes.flat, panels):
        title = f"{model}: {members} vs test"
        if mitigation != "none":
            title += f" [{mitigation}]"
        plot_roc_panel(ax, entries, title=title, styles=styles)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def roc_png_bytes(result: dict[str, Any], *, dpi: int = 130) -> bytes:
    return figure_png(roc_figure(result), dpi=dpi)


def write_roc_png(result: dict[str, Any], path: str | Path, *, dpi: int = 130) -> Path:
    return write_bytes_atomic(path, roc_png_bytes(result, dpi=dpi))

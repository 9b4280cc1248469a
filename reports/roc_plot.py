"""ROC curves on log-log axes, drawn from a result JSON alone."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from .result_json import write_bytes_atomic


def _panels(result: dict[str, Any]) -> list[tuple[str, str, str, list[dict[str, Any]]]]:
    order: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in result["results"]:
        if "roc" in r:
            order.setdefault((r["model"], r["mitigation"], r["members"]), []).append(r)
    return [(m, mit, mem, rows) for (m, mit, mem), rows in order.items()]


def roc_figure(result: dict[str, Any]):
    """A matplotlib Figure: one panel per (model, mitigation, member set), one line per attack."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = _panels(result)
    n = max(1, len(panels))
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.6 * rows), squeeze=False)
    floor = 1e-4
    for ax, (model, mitigation, members, entries) in zip(axes.flat, panels):
        n0 = max(e["n_nonmembers"] for e in entries)
        floor = min(1.0 / n0, 1e-3)
        for e in entries:
            fpr = [max(x, floor) for x in e["roc"]["fpr"]]
            tpr = [max(y, floor) for y in e["roc"]["tpr"]]
            ax.step(fpr, tpr, where="post", label=f"{e['attack']} (AUC {e['auc']:.3f})", linewidth=1.4)
        ax.plot([floor, 1], [floor, 1], color="grey", linestyle="--", linewidth=1, label="random guess")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(floor, 1)
        ax.set_ylim(floor, 1.02)
        ax.set_xlabel("false positive rate (non-members flagged)")
        ax.set_ylabel("true positive rate (members found)")
        title = f"{model}: {members} vs test"
        if mitigation != "none":
            title += f" [{mitigation}]"
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def roc_png_bytes(result: dict[str, Any], *, dpi: int = 130) -> bytes:
    import matplotlib.pyplot as plt

    fig = roc_figure(result)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


def write_roc_png(result: dict[str, Any], path: str | Path, *, dpi: int = 130) -> Path:
    return write_bytes_atomic(path, roc_png_bytes(result, dpi=dpi))

"""Score histograms of the PDF report (matplotlib, Agg backend), drawn from result entries alone.

Every function returns PNG bytes and closes its figure. Panels come in rows of at most
two so that the report can place them row by row and break pages between rows. The ROC
figures are in :mod:`mia_audit.reports.roc_plot`.
"""

from __future__ import annotations

from typing import Any, Sequence

from .png import figure_png, pyplot

#: Width of one figure row in inches: the printable width of an A4 page with 10 mm margins.
ROW_WIDTH_IN = 7.48


def valid_histogram(hist: Any) -> bool:
    """Whether ``hist`` is ``{"bins": edges, "members": counts, "nonmembers": counts}`` with
    one more edge than counts."""
    if not isinstance(hist, dict):
        return False
    bins, mem, non = hist.get("bins"), hist.get("members"), hist.get("nonmembers")
    if not all(isinstance(v, list) for v in (bins, mem, non)):
        return False
    if len(bins) < 2 or len(mem) != len(bins) - 1 or len(non) != len(bins) - 1:
        return False
    return all(isinstance(v, (int, float)) for v in (*bins, *mem, *non))


def histogram_row_png(panels: Sequence[tuple[str, dict[str, Any], str]], *, dpi: int = 150) -> bytes:
    """One row of at most two score histograms, each ``(title, histogram, members_label)``.

    Counts are drawn as shares of each group (members and non-members differ in size).
    """
    plt = pyplot()
    if not 1 <= len(panels) <= 2:
        raise ValueError(f"a row holds one or two panels; got {len(panels)}")
    fig, axes = plt.subplots(1, 2, figsize=(ROW_WIDTH_IN, 2.6), squeeze=False)
    for ax, (title, hist, members_label) in zip(axes.flat, panels):
        edges = [float(x) for x in hist["bins"]]
        shares = {}
        for key in ("members", "nonmembers"):
            counts = [float(c) for c in hist[key]]
            total = sum(counts) or 1.0
            shares[key] = ([c / total for c in counts], int(sum(counts)))
        peak = max(max(v[0], default=0.0) for v in shares.values())
        positive = [x for v in shares.values() for x in v[0] if x > 0]
        log = peak > 0.3 and bool(positive)  # most records in one bin: a log scale shows the tails
        floor = min(positive) / 2 if log else 0.0
        groups = (("members", members_label, "tab:red"), ("nonmembers", "non-members (test)", "tab:blue"))
        for key, label, color in groups:
            values, n = shares[key]
            ax.stairs(values, edges, baseline=floor, fill=True, alpha=0.35, color=color, label=f"{label}, n={n}")
            ax.stairs(values, edges, baseline=floor, color=color, linewidth=1.0)
        if log:
            ax.set_yscale("log", nonpositive="clip")
            ax.set_ylim(floor, 1.5 * peak)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("attack score (higher = more likely a member)", fontsize=8)
        ax.set_ylabel("share of records" + (" (log scale)" if log else ""), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6.5, loc="upper left")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    two_lines = any("\n" in title for title, _, _ in panels)
    fig.subplots_adjust(left=0.6 / ROW_WIDTH_IN, right=1 - 0.12 / ROW_WIDTH_IN, wspace=0.3,
                        bottom=0.5 / 2.6, top=1 - (0.45 if two_lines else 0.3) / 2.6)
    return figure_png(fig, dpi=dpi)

"""matplotlib figures to PNG bytes (Agg backend), for every renderer that draws."""

from __future__ import annotations

import io


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig, *, dpi: int) -> bytes:
    """The figure as PNG bytes; the figure is closed afterwards."""
    plt = pyplot()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


__all__ = ["pyplot", "figure_png"]

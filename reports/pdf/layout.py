"""The PDF's page furniture: fonts and text sanitising, headings, paragraphs, tables, images."""

from __future__ import annotations

import math
import unicodedata
from typing import Any, Iterable

# ---------------------------------------------------------------------------------------------
# Text for the PDF core fonts, and configuration summaries
# ---------------------------------------------------------------------------------------------

_REPLACEMENTS = {
    "\u03b5": "eps", "\u0190": "eps", "\u03b4": "delta", "\u03b1": "alpha", "\u03b2": "beta",
    "\u03bb": "lambda", "\u03c3": "sigma", "\u03c4": "tau", "\u03b8": "theta", "\u03bc": "mu",
    "\u03c0": "pi", "\u0394": "Delta", "\u2264": "<=", "\u2265": ">=", "\u2260": "!=",
    "\u2248": "~", "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2026": "...", "\u2022": "-",
    "\u2192": "->", "\u2190": "<-", "\u21d2": "=>", "\u00d7": "x", "\u221a": "sqrt",
    "\u221e": "inf", "\u2080": "0", "\u2081": "1", "\u2082": "2", "\u2083": "3", "\u2009": " ",
    "\u202f": " ", "\u2007": " ", "\u200b": "", "\ufeff": "", "\u2713": "ok", "\u2717": "x",
}


def sanitize(text: str) -> str:
    """``text`` written with Latin-1 characters only (the PDF core fonts' encoding):
    known symbols become ASCII words (eps, <=, ->), accents outside Latin-1 are dropped,
    anything else becomes '?'."""
    out = []
    for ch in str(text):
        if ch in _REPLACEMENTS:
            out.append(_REPLACEMENTS[ch])
        elif ch in "\n\t" or (" " <= ch <= "\xff" and not "\x7f" <= ch <= "\x9f"):
            out.append(ch)
        else:
            plain = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1")
            plain = "".join(c for c in plain if " " <= c <= "\xff" and not "\x7f" <= c <= "\x9f")
            out.append(plain or "?")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Layout helpers
# ---------------------------------------------------------------------------------------------

GREY = (110, 110, 110)
RED = (170, 0, 0)
HEAD_FILL = (228, 231, 236)


def pdf_class():
    from fpdf import FPDF

    class AuditPDF(FPDF):
        running_head = ""

        def normalize_text(self, text: str) -> str:  # every text goes through here
            return super().normalize_text(sanitize(text))

        def header(self) -> None:
            if self.page_no() > 1 and self.running_head:
                self.set_font("Helvetica", size=7.5)
                self.set_text_color(*GREY)
                self.cell(0, 4, self.running_head, new_x="LMARGIN", new_y="NEXT")
                self.set_text_color(0, 0, 0)
                self.ln(2)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Helvetica", size=8)
            self.set_text_color(*GREY)
            self.cell(0, 6, f"page {self.page_no()} of {{nb}}", align="C")
            self.set_text_color(0, 0, 0)

    return AuditPDF


class Doc:
    """The fpdf2 document plus the few layout moves the sections share."""

    def __init__(self, pdf, *, dpi: int):
        self.pdf = pdf
        self.dpi = dpi

    # text -------------------------------------------------------------------------------------
    def heading(self, text: str, *, size: float = 14, space: float = 4, keep: float = 25) -> None:
        """A bold heading, moved to the next page unless ``keep`` mm of what follows fit below it."""
        pdf = self.pdf
        pdf.set_font("Helvetica", "B", size)
        height = pdf.multi_cell(0, size * 0.45, text, dry_run=True, output="HEIGHT")
        self.need(height + space + 1.5 + keep)
        if pdf.get_y() > pdf.t_margin + 12:
            pdf.ln(space)
        pdf.multi_cell(0, size * 0.45, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)

    def subheading(self, text: str, *, keep: float = 25) -> None:
        self.heading(text, size=11, space=3, keep=keep)

    def para(self, text: str, *, size: float = 9.5, style: str = "", color=None, h: float | None = None) -> None:
        pdf = self.pdf
        pdf.set_font("Helvetica", style, size)
        if color:
            pdf.set_text_color(*color)
        pdf.multi_cell(0, h or size * 0.47, text.replace(" %", "\xa0%"), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.ln(1.2)

    def bullets(self, items: Iterable[str], *, size: float = 8.5) -> None:
        pdf = self.pdf
        pdf.set_font("Helvetica", "", size)
        for item in items:
            x = pdf.l_margin
            pdf.set_x(x + 2)
            pdf.cell(4, size * 0.45, "-")
            pdf.multi_cell(pdf.epw - 6, size * 0.45, item, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def key_values(self, pairs: Iterable[tuple[str, str]], *, size: float = 9, key_width: float = 38,
                   mono_keys: Iterable[str] = ()) -> None:
        pdf = self.pdf
        mono = set(mono_keys)
        for key, value in pairs:
            pdf.set_font("Helvetica", "B", size)
            y = pdf.get_y()
            if y + size * 0.5 > pdf.page_break_trigger:
                pdf.add_page()
            pdf.multi_cell(key_width, size * 0.47, key, new_x="RIGHT", new_y="TOP")
            if key in mono:
                pdf.set_font("Courier", "", size - 0.5)
            else:
                pdf.set_font("Helvetica", "", size)
            pdf.multi_cell(pdf.epw - key_width, size * 0.47, value, align="L", new_x="LMARGIN", new_y="NEXT",
                           wrapmode="CHAR" if key in mono else "WORD")
            pdf.ln(0.6)

    def need(self, height: float) -> None:
        """Start a new page unless ``height`` mm are left on this one."""
        if self.pdf.get_y() + height > self.pdf.page_break_trigger:
            self.pdf.add_page()

    def image_size(self, png: bytes, *, width_in: float) -> tuple[float, float]:
        """Width and height in mm that :meth:`image` gives ``png``."""
        w_px, h_px = png_pixels(png)
        width = min(self.pdf.epw, width_in * 25.4)
        return width, width * h_px / w_px

    def image(self, png: bytes, *, width_in: float) -> None:
        import io

        width, height = self.image_size(png, width_in=width_in)
        self.need(height + 1)
        self.pdf.image(io.BytesIO(png), x=self.pdf.l_margin, w=width, h=height)
        self.pdf.ln(1)

    def images_in_rows(self, pngs: list[bytes]) -> None:
        """Place figures left to right at their size (pixels / ``dpi``, a figure as wide as the
        printable width fills it), starting a row when the next one does not fit beside the last."""
        import io

        pdf = self.pdf
        row: list[tuple[bytes, float, float]] = []

        def flush() -> None:
            if not row:
                return
            height = max(h for _, _, h in row)
            self.need(height + 1)
            x, y = pdf.l_margin, pdf.get_y()
            for png, w, h in row:
                pdf.image(io.BytesIO(png), x=x, y=y, w=w, h=h)
                x += w
            pdf.set_y(y + height + 1)
            row.clear()

        for png in pngs:
            w_px, h_px = png_pixels(png)
            w = min(pdf.epw, w_px / self.dpi * 25.4)
            h = w * h_px / w_px
            if row and sum(x[1] for x in row) + w > pdf.epw + 0.5:
                flush()
            row.append((png, w, h))
        flush()

    # tables -----------------------------------------------------------------------------------
    def table(self, header: list[str], rows: list[list[Any]], *, aligns: list[str] | None = None,
              max_font: float = 8.5, min_font: float = 5.5, full_width: bool = False) -> None:
        """A table that never runs off the page: the font shrinks (down to ``min_font``) until
        the longest word of each column fits, then columns share the width in proportion to
        their content and wrap. A cell is a string, or ``(text, FontFace)`` for a styled cell."""
        from fpdf.fonts import FontFace

        pdf = self.pdf
        epw = pdf.epw
        pad = 1.0
        texts = [[c[0] if isinstance(c, tuple) else str(c) for c in row] for row in rows]
        ncol = len(header)
        font = max_font
        comfort = 6.5  # shrink to this size before wrapping cells; below it only to fit the longest words
        while True:
            natural, minimal = self._measure(header, texts, font, pad)
            if sum(natural) <= epw or font <= min_font or (font <= comfort and sum(minimal) <= epw):
                break
            font = max(min_font, font - 0.5)
        if sum(natural) <= epw:
            widths = list(natural)
            if full_width:
                widths = [w * epw / sum(widths) for w in widths]
        elif sum(minimal) <= epw:  # columns that need little extra get all of it; the widest texts wrap
            spare = epw - sum(minimal)
            widths = list(minimal)
            stretch = [n - m for n, m in zip(natural, minimal)]
            pending = []
            for i in sorted(range(ncol), key=lambda i: stretch[i]):
                if not pending and stretch[i] <= spare:
                    widths[i] += stretch[i]
                    spare -= stretch[i]
                else:
                    pending.append(i)
            total = sum(stretch[i] for i in pending) or 1.0
            for i in pending:
                widths[i] += spare * stretch[i] / total
        else:  # even the smallest font cannot fit every word: the longest words break, short ones stay
            lo, hi = 0.0, max(minimal)
            for _ in range(50):  # the level c with sum(min(minimal, c)) = epw
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if sum(min(m, mid) for m in minimal) <= epw else (lo, mid)
            widths = [min(m, lo) for m in minimal]
        aligns = aligns or ["LEFT"] * ncol
        scale = min(1.0, (epw - 0.01) / sum(widths))  # rounding must not push the table past the margin
        widths = [w * scale for w in widths]
        self.need(font * 0.45 * 3 + 4)
        pdf.set_font("Helvetica", "", font)
        pdf.set_draw_color(170, 170, 170)
        pdf.set_line_width(0.15)
        with pdf.table(width=sum(widths), col_widths=widths, align="LEFT", text_align=aligns,
                       line_height=font * 0.42, padding=(0.7, pad), v_align="MIDDLE",
                       headings_style=FontFace(emphasis="BOLD", fill_color=HEAD_FILL),
                       wrapmode="WORD") as table:
            head = table.row()
            for h in header:
                head.cell(h)
            for row in rows:
                r = table.row()
                for c in row:
                    if isinstance(c, tuple):
                        r.cell(c[0], style=c[1])
                    else:
                        r.cell(str(c))
        pdf.set_draw_color(0, 0, 0)
        pdf.ln(1.5)

    def _measure(self, header, texts, font, pad) -> tuple[list[float], list[float]]:
        pdf = self.pdf
        ncol = len(header)
        natural = [0.0] * ncol
        minimal = [0.0] * ncol
        for is_head, row in [(True, header)] + [(False, r) for r in texts]:
            pdf.set_font("Helvetica", "B" if is_head else "", font)
            for i, text in enumerate(row):
                for line in str(text).split("\n"):
                    natural[i] = max(natural[i], pdf.get_string_width(line))
                    for word in line.split(" "):
                        minimal[i] = max(minimal[i], pdf.get_string_width(word))
        extra = 2 * pad + 1.2
        cap = 0.3 * pdf.epw  # longer words (a very long model name) are broken inside, not made room for
        return [n + extra for n in natural], [min(m, cap) + extra for m in minimal]


def png_pixels(png: bytes) -> tuple[int, int]:
    """Width and height in pixels of a PNG, from its IHDR chunk."""
    import struct

    return struct.unpack(">II", png[16:24])


def bad_cell(text: str):
    from fpdf.fonts import FontFace

    return (text, FontFace(emphasis="BOLD", color=RED))


def muted_cell(text: str):
    from fpdf.fonts import FontFace

    return (text, FontFace(color=GREY))


def fmt_acc(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.3f}"


def fmt_seconds(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def nbsp(text: str) -> str:
    """Keep '[0.519, 0.551]' and '1.55 %' on one line in table cells."""
    return text.replace(", ", ",\xa0").replace(" %", "\xa0%")


def num(value: Any, digits: int) -> str:
    return "-" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.{digits}f}"



def is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)



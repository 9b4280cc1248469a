"""The PDF audit report, rendered from a result JSON alone (no model, no data, no GPU).

:func:`render_pdf` lays out, on A4 pages numbered "page X of Y":

1. a first-page summary: the result's verdict (:mod:`audit.verdict`), what was audited, the worst attack per
   model, the data set and the models, and a signature line;
2. ROC curves on log-log axes, one panel per (model, mitigation, member set);
3. tables of AUC and TPR at each FPR, with confidence intervals and warnings;
4. the unlearner comparison (when the result has unlearned or retrained models);
5. the mitigation effect and its utility cost (when results have a mitigation);
6. score histograms of the strongest attack (when the result carries them);
7. method notes with references;
8. the audit trail: configuration, seeds, versions, device and hashes.

Only aggregate numbers from the result reach the PDF: configuration values that are
long lists of numbers (forget indices, say) are summarised as a count.

matplotlib and fpdf2 are imported inside the functions that need them.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Mapping

from audit.entries import fpr_levels, is_applicable, tpr_at, tpr_ci_at
from audit.errors import bad_value
from audit.verdict import _shorten, verdict_of

from .method_notes import attack_note, unlearner_note
from .result_json import write_bytes_atomic

MEMBER_ORDER = {"train": 0, "forget": 1, "retain": 2}
UNLEARNING_ROLES = ("unlearned", "retrained")

# ---------------------------------------------------------------------------------------------
# Reading result entries (the verdict itself is built in audit.verdict; this module renders it)
# ---------------------------------------------------------------------------------------------


def _fpr_label(fpr: float) -> str:
    """0.001 -> '0.1 %'."""
    return f"{100 * fpr:g} %"


def model_names(result: Mapping[str, Any]) -> list[str]:
    """Models in the order of ``models``, then any others named only in ``results``."""
    names = [m["name"] for m in result.get("models", [])]
    names += [e["model"] for e in result.get("results", []) if e["model"] not in names]
    return list(dict.fromkeys(names))


def model_info(result: Mapping[str, Any], name: str) -> dict[str, Any]:
    for m in result.get("models", []):
        if m.get("name") == name:
            return m
    return {}


def architecture_of(result: Mapping[str, Any], model: Mapping[str, Any]) -> str:
    arch = model.get("architecture")
    if arch:
        return str(arch)
    cfg_model = (result.get("config") or {}).get("model")
    return str(cfg_model.get("name")) if isinstance(cfg_model, dict) and cfg_model.get("name") else "-"


def attack_names(result: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(e["attack"] for e in result.get("results", [])))


def entry_order(result: Mapping[str, Any]):
    models = {n: i for i, n in enumerate(model_names(result))}
    attacks = {n: i for i, n in enumerate(attack_names(result))}
    return lambda e: (models.get(e["model"], 0), e.get("mitigation", "none") != "none", e.get("mitigation", "none"),
                      MEMBER_ORDER.get(e["members"], 9), attacks.get(e["attack"], 0))


def worst_attacks(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The verdict's worst entries per (model, mitigation), each ``by_auc`` / ``by_tpr`` resolved
    to the full result entry (for its confidence intervals); None where the verdict has none."""
    verdict = verdict_of(result)
    index = {(e.get("model"), e.get("mitigation", "none"), e.get("attack"), e.get("members")): e
             for e in result.get("results", [])}
    out = []
    for w in verdict.get("worst") or []:
        row = {"model": w["model"], "mitigation": w["mitigation"], "fpr": w.get("fpr")}
        for key in ("by_auc", "by_tpr"):
            ref = w.get(key)
            row[key] = None if ref is None else index.get((w["model"], w["mitigation"], ref["attack"], ref["members"]))
        out.append(row)
    return out


def model_label(model: str, mitigation: str) -> str:
    return model if mitigation == "none" else f"{model} + {mitigation}"


def fmt_auc(entry: Mapping[str, Any], *, ci: bool = True, sep: str = " ") -> str:
    if not is_applicable(entry):
        return "n/a"
    text = f"{entry['auc']:.3f}"
    interval = entry.get("auc_ci")
    if ci and isinstance(interval, (list, tuple)) and len(interval) == 2 and None not in interval:
        text += f"{sep}[{interval[0]:.3f}, {interval[1]:.3f}]"
    return text


def fmt_tpr(entry: Mapping[str, Any], fpr: float, *, ci: bool = True, sep: str = " ") -> str:
    if not is_applicable(entry):
        return "n/a"
    value = tpr_at(entry, fpr)
    if value is None:
        return "-"
    text = f"{100 * value:.2f} %"
    interval = tpr_ci_at(entry, fpr)
    if ci and interval is not None:
        text += f"{sep}[{100 * interval[0]:.2f}, {100 * interval[1]:.2f}]"
    return text


def format_created(created: Any) -> str:
    """'2026-11-22T12:03:52+00:00' -> '2026-11-22 12:03 UTC'."""
    if not isinstance(created, str) or not created:
        return "date not recorded"
    try:
        when = _dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return created
    if when.tzinfo is None:
        return when.strftime("%Y-%m-%d %H:%M")
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


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


MAX_LIST_NUMBERS = 20
MAX_STRING = 300


def _count_numbers(value: Any) -> int | None:
    """Number of numeric leaves of a (nested) list of numbers, or None if anything else is inside."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return 1
    if isinstance(value, (list, tuple)):
        total = 0
        for v in value:
            n = _count_numbers(v)
            if n is None:
                return None
            total += n
        return total
    return None


def summarise_config(value: Any, key: str = "") -> Any:
    """A copy of ``value`` safe and readable in a report: lists of more than 20 numbers
    become '<N indices>' / '<list of N numbers>' (so no record ids or feature values are
    printed), long lists of other items are cut, long strings are truncated."""
    if isinstance(value, Mapping):
        return {str(k): summarise_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        n = _count_numbers(value)
        if n is not None and n > MAX_LIST_NUMBERS:
            return f"<{n} indices>" if "ind" in key.lower() else f"<list of {n} numbers>"
        if n is None and len(value) > MAX_LIST_NUMBERS:
            head = [summarise_config(v, key) for v in value[:5]]
            return head + [f"<... {len(value) - 5} more items>"]
        return [summarise_config(v, key) for v in value]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + f"... <{len(value)} characters>"
    return value


def pretty_json(value: Any, indent: int = 0, step: int = 2) -> str:
    """JSON with one key per line, but lists and objects of plain values kept on one line
    when short (so a configuration reads compactly)."""
    pad = " " * (indent + step)
    if isinstance(value, Mapping) and value:
        one = json.dumps(value, default=str)
        if len(one) <= 60 and not any(isinstance(v, (Mapping, list, tuple)) and v for v in value.values()):
            return one
        items = [f"{pad}{json.dumps(str(k))}: {pretty_json(v, indent + step, step)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, (list, tuple)) and value:
        one = json.dumps(list(value), default=str)
        if len(one) <= 80:
            return one
        items = [f"{pad}{pretty_json(v, indent + step, step)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(value, default=str)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, Mapping):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _compact_json(value: Any, limit: int = 160) -> str:
    """One-line JSON for table cells: summarised, floats to 4 significant digits, cut at ``limit``."""
    text = json.dumps(_rounded(summarise_config(value)), sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Layout helpers
# ---------------------------------------------------------------------------------------------

GREY = (110, 110, 110)
RED = (170, 0, 0)
HEAD_FILL = (228, 231, 236)


def _pdf_class():
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


class _Doc:
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
        import struct

        w_px, h_px = struct.unpack(">II", png[16:24])  # the PNG IHDR chunk
        width = min(self.pdf.epw, width_in * 25.4)
        return width, width * h_px / w_px

    def image(self, png: bytes, *, width_in: float) -> None:
        import io

        width, height = self.image_size(png, width_in=width_in)
        self.need(height + 1)
        self.pdf.image(io.BytesIO(png), x=self.pdf.l_margin, w=width, h=height)
        self.pdf.ln(1)

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


def _bad(text: str):
    from fpdf.fonts import FontFace

    return (text, FontFace(emphasis="BOLD", color=RED))


def _muted(text: str):
    from fpdf.fonts import FontFace

    return (text, FontFace(color=GREY))


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


_STATUS_COLOURS = {  # fill, border
    "pass": ((222, 242, 225), (40, 120, 60)),
    "fail": ((250, 224, 224), (170, 30, 30)),
    "inconclusive": ((253, 240, 210), (180, 120, 0)),
}


def _violated(verdict: Mapping[str, Any]) -> dict[tuple[str, str, str, str], set[str]]:
    """{(model, mitigation, attack, members): {"AUC", "TPR@0.001", ...}} from the verdict."""
    out: dict[tuple[str, str, str, str], set[str]] = {}
    for v in verdict.get("violations") or []:
        out.setdefault((v["model"], v["mitigation"], v["attack"], v["members"]), set()).add(v["figure"])
    return out


def _section_summary(doc: _Doc, result: Mapping[str, Any], verdict: Mapping[str, Any]) -> None:
    from audit.verdict import Policy

    pdf = doc.pdf
    tool = result.get("tool") or {}
    data = result.get("data") or {}
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 8, "Membership-inference audit report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, 5, f"Data set {data.get('name', '?')}  |  created {format_created(result.get('created'))}  |  "
                         f"{tool.get('name', 'mia-audit')} {tool.get('version', '')}".rstrip(),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(4)

    fill, border = _STATUS_COLOURS[verdict["status"]]
    pdf.set_fill_color(*fill)
    pdf.set_draw_color(*border)
    pdf.set_line_width(0.5)
    pdf.set_font("Helvetica", "B", 11)
    pdf.multi_cell(0, 5.6, verdict["headline"].replace(" %", "\xa0%"), border=1, fill=True, padding=3, align="L",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_line_width(0.2)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_fill_color(255, 255, 255)
    pdf.ln(1.5)
    lines = [str(x) for x in verdict.get("coverage_lines") or []]
    if lines:
        doc.para("What was audited (the outputs the attacks saw, what ran, what could not run and why):",
                 size=8.5, style="B")
        doc.bullets(lines[:12] + ([f"... and {len(lines) - 12} more (see the attack results)"] if len(lines) > 12 else []))
    policy = Policy.from_dict(verdict.get("policy"), where="verdict.policy")
    low_fpr = min(policy.max_tpr_at_fpr, default=None)
    thin = sorted({e["n_nonmembers"] for e in result.get("results", [])
                   if is_applicable(e) and low_fpr and isinstance(e.get("n_nonmembers"), int)
                   and e["n_nonmembers"] * low_fpr < 10})
    note = (f"Policy: {policy.describe()}, for every attack, model, mitigation and member set "
            f"(point estimates; confidence intervals in the tables); every audited model needs "
            f"{policy.describe_require()}.")
    if thin:
        note += (f" Caution: TPR at FPR {_fpr_label(low_fpr)} rests on {min(thin):,} non-members, fewer than the "
                 f"{math.ceil(10 / low_fpr):,} it needs to be measured reliably.")
    doc.para(note, size=8.5, color=GREY)

    # worst attack per model
    worst = worst_attacks(result)
    doc.subheading("Worst attack per model")
    if worst:
        fpr = worst[0]["fpr"]
        head = ["Model", "Highest AUC [95 % CI]", f"Highest TPR at FPR {_fpr_label(fpr)}" if fpr else "Highest TPR"]
        rows = []
        violated = _violated(verdict)
        for w in worst:
            cells: list[Any] = [model_label(w["model"], w["mitigation"])]
            for key, fmt in (("by_auc", lambda e: fmt_auc(e)), ("by_tpr", lambda e: fmt_tpr(e, fpr))):
                e = w[key]
                if e is None:
                    cells.append(_muted("n/a"))
                    continue
                text = f"{e['attack']} ({e['members']} vs test): {_nbsp(fmt(e))}"
                bad = violated.get((e["model"], e.get("mitigation", "none"), e["attack"], e["members"]))
                cells.append(_bad(text) if bad else text)
            rows.append(cells)
        doc.table(head, rows, full_width=True)
    else:
        doc.para("The result holds no attack results.")

    doc.subheading("Data")
    pairs = [("Data set", str(data.get("name", "?"))),
             ("Records", f"n_train {data.get('n_train', '?')}, n_test {data.get('n_test', '?')}, "
                         f"n_forget {data.get('n_forget', '?')}, n_retain {data.get('n_retain', '?')}")]
    if data.get("source"):
        src = str(data["source"]) + (f" (licence {data['license']})" if data.get("license") else "")
        pairs.append(("Source", src))
    doc.key_values(pairs)

    doc.subheading("Models")
    models = result.get("models", [])
    if models:
        head = ["Model", "Role", "Architecture", "Unlearner", "Acc. train", "Acc. test", "Acc. retain",
                "Acc. forget", "Time (s)"]
        rows = []
        for m in models:
            acc = m.get("accuracy") or {}
            rows.append([str(m.get("name")), str(m.get("role", "-")), architecture_of(result, m),
                         str(m.get("unlearner") or "-")]
                        + [_fmt_acc(acc.get(k)) for k in ("train", "test", "retain", "forget")]
                        + [_fmt_seconds(m.get("seconds"))])
        doc.table(head, rows, aligns=["LEFT"] * 4 + ["RIGHT"] * 5, full_width=True)
    else:
        doc.para("The result lists no model.")

    doc.need(30)
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, "Review", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.ln(5)
    pdf.cell(0, 7, "Reviewed by: _________________________________    Date: _______________",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(7)
    pdf.cell(0, 7, "Signature: ___________________________________    Decision:  [ ] accepted   [ ] rejected",
             new_x="LMARGIN", new_y="NEXT")


def _fmt_acc(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.3f}"


def _fmt_seconds(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _section_roc(doc: _Doc, result: Mapping[str, Any]) -> None:
    from .figures import ROW_WIDTH_IN, roc_row_png, styles_for
    from .roc_plot import has_roc

    doc.pdf.add_page()
    doc.heading("ROC curves")
    doc.para("True positive rate (members found) against false positive rate (non-members wrongly flagged), "
             "both on log scales so that the low-FPR region that matters for privacy is visible. The dashed "
             "diagonal is random guessing; curves are exact empirical steps. One panel per model, mitigation "
             "and member set (members vs test records); one line per attack.", size=8.5)
    entries = sorted((e for e in result.get("results", []) if has_roc(e)), key=entry_order(result))
    if not entries:
        doc.para("The result has no ROC data to draw.")
        return
    styles = styles_for([e["attack"] for e in entries])
    for model in model_names(result):
        panels: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for e in entries:
            if e["model"] == model:
                panels.setdefault((e.get("mitigation", "none"), e["members"]), []).append(e)
        if not panels:
            continue
        items = [(f"{members} vs test" + ("" if mit == "none" else f" [{_shorten(mit, 40)}]"), rows)
                 for (mit, members), rows in panels.items()]
        pngs = [roc_row_png(items[i:i + 2], styles=styles, dpi=doc.dpi) for i in range(0, len(items), 2)]
        doc.subheading(f"Model: {model}", keep=doc.image_size(pngs[0], width_in=ROW_WIDTH_IN)[1] + 2)
        for png in pngs:
            doc.image(png, width_in=ROW_WIDTH_IN)


def _section_tables(doc: _Doc, result: Mapping[str, Any], verdict: Mapping[str, Any]) -> None:
    doc.pdf.add_page()
    doc.heading("Attack results")
    fprs = fpr_levels(result)
    levels = {float(e.get("confidence", 0.95)) for e in result.get("results", [])}
    level = f"{100 * levels.pop():g} %" if len(levels) == 1 else "the stated"
    doc.para(f"AUC and TPR at each FPR with {level} bootstrap confidence intervals (in brackets; TPR in %). "
             "adv. = attacker advantage (max TPR - FPR); eps >= = empirical epsilon lower bound (indicative). "
             "Figures above the policy are in bold red; n/a = attack not applicable to this model's outputs.",
             size=8.5)
    results = sorted(result.get("results", []), key=entry_order(result))
    violated = _violated(verdict)
    show_mit = any(e.get("mitigation", "none") != "none" for e in results)
    for model in model_names(result):
        entries = [e for e in results if e["model"] == model]
        if not entries:
            continue
        role = model_info(result, model).get("role")
        doc.subheading(f"Model: {model}" + (f" ({role})" if role else ""))
        head = (["Mitigation"] if show_mit else []) + ["Members", "Attack", "AUC [CI]"] \
            + [f"TPR@{_fpr_label(f)} [CI]" for f in fprs] + ["adv.", "eps >="]
        rows = []
        notes: dict[str, int] = {}
        not_applicable: dict[tuple[str, str, str], list[str]] = {}
        for e in entries:
            bad = violated.get((e["model"], e.get("mitigation", "none"), e["attack"], e["members"]), set())
            n_mem, n_non = e.get("n_members"), e.get("n_nonmembers")
            members = (f"{e['members']} ({n_mem}) vs test ({n_non})" if n_mem is not None and n_non is not None
                       else f"{e['members']} vs test")
            row: list[Any] = ([e.get("mitigation", "none")] if show_mit else []) + [members, e["attack"]]
            if not is_applicable(e):
                row += [_muted("n/a")] * (1 + len(fprs) + 2)
                key = (e["attack"], e.get("mitigation", "none"), str(e.get("reason") or e.get("note") or ""))
                not_applicable.setdefault(key, []).append(e["members"])
            else:
                auc = _nbsp(fmt_auc(e, sep="\n"))
                row.append(_bad(auc) if "AUC" in bad else auc)
                for f in fprs:
                    t = _nbsp(fmt_tpr(e, f, sep="\n"))
                    row.append(_bad(t) if f"TPR@{f:g}" in bad else t)
                row += [_num(e.get("advantage"), 3), _num(e.get("epsilon_lower_bound"), 2)]
            for w in e.get("warnings") or []:
                notes[w] = notes.get(w, 0) + 1
            rows.append(row)
        for (attack, mitigation, reason), member_sets in not_applicable.items():
            where = " and ".join(dict.fromkeys(member_sets)) + " vs test"
            if mitigation != "none":
                where += f", {mitigation}"
            notes[f"{attack} ({where}): not applicable" + (f": {reason}" if reason else "")] = 1
        n_fixed = (1 if show_mit else 0) + 2
        doc.table(head, rows, aligns=["LEFT"] * n_fixed + ["RIGHT"] * (len(head) - n_fixed), full_width=True)
        if notes:
            doc.para("Warnings:", size=8.5, style="B")
            doc.bullets([w if n <= 1 else f"{w} ({n} results)" for w, n in notes.items()])


def _nbsp(text: str) -> str:
    """Keep '[0.519, 0.551]' and '1.55 %' on one line in table cells."""
    return text.replace(", ", ",\xa0").replace(" %", "\xa0%")


def _num(value: Any, digits: int) -> str:
    return "-" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.{digits}f}"


def _section_unlearning(doc: _Doc, result: Mapping[str, Any]) -> None:
    models = result.get("models", [])
    unlearning = [m for m in models if m.get("role") in UNLEARNING_ROLES]
    doc.heading("Unlearner comparison")
    if not unlearning:
        doc.para("No unlearner was run: the result has no unlearned or retrained model.")
        return
    retrained = next((m for m in models if m.get("role") == "retrained"), None)
    rt_seconds = retrained.get("seconds") if retrained else None
    has_rt_time = isinstance(rt_seconds, (int, float)) and rt_seconds > 0
    text = ("Each unlearned model against retraining from scratch without the forget set (the exact answer). "
            "Time share = the method's seconds / the retrained model's seconds. A forget/test accuracy ratio "
            "near the retrained model's means the forget set now looks like unseen data. AUC gap = the "
            "attack's AUC (forget vs test) on the model minus its AUC on the retrained model: near 0 is good, "
            "positive means the forget set is still recognisable.")
    if retrained is None:
        text += " The result has no retrained model, so time shares and gaps are not available."
    elif len([m for m in models if m.get("role") == "retrained"]) > 1:
        text += f" Several retrained models: compared with the first, {retrained['name']}."
    doc.para(text, size=8.5)

    rows = []
    for m in models:
        if m.get("role") not in ("original",) + UNLEARNING_ROLES:
            continue
        acc = m.get("accuracy") or {}
        secs = m.get("seconds")
        share = (f"{100 * secs / rt_seconds:.1f} %" if has_rt_time and isinstance(secs, (int, float))
                 and m.get("role") != "original" else "-")
        f_acc, t_acc = acc.get("forget"), acc.get("test")
        ratio = f"{f_acc / t_acc:.3f}" if _is_num(f_acc) and _is_num(t_acc) and t_acc else "-"
        method = m.get("unlearner") or ("retrain" if m.get("role") == "retrained" else "-")
        rows.append([str(m.get("name")), str(m.get("role")), str(method), _fmt_seconds(secs), share,
                     _fmt_acc(acc.get("retain")), _fmt_acc(f_acc), _fmt_acc(t_acc), ratio])
    doc.table(["Model", "Role", "Method", "Time (s)", "Time share of retraining", "Acc. retain", "Acc. forget",
               "Acc. test", "Forget / test acc."], rows, aligns=["LEFT"] * 3 + ["RIGHT"] * 6, full_width=True)

    forget = [e for e in result.get("results", [])
              if e["members"] == "forget" and e.get("mitigation", "none") == "none"]
    if not forget:
        doc.para("The result has no forget-vs-test attack results, so no AUC gaps are shown.")
        return
    by = {(e["model"], e["attack"]): e for e in forget}
    compared = [m["name"] for m in models if m.get("role") in ("original", "unlearned")]
    head = ["Attack (forget vs test)"]
    if retrained is not None:
        head.append(f"{retrained['name']}: AUC")
    head += [f"{name}: AUC" + (" (gap)" if retrained is not None else "") for name in compared]
    rows = []
    for attack in attack_names(result):
        rt = by.get((retrained["name"], attack)) if retrained else None
        if rt is None and not any((n, attack) in by for n in compared):
            continue
        row: list[Any] = [attack]
        if retrained is not None:
            row.append(fmt_auc(rt, ci=False) if rt else "-")
        for name in compared:
            e = by.get((name, attack))
            if e is None:
                row.append("-")
            elif not is_applicable(e):
                row.append(_muted("n/a"))
            elif rt is not None and is_applicable(rt):
                row.append(f"{e['auc']:.3f} ({e['auc'] - rt['auc']:+.3f})")
            else:
                row.append(f"{e['auc']:.3f}")
        rows.append(row)
    doc.subheading("AUC gap to the retrained model" if retrained is not None else "AUC on the forget set")
    doc.table(head, rows, aligns=["LEFT"] + ["RIGHT"] * (len(head) - 1), full_width=True)


def _section_mitigations(doc: _Doc, result: Mapping[str, Any]) -> None:
    doc.heading("Mitigations")
    results = result.get("results", [])
    mitigated = sorted((e for e in results if e.get("mitigation", "none") != "none"), key=entry_order(result))
    utility = result.get("mitigations")
    if not mitigated:
        doc.para("No mitigation was evaluated: every attack ran on the models' raw outputs.")
        return
    fprs = fpr_levels(result)
    t_fpr = 0.01 if any(abs(f - 0.01) < 1e-12 for f in fprs) else (fprs[len(fprs) // 2] if fprs else None)
    t_lab = f"TPR@{_fpr_label(t_fpr)}" if t_fpr is not None else "TPR"
    doc.para(f"Each attack with and without the mitigation, on the same model and records. Gain = value without "
             f"minus value with (positive = less leakage). {t_lab} in %. n/a = the attack does not apply to the "
             "mitigated outputs (for instance a loss attack against label-only outputs).", size=8.5)
    base = {(e["model"], e["attack"], e["members"]): e for e in results if e.get("mitigation", "none") == "none"}
    rows = []
    for e in mitigated:
        b = base.get((e["model"], e["attack"], e["members"]))
        row: list[Any] = [e["model"], e["mitigation"], e["members"], e["attack"]]
        auc_b = fmt_auc(b, ci=False) if b else "-"
        auc_m = fmt_auc(e, ci=False)
        gain = (f"{b['auc'] - e['auc']:+.3f}" if b and is_applicable(b) and is_applicable(e) else "n/a")
        tb = tpr_at(b, t_fpr) if b and is_applicable(b) and t_fpr is not None else None
        tm = tpr_at(e, t_fpr) if is_applicable(e) and t_fpr is not None else None
        row += [auc_b, auc_m if is_applicable(e) else _muted("n/a"), gain if gain != "n/a" else _muted("n/a"),
                "-" if tb is None else (f"{100 * tb:.2f}" if b and is_applicable(b) else "n/a"),
                f"{100 * tm:.2f}" if tm is not None else _muted("n/a"),
                f"{100 * (tb - tm):+.2f}" if tb is not None and tm is not None else _muted("n/a")]
        rows.append(row)
    doc.table(["Model", "Mitigation", "Members", "Attack", "AUC without", "AUC with", "AUC gain",
               f"{t_lab} without", f"{t_lab} with", f"{t_lab} gain"], rows,
              aligns=["LEFT"] * 4 + ["RIGHT"] * 6, full_width=True)

    doc.subheading("Utility cost")
    if not isinstance(utility, list) or not utility:
        doc.para("No utility cost was evaluated: the result has no 'mitigations' list with the accuracy of the "
                 "mitigated models.")
        return
    rows = []
    for item in utility:
        if not isinstance(item, Mapping):
            continue
        model = str(item.get("model", "-"))
        before = (model_info(result, model).get("accuracy") or {}).get("test")
        after = (item.get("accuracy") or {}).get("test") if isinstance(item.get("accuracy"), Mapping) else None
        cost = (f"{before - after:+.3f}" if _is_num(before) and _is_num(after) else "-")
        rows.append([str(item.get("label") or item.get("name", "-")), model, _fmt_acc(before), _fmt_acc(after), cost,
                     _num(item.get("ece_before"), 3), _num(item.get("ece"), 3),
                     _compact_json(item.get("params") or {}, 120)])
    doc.para("Accuracy cost = test accuracy without minus with the mitigation (positive = utility lost). "
             "ECE = expected calibration error on the test set ('-' where the outputs carry no probabilities).",
             size=8.5)
    doc.table(["Mitigation", "Model", "Test acc. without", "Test acc. with", "Accuracy cost", "ECE without",
               "ECE with", "Parameters"],
              rows, aligns=["LEFT", "LEFT"] + ["RIGHT"] * 5 + ["LEFT"], full_width=True)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _section_histograms(doc: _Doc, result: Mapping[str, Any]) -> None:
    from .figures import ROW_WIDTH_IN, histogram_row_png, valid_histogram

    title = "Score distributions of the strongest attack"
    results = [e for e in result.get("results", []) if e.get("mitigation", "none") == "none" and is_applicable(e)]
    if not any(valid_histogram(e.get("histogram")) for e in results):
        doc.heading(title)
        doc.para("The result has no histogram data, so no score distributions are shown.")
        return
    key = entry_order(result)
    blocks = []  # (model, attack, [png, ...])
    for model in model_names(result):
        entries = [e for e in results if e["model"] == model]
        if not entries:
            continue
        strongest = max(entries, key=lambda e: e["auc"])
        attack = strongest["attack"]
        same = sorted((e for e in entries if e["attack"] == attack), key=key)
        panels = []
        for e in same:
            if valid_histogram(e.get("histogram")):
                caption = f"{_shorten(attack, 40)}: {e['members']} vs test (AUC {e['auc']:.3f})"
                if len(caption) > 44:  # keep the panel title inside its panel
                    caption = caption.replace(": ", "\n", 1)
                panels.append((caption, e["histogram"], f"members ({e['members']})"))
        blocks.append((model, attack, [histogram_row_png(panels[i:i + 2], dpi=doc.dpi)
                                       for i in range(0, len(panels), 2)]))
    first = next((pngs[0] for _, _, pngs in blocks if pngs), None)
    first_h = doc.image_size(first, width_in=ROW_WIDTH_IN)[1] if first else 0.0
    doc.heading(title, keep=first_h + 30)
    doc.para("For each model, the attack with the highest AUC: the share of member and of non-member records "
             "in each score bin (scores beyond the 0.5 % and 99.5 % pooled quantiles are counted in the end "
             "bins). Well-separated distributions mean the attack tells members apart.", size=8.5)
    for model, attack, pngs in blocks:
        keep = doc.image_size(pngs[0], width_in=ROW_WIDTH_IN)[1] + 2 if pngs else 10
        doc.subheading(f"Model: {model} - strongest attack: {attack}", keep=keep)
        if not pngs:
            doc.para(f"The result has no histogram data for {attack} on {model}.")
            continue
        for png in pngs:
            doc.image(png, width_in=ROW_WIDTH_IN)


def _section_method_notes(doc: _Doc, result: Mapping[str, Any]) -> None:
    doc.heading("Method notes")
    attacks = attack_names(result)
    unlearners: dict[str, Any] = {}
    for m in result.get("models", []):
        name = m.get("unlearner") or ("retrain" if m.get("role") == "retrained" else None)
        if name and (name not in unlearners or not unlearners[name]):
            unlearners[str(name)] = m.get("reference")
    if attacks:
        doc.subheading("Attacks")
        for a in attacks:
            _note(doc, a, attack_note(a))
    if unlearners:
        doc.subheading("Unlearning methods")
        for u, reference in unlearners.items():
            _note(doc, u, unlearner_note(u, reference))
    doc.para("Scores: for every attack a higher score means 'more likely a member'. Thresholds of threshold "
             "attacks are chosen on the evaluation data (attacker-optimistic). TPR at FPR is the exact empirical "
             "value, never interpolated.", size=8.5, color=GREY)


def _note(doc: _Doc, name: str, text: str) -> None:
    pdf = doc.pdf
    doc.need(14)
    pdf.set_font("Helvetica", "B", 9)
    pdf.multi_cell(0, 4.4, name, new_x="LMARGIN", new_y="NEXT")
    doc.para(text, size=8.5)


def _section_trail(doc: _Doc, result: Mapping[str, Any]) -> None:
    doc.pdf.add_page()
    doc.heading("Audit trail")
    tool = result.get("tool") or {}
    env = result.get("environment") or {}
    data = result.get("data") or {}
    config = result.get("config") or {}
    pairs = [("Created", format_created(result.get("created"))),
             ("Tool", f"{tool.get('name', '?')} {tool.get('version', '?')} (result schema "
                      f"v{result.get('schema_version', '?')})")]
    seeds = []
    if isinstance(config, Mapping) and "seed" in config:
        seeds.append(f"seed {config['seed']}")
    if isinstance(result.get("seeds"), Mapping):
        seeds += [f"{k} {v}" for k, v in result["seeds"].items()]
    pairs.append(("Seeds", ", ".join(seeds) or "not recorded"))
    device = env.get("device", "?")
    if isinstance(config, Mapping) and config.get("device") not in (None, device):
        device = f"{device} (requested: {config['device']})"
    pairs.append(("Device", str(device)))
    versions = ", ".join(f"{k} {v if v is not None else '-'}" for k, v in env.items() if k not in ("device",))
    pairs.append(("Versions", versions or "not recorded"))
    pairs.append(("Data", f"{data.get('name', '?')}: n_train {data.get('n_train', '?')}, n_test "
                          f"{data.get('n_test', '?')}, n_forget {data.get('n_forget', '?')}, n_retain "
                          f"{data.get('n_retain', '?')}"))
    pairs.append(("Data sha256", str(data.get("sha256", "not recorded"))))
    if data.get("preprocessing"):
        text = str(data["preprocessing"])
        pairs.append(("Preprocessing", text if len(text) <= 1500 else text[:1500] + " ..."))
    doc.key_values(pairs, size=8.5, mono_keys=("Data sha256",))

    models = result.get("models", [])
    if models:
        doc.subheading("Model hashes (sha256)")
        doc.table(["Model", "Role", "sha256"],
                  [[str(m.get("name")), str(m.get("role", "-")), str(m.get("sha256") or "not recorded")]
                   for m in models], max_font=8)

    text = pretty_json(summarise_config(config))
    pdf = doc.pdf
    pdf.set_font("Courier", "", 7.5)
    height = pdf.multi_cell(0, 3.3, text, wrapmode="CHAR", dry_run=True, output="HEIGHT")
    page_room = pdf.page_break_trigger - pdf.t_margin - 30
    doc.subheading("Configuration", keep=height + 12 if height + 12 <= page_room else 25)
    doc.para("As given to the runner; lists of more than 20 numbers (such as forget-set indices) are "
             "summarised as a count, long texts are shortened.", size=8, color=GREY)
    pdf.set_font("Courier", "", 7.5)
    pdf.set_fill_color(246, 246, 246)
    pdf.multi_cell(0, 3.3, text, fill=True, wrapmode="CHAR", new_x="LMARGIN", new_y="NEXT")


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def render_pdf(result: dict[str, Any], *, dpi: int = 150) -> bytes:
    """The PDF audit report of ``result`` (a schema-v1 result dict), as bytes.

    The first page renders the result's ``verdict`` section (built by the pipeline, see
    :mod:`audit.verdict`; a result without one is refused: ``mia-audit report`` adds it).
    ``dpi`` is the resolution of the embedded figures. ``result`` is not modified.
    """
    if not isinstance(result, Mapping) or not isinstance(result.get("results"), list):
        raise bad_value("result", "a result dict (schema v1) with a 'results' list", type(result).__name__)
    verdict = verdict_of(result)
    pdf = _pdf_class()(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(10, 12, 10)
    pdf.set_auto_page_break(True, margin=16)
    data = result.get("data") or {}
    pdf.running_head = (f"Membership-inference audit - data set {data.get('name', '?')} - "
                        f"{format_created(result.get('created'))}")
    pdf.set_title("Membership-inference audit report")
    pdf.set_creator(f"{(result.get('tool') or {}).get('name', 'mia-audit')} "
                    f"{(result.get('tool') or {}).get('version', '')}".strip())
    created = result.get("created")
    if isinstance(created, str):
        try:
            when = _dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
            pdf.set_creation_date(when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc))
        except ValueError:
            pass
    doc = _Doc(pdf, dpi=dpi)
    pdf.add_page()
    _section_summary(doc, result, verdict)
    _section_roc(doc, result)
    _section_tables(doc, result, verdict)
    doc.pdf.add_page()
    _section_unlearning(doc, result)
    _section_mitigations(doc, result)
    _section_histograms(doc, result)
    _section_method_notes(doc, result)
    _section_trail(doc, result)
    return bytes(pdf.output())


def write_pdf(result: dict[str, Any], path: str | Path, *, dpi: int = 150) -> Path:
    """Render the report and write it atomically to ``path``."""
    return write_bytes_atomic(path, render_pdf(result, dpi=dpi))

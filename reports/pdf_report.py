"""The PDF audit report, rendered from a result JSON alone (no model, no data, no GPU).

:func:`render_pdf` lays out, on A4 pages numbered "page X of Y":

1. the decision (pages 1 and 2): the result's verdict against the declared policy
   (:mod:`mia_audit.verdict`), what was audited, the threat model, the strongest attack per
   model, the records at risk, one verdict per unlearner, one sentence per mitigation, the DP
   audit, the limitations, the data set and the models, and the signature block;
2. ROC curves on log-log axes: one figure per model, one panel per mitigation
   (:mod:`mia_audit.reports.curves` decides what is drawn);
3. one table per model of the attacks on its raw outputs (AUC and TPR at each FPR with
   confidence intervals), without rows for attacks that did not apply;
4. the records at risk, the top records by id, their score distributions and the slices
   that leak most;
5. the unlearner comparison (when the result has unlearned or retrained models);
6. the mitigations: privacy gained and utility lost, their parameters in words, and what
   each made not applicable;
7. the DP audit (when the result has one);
8. method notes with references;
9. the audit trail as tables: configuration, seeds, versions, device and hashes.

Only aggregate numbers from the result reach the PDF: configuration values that are
long lists of numbers (forget indices, say) are summarised as a count.

matplotlib and fpdf2 are imported inside the functions that need them.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Mapping

from mia_audit.errors import bad_value
from mia_audit.verdict import verdict_of

from .pdf.layout import Doc, pdf_class, sanitize
from .pdf.records import section_dp_audit, section_records
from .pdf.results import section_roc, section_tables
from .pdf.summary import section_summary
from .pdf.trail import section_method_notes, section_trail
from .pdf.mitigations import section_mitigations
from .pdf.unlearning import section_unlearning
from .readers import format_created, summarise_config
from .result_json import write_bytes_atomic


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def render_pdf(result: dict[str, Any], *, dpi: int = 150) -> bytes:
    """The PDF audit report of ``result`` (a schema-v1 result dict), as bytes.

    The first page renders the result's ``verdict`` section (built by the pipeline, see
    :mod:`mia_audit.verdict`; a result without one is refused: ``mia-audit report`` adds it).
    ``dpi`` is the resolution of the embedded figures. ``result`` is not modified.
    """
    if not isinstance(result, Mapping) or not isinstance(result.get("results"), list):
        raise bad_value("result", "a result dict (schema v1) with a 'results' list", type(result).__name__)
    verdict = verdict_of(result)
    pdf = pdf_class()(orientation="portrait", unit="mm", format="A4")
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
    doc = Doc(pdf, dpi=dpi)
    pdf.add_page()
    section_summary(doc, result, verdict)
    section_roc(doc, result)
    section_tables(doc, result, verdict)
    section_records(doc, result)
    section_unlearning(doc, result)
    section_mitigations(doc, result)
    section_dp_audit(doc, result)
    section_method_notes(doc, result)
    section_trail(doc, result)
    return bytes(pdf.output())


def write_pdf(result: dict[str, Any], path: str | Path, *, dpi: int = 150) -> Path:
    """Render the report and write it atomically to ``path``."""
    return write_bytes_atomic(path, render_pdf(result, dpi=dpi))


__all__ = ["render_pdf", "write_pdf", "sanitize", "summarise_config"]

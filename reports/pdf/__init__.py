"""The PDF audit report's parts: layout and one module per group of sections (see mia_audit.reports.pdf_report)."""

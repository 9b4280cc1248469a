"""The PDF audit report's parts: layout and one module per group of sections (see reports.pdf_report)."""

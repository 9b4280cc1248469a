"""Result schema and renderers: versioned JSON (the source of truth), plots, text.

Rendering needs only the result JSON: no model, no data, no GPU.
"""

from .result_json import SCHEMA_VERSION, load_result, write_json_atomic

__all__ = ["SCHEMA_VERSION", "load_result", "write_json_atomic"]

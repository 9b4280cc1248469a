"""The command line (``mia-audit``): :mod:`.commands` holds the commands, :mod:`.check` the
``check`` command's gate and the policy flags every command shares."""

from __future__ import annotations

from .commands import EXIT_BAD_INPUT, EXIT_BUG, EXIT_CHECK_FAILED, EXIT_OK, main

__all__ = ["main", "EXIT_OK", "EXIT_CHECK_FAILED", "EXIT_BAD_INPUT", "EXIT_BUG"]

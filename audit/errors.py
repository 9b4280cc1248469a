"""The project's own exception types.

Every user mistake raises a subclass of :class:`MiaAuditError` whose message names
the parameter, what is allowed and what was given. The CLI turns these into one
line on stderr and exit code 2.
"""

from __future__ import annotations


class MiaAuditError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class InputError(MiaAuditError, ValueError):
    """A parameter or an input array is not acceptable."""


class DataFileError(InputError, FileNotFoundError):
    """A data or model file is missing or unreadable; the message names the file."""


class NotFittedError(MiaAuditError, RuntimeError):
    """``score`` (or a similar method) was called before ``fit``."""


class NotApplicableError(MiaAuditError):
    """An attack needs a signal the model's outputs do not give (e.g. a loss from labels only)."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message on one line, at most ``limit`` characters (its type when empty)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bad_value(param: str, allowed: str, given: object) -> InputError:
    """Build the standard message: ``<param> must be <allowed>; got <given>``."""
    text = repr(given)
    if len(text) > 120:
        text = text[:117] + "..."
    return InputError(f"{param} must be {allowed}; got {text}")

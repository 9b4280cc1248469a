"""Validators for options: each returns the checked value or raises the project's
InputError naming the parameter, what is allowed and what was given
(``<param> must be <allowed>; got <given>``, :func:`mia_audit.errors.bad_value`).

=====================  ===============================================  ====================
helper                 accepts                                          message (allowed)
=====================  ===============================================  ====================
positive_int           an int >= 1 (or >= ``minimum`` > 1)              an integer >= 1
nonnegative_int        an int >= 0                                      an integer >= 0
number                 a finite real in a range (open or closed ends)   a finite number >= 0 and < 1
positive_number        a finite real > 0                                a finite number > 0
nonnegative_number     a finite real >= 0                               a finite number >= 0
fraction               a real in the open interval (0, 1)               a number in (0, 1)
probability            a real in the closed interval [0, 1]             a number in [0, 1]
boolean                True / False (Python or numpy bools)             True or False
text                   a str (optionally non-empty, optionally None)    text
text_list              a list of str                                    (the caller's words)
table                  a dict of options (a TOML table)                 a table of options
choice                 one of a tuple of values                         one of 'a', 'b'
shape                  a non-empty list of positive ints                a list of ...
=====================  ===============================================  ====================

Booleans are never numbers here (``True`` is refused where an int or a float is wanted),
and numbers given as text (``"3"``) are refused, not converted.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from .errors import bad_value


def is_int(value: Any) -> bool:
    """True for Python and numpy integers, False for bools (and everything else)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """True for Python and numpy ints and floats, False for bools (and everything else)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _int_at_least(param: str, value: Any, minimum: int, maximum: Optional[int], allow_none: bool,
                  note: str) -> Optional[int]:
    if value is None and allow_none:
        return None
    ok = is_int(value) and int(value) >= minimum and (maximum is None or int(value) <= maximum)
    if not ok:
        allowed = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum:,}"
        raise bad_value(param, allowed + note + (" or None" if allow_none else ""), value)
    return int(value)


def positive_int(param: str, value: Any, *, minimum: int = 1, maximum: Optional[int] = None,
                 allow_none: bool = False, note: str = "") -> Optional[int]:
    """``value`` as an int >= ``minimum`` (at least 1) and <= ``maximum``; None passes when ``allow_none``.

    For counts that may be 0 use :func:`nonnegative_int`; a ``minimum`` below 1 is a bug.
    """
    if minimum < 1:
        raise ValueError(f"positive_int needs minimum >= 1; got {minimum} (use nonnegative_int for >= 0)")
    return _int_at_least(param, value, minimum, maximum, allow_none, note)


def nonnegative_int(param: str, value: Any, *, maximum: Optional[int] = None, allow_none: bool = False,
                    note: str = "") -> Optional[int]:
    """``value`` as an int >= 0 (and <= ``maximum``); None passes when ``allow_none``."""
    return _int_at_least(param, value, 0, maximum, allow_none, note)


def number(param: str, value: Any, *, low: float = 0.0, high: Optional[float] = None, low_open: bool = False,
           high_open: bool = False, allow_none: bool = False, note: str = "") -> Optional[float]:
    """``value`` as a finite float in the range given by ``low``/``high`` (open or closed ends)."""
    if value is None and allow_none:
        return None
    ok = is_real(value)
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > low if low_open else v >= low)
        if high is not None:
            ok = ok and (v < high if high_open else v <= high)
    if not ok:
        text = f"a finite number {'>' if low_open else '>='} {low:g}"
        if high is not None:
            text += f" and {'<' if high_open else '<='} {high:g}"
        raise bad_value(param, text + note + (" or None" if allow_none else ""), value)
    return float(value)


def positive_number(param: str, value: Any, *, allow_none: bool = False, note: str = "") -> Optional[float]:
    """``value`` as a finite float > 0 ("a finite number > 0")."""
    return number(param, value, low=0.0, low_open=True, allow_none=allow_none, note=note)


def nonnegative_number(param: str, value: Any, *, allow_none: bool = False, note: str = "") -> Optional[float]:
    """``value`` as a finite float >= 0 ("a finite number >= 0")."""
    return number(param, value, low=0.0, allow_none=allow_none, note=note)


def _in_unit_interval(param: str, value: Any, *, low_open: bool, high_open: bool, allow_none: bool,
                      note: str) -> Optional[float]:
    if value is None and allow_none:
        return None
    ok = is_real(value) and math.isfinite(float(value))
    if ok:
        v = float(value)
        ok = (v > 0.0 if low_open else v >= 0.0) and (v < 1.0 if high_open else v <= 1.0)
    if not ok:
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise bad_value(param, f"a number in {interval}" + note + (" or None" if allow_none else ""), value)
    return float(value)


def fraction(param: str, value: Any, *, allow_none: bool = False, note: str = "") -> Optional[float]:
    """``value`` as a float in the open interval (0, 1) ("a number in (0, 1)")."""
    return _in_unit_interval(param, value, low_open=True, high_open=True, allow_none=allow_none, note=note)


def probability(param: str, value: Any, *, high_open: bool = False, allow_none: bool = False,
                note: str = "") -> Optional[float]:
    """``value`` as a float in [0, 1] ("a number in [0, 1]"; [0, 1) with ``high_open``)."""
    return _in_unit_interval(param, value, low_open=False, high_open=high_open, allow_none=allow_none, note=note)


def boolean(param: str, value: Any, *, spelling: str = "True or False") -> bool:
    """``value`` (a Python or numpy bool) as a bool; ints such as 1 are refused.

    ``spelling`` is how the message writes the two values: "true or false" for TOML keys.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise bad_value(param, spelling, value)
    return bool(value)


def text(param: str, value: Any, *, allowed: str = "text", nonempty: bool = False,
         allow_none: bool = False) -> Optional[str]:
    """``value`` when it is a str (non-empty with ``nonempty``); None passes when ``allow_none``.
    ``allowed`` says what the text is, e.g. "a name (text)" or "a folder path (text)"."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or (nonempty and not value):
        raise bad_value(param, allowed + (" or None" if allow_none else ""), value)
    return value


def text_list(param: str, value: Any, *, allowed: str, allow_none: bool = False) -> Optional[list[str]]:
    """``value`` (a list or tuple of str) as a list; None passes when ``allow_none``. ``allowed``
    says what the texts are, e.g. "a list of attack names"."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise bad_value(param, allowed + (" or None" if allow_none else ""), value)
    return list(value)


def table(param: str, value: Any, *, allowed: str = "a table of options", allow_none: bool = False) -> Optional[dict]:
    """``value`` when it is a dict (a TOML table); None passes when ``allow_none``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, dict):
        raise bad_value(param, allowed + (" or None" if allow_none else ""), value)
    return value


def shape(param: str, value: Any) -> tuple[int, ...]:
    """``value`` as a record shape: a non-empty list of positive integers (text such as "20" is refused,
    not read character by character)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value \
            or not all(is_int(d) and d > 0 for d in value):
        raise bad_value(param, "a list of positive integers, e.g. [88] or [1, 8, 8]", value)
    return tuple(int(d) for d in value)


def choice(param: str, value: Any, allowed: tuple) -> Any:
    """``value`` when it is one of ``allowed``."""
    if value not in allowed:
        raise bad_value(param, "one of " + ", ".join(repr(a) for a in allowed), value)
    return value


__all__ = ["positive_int", "nonnegative_int", "number", "positive_number", "nonnegative_number", "fraction",
           "probability", "boolean", "text", "text_list", "table", "shape", "choice", "is_int", "is_real"]

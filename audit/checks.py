"""Validators for options: each returns the checked value or raises the project's
InputError naming the parameter, what is allowed and what was given."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from .errors import bad_value


def positive_int(param: str, value: Any, *, minimum: int = 1, maximum: Optional[int] = None,
                 allow_none: bool = False, note: str = "") -> Optional[int]:
    """``value`` as an int >= ``minimum`` (and <= ``maximum``); None passes when ``allow_none``."""
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, np.integer))
    if ok:
        ok = int(value) >= minimum and (maximum is None or int(value) <= maximum)
    if not ok:
        allowed = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum:,}"
        raise bad_value(param, allowed + note + (" or None" if allow_none else ""), value)
    return int(value)


def number(param: str, value: Any, *, low: float = 0.0, high: Optional[float] = None, low_open: bool = False,
           high_open: bool = False, allow_none: bool = False) -> Optional[float]:
    """``value`` as a finite float in the range given by ``low``/``high`` (open or closed ends)."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > low if low_open else v >= low)
        if high is not None:
            ok = ok and (v < high if high_open else v <= high)
    if not ok:
        text = f"a finite number {'>' if low_open else '>='} {low:g}"
        if high is not None:
            text += f" and {'<' if high_open else '<='} {high:g}"
        raise bad_value(param, text + (" or None" if allow_none else ""), value)
    return float(value)


def shape(param: str, value: Any) -> tuple[int, ...]:
    """``value`` as a record shape: a non-empty list of positive integers (text such as "20" is refused,
    not read character by character)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value \
            or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in value):
        raise bad_value(param, "a list of positive integers, e.g. [88] or [1, 8, 8]", value)
    return tuple(int(d) for d in value)


def choice(param: str, value: Any, allowed: tuple) -> Any:
    """``value`` when it is one of ``allowed``."""
    if value not in allowed:
        raise bad_value(param, "one of " + ", ".join(repr(a) for a in allowed), value)
    return value


__all__ = ["positive_int", "number", "choice"]

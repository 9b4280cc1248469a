"""Progress bars that appear only on a terminal."""

from __future__ import annotations

import sys
from typing import Iterable, TypeVar

T = TypeVar("T")


def progress_enabled(requested: bool | None = None) -> bool:
    if requested is not None:
        return bool(requested)
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress(items: Iterable[T], *, desc: str, total: int | None = None, enabled: bool | None = None) -> Iterable[T]:
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, total=total, disable=not progress_enabled(enabled), leave=False, file=sys.stderr)

"""Progress: bars on a terminal, and one line per phase of an audit.

Bars (:func:`progress`) appear on a terminal only, unless requested (``show_progress=True``).

Phase lines (:func:`phase`) say on stderr what an audit is doing and how long each part
took, also where stderr is not a terminal (a log file, CI, ``mia-audit ... 2> log``)::

    training the original model (mlp, 2000 records) ... 1.9 s
    reference models (8, trained or loaded) ... 6.1 s

When they print:

* ``enabled=True`` / ``False`` (a library call's ``show_progress``) decides;
* ``enabled=None`` (a library call's default): on where stderr is a terminal, off
  elsewhere, so library calls and tests (pytest captures stderr) stay silent, unless the
  command line turned them on: ``mia-audit demo`` / ``run`` run under
  :func:`cli_output`, which turns them on, or, with ``--quiet``, turns lines *and* bars
  off (nothing printed on success).

Format: on a terminal (or wherever bars show) a phase's line is written when the phase
ends (its bars are gone by then); elsewhere the description is written and flushed when the phase starts and the
time appended when it ends, so a long phase shows while it runs. A phase that raises
ends its line with "failed after ..." (the error itself is reported by the caller).
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from typing import Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")

#: None (a library call), "on" (the command line) or "quiet" (the command line with --quiet)
_cli_mode: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("mia_audit_cli_mode", default=None)
_open_line: list[object] = []  # the phase whose line has no newline yet (at most one)


def _isatty(stream) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def progress_enabled(requested: bool | None = None) -> bool:
    """Whether bars show: ``requested`` when given, else off under ``--quiet``, else on a terminal."""
    if requested is not None:
        return bool(requested)
    if _cli_mode.get() == "quiet":
        return False
    return _isatty(sys.stderr)


def phases_enabled(requested: bool | None = None) -> bool:
    """Whether phase lines print (see the module docstring for the rule)."""
    if requested is not None:
        return bool(requested)
    mode = _cli_mode.get()
    if mode is not None:
        return mode == "on"
    return _isatty(sys.stderr)


@contextlib.contextmanager
def cli_output(*, quiet: bool) -> Iterator[None]:
    """The command line's setting for a block: phase lines on (bars on a terminal), or
    nothing at all with ``quiet``. Calls that pass ``show_progress`` explicitly still win."""
    token = _cli_mode.set("quiet" if quiet else "on")
    try:
        yield
    finally:
        _cli_mode.reset(token)


def format_seconds(seconds: float) -> str:
    """``0.4 s``, ``41 s``, ``2 min 05 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


@contextlib.contextmanager
def phase(desc: str, *, enabled: bool | None = None) -> Iterator[None]:
    """One line on stderr for the block: ``desc ... <elapsed>`` (see the module docstring)."""
    if not phases_enabled(enabled):
        yield
        return
    stream = sys.stderr
    token = object()
    if _open_line:  # a phase inside a phase: end the outer's line; it is written in full at its end
        stream.write("\n")
        _open_line.clear()
    if not _isatty(stream) and not progress_enabled(enabled):  # (bars would write into an open line)
        stream.write(f"{desc} ...")
        stream.flush()
        _open_line.append(token)
    start = time.perf_counter()
    try:
        yield
    except KeyboardInterrupt:
        _end_line(stream, token, desc, f"interrupted after {format_seconds(time.perf_counter() - start)}")
        raise
    except BaseException:
        _end_line(stream, token, desc, f"failed after {format_seconds(time.perf_counter() - start)}")
        raise
    _end_line(stream, token, desc, format_seconds(time.perf_counter() - start))


def _end_line(stream, token: object, desc: str, tail: str) -> None:
    if _open_line and _open_line[0] is token:
        stream.write(f" {tail}\n")
    else:
        stream.write(f"{desc} ... {tail}\n")
    _open_line.clear()
    stream.flush()


def progress(items: Iterable[T], *, desc: str, total: int | None = None, enabled: bool | None = None) -> Iterable[T]:
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, total=total, disable=not progress_enabled(enabled), leave=False, file=sys.stderr)

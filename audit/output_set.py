"""A set of output files that becomes current as a set: :func:`replace_output_set`.

``--out DIR`` receives ``report.json``, ``report.pdf``, ``summary.md`` and ``roc-<model>.png``. A
reader must never see a JSON beside a PDF of another run, and a failure or a kill halfway
through the writes must leave the previous set whole. So the new set is written into a fresh
temporary directory beside ``DIR`` (same file system), every file fsynced, and then the two
directories are swapped in one step:

* on Linux, ``renameat2(RENAME_EXCHANGE)`` swaps them atomically: at every instant ``DIR`` is
  either the old set or the new one;
* elsewhere (or where the file system refuses the exchange), ``DIR`` is renamed aside and the
  new directory renamed into place: for an instant ``DIR`` is missing, but it never holds a mix.

Everything else the user keeps in ``DIR`` (their own files, the demo's ``digits/`` part) is
carried into the new directory before the swap: files as hard links (copies where links are
refused), folders by rename. The old directory is then deleted.

Temporary directories are named ``.<DIR name>.mia-audit-<pid>-<token>``; those of processes that
no longer run (a crash, a kill -9) are swept before each write, as are the hidden ``.*.tmp``
files that earlier versions left inside ``DIR``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import secrets
import shutil
import sys
from pathlib import Path
from typing import Callable, Mapping, Optional

from .errors import InputError

_TEMP = re.compile(r"^\.(?P<name>.+)\.mia-audit-(?P<pid>\d+)-[0-9a-f]{12}$")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def sweep_stale(out: Path, names: Mapping[str, bytes] | None = None) -> list[Path]:
    """Remove the temporary directories of dead processes beside ``out``, and stale hidden
    temporaries of the set's file names inside it; returns what was removed."""
    removed: list[Path] = []
    parent = out.parent
    if parent.is_dir():
        for child in parent.iterdir():
            m = _TEMP.match(child.name)
            if m and m.group("name") == out.name and child.is_dir() and not _alive(int(m.group("pid"))):
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child)
    if out.is_dir() and names:
        for child in out.iterdir():
            if child.is_file() and any(child.name.startswith(f".{n}.") and child.name.endswith(".tmp") for n in names):
                child.unlink(missing_ok=True)
                removed.append(child)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _carry(old: Path, new: Path, names: Mapping[str, bytes], moved: list[tuple[Path, Path]],
           owned: Optional[Callable[[str], bool]] = None) -> None:
    """Everything in ``old`` that the set does not replace, into ``new``: files and links first,
    folders last (each recorded in ``moved``, so that a failure can put it back). Plain files
    that ``owned`` claims (an earlier set's outputs) are left behind with the old set."""
    folders = []
    for child in old.iterdir():
        if child.name in names or _TEMP.match(child.name):
            continue
        if owned is not None and owned(child.name) and child.is_file() and not child.is_symlink():
            continue
        target = new / child.name
        if child.is_symlink():
            os.symlink(os.readlink(child), target)
        elif child.is_dir():
            folders.append((child, target))
        else:
            try:
                os.link(child, target)
            except OSError:
                shutil.copy2(child, target)
    for child, target in folders:
        os.rename(child, target)
        moved.append((target, child))


def replace_output_set(out_dir: str | Path, files: Mapping[str, bytes], *,
                       owned: Optional[Callable[[str], bool]] = None) -> list[Path]:
    """Make ``files`` ({file name: bytes}) the current contents of ``out_dir`` in one step,
    keeping whatever else is in it, except the plain files whose names ``owned`` claims as
    outputs of an earlier set (``roc-<model>.png`` of models this run does not have).
    Returns the paths of the files written."""
    out = Path(out_dir)
    for name in files:
        if not name or "/" in name or name.startswith("."):
            raise InputError(f"output file names must be plain names; got {name!r}")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create the output directory: {exc.strerror or exc}") from None
    sweep_stale(out, files)
    work = parent / f".{out.name}.mia-audit-{os.getpid()}-{secrets.token_hex(6)}"
    aside = parent / f".{out.name}.mia-audit-{os.getpid()}-{secrets.token_hex(6)}"
    moved: list[tuple[Path, Path]] = []  # (where a user's folder is now, where it was)
    current = False  # whether the new set is in place
    try:
        work.mkdir(mode=0o777)
        for name, data in files.items():
            _write_file(work / name, data)
        _fsync_dir(work)
        if not out.exists():
            os.rename(work, out)
            current = True
        else:
            os.chmod(work, out.stat().st_mode & 0o7777)
            _carry(out, work, files, moved, owned)
            if _exchange(work, out):  # work now holds the old set
                current = True
            else:
                os.rename(out, aside)
                try:
                    os.rename(work, out)
                except BaseException:
                    os.rename(aside, out)  # the old set back in place
                    raise
                current = True
                os.rename(aside, work)  # to be removed below
        _fsync_dir(parent)
    except BaseException:
        if not current:
            for now, was in moved:  # never delete a user's folder with the unfinished set
                if now.exists() and not was.exists():
                    os.rename(now, was)
            shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)  # the old set (its user files live on as links in the new one)
    return [out / name for name in files]


__all__ = ["replace_output_set", "sweep_stale"]

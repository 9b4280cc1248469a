"""The output set becomes current as a set (issue 11 §2): a failure or a kill -9 halfway through
the writes leaves the previous set whole, a reader never sees one run's JSON beside another's
PDF, the user's other files are kept, and stale temporaries are swept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from mia_audit import output_set
from mia_audit.output_set import replace_output_set, sweep_stale

NAMES = ("report.json", "report.pdf", "summary.md", "roc.png")


def _set(tag: str) -> dict[str, bytes]:
    return {name: f"{tag}:{name}".encode() for name in NAMES}


def _tags(folder) -> set[str]:
    return {(folder / n).read_bytes().decode().split(":")[0] for n in NAMES}


def _leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if ".mia-audit-" in p.name)


@pytest.fixture
def out(tmp_path):
    folder = tmp_path / "out"
    replace_output_set(folder, _set("old"))
    (folder / "notes.txt").write_text("mine")
    (folder / "digits").mkdir()
    (folder / "digits" / "report.json").write_text("part 2")
    return folder


def test_a_new_set_replaces_the_old_and_keeps_the_users_files(out, tmp_path):
    paths = replace_output_set(out, _set("new"))
    assert paths == [out / n for n in NAMES] and _tags(out) == {"new"}
    assert (out / "notes.txt").read_text() == "mine" and (out / "digits" / "report.json").read_text() == "part 2"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_failure_halfway_leaves_the_old_set_and_the_users_folder(out, tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(output_set, "_exchange", lambda a, b: False)
    real, calls = output_set._write_file, []

    def failing(path, data):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(output_set, "_write_file", failing)
    with pytest.raises(OSError):
        replace_output_set(out, _set("new"))
    assert _tags(out) == {"old"} and (out / "digits" / "report.json").read_text() == "part 2"
    assert _leftovers(tmp_path) == []
    monkeypatch.setattr(output_set, "_write_file", real)
    replace_output_set(out, _set("new"))
    assert _tags(out) == {"new"} and (out / "notes.txt").read_text() == "mine"


def test_a_failure_after_the_users_folder_was_carried_puts_it_back(out, tmp_path, monkeypatch):
    monkeypatch.setattr(output_set, "_exchange", lambda a, b: False)
    real_rename = os.rename

    def refuse_the_swap(src, dst):
        if str(src) == str(out):
            raise PermissionError(13, "Permission denied")
        real_rename(src, dst)

    monkeypatch.setattr(output_set.os, "rename", refuse_the_swap)
    with pytest.raises(PermissionError):
        replace_output_set(out, _set("new"))
    monkeypatch.setattr(output_set.os, "rename", real_rename)
    assert _tags(out) == {"old"} and (out / "digits" / "report.json").read_text() == "part 2"
    assert _leftovers(tmp_path) == []


def test_kill_9_during_the_writes_leaves_the_old_set_and_the_next_run_sweeps(out, tmp_path):
    """A real kill -9 of a subprocess between the second and the third file."""
    script = textwrap.dedent(f"""
        import os, signal
        from audit import output_set
        real, n = output_set._write_file, []
        def dying(path, data):
            n.append(1)
            if len(n) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            real(path, data)
        output_set._write_file = dying
        output_set.replace_output_set({str(out)!r}, {{k: b"new:" + k.encode() for k in {NAMES!r}}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert _tags(out) == {"old"} and (out / "notes.txt").read_text() == "mine"
    stale = _leftovers(tmp_path)
    assert len(stale) == 1  # the dead process's half-written set, beside --out, never inside it
    assert sorted(p.name for p in (tmp_path / stale[0]).iterdir()) == ["report.json", "report.pdf"]
    replace_output_set(out, _set("new"))
    assert _tags(out) == {"new"} and _leftovers(tmp_path) == []


def test_old_hidden_temporaries_inside_out_are_swept(out):
    (out / ".report.json.0123456789ab.tmp").write_bytes(b"partial")
    (out / ".mine.tmp").write_bytes(b"not ours")
    removed = sweep_stale(out, _set("x"))
    assert [p.name for p in removed] == [".report.json.0123456789ab.tmp"]
    assert (out / ".mine.tmp").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads through a directory handle (Linux)")
def test_a_reader_never_sees_a_mixed_set(out):
    """A reader that opens --out once and reads two files through that handle always gets one
    run's pair, while another thread replaces the set 60 times (writing file by file into --out,
    as before, mixes them)."""
    stop, mixed, reads = threading.Event(), [], [0]

    def reader():
        while not stop.is_set():
            try:
                fd = os.open(out, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                tags = set()
                for name in ("report.json", "report.pdf"):
                    f = os.open(name, os.O_RDONLY, dir_fd=fd)
                    tags.add(os.read(f, 100).decode().split(":")[0])
                    os.close(f)
                reads[0] += 1
                if len(tags) > 1:
                    mixed.append(tags)
            except FileNotFoundError:
                pass
            finally:
                os.close(fd)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(60):
            replace_output_set(out, _set(f"run{i}"))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert reads[0] > 0 and mixed == []
    assert _tags(out) == {"run59"}

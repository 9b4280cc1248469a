"""Phase lines and bars: mia_audit.progress (stderr under pytest is not a terminal)."""

from __future__ import annotations

import pytest

from mia_audit.progress import cli_output, format_seconds, phase, phases_enabled, progress_enabled


@pytest.mark.parametrize("seconds, text", [(0.04, "0.0 s"), (3.21, "3.2 s"), (41.4, "41 s"), (125.2, "2 min 05 s")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_phase_lines_follow_the_rule(capsys):
    assert not phases_enabled() and not progress_enabled()      # a library call off a terminal: silent
    with phase("quiet by default"):
        pass
    assert capsys.readouterr().err == ""
    with cli_output(quiet=False):
        assert phases_enabled() and not progress_enabled()      # the CLI: lines, no bars off a terminal
        assert not phases_enabled(False)                        # an explicit show_progress still wins
    with cli_output(quiet=True):
        assert not phases_enabled() and not progress_enabled()  # --quiet: nothing at all
        assert phases_enabled(True)
    assert not phases_enabled()


def test_phase_writes_one_line_with_the_time_off_a_terminal(capsys):
    with cli_output(quiet=False):
        with phase("training the original model"):
            assert capsys.readouterr().err == "training the original model ..."  # visible while it runs
    err = capsys.readouterr().err
    assert err.startswith(" ") and err.endswith(" s\n") and err.count("\n") == 1


def test_a_failing_phase_ends_its_line(capsys):
    with pytest.raises(ValueError), cli_output(quiet=False):
        with phase("attacks on original"):             # the open-line style of the command line
            raise ValueError("x")
    with pytest.raises(ValueError):
        with phase("attacks on retrain", enabled=True):  # the whole-line style
            raise ValueError("x")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("attacks on original ... failed after ")
    assert lines[1].startswith("attacks on retrain ... failed after ")


def test_show_progress_true_off_a_terminal_writes_whole_lines_at_the_end(capsys):
    with phase("reference models", enabled=True):   # bars show too: no half line for them to break
        assert capsys.readouterr().err == ""
    assert capsys.readouterr().err.startswith("reference models ... ")


def test_nested_phases_give_whole_lines(capsys):
    with cli_output(quiet=False), phase("outer"):
        with phase("inner"):
            pass
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "outer ..."
    assert lines[1].startswith("inner ... ") and lines[2].startswith("outer ... ") and len(lines) == 3

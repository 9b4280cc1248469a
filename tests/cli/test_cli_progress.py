"""The command line off a terminal: phase lines on stderr, --quiet, --threads."""

from __future__ import annotations

import pytest
import torch

from mia_audit.cli.commands import EXIT_BAD_INPUT, EXIT_OK, main
from mia_audit.errors import InputError

from .test_cli import _config


def test_run_prints_one_line_per_phase_on_a_non_terminal_stderr(tmp_path, capsys):
    cfg = _config(tmp_path)
    assert main(["run", str(cfg), "--out", str(tmp_path / "out"), "--threads", "1"]) == EXIT_OK
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[0].startswith("training the original model (mlp, 300 records) ... ")
    assert any(line.startswith("attacks on original (2 attacks) ... ") for line in lines)
    assert lines[-1].startswith(f"writing the report to {tmp_path / 'out'} ... ")
    assert all(line.endswith(" s") and " ... " in line for line in lines)
    assert "\r" not in err and "it/s" not in err       # no bars off a terminal
    assert "wrote" in out                               # the summary stays on stdout


def test_quiet_run_prints_nothing(tmp_path, capsys):
    assert main(["run", str(_config(tmp_path)), "--out", str(tmp_path / "out"), "--quiet"]) == EXIT_OK
    assert capsys.readouterr() == ("", "")


def test_library_calls_stay_silent_off_a_terminal(tiny_config, capsys):
    from mia_audit.run.pipeline import run_audit

    run_audit(tiny_config(attacks=["loss"]))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
@pytest.mark.parametrize("command", ["demo", "run"])
def test_bad_threads_exits_2_with_one_line(tmp_path, capsys, command, value):
    argv = ["demo", "--quick"] if command == "demo" else ["run", str(_config(tmp_path))]
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out), f"--threads={value}"]) == EXIT_BAD_INPUT
    stdout, stderr = capsys.readouterr()
    assert stdout == "" and stderr.count("\n") == 1 and "--threads" in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_threads_pins_the_count_for_the_run_and_restores_it(tmp_path, capsys, monkeypatch):
    seen = []

    def fake_run_audit(config, **kwargs):
        seen.append(torch.get_num_threads())
        raise InputError("stopped here")

    monkeypatch.setattr("mia_audit.run.pipeline.run_audit", fake_run_audit)
    before = torch.get_num_threads()
    wanted = 3 if before != 3 else 2
    assert main(["run", str(_config(tmp_path)), "--out", str(tmp_path / "out"), "--threads", str(wanted)]) == 2
    assert seen == [wanted] and torch.get_num_threads() == before
    assert "stopped here" in capsys.readouterr().err

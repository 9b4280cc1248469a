"""The mia-audit command line, run in-process (plus one real console-script call)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mia_audit as audit
from mia_audit.cli.commands import EXIT_BAD_INPUT, EXIT_OK, main
from mia_audit.reports.roc_plot import roc_file_name

from . import golden

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

TINY_TOML = """\
seed = 0
device = "cpu"

[data]
name = "adult"
train_size = 300
test_size = 300

[model]
name = "mlp"
params = { hidden = [16] }
training = { epochs = 2 }

[forget]
kind = "random"
fraction = 0.1

[attacks]
names = ["loss", "confidence"]
members = ["train", "forget"]

[metrics]
n_bootstrap = 10
"""


def _config(tmp_path, text=TINY_TOML, name="audit.toml", **replace):
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _one_line_error(capsys) -> str:
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err and "Traceback" not in out
    return lines[0]


# ------------------------------------------------------------------ successful runs


def test_demo_quick_writes_report_and_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))  # reference models go here, not to ~/.cache
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--device", "cpu", "--out", str(out)]) == EXIT_OK
    stdout, stderr = capsys.readouterr()
    assert any((tmp_path / "cache" / "references").iterdir())
    report = json.loads((out / "report.json").read_text())
    digits = json.loads((out / "digits" / "report.json").read_text())
    # one ROC figure per model (issue 13), named after it
    rocs = {part: sorted(roc_file_name(m["name"]) for m in r["models"]) for part, r in (("main", report),
                                                                                       ("digits", digits))}
    assert "roc-original.png" in rocs["main"] and "roc-neggrad.png" in rocs["main"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["digits", "report.json", "report.pdf", "summary.md"]
                                                           + rocs["main"])
    assert sorted(p.name for p in (out / "digits").iterdir()) == sorted(["report.json", "report.pdf", "summary.md"]
                                                                        + rocs["digits"])
    assert report["schema_version"] == 1 and report["data"]["n_train"] == 2000
    assert all((out / name).read_bytes()[:8] == PNG_MAGIC for name in rocs["main"])
    for attack in {r["attack"] for r in report["results"]}:
        assert attack in stdout
    assert "AUC" in stdout and "train/test" in stdout and "forget/test" in stdout
    assert f"wrote {out / 'report.json'}" in stdout
    # the golden figures (issue 10): the same seed gives the same numbers as before the redesign, to
    # 1e-5 where the machine computes as the recording one did, else within bands (golden/__init__.py)
    for name, path in (("main", out / "report.json"), ("digits", out / "digits" / "report.json")):
        how, found = golden.comparison(name, golden.figures(json.loads(path.read_text())))
        assert found == [], f"{name}: {len(found)} figures differ from the golden run ({how}):\n" + "\n".join(found[:20])


def test_run_config_writes_outputs_and_keeps_unrelated_files(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    cfg = _config(tmp_path)
    assert main(["run", str(cfg), "--out", str(out), "--seed", "3"]) == EXIT_OK
    stdout, _ = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "report.json", "report.pdf", "roc-original.png", "summary.md"]
    assert (out / "notes.txt").read_text() == "mine"
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["seed"] == 3  # --seed wins over the file
    assert {(r["attack"], r["members"]) for r in report["results"]} == {
        (a, m) for a in ("loss", "confidence") for m in ("train", "forget")}
    assert "loss" in stdout and "confidence" in stdout


def test_run_uses_out_from_config_and_quiet(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = _config(tmp_path, **{'device = "cpu"': 'device = "cpu"\nout = "from-config"'})
    assert main(["run", str(cfg), "--quiet"]) == EXIT_OK
    stdout, stderr = capsys.readouterr()
    assert stdout == "" and stderr == ""
    assert sorted(p.name for p in (tmp_path / "from-config").iterdir()) == ["report.json", "report.pdf", "roc-original.png", "summary.md"]


def test_list_shows_every_registry(capsys):
    from mia_audit.attacks import ATTACKS
    from mia_audit.data import DATASETS, PREDICATES
    from mia_audit.models import MODELS

    assert main(["list"]) == EXIT_OK
    out = capsys.readouterr().out
    for title in ("attacks:", "datasets:", "models:", "forget predicates:", "mitigations:", "unlearners:"):
        assert title in out
    for registry in (ATTACKS, DATASETS, MODELS, PREDICATES):
        assert len(registry) > 0
        for name in registry.names():
            assert f"  {name} " in out
    for name in ("loss", "adult", "digits", "mlp", "red", "older", "label-only"):
        assert f"  {name} " in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"mia-audit {audit.__version__}"


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == EXIT_BAD_INPUT
    assert "usage: mia-audit" in capsys.readouterr().out


# ------------------------------------------------------------------ bad input: exit 2, one line, no output


def _bad_cases():
    no_gpu = not _cuda_available()
    cases = [
        ("unknown-subcommand", lambda cfg, out: ["audit-me", "--out", out], "invalid choice"),
        ("unknown-option", lambda cfg, out: ["demo", "--quick", "--out", out, "--fast"], "--fast"),
        ("bad-device-choice", lambda cfg, out: ["demo", "--quick", "--out", out, "--device", "tpu"], "tpu"),
        ("seed-not-a-number", lambda cfg, out: ["demo", "--out", out, "--seed", "x"], "--seed"),
        ("negative-seed", lambda cfg, out: ["run", cfg(), "--out", out, "--seed", "-1"], "seed"),
        ("missing-config", lambda cfg, out: ["run", str(Path(out).parent / "nope.toml"), "--out", out], "nope.toml"),
        ("unknown-attack", lambda cfg, out: ["run", cfg(**{'"confidence"]': '"lira-typo"]'}), "--out", out],
         "lira-typo"),
        ("unknown-dataset", lambda cfg, out: ["run", cfg(**{'name = "adult"': 'name = "adlut"'}), "--out", out],
         "adlut"),
        ("unknown-model", lambda cfg, out: ["run", cfg(**{'name = "mlp"': 'name = "gpt"'}), "--out", out], "gpt"),
        ("unknown-key", lambda cfg, out: ["run", cfg(**{"seed = 0": "sed = 0"}), "--out", out], "'sed'"),
        ("bad-toml", lambda cfg, out: ["run", cfg(**{"[data]": "[data"}), "--out", out], "not valid TOML"),
        ("wrong-type", lambda cfg, out: ["run", cfg(**{"{ hidden = [16] }": "16"}), "--out", out], "model.params"),
        ("no-out", lambda cfg, out: ["run", cfg()], "--out"),
        # issue 11 §7: validation gaps
        ("empty-fprs", lambda cfg, out: ["run", cfg(**{"n_bootstrap = 10": "n_bootstrap = 10\nfprs = []"}),
                                         "--out", out], "metrics.fprs must be a non-empty"),
        ("huge-bootstrap", lambda cfg, out: ["run", cfg(**{"n_bootstrap = 10": "n_bootstrap = 1000000000000"}),
                                             "--out", out], "metrics.n_bootstrap must be an integer from 0 to"),
        ("epochs-as-text", lambda cfg, out: ["run", cfg(**{"epochs = 2": 'epochs = "3"'}), "--out", out],
         "model.training.epochs must be an integer >= 1; got '3'"),
        ("freeze-a-parameter-the-model-lacks",
         lambda cfg, out: ["run", cfg(**{"epochs = 2": 'epochs = 2, freeze_after = [["whiten.bias", 3]]'}),
                           "--out", out], "model.training.freeze_after names the parameter 'whiten.bias'"),
        ("freeze-as-text", lambda cfg, out: ["run", cfg(**{"epochs = 2": 'epochs = 2, freeze_after = "x"'}),
                                             "--out", out], "model.training.freeze_after must be a list"),
    ]
    if no_gpu:
        cases.append(("cuda-without-gpu", lambda cfg, out: ["demo", "--quick", "--out", out, "--device", "cuda"],
                      "cuda"))
        cases.append(("cuda-in-config", lambda cfg, out: ["run", cfg(**{'device = "cpu"': 'device = "cuda:0"'}),
                                                          "--out", out], "cuda"))
    return cases


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return torch.cuda.is_available()


@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: c[0])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, case):
    _, make_argv, needle = case
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = make_argv(lambda **kw: str(_config(tmp_path, **kw)), str(out))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == EXIT_BAD_INPUT
    line = _one_line_error(capsys)
    assert line.startswith("mia-audit")
    assert needle in line
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing else appeared either


def test_bad_input_leaves_an_existing_out_dir_alone(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    cfg = _config(tmp_path, **{'"confidence"]': '"nope"]'})
    assert main(["run", str(cfg), "--out", str(out)]) == EXIT_BAD_INPUT
    assert "'nope'" in _one_line_error(capsys)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_out_that_is_a_file_is_refused_and_kept(tmp_path, capsys):
    target = tmp_path / "report"
    target.write_text("keep")
    assert main(["run", str(_config(tmp_path)), "--out", str(target)]) == EXIT_BAD_INPUT
    assert "directory" in _one_line_error(capsys)
    assert target.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.toml", "report"]


def test_out_below_a_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "afile").write_text("keep")
    assert main(["run", str(_config(tmp_path)), "--out", str(tmp_path / "afile" / "out")]) == EXIT_BAD_INPUT
    assert "afile" in _one_line_error(capsys)
    assert (tmp_path / "afile").read_text() == "keep"


# ------------------------------------------------------------------ the installed console script


def test_console_script(tmp_path):
    exe = Path(sys.executable).with_name("mia-audit")
    script = str(exe) if exe.exists() else shutil.which("mia-audit")
    if script is None:
        pytest.skip("the mia-audit console script is not installed")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and done.stdout.strip() == f"mia-audit {audit.__version__}"
    out = tmp_path / "out"
    done = subprocess.run([script, "run", str(tmp_path / "missing.toml"), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == EXIT_BAD_INPUT
    assert done.stderr.count("\n") == 1 and "missing.toml" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == "" and not out.exists()


def test_report_rerenders_pdf_and_markdown_from_json_alone(tmp_path, capsys):
    from pypdf import PdfReader

    fixture = Path(__file__).parent.parent / "reports" / "data" / "demo_result.json"
    pdf, md = tmp_path / "r.pdf", tmp_path / "r.md"
    assert main(["report", str(fixture), "--pdf", str(pdf), "--md", str(md)]) == 0
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Membership-inference audit report" in text and "page 1 of" in text
    assert md.read_text().startswith("#")
    capsys.readouterr()
    assert main(["report", str(fixture)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["report", str(tmp_path / "missing.json"), "--pdf", str(tmp_path / "x.pdf")]) == 2
    assert not (tmp_path / "x.pdf").exists()


# ------------------------------------------------------------------ the verdict and its policy (issue 9)


def test_run_ends_with_the_verdict_block_and_takes_the_policy_from_config_and_flags(tmp_path, capsys):
    cfg = _config(tmp_path, **{"[metrics]": '[policy]\nmax_auc = 0.99\nmax_tpr_at_fpr = { "0.1" = 0.99 }\n\n[metrics]'})
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == EXIT_OK  # exit 0 whatever the verdict: check is the gate
    stdout, _ = capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    verdict = report["verdict"]
    assert verdict["policy"] == {"max_auc": 0.99, "max_tpr_at_fpr": {"0.1": 0.99}, "require": ["posterior"]}
    assert verdict["status"] == "pass" and verdict["headline"].startswith("PASS: no attack exceeded AUC 0.99")
    block = " ".join(stdout.split(f"verdict ({out}):")[1].split())  # the terminal's last block, unwrapped
    from mia_audit.reports.decision import decision_sections

    sections = decision_sections(report, verdict)  # the same decision as page 1 and summary.md
    assert [title for title, _ in sections][:2] == ["What was audited", "Threat model"]
    assert block == " ".join([verdict["headline"]] + [f"{title}: " + " ".join(f"- {line}" for line in lines)
                                                      for title, lines in sections])
    assert "original: outputs logits (white-box weights held); ran loss, confidence" in block
    # a flag overrides the [policy] table: an AUC limit of 0 fails every attack result
    assert main(["run", str(cfg), "--out", str(tmp_path / "strict"), "--quiet", "--max-auc", "0"]) == EXIT_OK
    strict = json.loads((tmp_path / "strict" / "report.json").read_text())["verdict"]
    assert strict["status"] == "fail" and strict["policy"]["max_auc"] == 0.0
    assert strict["policy"]["max_tpr_at_fpr"] == {"0.1": 0.99}  # the rest of [policy] stays


def test_report_rebuilds_the_verdict_under_new_flags(tmp_path, capsys):
    fixture = Path(__file__).parent.parent / "reports" / "data" / "demo_result.json"
    md = tmp_path / "r.md"
    assert main(["report", str(fixture), "--md", str(md), "--max-auc", "0.5", "--max-tpr", "0.01:0.5"]) == EXIT_OK
    text = md.read_text()
    assert "**FAIL**: " in text and "AUC <= 0.50 and TPR <= 50.0 % at FPR 1 %" in text
    assert main(["report", str(fixture), "--md", str(md), "--require", "reference"]) == EXIT_OK
    assert "**INCONCLUSIVE**: " in md.read_text()  # the stored demo ran no reference-model attack
    capsys.readouterr()
    assert main(["report", str(fixture), "--md", str(md), "--max-tpr", "2:0.1"]) == EXIT_BAD_INPUT
    assert "--max-tpr" in _one_line_error(capsys)


def test_bad_policy_in_a_config_is_one_line(tmp_path, capsys):
    cfg = _config(tmp_path, **{"[metrics]": '[policy]\nrequire = ["weights"]\n\n[metrics]'})
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    assert _one_line_error(capsys).startswith("mia-audit: error: policy.require must be a list drawn from posterior")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ exceptions that are not the user's input (issue 11 §3)


def test_a_bug_exits_3_with_one_line_and_a_log(tmp_path, capsys, monkeypatch):
    import mia_audit.run.pipeline
    def broken(config, **kwargs):
        return {}["no such key"]

    monkeypatch.setattr(mia_audit.run.pipeline, "run_audit", broken)
    out = tmp_path / "out"
    assert main(["run", str(_config(tmp_path)), "--out", str(out)]) == 3
    line = _one_line_error(capsys)
    assert line.startswith("mia-audit: internal error (KeyError: 'no such key'); this is a bug in mia-audit")
    log = Path(line.rsplit(" ", 1)[1])
    assert "Traceback" in log.read_text() and "broken" in log.read_text()
    log.unlink()
    assert not out.exists()


@pytest.mark.parametrize("error", ["memory", "xgboost"])
def test_memory_and_model_runtime_errors_exit_2_with_one_line(tmp_path, capsys, monkeypatch, error):
    import mia_audit.run.pipeline
    def failing(config, **kwargs):
        if error == "memory":
            raise MemoryError()
        import xgboost

        raise xgboost.core.XGBoostError("[16:01:02] src/data/data.cc: Check failed: feature mismatch")

    monkeypatch.setattr(mia_audit.run.pipeline, "run_audit", failing)
    assert main(["run", str(_config(tmp_path)), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    line = _one_line_error(capsys)
    assert ("out of memory" in line) if error == "memory" else ("the model (xgboost) failed on the records" in line)
    assert not (tmp_path / "out").exists()


def test_records_wider_than_an_xgboost_model_are_refused_before_any_query(tmp_path, capsys):
    """Issue 11 §4: 65-feature records for a 64-feature model ended in a traceback."""
    import numpy as np
    import xgboost

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((80, 64)).astype(np.float32), rng.integers(0, 2, 80)
    xgboost.XGBClassifier(n_estimators=2, max_depth=2).fit(X, y).save_model(tmp_path / "model.json")
    np.savez(tmp_path / "members.npz", X=np.c_[X[:40], X[:40, :1]], y=y[:40])
    np.savez(tmp_path / "nonmembers.npz", X=np.c_[X[40:], X[40:, :1]], y=y[40:])
    cfg = tmp_path / "t.toml"
    cfg.write_text('[target]\nmodel = "model.json"\nmembers = "members.npz"\nnonmembers = "nonmembers.npz"\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    line = _one_line_error(capsys)
    assert "target.members: the records have shape (65,) per record, but the model" in line and "(64,)" in line
    assert not (tmp_path / "out").exists()


def test_a_text_input_shape_is_refused(tmp_path, capsys):
    cfg = tmp_path / "t.toml"
    cfg.write_text('[target]\nmodel = "m.pt"\narchitecture = "mlp"\ninput_shape = "20"\nn_classes = 2\n'
                   'members = "a.npz"\nnonmembers = "b.npz"\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    assert "target.input_shape must be a list of positive integers" in _one_line_error(capsys)


@pytest.mark.parametrize("case", ["nan", "no-label-column", "huge-header", "label-missing-key"])
def test_bad_record_files_through_the_cli_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, case):
    """Issue 11 §6, through `mia-audit run` with a [target]: every bad record file is one line."""
    import numpy as np
    import xgboost

    from tests.audit.test_record_files import _npz_with_header

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 4)).astype(np.float32), rng.integers(0, 2, 60)
    xgboost.XGBClassifier(n_estimators=2, max_depth=2).fit(X, y).save_model(tmp_path / "model.json")
    np.savez(tmp_path / "nonmembers.npz", X=X[30:], y=y[30:])
    members, extra, needle = "members.npz", "", ""
    if case == "nan":
        bad = X[:30].copy()
        bad[7, 2] = np.nan
        np.savez(tmp_path / members, X=bad, y=y[:30])
        needle = "row 7"
    elif case == "huge-header":
        _npz_with_header(tmp_path / members, (10**12, 4), y_rows=30)
        needle = "claims shape (1000000000000, 4)"
    else:
        members = "members.csv"
        column = "target" if case == "no-label-column" else "label"
        (tmp_path / members).write_text("a,b,c,d," + column + "\n" + "".join(
            ",".join(repr(float(v)) for v in X[i]) + f",{y[i]}\n" for i in range(30)))
        if case == "no-label-column":
            needle = "has no label column 'label'; its columns are ['a', 'b', 'c', 'd', 'target']"
        else:
            extra, needle = 'label = 7\n', "target.label must be the name of the label column"
    cfg = tmp_path / "t.toml"
    cfg.write_text(f'[target]\nmodel = "model.json"\nmembers = "{members}"\nnonmembers = "nonmembers.npz"\n{extra}')
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    line = _one_line_error(capsys)
    assert needle in line, line
    assert not (tmp_path / "out").exists()

"""``mia-audit check``: exit 0 within limits, 1 over a limit or the baseline, 2 on bad input."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mia_audit.cli.commands as cli


def _entry(model="original", attack="loss", members="train", auc=0.6, tprs=None, mitigation="none"):
    return {"model": model, "mitigation": mitigation, "attack": attack, "members": members, "nonmembers": "test",
            "auc": auc, "auc_ci": None, "tpr_at_fpr": tprs or {"0.001": 0.0, "0.01": 0.02, "0.1": 0.15},
            "tpr_at_fpr_ci": None, "advantage": 0.1, "epsilon_lower_bound": 0.0, "n_members": 100,
            "n_nonmembers": 100, "warnings": []}


RESULT = {"schema_version": 1, "tool": {"name": "mia-audit", "version": "0.1.0"}, "config": {}, "environment": {},
          "data": {}, "models": [],
          "results": [_entry(attack="loss", auc=0.62), _entry(attack="entropy", auc=0.55),
                      _entry(attack="loss", members="forget", auc=0.7, tprs={"0.001": 0.05, "0.01": 0.1, "0.1": 0.3}),
                      _entry(model="unlearned", attack="loss", auc=0.52)]}


def _write(tmp_path: Path, data, name="result.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def _run(capsys, *args):
    code = cli.main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------- pass and fail


def test_all_within_limits_exits_0(tmp_path, capsys):
    code, out, err = _run(capsys, _write(tmp_path, RESULT), "--max-auc", "0.75", "--max-tpr", "0.01:0.1")
    assert code == 0 and err == ""
    assert out.strip() == "all 8 figures within limits"


def test_an_auc_over_the_limit_exits_1_with_the_table(tmp_path, capsys):
    code, out, err = _run(capsys, _write(tmp_path, RESULT), "--max-auc", "0.6")
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0] == "2 of 4 figures exceed their limit or baseline"
    assert lines[1].split()[:6] == ["model", "mitigation", "attack", "members", "figure", "value"]
    rows = [line.split() for line in lines[3:]]
    assert [(r[0], r[2], r[3], r[4], r[5], r[6]) for r in rows] == [
        ("original", "loss", "train", "auc", "0.6200", "0.6000"),
        ("original", "loss", "forget", "auc", "0.7000", "0.6000")]


def test_tpr_limits_several_at_once_or_repeated(tmp_path, capsys):
    path = _write(tmp_path, RESULT)
    code, out, _ = _run(capsys, path, "--max-tpr", "0.001:0.01", "0.1:0.2")
    assert code == 1
    figures = {(line.split()[3], line.split()[4]) for line in out.splitlines()[3:]}
    assert figures == {("forget", "tpr@0.001"), ("forget", "tpr@0.1")}
    code2, out2, _ = _run(capsys, path, "--max-tpr", "0.001:0.01", "--max-tpr", "0.1:0.2")
    assert (code2, out2) == (code, out)


def test_model_and_members_filters(tmp_path, capsys):
    path = _write(tmp_path, RESULT)
    code, out, _ = _run(capsys, path, "--max-auc", "0.6", "--members", "train", "--model", "unlearned")
    assert (code, out.strip()) == (0, "all 1 figures within limits")
    code, out, _ = _run(capsys, path, "--max-auc", "0.6", "--members", "forget")
    assert code == 1 and "forget" in out


def test_baseline_with_tolerance(tmp_path, capsys):
    old = copy.deepcopy(RESULT)
    old["results"][0]["auc"] = 0.58  # loss/train rose by 0.04 since
    del old["results"][3]  # the unlearned model is new
    base = _write(tmp_path, old, "old.json")
    path = _write(tmp_path, RESULT)
    code, out, _ = _run(capsys, path, "--baseline", base, "--tolerance", "0.05")
    assert code == 0
    assert out.splitlines()[-1] == "all 12 figures within limits"
    assert "note: 1 result entry of this result is not in the baseline and was not compared" in out
    assert out.count("note:") == 1
    code, out, _ = _run(capsys, path, "--baseline", base, "--tolerance", "0.01")
    assert code == 1
    assert "baseline 0.5800 + tolerance 0.01" in out and "0.5900" in out
    code, _, _ = _run(capsys, path, "--baseline", base)  # tolerance 0
    assert code == 1


def test_the_handler_returns_an_int(tmp_path):
    parser = cli.build_parser()
    args = parser.parse_args(["check", _write(tmp_path, RESULT), "--max-auc", "0.9"])
    assert args.func(args) == 0 and isinstance(args.func(args), int)
    args = parser.parse_args(["check", _write(tmp_path, RESULT), "--max-auc", "0.1"])
    assert args.func(args) == 1


def test_a_real_audit_result(tmp_path, capsys):
    import numpy as np
    from sklearn.tree import DecisionTreeClassifier

    from mia_audit.testing import audit_model
    from mia_audit.reports.result_json import write_json_atomic

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + 2 * rng.normal(size=200) > 0).astype(np.int64)
    tree = DecisionTreeClassifier(random_state=0).fit(X[:100], y[:100])
    result = audit_model(tree, (X[:100], y[:100]), (X[100:], y[100:]), attacks=["loss"])
    path = write_json_atomic(tmp_path / "r.json", result)
    assert _run(capsys, str(path), "--max-auc", "0.55")[0] == 1
    assert _run(capsys, str(path), "--max-auc", "0.95")[0] == 0
    assert _run(capsys, str(path), "--baseline", str(path))[0] == 0


# ---------------------------------------------------------------------------- bad input: exit 2, one line


def _bad(capsys, *args, match: str):
    code, out, err = _run(capsys, *args)
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err + out
    assert match in lines[0], lines[0]


@pytest.mark.parametrize("spec", ["0.001=0.01", "0.001", "0.001:0.01:1", "x:0.1", "0:0.1", "1:0.1",
                                  "1.5:0.1", "0.01:1.5", "0.01:-0.1", "nan:0.1"])
def test_bad_max_tpr(tmp_path, capsys, spec):
    _bad(capsys, _write(tmp_path, RESULT), f"--max-tpr={spec}", match="--max-tpr")


@pytest.mark.parametrize("value", ["1.5", "-0.1", "high", "nan"])
def test_bad_max_auc(tmp_path, capsys, value):
    _bad(capsys, _write(tmp_path, RESULT), f"--max-auc={value}", match="--max-auc")


def test_bad_files_and_combinations(tmp_path, capsys):
    path = _write(tmp_path, RESULT)
    _bad(capsys, str(tmp_path / "missing.json"), "--max-auc", "0.6", match="not found")
    _bad(capsys, _write(tmp_path, "{not json", "broken.json"), "--max-auc", "0.6", match="not valid JSON")
    _bad(capsys, _write(tmp_path, [1, 2], "list.json"), "--max-auc", "0.6",
         match="must be a result dictionary (schema version 1); got 'list'")
    _bad(capsys, path, match="needs a limit")
    _bad(capsys, path, "--max-auc", "0.6", "--tolerance", "0.1", match="--tolerance needs --baseline")
    _bad(capsys, path, "--baseline", path, "--tolerance", "-1", match="--tolerance")
    _bad(capsys, path, "--baseline", str(tmp_path / "old.json"), match="not found")
    _bad(capsys, path, "--baseline", _write(tmp_path, {**RESULT, "schema_version": 2}, "v2.json"),
         match="schema_version must be 1; got 2")
    _bad(capsys, path, "--max-auc", "0.6", "--model", "retrained", match="no entry for 'retrained'")
    _bad(capsys, path, "--max-tpr", "0.05:0.1", match="no TPR at FPR 0.05")
    _bad(capsys, path, "--max-tpr", "0.01:0.1", "--max-tpr", "0.01:0.2", match="two limits")
    _bad(capsys, _write(tmp_path, {"schema_version": 1, "results": [{"model": "m"}]}, "odd.json"),
         "--max-auc", "0.6", match="results[0].mitigation")


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["check", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--max-auc", "--max-tpr", "--baseline", "--tolerance", "--model", "--members"):
        assert option in out


def test_real_command_line(tmp_path):
    """``python -m mia_audit.cli check`` in a fresh process (the installed package)."""
    path = _write(tmp_path, RESULT)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "mia_audit.cli", "check", path, *args], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)

    done = run("--max-auc", "0.6")
    assert done.returncode == 1 and "2 of 4 figures exceed" in done.stdout, done.stderr
    done = run("--max-auc", "0.8")
    assert done.returncode == 0 and done.stdout.strip() == "all 4 figures within limits", done.stderr
    done = run("--max-tpr", "0.001=0.01")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


# ---------------------------------------------------------------------------- a gate that compared nothing


def test_a_baseline_of_other_models_fails_with_one_line(tmp_path, capsys):
    """Issue 9 §2: before, >200 note lines, then "all 0 figures within limits", exit 0."""
    old = copy.deepcopy(RESULT)
    for e in old["results"]:
        e["model"] += "-v1"
    code, out, _ = _run(capsys, _write(tmp_path, RESULT), "--baseline", _write(tmp_path, old, "old.json"),
                        "--tolerance", "0.02")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == ("check failed: none of the baseline's 16 figures matches this result (its models: "
                        "original-v1, unlearned-v1; this result's: original, unlearned); nothing was compared")
    assert out.count("note:") == 1 and len(lines) <= 5


def test_a_label_only_result_cannot_pass_the_gate(tmp_path, capsys):
    labels = copy.deepcopy(RESULT)
    labels["results"] = [_entry(model="deployed", attack="gap", auc=0.55)]
    path = _write(tmp_path, labels)
    code, out, _ = _run(capsys, path, "--max-auc", "0.6")
    assert code == 1
    assert "model deployed has no posterior-based attack result" in out
    code, out, _ = _run(capsys, path, "--max-auc", "0.6", "--require", "none")  # the user relaxes it, explicitly
    assert code == 0 and out.splitlines()[-1] == "all 1 figures within limits"
    code, _, err = _run(capsys, path, "--max-auc", "0.6", "--require", "none", "label")
    assert code == 2 and "--require none cannot be combined" in err

"""Privacy gates on result dicts: limits, baselines, notes, validation and the table."""

from __future__ import annotations

import copy

import pytest

from mia_audit.errors import InputError
from mia_audit.gates import GateReport, Limits, Violation, check_result, format_violations, summary_line


def _entry(model="original", attack="loss", members="train", auc=0.6, tprs=None, mitigation="none", **extra):
    return {"model": model, "mitigation": mitigation, "attack": attack, "members": members, "nonmembers": "test",
            "auc": auc, "auc_ci": None, "tpr_at_fpr": tprs or {"0.001": 0.002, "0.01": 0.02, "0.1": 0.15},
            "tpr_at_fpr_ci": None, "advantage": 0.1, "epsilon_lower_bound": 0.0, "n_members": 100,
            "n_nonmembers": 100, "warnings": [], **extra}


def _result(*entries):
    return {"schema_version": 1, "results": list(entries)}


# ---------------------------------------------------------------------------- limits


def test_auc_limit_flags_only_entries_above_and_equal_passes():
    result = _result(_entry(attack="loss", auc=0.61), _entry(attack="entropy", auc=0.6),
                     _entry(attack="confidence", auc=0.59))
    report = check_result(result, limits=Limits(max_auc=0.6))
    assert isinstance(report, GateReport) and isinstance(report, list)
    assert [(v.attack, v.figure, v.value, v.limit, v.kind) for v in report] == [("loss", "auc", 0.61, 0.6, "limit")]
    v = report[0]
    assert (v.model, v.mitigation, v.members) == ("original", "none", "train")
    assert report.n_checked == 3 and not report.passed


def test_tpr_limit_uses_the_matching_fpr_key():
    result = _result(_entry(tprs={"0.001": 0.004, "0.01": 0.02, "0.1": 0.5}))
    report = check_result(result, limits=Limits(max_tpr_at_fpr={0.001: 0.003, 0.1: 0.6}))
    assert [(v.figure, v.value, v.limit) for v in report] == [("tpr@0.001", 0.004, 0.003)]
    assert report.n_checked == 2
    assert check_result(result, limits=Limits(max_tpr_at_fpr={0.001: 0.004})).passed


def test_all_within_limits():
    report = check_result(_result(_entry(), _entry(members="forget")),
                          limits=Limits(max_auc=0.7, max_tpr_at_fpr={0.01: 0.05}))
    assert report == [] and report.passed and report.n_checked == 4
    assert summary_line(report) == "all 4 figures within limits"


def test_limit_on_an_fpr_the_result_lacks_is_an_input_error():
    with pytest.raises(InputError, match="no TPR at FPR 0.05"):
        check_result(_result(_entry()), limits=Limits(max_tpr_at_fpr={0.05: 0.1}))


def test_not_applicable_entries_are_skipped():
    na = {"model": "original", "mitigation": "label-only", "attack": "loss", "members": "train",
          "nonmembers": "test", "applicable": False}
    report = check_result(_result(_entry(auc=0.55), na), limits=Limits(max_auc=0.6))
    assert report.passed and report.n_checked == 1
    with pytest.raises(InputError, match="no applicable"):
        check_result(_result(na), limits=Limits(max_auc=0.6))


def test_model_and_members_filters():
    result = _result(_entry(model="original", auc=0.9), _entry(model="unlearned", auc=0.5),
                     _entry(model="unlearned", members="forget", auc=0.8))
    limits = Limits(max_auc=0.6)
    assert [v.model for v in check_result(result, limits=limits)] == ["original", "unlearned"]
    assert check_result(result, limits=limits, models=["unlearned"], members=["train"]).passed
    assert [v.members for v in check_result(result, limits=limits, models="unlearned")] == ["forget"]
    with pytest.raises(InputError, match="no entry for 'retrained'"):
        check_result(result, limits=limits, models=["retrained"])
    with pytest.raises(InputError, match="no entry for 'retain'"):
        check_result(result, limits=limits, members=["retain"])


# ---------------------------------------------------------------------------- baseline


def test_baseline_fails_only_when_a_figure_rose_by_more_than_the_tolerance():
    old = _result(_entry(attack="loss", auc=0.70, tprs={"0.01": 0.02}),
                  _entry(attack="entropy", auc=0.70, tprs={"0.01": 0.02}))
    new = _result(_entry(attack="loss", auc=0.80, tprs={"0.01": 0.02}),   # rose by exactly 0.1
                  _entry(attack="entropy", auc=0.65, tprs={"0.01": 0.13}))  # fell; TPR rose by 0.11
    report = check_result(new, baseline=old, tolerance=0.1)
    assert [(v.attack, v.figure, v.kind) for v in report] == [("entropy", "tpr@0.01", "baseline")]
    v = report[0]
    assert v.baseline == 0.02 and v.tolerance == 0.1 and v.limit == pytest.approx(0.12) and v.value == 0.13
    assert report.n_checked == 4
    # with no tolerance any rise fails, an unchanged figure passes
    strict = check_result(new, baseline=old)
    assert [(v.attack, v.figure) for v in strict] == [("loss", "auc"), ("entropy", "tpr@0.01")]
    assert check_result(old, baseline=copy.deepcopy(old)).passed


def test_entries_or_figures_missing_in_the_baseline_are_notes_not_failures():
    old = _result(_entry(attack="loss", auc=0.7, tprs={"0.01": 0.02}))
    new = _result(_entry(attack="loss", auc=0.7, tprs={"0.01": 0.02, "0.1": 0.9}),
                  _entry(attack="loss", mitigation="label-only", auc=0.99))
    report = check_result(new, baseline=old)
    assert report.passed and report.n_checked == 2
    assert len(report.notes) == 2
    assert any("mitigation=label-only" in n and "not in the baseline" in n for n in report.notes)
    assert any("tpr@0.1 not in the baseline" in n for n in report.notes)


def test_limits_and_baseline_together():
    old = _result(_entry(auc=0.5))
    report = check_result(_result(_entry(auc=0.65)), limits=Limits(max_auc=0.6), baseline=old, tolerance=0.05)
    assert sorted(v.kind for v in report) == ["baseline", "limit"]


def test_inputs_are_not_modified():
    old, new = _result(_entry(auc=0.5)), _result(_entry(auc=0.65))
    before = copy.deepcopy((old, new))
    check_result(new, limits=Limits(max_auc=0.6), baseline=old)
    assert (old, new) == before


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("kwargs, match", [
    ({"max_auc": 1.5}, "max_auc"),
    ({"max_auc": -0.1}, "max_auc"),
    ({"max_auc": True}, "max_auc"),
    ({"max_tpr_at_fpr": {0.0: 0.1}}, r"\(0, 1\)"),
    ({"max_tpr_at_fpr": {1.0: 0.1}}, r"\(0, 1\)"),
    ({"max_tpr_at_fpr": {0.01: 1.2}}, r"max_tpr_at_fpr\[0.01\]"),
    ({"max_tpr_at_fpr": [0.01, 0.1]}, "mapping"),
])
def test_bad_limits(kwargs, match):
    with pytest.raises(InputError, match=match):
        Limits(**kwargs)


def test_limits_accept_text_fpr_keys_and_edges():
    limits = Limits(max_auc=1, max_tpr_at_fpr={"0.01": 0})
    assert limits.max_auc == 1.0 and limits.max_tpr_at_fpr == {0.01: 0.0}
    assert limits.to_dict() == {"max_auc": 1.0, "max_tpr_at_fpr": {"0.01": 0.0}}
    assert Limits().is_empty


def test_bad_check_inputs():
    ok = _result(_entry())
    with pytest.raises(InputError, match="limit .* or a baseline"):
        check_result(ok)
    with pytest.raises(InputError, match="limit .* or a baseline"):
        check_result(ok, limits=Limits())
    with pytest.raises(InputError, match="tolerance"):
        check_result(ok, baseline=ok, tolerance=-0.01)
    with pytest.raises(InputError, match="tolerance"):
        check_result(ok, baseline=ok, tolerance=float("nan"))
    with pytest.raises(InputError, match="baseline: schema_version must be 1; got 2"):
        check_result(ok, baseline={**ok, "schema_version": 2})
    with pytest.raises(InputError, match="result: schema_version"):
        check_result({"results": []}, limits=Limits(max_auc=0.5))
    with pytest.raises(InputError, match=r"results\[0\].auc"):
        check_result(_result(_entry(auc="high")), limits=Limits(max_auc=0.5))
    with pytest.raises(InputError, match=r"results\[0\].attack"):
        check_result(_result({**_entry(), "attack": None}), limits=Limits(max_auc=0.5))
    with pytest.raises(InputError, match="two entries"):
        check_result(ok, baseline=_result(_entry(), _entry()))
    with pytest.raises(InputError, match="limits"):
        check_result(ok, limits={"max_auc": 0.5})


# ---------------------------------------------------------------------------- the table


def test_format_violations_is_an_aligned_table_naming_everything():
    report = check_result(_result(_entry(model="unlearned", attack="modified-entropy", members="forget", auc=0.71234),
                                  _entry(attack="loss", auc=0.6000001)),
                          limits=Limits(max_auc=0.6))
    text = format_violations(report)
    lines = text.splitlines()
    assert lines[0].split() == ["model", "mitigation", "attack", "members", "figure", "value", "allowed", "excess",
                                "check"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 4
    assert "unlearned" in lines[2] and "modified-entropy" in lines[2] and "forget" in lines[2]
    assert "0.7123" in lines[2] and "0.6000" in lines[2] and "+0.1123" in lines[2] and "limit" in lines[2]
    assert "+1.0e-07" in lines[3]  # a tiny excess stays visible
    # columns line up: every row has "auc" at the same offset
    assert len({line.index(" auc ") for line in lines[2:]}) == 1


def test_format_baseline_rows_and_notes():
    old = _result(_entry(auc=0.5))
    report = check_result(_result(_entry(auc=0.6), _entry(attack="entropy")), baseline=old, tolerance=0.02)
    text = format_violations(report)
    assert "baseline 0.5000 + tolerance 0.02" in text and "0.5200" in text
    assert "note: 1 result entry of this result is not in the baseline and was not compared" in text
    assert report.notes == ["model=original mitigation=none attack=entropy members=train: not in the baseline "
                            "(not compared)"]
    assert format_violations([]) == "no figure exceeds its limit or baseline\n"
    assert summary_line(report) == "1 of 4 figures exceed their limit or baseline"


def test_violation_to_dict():
    v = Violation("m", "none", "loss", "train", "auc", 0.7, 0.6, "limit")
    assert v.to_dict()["kind"] == "limit" and v.excess == pytest.approx(0.1)


# ---------------------------------------------------------------------------- a gate that compared nothing


def test_a_baseline_that_matches_nothing_fails_with_one_problem():
    """Issue 9 §2: a renamed model (deployed vs original) used to print a note per entry, then
    "all 0 figures within limits", and pass."""
    old = _result(*[_entry(model="original", attack=a, members=m) for a in ("loss", "entropy") for m in ("train", "forget")])
    new = _result(*[_entry(model="deployed", attack=a) for a in ("loss", "entropy")])
    report = check_result(new, baseline=old, tolerance=0.02)
    assert not report.passed and bool(report) and len(report) == 0 and report.n_checked == 0
    assert report.problems == ["none of the baseline's 16 figures matches this result (its models: original; "
                               "this result's: deployed); nothing was compared"]
    assert summary_line(report).startswith("check failed: none of the baseline's 16 figures matches")
    text = format_violations(report)
    assert text.count("note:") == 1 and "2 result entries of this result are not in the baseline" in text
    assert report.to_dict()["passed"] is False


def test_a_partial_baseline_match_passes_and_counts_what_it_skipped():
    old = _result(_entry(attack="loss", auc=0.6))
    new = _result(_entry(attack="loss", auc=0.6), _entry(attack="entropy"), _entry(attack="confidence"))
    report = check_result(new, baseline=old)
    assert report.passed and report.n_checked == 4 and len(report.notes) == 2
    assert "note: 2 result entries of this result are not in the baseline" in format_violations(report)


def _with_coverage(result, **evidence):
    result["verdict"] = {"status": "pass", "headline": "PASS: x", "coverage": [
        {"model": m, "mitigation": "none", "evidence": list(kinds), "access": "labels only", "attacks_run": ["gap"]}
        for m, kinds in evidence.items()]}
    return result


def test_required_evidence_missing_is_a_problem_not_a_pass():
    result = _with_coverage(_result(_entry(model="deployed", attack="gap", auc=0.55)), deployed=["label"])
    assert check_result(result, limits=Limits(max_auc=0.6)).passed  # no evidence required: the figures pass
    report = check_result(result, limits=Limits(max_auc=0.6), require=["posterior"])
    assert not report.passed and len(report) == 0
    assert report.problems == ["model deployed has no posterior-based attack result (outputs: labels only; "
                               "ran: gap), so the gate cannot pass on it"]
    ok = _with_coverage(_result(_entry(model="deployed", attack="loss", auc=0.55)), deployed=["posterior"])
    assert check_result(ok, limits=Limits(max_auc=0.6), require=["posterior"]).passed


def test_required_evidence_needs_a_verdict_section():
    with pytest.raises(InputError, match="no verdict section"):
        check_result(_result(_entry()), limits=Limits(max_auc=0.6), require=["posterior"])

"""Records at risk and slices (issue 13): golden tiny cases, a naive loop, a null control and a
planted leak, and the sections of a real audit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mia_audit.per_record import flagged_fpr, records_at_risk, slice_metrics


def _se(n1, n0):
    return float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))


def test_records_at_risk_golden_tiny_case():
    entry = {"model": "m", "mitigation": "none", "attack": "loss", "members": "train", "tpr_at_fpr": {"0.25": 2 / 3}}
    out = records_at_risk(entry, [0.9, 0.1, 0.5], [0.2, 0.4, 0.95, 0.3], ["a", "b", "c"], top=2)
    assert out["top"] == [{"id": "a", "score": 0.9, "rank": 1, "fpr": 0.25},
                          {"id": "c", "score": 0.5, "rank": 2, "fpr": 0.25}]
    assert out["at_risk"] == {"0.25": 2} and out["n_members"] == 3 and out["n_nonmembers"] == 4
    assert "content" not in json.dumps(out)


def test_flagged_fpr_matches_a_naive_loop():
    rng = np.random.default_rng(0)
    m, n = rng.normal(size=200).round(1), rng.normal(size=300).round(1)  # rounded: many ties
    naive = np.array([(n >= s).mean() for s in m])
    np.testing.assert_allclose(flagged_fpr(m, n), naive, rtol=0, atol=1e-15)


def _slices(m, n, mv, nv, **kw):
    return {r["value"]: r for r in slice_metrics(m, n, mv, nv, column="g", fprs=(0.1,), n_bootstrap=0,
                                                 confidence=0.95, seed=0, **kw)}


def test_a_slice_null_control_sits_at_chance_and_a_planted_leak_is_found():
    rng = np.random.default_rng(3)
    n1 = n0 = 2000
    mv, nv = rng.integers(0, 2, n1), rng.integers(0, 2, n0)
    m, n = rng.normal(size=n1), rng.normal(size=n0)
    null = _slices(m, n, mv, nv)
    for row in null.values():
        assert abs(row["auc"] - 0.5) < 2 * _se(row["n_members"], row["n_nonmembers"])
    leaky = m + 0.8 * (mv == 1)  # members of group 1 score higher: that group leaks
    rows = _slices(leaky, n, mv, nv)
    assert rows[1]["auc"] > 0.5 + 10 * _se(rows[1]["n_members"], rows[1]["n_nonmembers"])
    assert abs(rows[0]["auc"] - 0.5) < 2 * _se(rows[0]["n_members"], rows[0]["n_nonmembers"])


def test_a_small_slice_is_reported_not_hidden():
    rows = _slices(np.arange(100.0), np.arange(100.0), np.r_[np.zeros(95), np.ones(5)], np.zeros(100), min_size=10)
    assert rows[1]["too_small"] and rows[1]["n_members"] == 5 and "auc" not in rows[1]
    assert not rows[0]["too_small"] and rows[0]["auc"] is not None


def test_an_audit_carries_records_and_slices_by_id_and_never_the_scores(tmp_path, monkeypatch):
    from mia_audit.config import AttackConfig, AuditConfig, DataConfig, MetricsConfig, ReportConfig
    from mia_audit.run.pipeline import run_audit

    config = AuditConfig(data=DataConfig(name="adult", train_size=600, test_size=600),
                         attacks=AttackConfig(names=["loss", "confidence"], members=["train"]),
                         metrics=MetricsConfig(n_bootstrap=20), report=ReportConfig(slices=["sex", "race"], top_records=5),
                         seed=0, device="cpu")
    result = run_audit(config)
    text = json.dumps(result)  # plain JSON: no arrays left behind
    assert "_scores" not in text
    (records,) = result["records"]
    assert records["model"] == "original" and records["attack"] in ("loss", "confidence")
    assert len(records["top"]) == 5 and all(isinstance(r["id"], int) for r in records["top"])
    assert [r["rank"] for r in records["top"]] == [1, 2, 3, 4, 5]
    scores = [r["score"] for r in records["top"]]
    assert scores == sorted(scores, reverse=True)
    columns = {(s["column"], s["value"]) for s in result["slices"]}
    assert ("sex", "Male") in columns and ("class", 0) in columns and any(c == "race" for c, _ in columns)
    assert sum(s["n_members"] for s in result["slices"] if s["column"] == "sex") == 600
    from mia_audit.reports.markdown_summary import summary_markdown

    text_md = summary_markdown(result)
    assert "**Records at risk**" in text_md and f"`original` ({records['attack']}, 600 members)" in text_md
    assert "**Slices that leak most**" in text_md
    jsonschema = pytest.importorskip("jsonschema")
    from mia_audit.reports.result_json import schema

    jsonschema.validate(json.loads(text), schema())


def test_an_unknown_slice_column_names_the_key():
    from mia_audit.config import AttackConfig, AuditConfig, DataConfig, ReportConfig
    from mia_audit.errors import InputError
    from mia_audit.run.pipeline import run_audit

    config = AuditConfig(data=DataConfig(name="adult", train_size=300, test_size=300),
                         attacks=AttackConfig(names=["loss"], members=["train"]), report=ReportConfig(slices=["gender"]),
                         seed=0, device="cpu")
    with pytest.raises(InputError, match=r"report\.slices: column 'gender' is not a column of data set 'adult'"):
        run_audit(config)

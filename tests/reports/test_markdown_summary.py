"""The short Markdown summary: verdict, worst attack per model, compact table."""

from __future__ import annotations

import copy
import re

from mia_audit.reports.markdown_summary import summary_markdown
from mia_audit.run.attack_entries import with_verdict
from mia_audit.verdict import Policy

from .data import synthetic


def _table_rows(text: str) -> list[list[str]]:
    rows = [ln.strip()[1:-1] for ln in text.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)] for ln in rows]


def test_demo_summary_has_verdict_worst_attack_and_table():
    result = synthetic.demo_result()
    text = summary_markdown(result)
    assert text.startswith("## Membership-inference audit: adult")
    # 2,000 non-members cannot measure TPR at FPR 0.1 % (it needs 10,000): never a PASS
    assert ("**INCONCLUSIVE**: TPR at FPR 0.1 % cannot be measured with 2,000 non-members (it needs 10,000)"
            in text)
    assert "**What was audited**" in text and "- original: outputs " in text
    assert "- `original`: highest AUC 0.544 [0.534, 0.553] (gap, train vs test)" in text
    assert "highest TPR@0.1% 1.00 % (loss-lr, forget vs test)" in text
    assert "- `original + label-only`: highest AUC 0.544" in text
    rows = _table_rows(text)
    assert rows[0] == ["model", "mitigation", "members", "attack", "AUC [95% CI]", "TPR@0.1%", "TPR@1%", "TPR@10%"]
    assert set(rows[1]) <= {"---", "---:"}
    body = rows[2:]
    assert len(body) == len(result["results"])
    for e in result["results"]:
        head = ["original", e["mitigation"], f"{e['members']} vs test", e["attack"]]
        if not e["applicable"]:
            assert head + ["n/a"] * 4 in body
            continue
        lo, hi = e["auc_ci"]
        row = head + [f"{e['auc']:.3f} [{lo:.3f}, {hi:.3f}]"] + \
            [f"{100 * e['tpr_at_fpr'][k]:.2f} %" for k in ("0.001", "0.01", "0.1")]
        assert row in body
    assert "TPR at FPR 0.001 is unreliable" in text


def test_failing_summary_names_the_attack_and_shows_na_rows():
    result = synthetic.mitigation_result()
    text = summary_markdown(result)
    assert "**FAIL**:" in text and "gap on original (train vs test): AUC 0.664 > 0.60" in text
    rows = _table_rows(text)
    assert rows[0][:5] == ["model", "mitigation", "members", "attack", "AUC [95% CI]"]
    na = [r for r in rows if r[1] == "label-only" and r[3] in ("loss", "entropy")]
    assert len(na) == 2 and all(r[4:] == ["n/a"] * 4 for r in na)
    assert "0.500" not in text
    looser = with_verdict(result, Policy(max_auc=0.7, max_tpr_at_fpr={0.1: 0.5}))
    assert "**PASS**" in summary_markdown(looser)


def test_pipes_in_names_are_escaped_and_result_untouched():
    result = synthetic.mitigation_result()
    for e in result["results"]:
        e["model"] = "a|b"
    result["models"][0]["name"] = "a|b"
    before = copy.deepcopy(result)
    text = summary_markdown(result)
    assert "| a\\|b |" in text
    assert all(len(r) == 8 for r in _table_rows(text) if "a\\|b" in r[0])
    assert result == before


def test_summary_renders_the_verdict_section_and_refuses_a_result_without_one():
    import pytest

    from mia_audit.errors import InputError

    result = synthetic.mitigation_result()
    result["verdict"]["headline"] = "FAIL: a headline the builder wrote"
    assert "**FAIL**: a headline the builder wrote" in summary_markdown(result)  # rendered, never recomputed
    del result["verdict"]
    with pytest.raises(InputError, match="no verdict section"):
        summary_markdown(result)

"""Text summary and ROC plot, rendered from a result JSON alone (no model, no data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mia_audit.metrics import evaluate
from mia_audit.reports.result_json import dumps, load_result, write_json_atomic
from mia_audit.reports.roc_plot import roc_pngs, write_roc_pngs
from mia_audit.reports.text_summary import summary_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _entry(attack, members, shift, *, n1=150, n0=300, seed=0, mitigation="none", **kw):
    gen = np.random.default_rng(seed)
    m = evaluate(gen.normal(shift, 1, n1), gen.normal(0, 1, n0), seed=seed, **kw)
    return {"model": "original", "mitigation": mitigation, "attack": attack, "members": members,
            "nonmembers": "test", **m.to_dict()}


def _result(entries, *, seconds=1.25):
    return {
        "schema_version": 1,
        "tool": {"name": "mia-audit", "version": "0"},
        "config": {},
        "environment": {},
        "data": {"name": "toy", "sha256": "0" * 64, "n_train": 150, "n_test": 300, "n_forget": 15, "n_retain": 135},
        "models": [{"name": "original", "role": "original", "unlearner": None, "architecture": "mlp",
                    "seconds": seconds, "sha256": "1" * 64,
                    "accuracy": {"train": 0.9, "test": 0.8, "forget": None, "retain": 0.91}}],
        "results": entries,
    }


@pytest.fixture(scope="module")
def result():
    entries = [_entry("loss", "train", 1.0, n_bootstrap=20), _entry("entropy", "train", 0.3, seed=1, n_bootstrap=20),
               _entry("loss", "forget", 0.5, n1=15, seed=2, n_bootstrap=20),
               _entry("loss", "train", 0.2, seed=3, n_bootstrap=20, mitigation="label-only")]
    return _result(entries)


def test_summary_lists_every_attack_and_member_set(result):
    text = summary_table(result)
    lines = text.splitlines()
    for r in result["results"]:
        row = [ln for ln in lines if f" {r['attack']} " in f" {ln} " and f"{r['members']}/test" in ln
               and f"{r['auc']:.3f}" in ln]
        assert row, f"no row for {r['attack']} {r['members']}:\n{text}"
    assert "original+label-only" in text
    assert "data toy: 150 train, 300 test, 15 forget, 135 retain" in text
    assert "accuracy train 0.900, test 0.800, retain 0.910" in text and "trained in 1.2 s" in text


def test_summary_shows_tpr_columns_and_ci(result):
    text = summary_table(result)
    header = text.splitlines()[3]
    for col in ("AUC", "TPR@0.1%", "TPR@1%", "TPR@10%", "adv", "eps>="):
        assert col in header
    ci = result["results"][0]["auc_ci"]
    assert f"[{ci[0]:.3f}, {ci[1]:.3f}]" in text


def test_summary_lists_the_warnings_once(result):
    warnings = {w for r in result["results"] for w in r["warnings"]}
    assert warnings, "the toy result should carry the small-sample warnings"
    text = summary_table(result)
    assert "warnings:" in text
    for w in warnings:
        assert text.count(w) == 1


def test_summary_without_warnings_or_bootstrap():
    entry = _entry("loss", "train", 1.0, n_bootstrap=0, fprs=[0.1])
    assert not entry["warnings"]
    text = summary_table(_result([entry], seconds=None))
    assert "warnings:" not in text and "trained in" not in text
    assert " - " in text.splitlines()[-1] + " "  # no CI: a dash


def test_summary_header_names_the_confidence_level():
    entry = _entry("loss", "train", 1.0, n_bootstrap=20, confidence=0.9)
    text = summary_table(_result([entry]))
    header = text.splitlines()[3]
    assert "AUC 90% CI" in header and "95%" not in header


def test_summary_reads_a_result_from_json(result, tmp_path):
    path = write_json_atomic(tmp_path / "report.json", result)
    assert summary_table(load_result(path)) == summary_table(json.loads(dumps(result)))


def test_roc_png_from_json_alone(result, tmp_path):
    path = write_json_atomic(tmp_path / "report.json", result)
    pngs = roc_pngs(load_result(path), dpi=40)
    assert list(pngs) == ["original"]
    assert pngs["original"][:8] == PNG_MAGIC and len(pngs["original"]) > 1000


def test_no_roc_png_without_any_curve():
    assert roc_pngs(_result([]), dpi=30) == {}


def test_write_roc_pngs_one_file_per_model(result, tmp_path):
    paths = write_roc_pngs(result, tmp_path / "plots", dpi=30)
    assert [p.name for p in paths] == ["roc-original.png"]
    assert paths[0].read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["roc-original.png"]


def test_rendering_does_not_mutate_the_result(result):
    before = dumps(result)
    summary_table(result)
    roc_pngs(result, dpi=30)
    assert dumps(result) == before

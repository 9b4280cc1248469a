"""The first page's decision lines (issue 13), read from a result: golden tiny cases."""

from mia_audit.reports.decision import (mitigation_lines, records_at_risk_lines, threat_model_lines,
                                        unlearning_lines)


def _e(model, attack, auc, mitigation="none", applicable=True, members="train"):
    return {"model": model, "attack": attack, "auc": auc, "mitigation": mitigation, "applicable": applicable,
            "members": members}


RESULT = {
    "models": [{"name": "original", "outputs": "logits", "white_box": True, "accuracy": {"test": 0.8}}],
    "results": [_e("original", "loss", 0.6), _e("original", "lira-online", 0.7), _e("original", "boundary", 0.55),
                _e("original", "gap", 0.52, "label-only"), _e("original", "loss", None, "label-only", False)],
    "mitigations": [{"name": "label-only", "label": "label-only", "model": "original", "accuracy": {"test": 0.79}}],
    "reference_models": {"references": {"n_models": 8, "n_pool": 5000, "n_population": 1000}},
    "records": [{"model": "original", "attack": "lira-online", "n_members": 2000, "at_risk": {"0.01": 45, "0.001": 6}}],
    "unlearning_verdicts": [{"model": "finetune", "text": "did not forget: x"}],
}


def test_the_decision_lines_of_a_tiny_result():
    sees, knows = threat_model_lines(RESULT)
    assert sees.startswith("Sees: logits") and "white-box" in sees
    assert "8 reference models" in knows and "5,000 records" in knows and "1,000 population" in knows
    assert "query access" in knows
    assert records_at_risk_lines(RESULT) == ["original: 6 at FPR <= 0.1 %, 45 at FPR <= 1 % of 2,000 members "
                                             "(lira-online)"]
    assert mitigation_lines(RESULT) == ["label-only: highest AUC 0.700 -> 0.520; test accuracy 0.800 -> 0.790; "
                                        "makes 1 attacks not applicable (loss)"]
    assert unlearning_lines(RESULT) == ["finetune: did not forget: x"]


def test_single_model_attacks_know_nothing_more():
    bare = {"models": [{"name": "m", "outputs": "labels"}], "results": [_e("m", "gap", 0.5)]}
    assert threat_model_lines(bare) == ["Sees: labels only of each audited model, for the members' and non-members' "
                                        "records", "Knows: nothing beyond the outputs (single-model attacks)"]
    assert mitigation_lines(bare) == [] and records_at_risk_lines(bare) == []

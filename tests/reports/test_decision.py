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
    assert "augmented queries" not in knows  # one query per record: nothing to say
    images = {**RESULT, "reference_models": {"references": {**RESULT["reference_models"]["references"], "n_queries": 18}}}
    assert "the outputs on 18 augmented queries per record (image flips / shifts)" in threat_model_lines(images)[1]
    assert records_at_risk_lines(RESULT) == ["original: 6 at FPR <= 0.1 % (chance: 2), 45 at FPR <= 1 % (chance: 20) "
                                             "of 2,000 members (lira-online)"]
    assert mitigation_lines(RESULT) == ["label-only: highest AUC 0.700 -> 0.520; test accuracy 0.800 -> 0.790; "
                                        "makes 1 attack not applicable (loss)"]
    assert unlearning_lines(RESULT) == ["finetune: did not forget: x"]


def test_single_model_attacks_know_nothing_more():
    bare = {"models": [{"name": "m", "outputs": "labels"}], "results": [_e("m", "gap", 0.5)]}
    assert threat_model_lines(bare) == ["Sees: labels only of each audited model, for the members' and non-members' "
                                        "records", "Knows: nothing beyond the outputs (single-model attacks)"]
    assert mitigation_lines(bare) == [] and records_at_risk_lines(bare) == []


def test_coverage_lines_group_models_that_saw_the_same_and_ran_the_same():
    from mia_audit.reports.decision import coverage_lines

    reason = "signal '{}' needs posterior outputs (logits or probs); these outputs are label-only"
    raw = {"mitigation": "none", "access": "logits", "attacks_run": ["loss", "gap"], "not_run": []}
    labels = {"mitigation": "label-only", "access": "labels only", "attacks_run": ["gap"],
              "not_run": [{"attack": a, "reason": reason.format(a)} for a in ("loss", "entropy")]}
    verdict = {"coverage": [{**raw, "model": "a"}, {**labels, "model": "a"}, {**raw, "model": "b"},
                            {**labels, "model": "b"}, {**raw, "model": "c", "attacks_run": ["loss"]}]}
    assert coverage_lines(verdict) == [
        "a, b: outputs logits; ran loss, gap.",
        "c: outputs logits; ran loss.",
        "a, b + label-only: outputs labels only; ran gap; could not run loss, entropy (these outputs are "
        "label-only).",
    ]
    assert coverage_lines({"coverage_lines": ["old style"]}) == ["old style"]  # results from before


def test_limitations_name_thin_figures_small_sets_few_references_and_open_verdicts():
    from mia_audit.reports.decision import limitations_lines

    result = {"metrics": {}, "config": {"metrics": {"fprs": [0.001, 0.01]}},
              "models": [{"name": "m", "white_box": True}],
              "results": [{**_e("m", "loss", 0.6), "n_members": 719, "n_nonmembers": 719,
                           "tpr_at_fpr": {"0.001": 0.0, "0.01": 0.02}}],
              "reference_models": {"references": {"n_models": 16}},
              "slices": [{"too_small": True}, {"too_small": False}],
              "unlearning_verdicts": [{"model": "scrub", "status": "inconclusive"},
                                      {"model": "finetune", "status": "not_forgotten"}]}
    verdict = {"unreliable": [{"model": "m", "figure": "TPR@0.001", "n_nonmembers": 719, "needed": 10_000}] * 2,
               "too_few_records": [], "unmeasured": [], "coverage": []}
    lines = limitations_lines(result, verdict)
    assert lines[0] == "TPR at FPR 0.1 % needs 10,000 non-members; 719 were available (m)."  # once, not twice
    assert any("steps of 0.14 %" in x for x in lines)  # 1 / 719 members
    assert any(x.startswith("16 reference models") for x in lines)
    assert any("1 slices are too small" in x for x in lines)
    assert any(x.startswith("Unlearning inconclusive for scrub:") for x in lines)
    assert not any("finetune" in x for x in lines)
    assert any("No attack reads the weights" in x for x in lines)
    assert lines[-1].startswith("The verdict compares point estimates")


def test_dp_audit_lines_set_the_claim_beside_the_bound():
    from mia_audit.reports.decision import dp_audit_lines

    base = {"model": "original", "m": 1000, "k_plus": 50, "k_minus": 50, "guesses": 100, "correct": 80,
            "confidence": 0.95, "delta": 1e-5}
    dp = {**base, "claimed_epsilon": 1.0, "claimed_delta": 1e-5, "epsilon_lower_bound": 0.114}
    refuted = {**base, "claimed_epsilon": 0.5, "claimed_delta": 1e-5, "epsilon_lower_bound": 1.198}
    plain = {**base, "claimed_epsilon": None, "epsilon_lower_bound": 1.198}
    lines = dp_audit_lines({"dp_audit": [dp, refuted, plain]})
    assert lines[0] == ("original: claimed ε = 1 (δ = 1e-05); the canaries prove ε ≥ 0.114 at 95 % confidence "
                        "(80 of 100 guesses right; m = 1000 canaries, k+ = 50, k- = 50); consistent with the claim")
    assert lines[1].endswith("the bound is above the claim: the claim is refuted")
    assert lines[2].startswith("original: no DP claim (trained without DP-SGD); the canaries prove ε ≥ 1.2")


def test_a_training_time_mitigation_is_compared_with_the_original_model():
    result = {"models": [{"name": "original", "accuracy": {"test": 0.85}},
                         {"name": "dp-sgd", "mitigation": "dp-sgd(target_epsilon=1)", "epsilon": 0.994,
                          "accuracy": {"test": 0.79}}],
              "results": [_e("original", "loss", 0.529), _e("dp-sgd", "loss", 0.504)]}
    assert mitigation_lines(result) == ["dp-sgd(target_epsilon=1) (trains model dp-sgd): highest AUC 0.529 -> "
                                        "0.504; test accuracy 0.850 -> 0.790; epsilon = 0.994"]


def test_a_mitigation_under_which_reference_attacks_ran_carries_a_caution():
    result = {**RESULT, "verdict": {"coverage": [{"model": "original", "mitigation": "label-only",
                                                  "evidence": ["label", "reference"]}]}}
    (line,) = mitigation_lines(result)
    assert line.endswith("unmitigated reference models (a non-adaptive attacker), so their drop may overstate "
                         "the gain")
    assert "non-adaptive" not in mitigation_lines(RESULT)[0]


def test_the_caution_follows_whether_the_reference_models_answered_through_the_mitigation():
    coverage = {"coverage": [{"model": "original", "mitigation": "label-only", "evidence": ["label", "reference"]}]}

    def with_marks(*marks):
        extra = [{**_e("original", "lira-online", 0.6, "label-only"), "reference_outputs": m} for m in marks]
        return {**RESULT, "results": RESULT["results"] + extra, "verdict": coverage}

    assert "non-adaptive" not in mitigation_lines(with_marks("mitigated"))[0]  # an adaptive attacker: no caution
    assert "non-adaptive" in mitigation_lines(with_marks("mitigated", "unmitigated"))[0]

"""One verdict per unlearner against retraining (issue 13): golden tiny cases."""

from mia_audit.unlearning_verdict import unlearning_verdicts


def _entry(model, attack, auc, ci, gap, members="forget", mitigation="none", applicable=True):
    return {"model": model, "attack": attack, "members": members, "mitigation": mitigation, "nonmembers": "test",
            "applicable": applicable, "auc": auc, "auc_ci": ci, "gap_to_retrain": {"auc": gap}}


MODELS = [{"name": "original", "role": "original"}, {"name": "retrain", "role": "retrained", "unlearner": "retrain"},
          {"name": "ft", "role": "unlearned", "unlearner": "finetune"},
          {"name": "good", "role": "unlearned", "unlearner": "scrub"},
          {"name": "none", "role": "unlearned", "unlearner": "rotate"}]


def test_the_three_verdicts():
    results = [
        _entry("ft", "loss", 0.52, [0.48, 0.56], 0.01),          # retrain 0.51: inside
        _entry("ft", "lira-online", 0.575, [0.55, 0.60], 0.103),  # retrain 0.472: outside, the worst
        _entry("ft", "lira-online", 0.9, [0.89, 0.91], 0.4, mitigation="label-only"),  # not compared
        _entry("good", "loss", 0.50, [0.46, 0.54], -0.02),
        _entry("good", "lira-online", 0.49, [0.45, 0.53], 0.03),
        _entry("none", "loss", 0.5, None, 0.0),                    # no interval: unmeasured
        _entry("ft", "gap", 0.7, [0.6, 0.8], 0.3, members="train"),  # train vs test: not compared
    ]
    by = {v["model"]: v for v in unlearning_verdicts({"models": MODELS, "results": results})}
    assert set(by) == {"ft", "good", "none"}
    assert by["ft"]["status"] == "not_forgotten" and by["ft"]["n_attacks"] == 2
    assert by["ft"]["text"].startswith("did not forget: lira-online forget-vs-test AUC 0.575 vs retrain 0.472")
    assert by["ft"]["worst"]["attack"] == "lira-online"
    assert by["good"]["status"] == "indistinguishable" and "on all 2 attacks" in by["good"]["text"]
    assert by["none"]["status"] == "unmeasured" and by["none"]["n_attacks"] == 0


def test_a_gap_exactly_at_the_interval_edge_is_inside():
    results = [_entry("good", "loss", 0.55, [0.50, 0.60], 0.05)]  # retrain 0.50: on the edge
    (v,) = [v for v in unlearning_verdicts({"models": MODELS, "results": results}) if v["model"] == "good"]
    assert v["status"] == "indistinguishable"


def test_wide_intervals_are_inconclusive_never_indistinguishable():
    """Few forget records: no gap is measured, but none could have been: not a pass."""
    results = [_entry("good", "loss", 0.52, [0.40, 0.64], 0.01), _entry("good", "gap", 0.5, [0.48, 0.52], 0.0)]
    (v,) = [v for v in unlearning_verdicts({"models": MODELS, "results": results}) if v["model"] == "good"]
    assert v["status"] == "inconclusive" and "too wide" in v["text"] and v["worst"]["attack"] == "loss"


def test_a_forget_set_below_retraining_is_over_forgotten_not_forgotten_wrongly_named():
    """eupg-kanon in the demo: lira-offline AUC 0.490 [0.463, 0.514] vs retrain 0.516. The forget
    set looks less like members than after retraining: detectable, but not "did not forget"."""
    below = [_entry("ft", "lira-offline", 0.490, [0.463, 0.514], -0.026),
             _entry("ft", "loss", 0.50, [0.47, 0.53], 0.0)]
    (v,) = [v for v in unlearning_verdicts({"models": MODELS, "results": below}) if v["model"] == "ft"]
    assert v["status"] == "over_forgotten"
    assert v["text"].startswith("forgot more than retraining (detectable too): lira-offline forget-vs-test AUC "
                                "0.490 vs retrain 0.516 (outside [0.463, 0.514]; 1 of 2 attacks)")
    # one attack above retraining outweighs any below it: the model did not forget
    mixed = below + [_entry("ft", "lira-online", 0.56, [0.54, 0.58], 0.05)]  # retrain 0.51: outside, above
    (v,) = [v for v in unlearning_verdicts({"models": MODELS, "results": mixed}) if v["model"] == "ft"]
    assert v["status"] == "not_forgotten" and v["worst"]["attack"] == "lira-online"

"""What the ROC figures draw (mia_audit.reports.curves): identical curves merged, yes/no attacks
as one point, at most six lines a panel, one figure per model with a panel per mitigation."""

from __future__ import annotations

import numpy as np

from mia_audit.metrics import evaluate
from mia_audit.reports.curves import (MAX_LINES, curves_of, figure_models, interior_points, is_operating_point,
                                      model_panels, panel_members, same_curve)
from mia_audit.reports.roc_plot import attack_styles, is_roc_file, roc_file_name, roc_pngs


def _entry(attack, scores_in, scores_out, *, model="original", members="train", mitigation="none", seed=0):
    m = evaluate(np.asarray(scores_in, float), np.asarray(scores_out, float), seed=seed, n_bootstrap=0)
    return {"model": model, "mitigation": mitigation, "attack": attack, "members": members,
            "nonmembers": "test", **m.to_dict()}


def _scores(shift, seed, n=300):
    gen = np.random.default_rng(seed)
    return gen.normal(shift, 1, n), gen.normal(0, 1, n)


def test_attacks_that_rank_alike_share_one_line():
    """loss and confidence = exp(-loss) rank the records identically: one curve, joint label;
    a differently ranked attack keeps its own line."""
    loss_in, loss_out = _scores(0.5, 1)
    loss = _entry("loss", loss_in, loss_out)
    confidence = _entry("confidence", np.exp(loss_in), np.exp(loss_out))  # monotone: the same ranking
    other = _entry("entropy", *_scores(0.2, 2))
    assert same_curve(loss, confidence) and not same_curve(loss, other)
    curves = curves_of([loss, other, confidence])
    assert [c.attacks for c in curves] == [("loss", "confidence"), ("entropy",)]  # highest AUC first
    assert curves[0].label == "loss = confidence"


def test_a_yes_no_attack_is_one_operating_point():
    gen = np.random.default_rng(3)
    gap = _entry("gap", (gen.random(300) < 0.9).astype(float), (gen.random(300) < 0.8).astype(float))
    assert is_operating_point(gap)
    (x, y), = interior_points(gap)
    assert abs(x - gap["roc"]["fpr"][1]) < 1e-12 and 0.7 < x < 0.9 and 0.8 < y < 1.0
    loss = _entry("loss", *_scores(0.5, 1))
    assert not is_operating_point(loss) and len(interior_points(loss)) > 10


def test_a_panel_keeps_the_six_strongest_lines_and_names_the_rest():
    entries = [_entry(f"a{i}", *_scores(0.1 * i, 10 + i)) for i in range(8)]
    (panel,) = model_panels({"models": [], "results": entries}, "original")
    assert len(panel.curves) == MAX_LINES == 6
    aucs = [c.entry["auc"] for c in panel.curves]
    assert aucs == sorted(aucs, reverse=True)
    dropped = {e["attack"] for e in entries} - {c.attacks[0] for c in panel.curves}
    assert set(panel.omitted) == dropped and len(dropped) == 2
    assert max(e["auc"] for e in entries if e["attack"] in dropped) <= min(aucs)


def test_one_figure_per_model_with_a_panel_per_mitigation():
    models = [{"name": "original", "role": "original"}, {"name": "scrub", "role": "unlearned"}]
    results = [_entry("loss", *_scores(0.4, 1)), _entry("loss", *_scores(0.3, 2), members="forget"),
               _entry("loss", *_scores(0.2, 3), mitigation="temperature(T=2)"),
               _entry("loss", *_scores(0.1, 4), model="scrub", members="forget"),
               _entry("loss", *_scores(0.1, 5), model="scrub", members="train")]
    result = {"models": models, "results": results}
    assert figure_models(result) == ["original", "scrub"]
    assert panel_members(result, "original") == "train" and panel_members(result, "scrub") == "forget"
    assert [p.title for p in model_panels(result, "original")] == ["raw outputs: train vs test",
                                                                  "temperature(T=2): train vs test"]
    assert [p.title for p in model_panels(result, "scrub")] == ["raw outputs: forget vs test"]
    pngs = roc_pngs(result, dpi=30)
    assert list(pngs) == ["original", "scrub"] and all(p[:4] == b"\x89PNG" for p in pngs.values())
    na = {**results[0], "applicable": False, "roc": None}
    assert figure_models({"models": models[:1], "results": [na]}) == []


def test_styles_are_distinct_and_file_names_plain():
    styles = attack_styles([f"a{i}" for i in range(32)])
    pairs = {(s["color"], s["linestyle"]) for s in styles.values()}
    assert len(pairs) == 32  # no two of 32 attacks share colour and line style
    taken: set[str] = set()
    assert roc_file_name("neggrad+", taken) == "roc-neggrad.png"
    assert roc_file_name("sisa original", taken) == "roc-sisa-original.png"
    assert roc_file_name("neggrad+", taken) == "roc-neggrad-2.png"  # two models, two files
    assert roc_file_name("../../etc", set()) == "roc-etc.png"
    assert is_roc_file("roc.png") and is_roc_file("roc-x.png") and not is_roc_file("my-roc.png")

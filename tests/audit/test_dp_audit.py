"""One-run DP audit (Steinke, Nasr & Jagielski 2023): the bound, the guesses, the canary pipeline."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import expit

from mia_audit.dp_audit import epsilon_lower_bound, one_run_audit, p_value
from mia_audit.errors import InputError

# ---------------------------------------------------------------------------- the bound, by hand


@pytest.mark.parametrize("r", [3, 5, 20, 100, 1000])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_all_correct_matches_closed_form(r, confidence):
    # delta = 0, v = r: P[Binomial(r, q) >= r] = q^r = 1 - confidence  ->  q = (1 - c)^(1/r)
    q = (1.0 - confidence) ** (1.0 / r)
    expected = math.log(q / (1.0 - q)) if q > 0.5 else 0.0
    got = epsilon_lower_bound(r, r, r, delta=0.0, confidence=confidence)
    assert got == pytest.approx(expected, abs=1e-9)


def test_one_guess_never_rejects():
    # one correct guess: P = q >= 1/2 > 0.05 for every eps >= 0
    assert epsilon_lower_bound(10, 1, 1, delta=0.0) == 0.0


@pytest.mark.parametrize("r, v", [(100, 80), (200, 150), (50, 33), (1000, 560)])
def test_partial_accuracy_matches_scipy_tail(r, v):
    # the eps solving P[Binomial(r, expit(eps)) >= v] = 0.05, found independently with brentq
    def excess(eps):
        return stats.binom.sf(v - 1, r, expit(eps)) - 0.05

    expected = optimize.brentq(excess, 0.0, 20.0, xtol=1e-14, rtol=1e-14)
    got = epsilon_lower_bound(r, r, v, delta=0.0, confidence=0.95)
    assert got == pytest.approx(expected, abs=1e-9)
    assert stats.binom.sf(v - 1, r, expit(got)) < 0.05 <= stats.binom.sf(v - 1, r, expit(got + 1e-8))


def test_not_rejected_at_zero_gives_zero():
    # 60 of 100 right: P[Binomial(100, 1/2) >= 60] = 0.028 < 0.05, but 58 of 100: 0.067
    assert stats.binom.sf(57, 100, 0.5) > 0.05
    assert epsilon_lower_bound(100, 100, 58, delta=0.0) == 0.0
    assert epsilon_lower_bound(100, 100, 60, delta=0.0) > 0.0
    assert epsilon_lower_bound(100, 0, 0, delta=0.0) == 0.0  # no guesses
    assert epsilon_lower_bound(100, 100, 0, delta=0.0) == 0.0


def test_delta_term_matches_the_formula_by_hand():
    # p = P[B >= v] + 2 m delta max_{i=1..v} P[v - i <= B < v] / i, B ~ Binomial(r, q)
    m, r, v, eps, delta = 50, 12, 10, 0.7, 1e-3
    q = math.exp(eps) / (1 + math.exp(eps))
    pmf = [math.comb(r, k) * q ** k * (1 - q) ** (r - k) for k in range(r + 1)]
    tail = sum(pmf[v:])
    alpha = max(sum(pmf[v - i:v]) / i for i in range(1, v + 1))
    assert p_value(m, r, v, eps, delta) == pytest.approx(tail + 2 * m * delta * alpha, rel=1e-12)
    assert p_value(m, r, v, eps, 0.0) == pytest.approx(tail, rel=1e-12)
    assert p_value(10 ** 6, r, v, eps, 0.5) == 1.0  # capped


def test_reference_values_with_delta():
    # the paper's own example setting (Appendix D code): m = 1000, 600 guesses all correct, delta 1e-5
    bound = epsilon_lower_bound(1000, 600, 600, delta=1e-5, confidence=0.95)
    assert bound == pytest.approx(5.2704, abs=1e-3)
    assert p_value(1000, 600, 600, bound, 1e-5) < 0.05 <= p_value(1000, 600, 600, bound + 1e-8, 1e-5)


# ---------------------------------------------------------------------------- properties


@pytest.mark.parametrize("delta", [0.0, 1e-5, 1e-3])
def test_more_correct_guesses_never_lower_the_bound(delta):
    bounds = [epsilon_lower_bound(1000, 100, v, delta=delta) for v in range(101)]
    assert all(b2 >= b1 - 1e-12 for b1, b2 in zip(bounds, bounds[1:]))
    assert bounds[0] == 0.0 and bounds[-1] > 0.5


@pytest.mark.parametrize("delta", [0.0, 1e-5])
def test_a_wrong_guess_never_raises_the_bound(delta):
    # (r + 1, v): one more guess, wrong; abstaining on it instead is never worse
    for r in range(1, 40):
        for v in range(0, r + 1):
            assert epsilon_lower_bound(1000, r + 1, v, delta=delta) <= epsilon_lower_bound(1000, r, v, delta=delta) + 1e-12


def test_abstaining_at_the_same_accuracy_never_beats_guessing_all():
    # (r, v) against (k r, k v): the same accuracy on k times the guesses bounds eps at least as high
    for r in range(1, 31):
        for v in range(0, r + 1):
            few = epsilon_lower_bound(1000, r, v, delta=0.0)
            for k in (2, 3):
                assert few <= epsilon_lower_bound(1000, k * r, k * v, delta=0.0) + 1e-12


def test_delta_never_raises_the_bound():
    for r, v in [(10, 10), (100, 80), (100, 95), (500, 400), (1000, 600), (200, 120)]:
        pure = epsilon_lower_bound(1000, r, v, delta=0.0)
        previous = pure
        for delta in (1e-8, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2):
            bound = epsilon_lower_bound(1000, r, v, delta=delta)
            assert bound <= pure + 1e-12
            assert bound <= previous + 1e-9  # and more delta, lower still
            previous = bound
    assert epsilon_lower_bound(1000, 500, 400, delta=1e-4) < epsilon_lower_bound(1000, 500, 400, delta=0.0)


def test_more_confidence_lowers_and_more_canaries_with_delta_lower():
    b = [epsilon_lower_bound(1000, 300, 240, delta=0.0, confidence=c) for c in (0.5, 0.9, 0.95, 0.99, 0.999)]
    assert all(b2 < b1 for b1, b2 in zip(b, b[1:]))
    # m enters only through the delta term
    assert epsilon_lower_bound(300, 300, 240, delta=0.0) == epsilon_lower_bound(10 ** 6, 300, 240, delta=0.0)
    assert epsilon_lower_bound(10 ** 5, 300, 240, delta=1e-5) < epsilon_lower_bound(300, 300, 240, delta=1e-5)


def test_null_random_scores_give_no_bound():
    # scores independent of inclusion: v ~ Binomial(r, 1/2), so the bound must be ~0.
    m, k = 1000, 250
    gen = np.random.default_rng(12345)
    included = gen.random(m) < 0.5
    scores = gen.normal(size=m)
    out = one_run_audit(scores, included, k_plus=k, k_minus=k, delta=1e-5)
    r = 2 * k
    se = math.sqrt(r) / 2  # binomial SE of v at p = 1/2
    assert abs(out["correct"] - r / 2) < 4 * se
    # the margin: the bound that v = r/2 + 3 SE (a 1-in-740 fluke) would give
    margin = epsilon_lower_bound(m, r, math.ceil(r / 2 + 3 * se), delta=1e-5)
    assert margin < 0.5
    assert out["epsilon_lower_bound"] <= margin


def test_null_false_rejections_at_most_the_stated_rate():
    # under the null (eps = 0, delta = 0) P[bound > 0] <= 1 - confidence: 400 random audits
    gen = np.random.default_rng(7)
    positives = 0
    for _ in range(400):
        included = gen.random(200) < 0.5
        out = one_run_audit(gen.normal(size=200), included, k_plus=40, k_minus=40, delta=0.0)
        positives += out["epsilon_lower_bound"] > 0
    assert positives <= 35  # mean <= 20 (5 %), sd 4.4


# ---------------------------------------------------------------------------- guesses


def test_one_run_audit_guesses_by_hand():
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 2.5, -1.0])
    included = np.array([1, 1, 0, 1, 0, 0, 1, 0])
    out = one_run_audit(scores, included, k_plus=3, k_minus=3, delta=0.0, confidence=0.9)
    # "in": scores 5, 4, 3 (two included); "out": scores 1, 0, -1 (all excluded)
    assert (out["correct_in"], out["correct_out"], out["correct"], out["guesses"]) == (2, 3, 5, 6)
    assert out["epsilon_lower_bound"] == epsilon_lower_bound(8, 6, 5, delta=0.0, confidence=0.9)
    assert out == {"m": 8, "k_plus": 3, "k_minus": 3, "guesses": 6, "correct": 5, "correct_in": 2,
                   "correct_out": 3, "epsilon_lower_bound": out["epsilon_lower_bound"], "delta": 0.0,
                   "confidence": 0.9}
    json.dumps(out)


def test_one_run_audit_one_sided_and_perfect():
    m = 400
    included = np.arange(m) % 2 == 0
    scores = included.astype(float) + np.linspace(0, 0.1, m)
    only_in = one_run_audit(scores, included, k_plus=100, k_minus=0, delta=0.0)
    assert only_in["correct"] == 100 and only_in["guesses"] == 100
    assert only_in["epsilon_lower_bound"] == pytest.approx(epsilon_lower_bound(m, 100, 100, delta=0.0))
    only_out = one_run_audit(scores, included.astype(int), k_plus=0, k_minus=150, delta=0.0)
    assert only_out["correct"] == 150
    both = one_run_audit(scores, included, k_plus=200, k_minus=200, delta=1e-5)
    assert both["correct"] == 400 and both["epsilon_lower_bound"] > only_in["epsilon_lower_bound"]


def test_ties_are_broken_in_canary_order():
    out = one_run_audit(np.zeros(4), np.array([True, False, False, True]), k_plus=1, k_minus=1, delta=0.0)
    assert (out["correct_in"], out["correct_out"]) == (1, 0)  # "in": canary 0; "out": canary 3


@pytest.mark.parametrize("kwargs, word", [
    (dict(m=0, r=0, v=0), "m"),
    (dict(m=10, r=11, v=0), "r"),
    (dict(m=10, r=5, v=6), "v"),
    (dict(m=10, r=-1, v=0), "r"),
    (dict(m=True, r=1, v=1), "m"),
    (dict(m=10.0, r=1, v=1), "m"),
    (dict(m=10, r=5, v=5, delta=1.0), "delta"),
    (dict(m=10, r=5, v=5, delta=-1e-3), "delta"),
    (dict(m=10, r=5, v=5, delta=float("nan")), "delta"),
    (dict(m=10, r=5, v=5, confidence=1.0), "confidence"),
    (dict(m=10, r=5, v=5, confidence=0.0), "confidence"),
    (dict(m=10, r=5, v=5, confidence="0.95"), "confidence"),
])
def test_epsilon_lower_bound_refuses_bad_arguments(kwargs, word):
    kwargs.setdefault("delta", 0.0)
    with pytest.raises(InputError, match=rf"^{word} must be"):
        epsilon_lower_bound(kwargs.pop("m"), kwargs.pop("r"), kwargs.pop("v"), **kwargs)


@pytest.mark.parametrize("scores, included, kwargs, word", [
    ([[1.0, 2.0]], [1, 0], {}, "scores"),
    ([], [], {}, "scores"),
    ([1.0, float("inf")], [1, 0], {}, "scores"),
    (["a", "b"], [1, 0], {}, "scores"),
    ([1.0, 2.0], [1, 0, 1], {}, "included"),
    ([1.0, 2.0], [1, 2], {}, "included"),
    ([1.0, 2.0], [0.5, 1.0], {}, "included"),
    ([1.0, 2.0], [1, 0], dict(k_plus=-1), "k_plus"),
    ([1.0, 2.0], [1, 0], dict(k_minus=1.5), "k_minus"),
    ([1.0, 2.0], [1, 0], dict(k_plus=2, k_minus=1), "k_plus \\+ k_minus"),
    ([1.0, 2.0], [1, 0], dict(k_plus=0, k_minus=0), "k_plus \\+ k_minus"),
    ([1.0, 2.0], [1, 0], dict(delta=2.0), "delta"),
    ([1.0, 2.0], [1, 0], dict(confidence=1.5), "confidence"),
])
def test_one_run_audit_refuses_bad_arguments(scores, included, kwargs, word):
    args = dict(k_plus=1, k_minus=1, delta=0.0, confidence=0.95)
    args.update(kwargs)
    with pytest.raises(InputError, match=rf"^{word} must be"):
        one_run_audit(scores, included, **args)


# ---------------------------------------------------------------------------- the canary pipeline


@pytest.fixture(scope="module")
def adult_pool():
    from mia_audit.data import load_dataset

    ds = load_dataset("adult")
    idx = np.random.default_rng(0).choice(len(ds.y), 3000, replace=False)
    return ds, ds.X[idx], ds.y[idx]


def _mlp(ds, seed=0):
    from mia_audit.models import build_model

    return build_model("mlp", input_shape=ds.input_shape, n_classes=ds.n_classes, seed=seed, hidden=[64])


def test_make_canaries_are_mislabelled_distinct_and_seeded():
    from mia_audit.run.dp_audit import make_canaries

    y = np.random.default_rng(1).integers(0, 5, size=2000)
    index, wrong, included = make_canaries(y, 500, 5, seed=3)
    assert len(set(index.tolist())) == 500
    assert np.all(wrong != y[index]) and wrong.min() >= 0 and wrong.max() < 5
    assert len(np.unique(wrong - y[index])) > 1  # not one fixed shift
    assert 200 < included.sum() < 300
    again = make_canaries(y, 500, 5, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((index, wrong, included), again))
    assert not np.array_equal(make_canaries(y, 500, 5, seed=4)[2], included)


def test_canary_audit_refuses_bad_arguments(adult_pool):
    from mia_audit.run.dp_audit import canary_audit
    from mia_audit.training import recipe_for

    ds, X, y = adult_pool
    recipe = recipe_for("mlp", "tabular")
    common = dict(n_canaries=100, seed=0, device="cpu", k_plus=10, k_minus=10)
    with pytest.raises(InputError, match="^k_plus \\+ k_minus must be"):
        canary_audit(None, _mlp(ds), X, y, recipe, **{**common, "k_plus": 60, "k_minus": 60})
    with pytest.raises(InputError, match="^n_canaries must be"):
        canary_audit(None, _mlp(ds), X, y, recipe, **{**common, "n_canaries": 3000})
    with pytest.raises(InputError, match="^dp_mitigation must be"):
        canary_audit("dp-sgd", _mlp(ds), X, y, recipe, **common)
    with pytest.raises(InputError, match="^delta must be"):
        canary_audit(None, _mlp(ds), X, y, recipe, **common, delta=1.0)
    with pytest.raises(InputError, match="^y must be"):
        canary_audit(None, _mlp(ds), X, y[:-1], recipe, **common)


@pytest.mark.slow
def test_non_dp_model_leaks_mislabelled_canaries(adult_pool):
    from mia_audit.run.dp_audit import canary_audit
    from mia_audit.training import recipe_for

    ds, X, y = adult_pool
    recipe = recipe_for("mlp", "tabular").replace(epochs=100)
    out = canary_audit(None, _mlp(ds), X, y, recipe, n_canaries=1000, seed=0, device="cpu", k_plus=100,
                       k_minus=100)
    print(f"non-DP control: {out['correct']}/{out['guesses']} correct, "
          f"epsilon lower bound {out['epsilon_lower_bound']:.3f} at delta {out['delta']:.2g}")
    assert out["claimed_epsilon"] is None and out["canaries"] == "mislabelled" and out["m"] == 1000
    assert out["n_train"] == 2000 + out["n_included"]
    assert out["epsilon_lower_bound"] > 0.5
    json.loads(json.dumps(out))


@pytest.mark.slow
def test_dp_sgd_at_epsilon_one_is_never_refuted(adult_pool):
    from mia_audit.mitigations import create_mitigation
    from mia_audit.run.dp_audit import canary_audit
    from mia_audit.training import recipe_for

    ds, X, y = adult_pool
    recipe = recipe_for("mlp", "tabular").replace(epochs=30)
    results = []
    for seed in range(5):
        out = canary_audit(create_mitigation("dp-sgd", target_epsilon=1.0), _mlp(ds, seed), X, y, recipe,
                           n_canaries=1000, seed=seed, device="cpu", k_plus=100, k_minus=100)
        results.append(out)
        json.loads(json.dumps(out))
    print("DP-SGD (target eps 1):", [(round(o["claimed_epsilon"], 4), round(o["epsilon_lower_bound"], 4),
                                      o["correct"]) for o in results])
    for out in results:
        assert out["claimed_epsilon"] == pytest.approx(1.0, abs=0.05)
        assert out["delta"] == out["claimed_delta"] == out["privacy"]["delta"]
        assert out["mitigation"].startswith("dp-sgd")
        assert out["epsilon_lower_bound"] <= out["claimed_epsilon"]  # the claim is not refuted
        assert out["epsilon_lower_bound"] < 1.0


def test_a_dp_sgd_audit_carries_its_one_run_audit(tmp_path):
    """[report] dp_audit: the dp-sgd model's claimed epsilon beside the one-run lower bound."""
    pytest.importorskip("opacus")
    import json

    from mia_audit.config import AttackConfig, AuditConfig, DataConfig, MetricsConfig, ModelConfig, ReportConfig
    from mia_audit.run.pipeline import run_audit

    config = AuditConfig(
        data=DataConfig(name="adult", train_size=1500, test_size=500),
        model=ModelConfig(name="mlp", params={"hidden": [32]}, training={"epochs": 3}),
        attacks=AttackConfig(names=["loss"], members=["train"]), metrics=MetricsConfig(n_bootstrap=0),
        mitigations=[{"name": "dp-sgd", "target_epsilon": 2.0}],
        report=ReportConfig(dp_audit=True, dp_canaries=300, dp_guesses=50), seed=0, device="cpu")
    result = run_audit(config)
    (audit,) = result["dp_audit"]
    assert audit["model"] == "dp-sgd" and audit["m"] == 300 and audit["k_plus"] == audit["k_minus"] == 50
    assert 0.0 <= audit["epsilon_lower_bound"] <= audit["claimed_epsilon"] <= 2.0 + 1e-6
    from mia_audit.reports.markdown_summary import summary_markdown

    text = summary_markdown(result)
    assert "**DP audit**" in text and "the canaries prove ε ≥" in text
    jsonschema = pytest.importorskip("jsonschema")
    from mia_audit.reports.result_json import schema

    jsonschema.validate(json.loads(json.dumps(result)), schema())

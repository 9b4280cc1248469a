"""QMIA (Bertran et al. 2023): quantile regression on population (non-member) records.

* Real data: an MLP overfitted on 1,500 Adult records, 20,000 population records outside the
  audit, 8,000 held-out non-members. QMIA's TPR at 1 % FPR is compared with the loss attack's
  (Adult gives little at low FPR: both sit near 1 %, so the bound is "not worse by more than one
  binomial SE"; the AUC, where QMIA's per-record calibration shows, must beat the loss attack's by
  2 SE); its own decision (score > 0) must have an FPR within 2 SE of alpha on the held-out
  non-members; a null control (two halves of the held-out non-members) must sit at AUC 0.5.
* Golden tiny cases: a population whose score is a known function of the features, and one with
  no features to learn from, where the calibrated quantile is a calibration record's score.
* Contract: options, errors, determinism, the dispatch handler, and one audit end to end.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import norm

from mia_audit.adapters import CallableAdapter, as_adapter
from mia_audit.attacks import ATTACKS, access_of, attack_evidence, create_attack, signal_attack_names
from mia_audit.attacks.qmia import MIN_POPULATION, QuantileRegressionAttack
from mia_audit.data import load_dataset
from mia_audit.errors import InputError, NotApplicableError, NotFittedError
from mia_audit.metrics import auc, tpr_at_fpr
from mia_audit.models import build_model
from mia_audit.outputs import Outputs
from mia_audit.run.dispatch import HANDLERS
from mia_audit.run.population import population_scores
from mia_audit.seeding import rng
from mia_audit.signals import Signals, compute_signals
from mia_audit.training import recipe_for, train_model

N_MEMBERS, N_HELD_OUT, N_POPULATION = 1500, 8000, 20_000
ALPHA = 0.01


def auc_se(n1, n0):
    return float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))


def score_signals(s):
    """Signals holding only a logit-scaled confidence (what QMIA regresses by default)."""
    s = np.asarray(s, dtype=np.float64)
    return Signals(correct=np.ones_like(s), logit_confidence=s)


@pytest.fixture(scope="module")
def adult():
    """An MLP overfitted on 1,500 Adult records (train accuracy about 0.99, unseen 0.81), QMIA fitted on
    20,000 population records (with labels), and the scores of members and 8,000 held-out non-members."""
    data = load_dataset("adult")
    order = np.random.default_rng(1).permutation(len(data.y))
    members = order[:N_MEMBERS]
    held_out = order[N_MEMBERS:N_MEMBERS + N_HELD_OUT]
    population = order[N_MEMBERS + N_HELD_OUT:N_MEMBERS + N_HELD_OUT + N_POPULATION]
    model = build_model("mlp", input_shape=data.input_shape, n_classes=2, seed=1, hidden=(256, 256))
    recipe = recipe_for("mlp", "tabular").replace(epochs=60, batch_size=32)
    adapter = as_adapter(train_model(model, data.X[members], data.y[members], recipe, seed=2, device="cpu").model)

    def signals(idx):
        return compute_signals(adapter.predict(data.X[idx]), data.y[idx])

    sig_in, sig_out, sig_pop = signals(members), signals(held_out), signals(population)
    attack = create_attack("qmia", seed=0, alpha=ALPHA).fit_population(data.X[population], sig_pop,
                                                                        labels=data.y[population])
    q_in = attack.score_records(data.X[members], sig_in, labels=data.y[members])
    q_out = attack.score_records(data.X[held_out], sig_out, labels=data.y[held_out])
    return SimpleNamespace(attack=attack, q_in=q_in, q_out=q_out, loss_in=-sig_in.loss, loss_out=-sig_out.loss,
                           train_accuracy=sig_in.correct.mean(), data=data, population=population, sig_pop=sig_pop)


def test_the_model_memorises(adult):
    assert adult.train_accuracy > 0.95


def test_tpr_at_1pct_at_least_the_loss_attacks_and_auc_above_it(adult):
    # measured: TPR@1% qmia 0.0127, loss 0.0087 (+1.7 SE); AUC qmia 0.612, loss 0.557 (+6.8 SE)
    tpr_q = tpr_at_fpr(adult.q_in, adult.q_out, [0.01])[0.01]
    tpr_l = tpr_at_fpr(adult.loss_in, adult.loss_out, [0.01])[0.01]
    se = np.sqrt(max(tpr_l, 1 / N_MEMBERS) * (1 - tpr_l) / N_MEMBERS)
    assert tpr_q >= tpr_l - se, f"TPR@1%: qmia {tpr_q:.4f}, loss {tpr_l:.4f} (SE {se:.4f})"
    auc_q, auc_l = auc(adult.q_in, adult.q_out), auc(adult.loss_in, adult.loss_out)
    assert auc_q > auc_l + 2 * auc_se(N_MEMBERS, N_HELD_OUT), f"AUC: qmia {auc_q:.4f}, loss {auc_l:.4f}"
    assert auc_q > 0.5 + 4 * auc_se(N_MEMBERS, N_HELD_OUT)


def test_own_threshold_has_fpr_alpha_on_held_out_non_members(adult):
    """score > 0 is QMIA's own decision. The SE counts both the held-out draw and the calibration
    records the threshold was set on (split conformal: its coverage varies as 1 / n_cal)."""
    # measured: FPR 0.0103 (alpha 0.01, SE 0.0016: +0.15 SE)
    fpr = float(np.mean(adult.q_out > 0))
    n_cal = adult.attack.n_calibration_
    assert n_cal == round(0.3 * N_POPULATION)
    se = np.sqrt(ALPHA * (1 - ALPHA) * (1 / N_HELD_OUT + 1 / n_cal))
    assert abs(fpr - ALPHA) < 2 * se, f"FPR {fpr:.4f} at alpha {ALPHA} (SE {se:.4f})"


def test_null_control_two_halves_of_non_members(adult):
    # measured: 0.4987 (-0.2 SE)
    half = N_HELD_OUT // 2
    null = auc(adult.q_out[:half], adult.q_out[half:])
    assert abs(null - 0.5) < 2 * auc_se(half, half), f"null AUC {null:.4f}"


def test_scores_are_finite_deterministic_and_inputs_unchanged(adult):
    data, pop = adult.data, adult.population[:2000]
    X, y = data.X[pop], data.y[pop]
    copies = X.copy(), y.copy(), adult.sig_pop.logit_confidence.copy()
    sig = adult.sig_pop.take(np.arange(2000))
    a = create_attack("qmia", seed=3).fit_population(X, sig, labels=y)
    b = create_attack("qmia", seed=3).fit_population(X, sig, labels=y)
    sa, sb = a.score_records(X, sig, labels=y), b.score_records(X, sig, labels=y)
    assert sa.dtype == np.float64 and sa.shape == (2000,) and np.all(np.isfinite(sa))
    np.testing.assert_array_equal(sa, sb)
    np.testing.assert_array_equal(X, copies[0])
    np.testing.assert_array_equal(y, copies[1])
    np.testing.assert_array_equal(adult.sig_pop.logit_confidence, copies[2])


# ---------------------------------------------------------------------------- golden tiny cases


def test_golden_quantile_of_a_known_function_of_the_features():
    """score = 3 x0 + sd(x1) * N(0, 1), sd = 0.2 for x1 < 0 and 0.6 above: the 0.9 quantile is
    3 x0 + 1.2816 sd(x1); the fitted, calibrated quantile recovers it."""
    g = np.random.default_rng(0)
    X = g.uniform(-1, 1, size=(20_000, 2))

    def scores(X):
        return 3 * X[:, 0] + np.where(X[:, 1] < 0, 0.2, 0.6) * g.normal(size=X.shape[0])

    attack = create_attack("qmia", alpha=0.1, seed=0).fit_population(X, score_signals(scores(X)))
    grid = g.uniform(-0.9, 0.9, size=(2000, 2))
    sd = np.where(grid[:, 1] < 0, 0.2, 0.6)
    true = 3 * grid[:, 0] + sd * norm.ppf(0.9)
    q = attack.predict_quantile(grid)
    # measured: mean |error| 0.058
    assert np.mean(np.abs(q - true)) < 0.1
    for side in (grid[:, 1] < -0.1, grid[:, 1] > 0.1):  # the quantile's offset above 3 x0, per half
        offset = np.mean(q[side] - 3 * grid[side, 0])
        assert offset == pytest.approx(sd[side][0] * norm.ppf(0.9), abs=0.06)
    fresh = g.uniform(-1, 1, size=(20_000, 2))  # measured: 0.1015
    fpr = np.mean(attack.score_records(fresh, score_signals(scores(fresh))) > 0)
    assert abs(fpr - 0.1) < 2 * np.sqrt(0.09 * (1 / 20_000 + 1 / attack.n_calibration_))


def test_golden_no_features_the_quantile_is_a_calibration_score():
    """With one constant feature the regressors are constants, so the calibrated quantile is the
    ceil((n_cal + 1)(1 - alpha))-th smallest calibration score (split conformal), by hand."""
    g = np.random.default_rng(1)
    s = g.normal(size=1000)
    attack = create_attack("qmia", alpha=0.1, seed=3).fit_population(np.zeros((1000, 1)), score_signals(s))
    order = rng(3, "qmia", "calibration").permutation(1000)  # the attack's documented split
    cal = np.sort(s[order[:300]])
    expected = cal[int(np.ceil(301 * 0.9)) - 1]
    np.testing.assert_allclose(attack.predict_quantile(np.zeros((4, 1))), expected, rtol=1e-12)
    scores = attack.score_records(np.zeros((1000, 1)), score_signals(s))
    other = s != expected  # the record at the quantile itself scores 0 up to rounding
    np.testing.assert_array_equal((scores > 0)[other], (s > expected)[other])


def test_lower_is_member_signals_are_negated():
    g = np.random.default_rng(2)
    loss = g.exponential(size=600)
    sig = Signals(correct=np.ones(600), loss=loss)
    a = create_attack("qmia", alpha=0.1, score="loss", seed=0).fit_population(np.zeros((600, 1)), sig)
    s = a.score_records(np.zeros((600, 1)), sig)
    assert np.corrcoef(s, -loss)[0, 1] > 0.99
    assert a.requires == ("loss",)


# ---------------------------------------------------------------------------- contract


def test_registered_with_population_access_and_posterior_evidence():
    assert "qmia" in ATTACKS.names()
    assert access_of(ATTACKS.get("qmia")) == "population"
    assert attack_evidence(ATTACKS.get("qmia")) == ("posterior",)
    assert "qmia" not in signal_attack_names()
    assert HANDLERS["population"].scope == "model" and HANDLERS["population"].run is population_scores


def test_options_are_checked():
    with pytest.raises(InputError, match=r"attack 'qmia': unknown option 'quantile'; valid options: alpha, "):
        create_attack("qmia", quantile=0.99)
    with pytest.raises(InputError, match="alpha"):
        create_attack("qmia", alpha=0.5)
    with pytest.raises(InputError, match="score"):
        create_attack("qmia", score="correct")
    with pytest.raises(InputError, match="calibration"):
        create_attack("qmia", calibration=0.95)
    with pytest.raises(InputError, match="min_samples_leaf"):
        create_attack("qmia", min_samples_leaf=0)
    a = create_attack("qmia", seed=7, alpha=0.05, max_iter=50)
    assert isinstance(a, QuantileRegressionAttack) and a.seed == 7 and a.leaf_size == 20
    assert create_attack("qmia").leaf_size == 100


def test_refuses_before_fit_small_populations_label_only_and_mismatched_inputs():
    g = np.random.default_rng(4)
    X, s = g.normal(size=(400, 3)), g.normal(size=400)
    with pytest.raises(NotFittedError, match="fit_population"):
        create_attack("qmia").score_records(X, score_signals(s))
    attack = create_attack("qmia")  # alpha 0.01, calibration 0.3: 99 calibration records
    assert attack.minimum_population() == 329  # round(0.3 * 329) = 99
    with pytest.raises(NotApplicableError, match=r"at least 329 population records.*got 300"):
        attack.fit_population(X[:300], score_signals(s[:300]))
    labels_only = compute_signals(Outputs("labels", np.zeros(400, int), 2), np.zeros(400, int))
    with pytest.raises(NotApplicableError, match="label-only"):
        attack.fit_population(X, labels_only)
    with pytest.raises(NotApplicableError, match="population"):
        attack.membership_scores(score_signals(s), np.r_[np.ones(200), np.zeros(200)])
    fitted = create_attack("qmia", alpha=0.1).fit_population(X, score_signals(s), labels=g.integers(0, 3, 400))
    with pytest.raises(InputError, match="fitted with labels"):
        fitted.score_records(X, score_signals(s))
    with pytest.raises(InputError, match="3 features"):
        fitted.score_records(X[:, :2], score_signals(s), labels=np.zeros(400, int))
    with pytest.raises(InputError, match="one row per record"):
        fitted.score_records(X[:10], score_signals(s), labels=np.zeros(10, int))


# ---------------------------------------------------------------------------- pipeline


def _context(n_population, n=600, seed=5):
    g = np.random.default_rng(seed)
    X = g.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * g.normal(size=n) > 0).astype(np.int64)
    dataset = SimpleNamespace(X=X, y=y, n_classes=2)
    split = SimpleNamespace(train=np.arange(0, 100), test=np.arange(100, 200))
    population = np.arange(200, 200 + n_population)
    return SimpleNamespace(dataset=dataset, split=split, population=population)


def test_handler_scores_members_then_test_and_reports_too_few_records():
    ctx = _context(400)
    adapter = CallableAdapter(lambda b: np.c_[-b[:, 0], b[:, 0]] * 2.0, n_classes=2, returns="logits")
    attack = create_attack("qmia", alpha=0.1, seed=0)
    scores = population_scores(ctx, attack, adapter, ctx.split.train)
    rows = np.r_[ctx.split.train, ctx.split.test]
    sig = compute_signals(adapter.predict(ctx.dataset.X[rows]), ctx.dataset.y[rows])
    direct = create_attack("qmia", alpha=0.1, seed=0).fit_population(
        ctx.dataset.X[ctx.population], compute_signals(adapter.predict(ctx.dataset.X[ctx.population]),
                                                       ctx.dataset.y[ctx.population]),
        labels=ctx.dataset.y[ctx.population]).score_records(ctx.dataset.X[rows], sig, labels=ctx.dataset.y[rows])
    np.testing.assert_array_equal(scores, direct)
    assert scores.shape == (200,)
    with pytest.raises(NotApplicableError, match=rf"at least {MIN_POPULATION} population records.*got 99"):
        population_scores(_context(99), attack, adapter, ctx.split.train)
    with pytest.raises(NotApplicableError, match="got 0"):
        population_scores(SimpleNamespace(**{**vars(_context(0)), "population": None}), attack, adapter,
                          ctx.split.train)
    labels = CallableAdapter(lambda b: (b[:, 0] > 0).astype(np.int64), n_classes=2, returns="labels")
    with pytest.raises(NotApplicableError, match="label-only"):
        population_scores(ctx, attack, labels, ctx.split.train)


def test_an_audit_gives_an_applicable_qmia_entry(tmp_path):
    from mia_audit.config import AttackConfig, AuditConfig, DataConfig, ModelConfig, ReferenceConfig
    from mia_audit.run.pipeline import run_audit

    config = AuditConfig(
        data=DataConfig(name="adult", train_size=300, test_size=300),
        model=ModelConfig(name="mlp", params={"hidden": [32]}, training={"epochs": 3}),
        attacks=AttackConfig(names=["loss", "qmia"], members=["train"]),
        references=ReferenceConfig(population=1000),
        mitigations=[{"name": "label-only"}],
        seed=0, device="cpu",
    )
    result = run_audit(config, show_progress=False)
    by = {(r["mitigation"], r["attack"]): r for r in result["results"] if r["model"] == "original"}
    entry = by[("none", "qmia")]
    assert entry["applicable"] is not False and 0.0 <= entry["auc"] <= 1.0
    assert by[("none", "loss")]["auc"] is not None
    na = by[("label-only", "qmia")]
    assert na["applicable"] is False and "label-only" in na["reason"]
    config.references, config.mitigations = ReferenceConfig(population=50), []
    small = [r for r in run_audit(config, show_progress=False)["results"] if r["attack"] == "qmia"]
    assert [r["applicable"] for r in small] == [False] and "got 50" in small[0]["reason"]

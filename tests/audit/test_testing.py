"""assert_membership_privacy: passes a model that generalises, fails a memorising one."""

from __future__ import annotations

import copy
import json
import math
import pickle

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from mia_audit.adapters import CallableAdapter, LabelOnly
from mia_audit.errors import InputError
from mia_audit.testing import MembershipPrivacyError, assert_membership_privacy

N = 200  # per set


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3 * N, 5))
    y = (X[:, 0] + 2.0 * rng.normal(size=3 * N) > 0).astype(np.int64)  # noisy labels: memorising leaks
    return (X[:N], y[:N]), (X[N:2 * N], y[N:2 * N]), (X[2 * N:], y[2 * N:])


@pytest.fixture(scope="module")
def linear(data):
    (X, y), _, _ = data
    return LogisticRegression().fit(X, y)


@pytest.fixture(scope="module")
def tree(data):
    (X, y), _, _ = data
    return DecisionTreeClassifier(random_state=0).fit(X, y)


def _auc_se(n1, n0):
    return math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))


def test_a_generalising_model_passes_and_the_result_is_valid(data, linear):
    from mia_audit.reports.result_json import dumps, schema

    jsonschema = pytest.importorskip("jsonschema")
    members, nonmembers, _ = data
    limit = 0.5 + 4 * _auc_se(N, N)
    result = assert_membership_privacy(linear, members, nonmembers, max_auc=limit, max_tpr_at_fpr={0.05: 0.5})
    jsonschema.validate(json.loads(dumps(result)), schema())
    attacks = [e["attack"] for e in result["results"]]
    assert {"loss", "confidence", "entropy", "modified-entropy", "loss-lr"} <= set(attacks)
    for e in result["results"]:
        assert (e["model"], e["mitigation"], e["members"], e["nonmembers"]) == ("model", "none", "train", "test")
        assert e["n_members"] == N and e["n_nonmembers"] == N
        assert set(e["tpr_at_fpr"]) == {"0.001", "0.01", "0.05", "0.1"}  # limit FPRs are measured too
        assert abs(e["auc"] - 0.5) < limit - 0.5
    assert result["models"][0]["role"] == "original" and result["models"][0]["name"] == "model"
    assert result["gate"]["passed"] and result["gate"]["violations"] == []
    assert result["gate"]["n_checked"] == 2 * len(attacks)


def test_a_memorising_model_fails_with_the_table(data, tree):
    members, nonmembers, _ = data
    with pytest.raises(AssertionError) as info:
        assert_membership_privacy(tree, members, nonmembers, max_auc=0.6)
    err = info.value
    assert isinstance(err, MembershipPrivacyError)
    text = str(err)
    assert text.startswith("membership privacy check failed:")
    assert "model  mitigation  attack" in text and " auc " in text and "limit" in text
    assert {v.attack for v in err.violations} >= {"loss", "modified-entropy"}
    assert all(v.value > 0.6 for v in err.violations)
    # a strong attack on a memorising model is far above chance
    loss = next(e for e in err.result["results"] if e["attack"] == "loss")
    assert loss["auc"] > 0.5 + 6 * _auc_se(N, N)
    assert err.result["gate"]["passed"] is False


def test_null_control_stays_at_chance(data, tree):
    """Two sets of non-members: even the memorising model must pass a 4-SE limit."""
    _, nonmembers, others = data
    result = assert_membership_privacy(tree, others, nonmembers, max_auc=0.5 + 4 * _auc_se(N, N), attacks=["loss"])
    assert abs(result["results"][0]["auc"] - 0.5) < 4 * _auc_se(N, N)


def test_baseline_dict_and_path(data, tree, tmp_path):
    from mia_audit.reports.result_json import write_json_atomic

    members, nonmembers, _ = data
    base = assert_membership_privacy(tree, members, nonmembers, max_auc=1.0, attacks=["loss", "entropy"])
    path = write_json_atomic(tmp_path / "base.json", base)
    again = assert_membership_privacy(tree, members, nonmembers, baseline=path, attacks=["loss", "entropy"])
    assert again["gate"]["n_checked"] == 2 * 4 and again["gate"]["notes"] == []
    assert again["gate"]["baseline"] == str(path)
    # a baseline from a better model: the figures rose, beyond a small tolerance
    better = copy.deepcopy(base)
    for e in better["results"]:
        e["auc"] -= 0.1
    with pytest.raises(AssertionError, match="baseline") as info:
        assert_membership_privacy(tree, members, nonmembers, baseline=better, tolerance=0.05, attacks=["loss"])
    assert [(v.figure, v.kind) for v in info.value.violations] == [("auc", "baseline")]
    # within the tolerance it passes
    assert assert_membership_privacy(tree, members, nonmembers, baseline=better, tolerance=0.11, attacks=["loss"])
    # an attack the baseline lacks is a note
    noted = assert_membership_privacy(tree, members, nonmembers, baseline=path, attacks=["loss", "confidence"])
    assert any("attack=confidence" in n for n in noted["gate"]["notes"])


def test_same_seed_same_numbers_and_callable_adapter(data, linear):
    members, nonmembers, _ = data
    kw = dict(max_auc=1.0, n_bootstrap=20, seed=3, attacks=["loss", "loss-lr"])
    a = assert_membership_privacy(linear, members, nonmembers, **kw)
    b = assert_membership_privacy(linear, members, nonmembers, **kw)
    assert a["results"] == b["results"]
    assert a["results"][0]["auc_ci"] is not None
    black_box = CallableAdapter(linear.predict_proba, n_classes=2)
    c = assert_membership_privacy(black_box, members, nonmembers, **kw)
    assert [e["auc"] for e in c["results"]] == pytest.approx([e["auc"] for e in a["results"]])


def test_model_and_arrays_are_not_changed(data, tree):
    members, nonmembers, _ = data
    before = copy.deepcopy((members, nonmembers))
    model_bytes = pickle.dumps(tree)
    for arr in (*members, *nonmembers):
        arr.flags.writeable = False  # any in-place write would raise
    try:
        with pytest.raises(AssertionError):
            assert_membership_privacy(tree, members, nonmembers, max_auc=0.5)
    finally:
        for arr in (*members, *nonmembers):
            arr.flags.writeable = True
    for got, want in zip((*members, *nonmembers), (*before[0], *before[1])):
        np.testing.assert_array_equal(got, want)
    assert pickle.dumps(tree) == model_bytes


def test_a_torch_module_keeps_its_weights_and_mode():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    X = torch.randn(60, 4)
    y = torch.randint(0, 3, (60,))
    X0, y0 = X.clone(), y.clone()
    result = assert_membership_privacy(net, (X[:30], y[:30]), (X[30:], y[30:]), max_auc=1.0, attacks=["loss"])
    assert result["models"][0]["sha256"] is not None
    assert net.training and all(m.training for m in net.modules())
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert torch.equal(X, X0) and torch.equal(y, y0)


def test_bad_inputs(data, linear):
    members, nonmembers, _ = data
    with pytest.raises(InputError, match="max_auc, max_tpr_at_fpr or a baseline"):
        assert_membership_privacy(linear, members, nonmembers)
    with pytest.raises(InputError, match="members must be a pair"):
        assert_membership_privacy(linear, members[0], nonmembers, max_auc=0.6)
    with pytest.raises(InputError, match="attack must be one of"):
        assert_membership_privacy(linear, members, nonmembers, max_auc=0.6, attacks=["nope"])
    with pytest.raises(InputError, match="max_auc"):
        assert_membership_privacy(linear, members, nonmembers, max_auc=2)
    with pytest.raises(InputError, match=r"\(0, 1\)"):
        assert_membership_privacy(linear, members, nonmembers, max_tpr_at_fpr={0: 0.1})
    with pytest.raises(InputError, match="tolerance"):
        assert_membership_privacy(linear, members, nonmembers, max_auc=0.6, tolerance=-1)
    with pytest.raises(InputError, match="schema_version"):
        assert_membership_privacy(linear, members, nonmembers, baseline={"schema_version": 0, "results": []})
    with pytest.raises(InputError, match="not found"):
        assert_membership_privacy(linear, members, nonmembers, baseline="/nonexistent/base.json")
    with pytest.raises(InputError, match="n_classes is required"):
        assert_membership_privacy(linear.predict_proba, members, nonmembers, max_auc=0.6)


def test_label_only_outputs(data, linear):
    """Only the label-only attacks run on label outputs, and that is not enough to pass: the
    default requires a posterior-based attack (issue 9: no PASS on label-only evidence)."""
    from mia_audit.testing import MembershipPrivacyError

    members, nonmembers, _ = data
    with pytest.raises(MembershipPrivacyError, match="model model has no posterior-based attack result") as info:
        assert_membership_privacy(LabelOnly(linear), members, nonmembers, max_auc=1.0)
    assert {e["attack"] for e in info.value.result["results"]} == {"gap"}
    assert info.value.result["verdict"]["status"] == "inconclusive"
    assert len(info.value.violations) == 0  # no figure exceeded: the evidence is what is missing
    result = assert_membership_privacy(LabelOnly(linear), members, nonmembers, max_auc=1.0, require=())
    assert {e["attack"] for e in result["results"]} == {"gap"} and result["verdict"]["status"] == "pass"
    with pytest.raises(InputError, match="'loss' cannot run"):
        assert_membership_privacy(LabelOnly(linear), members, nonmembers, max_auc=0.6, attacks=["loss"])


def test_a_baseline_that_matches_nothing_fails_the_assertion(data, linear):
    """Issue 9 §2: a gate that compared nothing never passes."""
    members, nonmembers, _ = data
    baseline = assert_membership_privacy(linear, members, nonmembers, max_auc=1.0)
    for e in baseline["results"]:
        e["model"] = "renamed"
    with pytest.raises(MembershipPrivacyError, match="none of the baseline's .* figures matches this result "
                                                     r"\(its models: renamed; this result's: model\)") as info:
        assert_membership_privacy(linear, members, nonmembers, baseline=baseline, tolerance=0.5)
    assert len(info.value.violations) == 0 and not info.value.result["gate"]["passed"]


def test_records_of_two_shapes_or_the_wrong_width_are_refused_by_name(data, linear):
    """Issue 11 §9: 5-feature members with 4-feature non-members were accepted, and a model given
    the wrong width passed torch's or scikit-learn's raw error through."""
    import torch

    from mia_audit.models import build_model

    (X, y), (X2, y2), _ = data
    with pytest.raises(InputError, match=r"members and nonmembers must have records of one shape; got \(5,\) and \(4,\)"):
        assert_membership_privacy(linear, (X, y), (X2[:, :4], y2), max_auc=0.9)
    with pytest.raises(InputError, match=r"members: records must have shape \(5,\) per record for this sklearn model"):
        assert_membership_privacy(linear, (X[:, :4], y), (X2[:, :4], y2), max_auc=0.9)
    net = build_model("mlp", input_shape=(5,), n_classes=2, seed=0, hidden=(4,))
    X4 = torch.as_tensor(X[:, :4], dtype=torch.float32)
    with pytest.raises(InputError, match=r"members: the model failed on records of shape \(4,\) \(RuntimeError: "):
        assert_membership_privacy(net, (X4, y), (X4, y2), max_auc=0.9)

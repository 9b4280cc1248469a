"""Your own training code (issue 12): ``[model] train = "module:function"`` trains the original
and every reference model, through the same store and cache; bad code gets one clear error."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from mia_audit.config import AttackConfig, AuditConfig, DataConfig, MetricsConfig, ModelConfig, ReferenceConfig
from mia_audit.errors import InputError
from mia_audit.run.pipeline import run_audit
from mia_audit.user_code import TrainFunction, load_function

FOREST = '''
from sklearn.ensemble import RandomForestClassifier


def fit(X, y, *, seed, device):
    return RandomForestClassifier(n_estimators=30, random_state=seed, n_jobs=1).fit(X, y)
'''

TORCH = '''
import torch
from torch import nn


class MyNet(nn.Module):  # not in the zoo: the same shape as the built-in mlp (hidden 64, 64)
    def __init__(self, d, c):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, c))

    def forward(self, x):
        return self.body(x)


def fit(X, y, *, seed, device):  # its own training loop: Adam, 40 epochs, batches of 64
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = MyNet(X.shape[1], int(y.max()) + 1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    for _ in range(40):
        order = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), 64):
            rows = order[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(X[rows]), y[rows]).backward()
            opt.step()
    return net.eval()
'''


def _module(tmp_path, name, source):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return tmp_path


def _se(n1, n0):
    return float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))


def _config(tmp_path, *, train, names, n_models=4, store=None, **model):
    return AuditConfig(
        data=DataConfig(name="adult", train_size=400, test_size=400),
        model=ModelConfig(train=train, code_dir=str(tmp_path), **model),
        attacks=AttackConfig(names=names, members=["train"]),
        metrics=MetricsConfig(n_bootstrap=0),
        references=ReferenceConfig(n_models=n_models, population=400, store=store),
        seed=0, device="cpu")


def test_a_forest_from_your_own_training_function_gets_reference_attacks(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))
    _module(tmp_path, "forest_fit", FOREST)
    result = run_audit(_config(tmp_path, train="forest_fit:fit", names=["loss", "lira-offline", "rmia-offline"]))
    by_attack = {e["attack"]: e for e in result["results"]}
    assert set(by_attack) == {"loss", "lira-offline", "rmia-offline"}
    assert all(e["applicable"] for e in by_attack.values())
    original = result["models"][0]
    assert original["architecture"] == "forest_fit:fit" and original["accuracy"]["train"] == 1.0
    assert original["training_code"]["train"] == "forest_fit:fit" and original["training_code"]["source_sha256"]
    se = _se(400, 400)
    assert by_attack["loss"]["auc"] > 0.5 + 4 * se  # a forest that memorises leaks
    assert by_attack["rmia-offline"]["auc"] > 0.5 + 4 * se
    store = result["reference_models"]["references"]["store"]
    meta = json.loads(open(f"{store}/meta.json").read())
    assert meta["spec"]["architecture"] == "custom" and meta["spec"]["trainer"]["train"] == "forest_fit:fit"
    assert result["verdict"]["status"] == "fail"


def test_reference_models_of_your_code_answer_unmitigated_and_the_entry_says_so(tmp_path, monkeypatch):
    """Models of a training function are kept as their signals only: under an output mitigation
    they cannot answer through it, so the entry is marked and warned, and page 1 cautions."""
    from mia_audit.reports.decision import mitigation_lines

    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))
    _module(tmp_path, "forest_fit", FOREST)
    config = _config(tmp_path, train="forest_fit:fit", names=["loss", "lira-offline"])
    config.mitigations = [{"name": "rounding", "decimals": 1}]
    result = run_audit(config)
    (entry,) = [e for e in result["results"] if e["attack"] == "lira-offline" and e["mitigation"] != "none"]
    assert entry["reference_outputs"] == "unmitigated"
    assert any("could not answer through this mitigation" in w for w in entry["warnings"])
    assert "non-adaptive" in " ".join(mitigation_lines(result))


def test_edited_training_code_never_reuses_the_cached_reference_models(tmp_path, monkeypatch):
    from mia_audit.run.references import default_store

    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))
    _module(tmp_path, "forest_v", FOREST)
    config = _config(tmp_path, train="forest_v:fit", names=["loss"])
    pool = np.arange(10)

    class Data:
        def sha256(self):
            return "d"

    first = TrainFunction.of("forest_v:fit", base_dir=tmp_path)
    tagged = TrainFunction.of("forest_v:fit", base_dir=tmp_path, version="2")
    paths = {default_store(config, Data(), pool, None, trainer=first),
             default_store(config, Data(), pool, None, trainer=tagged)}
    (tmp_path / "forest_v.py").write_text(textwrap.dedent(FOREST) + "\n# edited\n")  # the digest reads the file
    edited = TrainFunction.of("forest_v:fit", base_dir=tmp_path)
    assert edited.digest != first.digest
    paths.add(default_store(config, Data(), pool, None, trainer=edited))
    assert len(paths) == 3


def test_a_custom_torch_module_with_its_own_loop_matches_the_builtin_mlp_on_lira(tmp_path, monkeypatch):
    """LiRA online on a user-defined class (not in the zoo) gives the same AUC, within 2 SE, as
    the built-in MLP of the same shape trained with the same recipe."""
    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))
    _module(tmp_path, "mynet_fit", TORCH)
    names = ["loss", "lira-online"]
    own = run_audit(_config(tmp_path, train="mynet_fit:fit", names=names, n_models=8))
    builtin = run_audit(AuditConfig(
        data=DataConfig(name="adult", train_size=400, test_size=400),
        model=ModelConfig(name="mlp", params={"hidden": [64, 64]},
                          training={"epochs": 40, "batch_size": 64, "lr": 3e-3}),
        attacks=AttackConfig(names=names, members=["train"]), metrics=MetricsConfig(n_bootstrap=0),
        references=ReferenceConfig(n_models=8, population=400), seed=0, device="cpu"))
    a = {e["attack"]: e["auc"] for e in own["results"]}
    b = {e["attack"]: e["auc"] for e in builtin["results"]}
    se = _se(400, 400)
    assert a["lira-online"] > 0.5 + 3 * se and b["lira-online"] > 0.5 + 3 * se  # both leak: a real comparison
    assert abs(a["lira-online"] - b["lira-online"]) < 2 * np.sqrt(2) * se, (a, b)


@pytest.mark.parametrize("source, spec, match", [
    (None, "nowhere_mod:fit", "cannot import module 'nowhere_mod'"),
    ("def other(X, y, *, seed, device):\n    return None\n", "badattr:fit", "has no attribute 'fit'"),
    ("def fit(X, y):\n    return None\n", "nosig:fit", "does not take fit"),
    ("def fit(X, y, *, seed, device):\n    raise RuntimeError('boom')\n", "raises:fit", "raised RuntimeError: boom"),
    ("def fit(X, y, *, seed, device):\n    return 42\n", "badret:fit", "cannot query"),
    ("def fit(X, y, *, seed, device):\n    return None\n", "none_ret:fit", "returned None"),
    (None, "no-colon", "package.module:function"),
])
def test_bad_training_code_gets_one_clear_error(tmp_path, source, spec, match):
    if source is not None:
        (tmp_path / f"{spec.split(':')[0]}.py").write_text(source)
    with pytest.raises(InputError, match=match) as info:
        run_audit(_config(tmp_path, train=spec, names=["loss"]))
    assert "model.train" in str(info.value) and "\n" not in str(info.value)


def test_the_config_folder_is_searched_first(tmp_path):
    (tmp_path / "cfg").mkdir()
    folder = _module(tmp_path / "cfg", "beside_me", FOREST)
    (folder / "audit.toml").write_text('[model]\ntrain = "beside_me:fit"\n')
    config = AuditConfig.from_toml(folder / "audit.toml")
    assert config.model.code_dir is not None and callable(load_function("beside_me:fit", param="model.train",
                                                                           base_dir=config.model.code_dir))
    with pytest.raises(InputError, match="model.params"):
        AuditConfig(model=ModelConfig(train="beside_me:fit", params={"hidden": [3]}))


def test_a_python_training_function_is_taken_directly(tmp_path, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    calls = []

    def fit(X, y, *, seed, device):
        calls.append(seed)
        return LogisticRegression(max_iter=200).fit(X, y)

    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))
    config = _config(tmp_path, train=None, names=["loss", "lira-offline"])
    result = run_audit(config, train_fn=fit)
    assert len(calls) == 1 + 4 and len(set(calls)) == 5  # the original and 4 references, a seed each
    assert all(e["applicable"] for e in result["results"])
    with pytest.raises(InputError, match="both name a training function"):
        run_audit(_config(tmp_path, train="x:fit", names=["loss"]), train_fn=fit)


def test_assert_membership_privacy_with_a_training_function_runs_lira(tmp_path, monkeypatch):
    """The test face: ``assert_membership_privacy(..., train_fn=..., attacks=["lira-online"])``."""
    from sklearn.ensemble import RandomForestClassifier

    from mia_audit import MembershipPrivacyError, assert_membership_privacy
    from mia_audit.data import load_dataset

    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))

    def fit(X, y, *, seed, device):
        return RandomForestClassifier(n_estimators=25, random_state=seed, n_jobs=1).fit(X, y)

    data = load_dataset("adult")
    idx = np.random.default_rng(2).permutation(len(data))[:800]
    members, nonmembers = (data.X[idx[:400]], data.y[idx[:400]]), (data.X[idx[400:]], data.y[idx[400:]])
    model = fit(*members, seed=1, device="cpu")
    with pytest.raises(MembershipPrivacyError) as info:
        assert_membership_privacy(model, members, nonmembers, max_auc=0.6, attacks=["loss", "lira-online"],
                                  train_fn=fit, references={"n_models": 4})
    entries = {e["attack"]: e for e in info.value.result["results"]}
    assert entries["lira-online"]["applicable"] and entries["lira-online"]["auc"] > 0.6
    with pytest.raises(InputError, match="lira-online.*needs train_fn"):  # asked for, but not possible
        assert_membership_privacy(model, members, nonmembers, max_auc=0.6, attacks=["lira-online"])


def test_a_module_of_the_same_name_in_another_folder_is_not_reused(tmp_path):
    for name, value in (("a", 1), ("b", 2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "samename_mod.py").write_text(f"def fit(X, y, *, seed, device):\n    return {value}\n")
    first = load_function("samename_mod:fit", param="model.train", base_dir=tmp_path / "a")
    second = load_function("samename_mod:fit", param="model.train", base_dir=tmp_path / "b")
    assert first(0, 0, seed=0, device="cpu") == 1 and second(0, 0, seed=0, device="cpu") == 2


def models_of(result):
    return {m["name"]: m for m in result["models"]}


def test_retrain_uses_your_training_function_and_gradient_methods_your_module(tmp_path, monkeypatch):
    """Unlearning a model your code trained: retrain calls your fit on retain; finetune works on
    your torch module with [model] training's settings; SISA's shards are trained by your fit;
    the two-model attack's shadow pairs and U-LiRA's references too."""
    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))
    _module(tmp_path, "mynet_unlearn", TORCH.replace("range(40)", "range(8)"))
    config = AuditConfig(
        data=DataConfig(name="adult", train_size=400, test_size=400),
        model=ModelConfig(train="mynet_unlearn:fit", code_dir=str(tmp_path), training={"epochs": 2, "lr": 1e-3}),
        attacks=AttackConfig(names=["loss", "two-model", "u-lira"], members=["train", "forget"]),
        metrics=MetricsConfig(n_bootstrap=0), unlearners=[{"name": "finetune"}, {"name": "sisa"}],
        references=ReferenceConfig(shadow_models=2, ulira_models=4, ulira_forget_sets=2, shadow_pool=600),
        seed=0, device="cpu")
    result = run_audit(config)
    summary = {u["name"]: u for u in result["unlearners"]}
    assert summary["retrain"].get("applicable", True) and summary["finetune"].get("applicable", True)
    assert summary["sisa"].get("applicable", True)  # its shards trained by your function
    assert models_of(result)["sisa original"]["architecture"] == "mynet_unlearn:fit"
    models = {m["name"]: m for m in result["models"]}
    assert models["retrain"]["architecture"] == "mynet_unlearn:fit"
    assert models["retrain"]["sha256"] != models["original"]["sha256"]
    entries = [e for e in result["results"] if e["model"] == "retrain" and e["attack"] == "loss"]
    assert entries and all(e["applicable"] for e in entries)
    two = {e["model"]: e for e in result["results"] if e["attack"] == "two-model"}
    assert set(two) == {"retrain", "finetune", "sisa"}  # shadow pairs trained by your function, unlearned alike
    assert all(e["applicable"] for e in two.values()), [e.get("reason") for e in two.values()]
    ulira = {e["model"]: e for e in result["results"] if e["attack"] == "u-lira"}
    assert set(ulira) == {"retrain", "finetune", "sisa"} and all(e["applicable"] for e in ulira.values())


def test_rmia_without_population_records_says_why_and_the_audit_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))
    _module(tmp_path, "forest_nopop", FOREST)
    config = AuditConfig(
        data=DataConfig(name="adult", train_size=400, test_size=400),
        model=ModelConfig(train="forest_nopop:fit", code_dir=str(tmp_path)),
        attacks=AttackConfig(names=["loss", "rmia-offline", "lira-offline"], members=["train"]),
        metrics=MetricsConfig(n_bootstrap=0), references=ReferenceConfig(n_models=4, population=0),
        seed=0, device="cpu")
    result = run_audit(config)
    by_attack = {e["attack"]: e for e in result["results"]}
    assert by_attack["lira-offline"]["applicable"] and by_attack["loss"]["applicable"]
    assert not by_attack["rmia-offline"]["applicable"]
    assert "population records" in by_attack["rmia-offline"]["reason"]


def test_sisa_shards_of_your_training_function_forget_by_retraining_only_their_shards():
    from sklearn.ensemble import RandomForestClassifier

    from mia_audit.unlearners import create_unlearner

    calls = []

    def fit(X, y, *, seed, device):
        calls.append(len(y))
        return RandomForestClassifier(n_estimators=10, random_state=seed, n_jobs=1).fit(X, y)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] + 0.3 * rng.normal(size=300) > 0).astype(np.int64)
    sisa = create_unlearner("sisa", shards=5)
    original = sisa.fit_trained_by(TrainFunction.of(fit), X, y, seed=1)
    assert len(calls) == 5 and sum(calls) == 300  # one model per shard, every record in one shard
    forget = np.arange(3)  # three records: at most three shards hold them
    retain = np.arange(3, 300)
    done = sisa.unlearn(original, (X[retain], y[retain]), (X[forget], y[forget]), seed=2)
    retrained = done.details["shards_retrained"]
    assert 1 <= len(retrained) <= 3 and len(calls) == 5 + len(retrained)
    kept = [s for s in range(5) if s not in retrained]
    for s in kept:  # untouched shards keep their very models
        assert done.model.model.members[s] is original.model.members[s] or \
            np.array_equal(done.model.model.members[s].predict_proba(X), original.model.members[s].predict_proba(X))
    probs = done.model.model.predict_proba(X)
    assert probs.shape == (300, 2) and np.allclose(probs.sum(axis=1), 1.0)

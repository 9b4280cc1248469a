"""Black-box audits of deployed models from files and from an HTTP endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mia_audit.adapters import TorchAdapter
from mia_audit.config import AttackConfig, AuditConfig, MetricsConfig
from mia_audit.run.deployed import run_deployed_audit
from mia_audit.errors import DataFileError, InputError
from mia_audit.model_files import file_sha256
from mia_audit.run.attack_entries import evaluate_attacks
from mia_audit.signals import compute_signals

REPO = Path(__file__).resolve().parents[2]
HIDDEN = [128, 128]
ATTACKS = ["loss", "confidence"]
METRICS = {"fprs": [0.01, 0.1], "n_bootstrap": 20, "confidence": 0.95}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from mia_audit.data import load_dataset
    from mia_audit.models import build_model
    from mia_audit.training import recipe_for, train_model

    data = load_dataset("adult")
    idx = np.random.default_rng(0).permutation(len(data))[:600]
    X_in, y_in = data.X[idx[:300]], data.y[idx[:300]]
    X_out, y_out = data.X[idx[300:]], data.y[idx[300:]]
    net = build_model("mlp", input_shape=data.input_shape, n_classes=2, seed=0, hidden=HIDDEN)
    recipe = recipe_for("mlp", "tabular").replace(epochs=60, batch_size=32, lr=3e-3)
    model = train_model(net, X_in, y_in, recipe, seed=1, device="cpu").model
    folder = tmp_path_factory.mktemp("deployed")
    torch.save(model.state_dict(), folder / "model.pt")
    np.savez(folder / "members.npz", X=X_in, y=y_in)
    np.savez(folder / "nonmembers.npz", X=X_out, y=y_out)
    return {"model": model, "folder": folder, "X_in": X_in, "y_in": y_in, "X_out": X_out, "y_out": y_out,
            "input_shape": list(data.input_shape)}


def _file_target(t, **extra):
    return {"model": "model.pt", "architecture": "mlp", "input_shape": t["input_shape"], "n_classes": 2,
            "params": {"hidden": HIDDEN}, "device": "cpu", "members": "members.npz",
            "nonmembers": "nonmembers.npz", **extra}


def _validate(result):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((REPO / "reports" / "schema" / "result-v1.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(result)), schema)


def _in_memory_entries(t):
    adapter = TorchAdapter(t["model"])
    signals = {"train": compute_signals(adapter.predict(t["X_in"]), t["y_in"]),
               "test": compute_signals(adapter.predict(t["X_out"]), t["y_out"])}
    config = AuditConfig(attacks=AttackConfig(names=ATTACKS, members=["train"]), metrics=MetricsConfig(**METRICS),
                         seed=7)
    return evaluate_attacks(signals, model="deployed", attack_names=ATTACKS, config=config)


def _figures(entries):
    return {e["attack"]: (e["auc"], e["auc_ci"], e["tpr_at_fpr"]) for e in entries}


def test_file_audit_matches_in_memory_audit(trained):
    t = trained
    result = run_deployed_audit(_file_target(t), attacks=ATTACKS, metrics=METRICS, seed=7, base_dir=t["folder"])
    _validate(result)
    expected = _figures(_in_memory_entries(t))
    assert _figures(result["results"]) == expected
    assert expected["loss"][0] > 0.56  # over 2 SE (~0.024) above a null 0.5: the figures compared are real leakage
    model = result["models"][0]
    assert model["name"] == "deployed" and model["role"] == "original" and model["seconds"] is None
    assert model["sha256"] == file_sha256(t["folder"] / "model.pt")
    adapter = TorchAdapter(t["model"])
    acc_in = float((adapter.predict_labels(t["X_in"]) == t["y_in"]).mean())
    acc_out = float((adapter.predict_labels(t["X_out"]) == t["y_out"]).mean())
    assert model["accuracy"] == {"train": acc_in, "test": acc_out, "retain": None, "forget": None}
    data = result["data"]
    assert (data["name"], data["n_train"], data["n_test"], data["n_forget"], data["n_retain"]) == (
        "records", 300, 300, 0, 300)
    assert result["config"]["target"]["model"] == "model.pt" and result["config"]["seed"] == 7


def test_endpoint_audit_matches_file_audit(trained):
    from tests.audit.test_http_adapter import Endpoint, serve

    t = trained
    adapter = TorchAdapter(t["model"])

    def respond(instances, n):
        logits = adapter.predict(np.asarray(instances, dtype=np.float32)).values
        return 200, json.dumps({"predictions": logits.tolist()}).encode()

    endpoint = Endpoint(respond)
    with serve(endpoint) as url:
        target = {"endpoint": url, "n_classes": 2, "returns": "logits", "batch_size": 1024,
                  "headers": {"Authorization": "Bearer secret"},
                  "members": str(t["folder"] / "members.npz"), "nonmembers": str(t["folder"] / "nonmembers.npz")}
        result = run_deployed_audit(target, attacks=ATTACKS, metrics=METRICS, seed=7)
    _validate(result)
    assert len(endpoint.requests) == 2  # one request per record set
    assert _figures(result["results"]) == _figures(_in_memory_entries(t))
    assert result["models"][0]["sha256"] is None
    assert "secret" not in json.dumps(result)


def test_mitigations_and_csv_records(trained, tmp_path):
    t = trained
    header = ",".join(f"f{i}" for i in range(t["X_in"].shape[1])) + ",label\n"
    for name, X, y in (("members.csv", t["X_in"], t["y_in"]), ("nonmembers.csv", t["X_out"], t["y_out"])):
        lines = [",".join(repr(float(v)) for v in row) + f",{label}\n" for row, label in zip(X, y)]
        (tmp_path / name).write_text(header + "".join(lines))
    (tmp_path / "model.pt").write_bytes((t["folder"] / "model.pt").read_bytes())
    target = _file_target(t, members="members.csv", nonmembers="nonmembers.csv")
    result = run_deployed_audit(target, attacks=ATTACKS, metrics=METRICS, seed=7, base_dir=tmp_path,
                                mitigations=[{"name": "label-only"}])
    _validate(result)
    plain = [e for e in result["results"] if e["mitigation"] == "none"]
    assert _figures(plain) == _figures(_in_memory_entries(t))
    label_only = [e for e in result["results"] if e["mitigation"] == "label-only"]
    assert label_only and all(e["applicable"] is False for e in label_only if e["attack"] == "loss")
    assert result["mitigations"][0]["accuracy"]["retain"] is None


def test_target_errors(trained):
    t = trained
    base = t["folder"]
    with pytest.raises(InputError, match="exactly one of model"):
        run_deployed_audit({"members": "members.npz", "nonmembers": "nonmembers.npz"}, base_dir=base)
    with pytest.raises(InputError, match="unknown key 'modle'"):
        run_deployed_audit({**_file_target(t), "modle": 1}, base_dir=base)
    with pytest.raises(InputError, match="target.nonmembers is required"):
        run_deployed_audit({"model": "model.pt", "members": "members.npz"}, base_dir=base)
    with pytest.raises(InputError, match="target.returns does not apply to a model file"):
        run_deployed_audit(_file_target(t, returns="probs"), base_dir=base)
    with pytest.raises(DataFileError, match="record file not found"):
        run_deployed_audit(_file_target(t, members="nope.npz"), base_dir=base)
    with pytest.raises(InputError, match="input_shape is"):
        run_deployed_audit(_file_target(t, input_shape=[5]), base_dir=base)
    with pytest.raises(InputError, match="attack"):
        run_deployed_audit(_file_target(t), attacks=["no-such-attack"], base_dir=base)
    with pytest.raises(InputError, match="give target.validation"):
        run_deployed_audit(_file_target(t), mitigations=[{"name": "temperature", "T": "fit"}], base_dir=base)


def test_cli_run_with_a_target_table_audits_the_deployed_model(trained, tmp_path, capsys):
    from mia_audit.cli.commands import main

    t = trained
    config = t["folder"] / "deployed.toml"
    config.write_text(
        f'seed = 7\nout = "{tmp_path / "out"}"\n[target]\nmodel = "model.pt"\narchitecture = "mlp"\n'
        f'input_shape = {t["input_shape"]}\nn_classes = 2\nparams = {{ hidden = {HIDDEN} }}\ndevice = "cpu"\n'
        'members = "members.npz"\nnonmembers = "nonmembers.npz"\n'
        '[attacks]\nnames = ["loss", "confidence"]\n[metrics]\nfprs = [0.01, 0.1]\nn_bootstrap = 20\n',
        encoding="utf-8",
    )
    assert main(["run", str(config), "--quiet"]) == 0
    result = json.loads((tmp_path / "out" / "report.json").read_text())
    assert _figures(result["results"]) == _figures(_in_memory_entries(t))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json", "report.pdf", "roc-deployed.png", "summary.md"]
    # a broken model file: one line, exit 2, nothing written
    (t["folder"] / "broken.pt").write_bytes(b"not a torch file")
    config.write_text(config.read_text().replace('model = "model.pt"', 'model = "broken.pt"')
                      .replace(str(tmp_path / "out"), str(tmp_path / "out2")), encoding="utf-8")
    capsys.readouterr()
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.pt" in err[0]
    assert not (tmp_path / "out2").exists()


def test_one_data_hash_for_the_same_records_whatever_the_entry_point(trained):
    """Issue 10: the records' hash is framed once (mia_audit.result.records_sha256), so the same
    members and non-members give the same data.sha256 as record files or as arrays."""
    from mia_audit.result import records_sha256
    from mia_audit.testing import audit_model

    t = trained
    deployed = run_deployed_audit(_file_target(t), attacks=ATTACKS, metrics=METRICS, seed=7, base_dir=t["folder"])
    given = audit_model(t["model"], (t["X_in"], t["y_in"]), (t["X_out"], t["y_out"]), attacks=ATTACKS, seed=7)
    as_float64 = audit_model(t["model"], (t["X_in"].astype(np.float64), t["y_in"].astype(np.int32)),
                             (t["X_out"], t["y_out"]), attacks=ATTACKS, seed=7)
    expected = records_sha256(np.concatenate([t["X_in"], t["X_out"]]), np.concatenate([t["y_in"], t["y_out"]]))
    assert deployed["data"]["sha256"] == given["data"]["sha256"] == as_float64["data"]["sha256"] == expected
    y_flipped = t["y_in"].copy()
    y_flipped[0] = 1 - y_flipped[0]
    other = audit_model(t["model"], (t["X_in"], y_flipped), (t["X_out"], t["y_out"]), attacks=ATTACKS, seed=7)
    assert other["data"]["sha256"] != expected
    assert deployed["schema_version"] == given["schema_version"] == 1


def test_a_deployed_model_gets_query_attacks_and_says_what_could_not_run(trained):
    """One dispatch table for every target: a query attack needs only the model, so it runs on
    a model file; reference and pair attacks need training code, and say so."""
    t = trained
    names = ["loss", "boundary", "lira-online", "two-model"]
    result = run_deployed_audit(_file_target(t), attacks=names, metrics=METRICS, seed=7, base_dir=t["folder"],
                                attack_options={"boundary": {"n_queries": 16, "levels": 4}})
    _validate(result)
    by_attack = {e["attack"]: e for e in result["results"]}
    assert set(by_attack) == set(names)
    assert by_attack["boundary"]["applicable"] and by_attack["boundary"]["n_members"] == 300
    assert 0.0 <= by_attack["boundary"]["auc"] <= 1.0
    assert not by_attack["lira-online"]["applicable"] and "target.train" in by_attack["lira-online"]["reason"]
    assert not by_attack["two-model"]["applicable"] and "one model" in by_attack["two-model"]["reason"]
    coverage = result["verdict"]["coverage"][0]
    assert "boundary" in coverage["attacks_run"] and "lira-online" in str(coverage["not_run"])

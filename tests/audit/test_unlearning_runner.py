"""The runner with unlearners: every configured method is run, measured against retrain
and reported in schema-valid JSON; methods that do not apply are listed with a reason."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from mia_audit.config import AuditConfig, ModelConfig
from mia_audit.errors import InputError
from mia_audit.run.pipeline import run_audit
from mia_audit.run.unlearning import add_retrain_gaps, create_unlearners


def validate(result):
    jsonschema = pytest.importorskip("jsonschema")
    from mia_audit.reports.result_json import dumps, schema

    jsonschema.Draft202012Validator(schema()).validate(json.loads(dumps(result)))


def test_retrain_always_runs_first_and_repeats_are_refused():
    names = [u.name for u in create_unlearners([{"name": "finetune"}])]
    assert names[0] == "retrain" and "finetune" in names
    assert [u.name for u in create_unlearners([])] == []
    with pytest.raises(InputError, match="'finetune' is listed twice"):
        create_unlearners([{"name": "finetune"}, {"name": "finetune"}])
    with pytest.raises(InputError, match="unlearner must be one of"):
        create_unlearners([{"name": "nope"}])


def test_config_refuses_malformed_unlearners(tiny_config):
    config = tiny_config()
    with pytest.raises(InputError, match="unlearners must be a list of tables"):
        AuditConfig(data=config.data, unlearners=["finetune"])
    config = AuditConfig.from_dict({"data": {"name": "adult"}, "unlearners": [{"name": "finetune", "epochs": 1}]})
    assert config.unlearners == [{"name": "finetune", "epochs": 1}]


def test_unlearners_in_the_result(tiny_config):
    config = tiny_config(attacks=["loss", "gap"], members=("train", "forget"), n_bootstrap=0)
    config.unlearners = [{"name": "finetune", "epochs": 1}]
    result = run_audit(config, show_progress=False)
    validate(result)
    models = {m["name"]: m for m in result["models"]}
    assert models["retrain"]["role"] == "retrained" and models["finetune"]["role"] == "unlearned"
    assert models["retrain"]["time_ratio"] == pytest.approx(1.0)
    ft = models["finetune"]
    assert ft["time_ratio"] == pytest.approx(ft["seconds"] / models["retrain"]["seconds"])
    assert ft["forget_test_ratio"] == pytest.approx(ft["accuracy"]["forget"] / ft["accuracy"]["test"])
    assert ft["details"]["n_forget"] == result["data"]["n_forget"]
    # unlearned models are attacked on forget (train mixes forgotten and retained records)
    members = {(e["model"], e["members"]) for e in result["results"]}
    assert ("finetune", "forget") in members and ("finetune", "train") not in members
    gaps = [e for e in result["results"] if e["model"] == "finetune"]
    rt = {(e["attack"], e["members"]): e for e in result["results"] if e["model"] == "retrain"}
    for e in gaps:
        assert e["gap_to_retrain"]["auc"] == pytest.approx(e["auc"] - rt[(e["attack"], e["members"])]["auc"])
    assert [u["name"] for u in result["unlearners"]] == ["retrain", "finetune"]


def test_methods_that_do_not_apply_are_listed_with_the_reason(tiny_config):
    pytest.importorskip("xgboost")
    config = tiny_config(attacks=["loss"], n_bootstrap=0,
                         model=ModelConfig(name="xgboost", params={"n_estimators": 10, "max_depth": 2}))
    config.unlearners = [{"name": "finetune"}]
    result = run_audit(config, show_progress=False)
    validate(result)
    summary = {u["name"]: u for u in result["unlearners"]}
    assert summary["retrain"]["applicable"] is True
    assert summary["finetune"]["applicable"] is False and "xgboost" in summary["finetune"]["reason"]
    assert "finetune" not in {m["name"] for m in result["models"]}


def test_gap_to_retrain_golden():
    entries = [
        {"model": "retrain", "attack": "loss", "members": "forget", "mitigation": "none", "auc": 0.5,
         "advantage": 0.02, "tpr_at_fpr": {"0.01": 0.01}},
        {"model": "x", "attack": "loss", "members": "forget", "mitigation": "none", "auc": 0.6,
         "advantage": 0.12, "tpr_at_fpr": {"0.01": 0.05}},
        {"model": "x", "attack": "loss", "members": "forget", "mitigation": "label-only", "applicable": False},
    ]
    add_retrain_gaps(entries)
    assert "gap_to_retrain" not in entries[0] and "gap_to_retrain" not in entries[2]
    gap = entries[1]["gap_to_retrain"]
    assert gap["auc"] == pytest.approx(0.1) and gap["advantage"] == pytest.approx(0.1)
    assert gap["tpr_at_fpr"]["0.01"] == pytest.approx(0.04)


def test_reference_pair_and_query_attacks_in_the_runner(tiny_config, tmp_path):
    """LiRA, boundary and two-model run through the runner on every audited model and
    mitigation; the reference store is reused by a second run; two-model carries the
    paper's comparison and label-only mitigated pairs are attacked on one-hot outputs."""
    from mia_audit.config import ReferenceConfig

    config = tiny_config(attacks=["loss", "lira-offline", "boundary", "two-model"], members=("train", "forget"),
                         n_bootstrap=0)
    config.unlearners = [{"name": "finetune", "epochs": 1}]
    config.mitigations = [{"name": "label-only"}]
    config.references = ReferenceConfig(n_models=4, store=str(tmp_path / "refs"), population=100,
                                        shadow_models=2, shadow_pool=400, pair_unlearners=["retrain"])
    config.attacks.options = {"boundary": {"n_queries": 8, "levels": 2}}
    result = run_audit(config, show_progress=False)
    validate(result)
    by = {(e["model"], e["mitigation"], e["attack"], e["members"]): e for e in result["results"]}
    assert by[("original", "none", "lira-offline", "train")]["applicable"] is True
    assert by[("original", "label-only", "lira-offline", "train")]["applicable"] is False
    assert by[("finetune", "none", "lira-offline", "forget")]["applicable"] is True
    assert by[("original", "label-only", "boundary", "train")]["applicable"] is True
    two = by[("retrain", "none", "two-model", "forget")]
    assert {"auc_two_model", "auc_single_model", "deg_count", "deg_rate"} <= set(two["comparison"])
    assert two["auc"] == pytest.approx(two["comparison"]["auc_two_model"])
    assert ("retrain", "label-only", "two-model", "forget") in by
    assert ("finetune", "none", "two-model", "forget") not in by  # pair_unlearners = ["retrain"]
    assert result["reference_models"]["references"]["n_models"] == 4
    stored = sorted(p.name for p in (tmp_path / "refs").rglob("*") if p.is_file())
    again = run_audit(config, show_progress=False)  # the store is reused, not retrained
    assert sorted(p.name for p in (tmp_path / "refs").rglob("*") if p.is_file()) == stored
    first = by[("original", "none", "lira-offline", "train")]["auc"]
    assert {(e["model"], e["attack"], e["members"], e["mitigation"]): e.get("auc") for e in again["results"]}[
        ("original", "lira-offline", "train", "none")] == first


def test_eupg_gets_the_column_names_explicitly_and_records_the_options_as_written(tiny_config, monkeypatch):
    """EUPG reads Adult's one-hot groups from its column names, passed as an explicit argument
    (a new unlearner from ``with_feature_names``): the unlearner the config made is never
    changed after its validation, and the result records the options the user wrote."""
    import mia_audit.run.unlearning as runner
    from mia_audit.data import load_dataset
    from mia_audit.unlearners.protection import mdav
    from mia_audit.unlearners.protection.columns import groups_from_feature_names

    made, as_made, seen = [], {}, []
    real_create, real_mdav = runner.create_unlearners, mdav.mdav_anonymize

    def create(specs):
        made.extend(real_create(specs))
        as_made.update({u.name: copy.deepcopy(vars(u)) for u in made})
        return list(made)

    def spy(X, k, **kwargs):
        seen.append(kwargs.get("categorical_groups"))
        return real_mdav(X, k, **kwargs)

    monkeypatch.setattr(runner, "create_unlearners", create)
    monkeypatch.setattr(mdav, "mdav_anonymize", spy)
    config = tiny_config(attacks=["loss"], n_bootstrap=0)
    config.unlearners = [{"name": "eupg-kanon", "epochs": 1, "fit_epochs": 1}]
    result = run_audit(config, show_progress=False)
    eupg = next(u for u in made if u.name == "eupg-kanon")
    assert vars(eupg) == as_made["eupg-kanon"]  # nothing was set on it after it was made
    assert eupg.categorical_groups is None and eupg._feature_names is None
    assert seen == [groups_from_feature_names(load_dataset("adult").feature_names)]
    recorded = {u["name"]: u["options"] for u in result["unlearners"]}["eupg-kanon"]
    assert recorded == eupg.options() and recorded["categorical_groups"] is None and recorded["epochs"] == 1
    assert "feature_names" not in recorded

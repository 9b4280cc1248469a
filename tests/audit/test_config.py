"""AuditConfig: TOML reading, validation of keys and values, defaults."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import pytest

from mia_audit.config import (
    MEMBER_SETS,
    AttackConfig,
    AuditConfig,
    DataConfig,
    ForgetConfig,
    MetricsConfig,
    ModelConfig,
    ReferenceConfig,
)
from mia_audit.errors import DataFileError, InputError

FULL_TOML = """\
seed = 7
device = "cpu"
out = "audit-out"

[data]
name = "adult"
data_dir = "../shared/data"
train_size = 0.4
test_size = 0.3
stratify = false
options = { }

[model]
name = "mlp"
params = { hidden = [64, 32] }
training = { epochs = 5 }

[forget]
kind = "random"
fraction = 0.1

[attacks]
names = ["loss", "loss-lr"]
members = ["train", "forget", "retain"]
options = { loss-lr = { n_splits = 3 } }

[metrics]
fprs = [0.01, 0.1]
n_bootstrap = 50
confidence = 0.9
"""


def _write(tmp_path, text, name="audit.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + " }"
    raise TypeError(v)


def _to_toml(d):
    """A tiny TOML writer for AuditConfig.to_dict() output (None values are left out)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict) and v is not None]
    for section, values in d.items():
        if isinstance(values, dict):
            lines.append(f"[{section}]")
            lines += [f'"{k}" = {_toml_value(v)}' for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def test_full_example_is_read_field_by_field(tmp_path):
    path = _write(tmp_path, FULL_TOML)
    cfg = AuditConfig.from_toml(path)
    # relative paths are taken relative to the config file's folder
    assert cfg.seed == 7 and cfg.device == "cpu" and cfg.out == str(path.parent / "audit-out")
    assert cfg.data == DataConfig(name="adult", data_dir=str(path.parent / "../shared/data"), train_size=0.4, test_size=0.3,
                                  stratify=False, options={})
    assert cfg.model == ModelConfig(name="mlp", params={"hidden": [64, 32]}, training={"epochs": 5})
    assert cfg.forget == ForgetConfig(kind="random", fraction=0.1)
    assert cfg.attacks == AttackConfig(names=["loss", "loss-lr"], members=["train", "forget", "retain"],
                                       options={"loss-lr": {"n_splits": 3}})
    assert cfg.metrics == MetricsConfig(fprs=[0.01, 0.1], n_bootstrap=50, confidence=0.9)


def test_round_trip_through_dict_and_toml(tmp_path):
    cfg = AuditConfig.from_toml(_write(tmp_path, FULL_TOML))
    d = cfg.to_dict()
    assert AuditConfig.from_dict(d) == cfg
    again = AuditConfig.from_toml(_write(tmp_path, _to_toml(d), "again.toml"))
    assert again == cfg
    assert again.to_dict() == d


def _literal_blocks(doc):
    """The indented blocks that follow each '::' in a docstring."""
    blocks, lines = [], doc.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("::"):
            body = []
            for follow in lines[i + 1:]:
                if follow.strip() and not follow.startswith(" "):
                    break
                body.append(follow)
            blocks.append(textwrap.dedent("\n".join(body)))
    return blocks


def test_docstring_target_example_parses(tmp_path):
    import mia_audit.config as mod
    cfg = AuditConfig.from_toml(_write(tmp_path, _literal_blocks(mod.__doc__)[1]))
    assert cfg.target["architecture"] == "mlp" and cfg.target["n_classes"] == 2
    # relative record and model paths are taken relative to the config file
    assert cfg.target["members"] == str(tmp_path / "members.npz")


def test_docstring_example_parses(tmp_path):
    """The layout documented in the module docstring is itself a valid configuration."""
    import mia_audit.config as mod
    blocks = _literal_blocks(mod.__doc__)
    cfg = AuditConfig.from_toml(_write(tmp_path, blocks[0]))
    assert cfg.data.name == "adult"
    assert cfg.model.params == {"hidden": [256, 256]}
    assert cfg.attacks.options == {"loss-lr": {"n_splits": 5}}
    assert cfg.metrics.fprs == [0.001, 0.01, 0.1]


def test_only_data_name_is_needed(tmp_path):
    cfg = AuditConfig.from_toml(_write(tmp_path, '[data]\nname = "digits"\n'))
    assert cfg.data.name == "digits"
    assert cfg.seed == 0 and cfg.device == "auto" and cfg.out is None
    assert cfg.attacks.names is None and cfg.attacks.members == ["train", "forget"]
    assert cfg.model == ModelConfig()


def test_unknown_top_level_key_names_it_and_lists_allowed(tmp_path):
    path = _write(tmp_path, 'seed = 1\nsede = 2\n[data]\nname = "adult"\n')
    with pytest.raises(InputError) as err:
        AuditConfig.from_toml(path)
    msg = str(err.value)
    assert "'sede'" in msg and str(path) in msg
    for allowed in ("attacks", "data", "device", "forget", "metrics", "model", "out", "seed"):
        assert allowed in msg


@pytest.mark.parametrize("section, key", [("data", "nmae"), ("model", "epochs"), ("forget", "frac"),
                                          ("attacks", "name"), ("metrics", "fpr")])
def test_unknown_section_key_names_it_and_lists_allowed(tmp_path, section, key):
    path = _write(tmp_path, f'[{section}]\n{key} = 1\n')
    with pytest.raises(InputError) as err:
        AuditConfig.from_toml(path)
    msg = str(err.value)
    assert f"[{section}]" in msg and repr(key) in msg
    kind = {"data": DataConfig, "model": ModelConfig, "forget": ForgetConfig,
            "attacks": AttackConfig, "metrics": MetricsConfig}[section]
    for f in dataclasses.fields(kind):
        assert f.name in msg


def test_section_that_is_not_a_table(tmp_path):
    with pytest.raises(InputError, match=r"\[data\] must be a table"):
        AuditConfig.from_toml(_write(tmp_path, 'data = "adult"\n'))


def test_invalid_toml(tmp_path):
    path = _write(tmp_path, "[data\nname = adult\n")
    with pytest.raises(InputError, match="not valid TOML") as err:
        AuditConfig.from_toml(path)
    assert str(path) in str(err.value)


def test_not_utf8_is_invalid_toml(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[data]\nname = "\xe9"\n'.encode("latin-1"))
    with pytest.raises(InputError, match="not valid TOML"):
        AuditConfig.from_toml(path)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope" / "audit.toml"
    with pytest.raises(DataFileError) as err:
        AuditConfig.from_toml(path)
    assert str(path) in str(err.value)
    assert isinstance(err.value, InputError) and isinstance(err.value, FileNotFoundError)


def test_a_directory_is_not_a_config_file(tmp_path):
    with pytest.raises(DataFileError):
        AuditConfig.from_toml(tmp_path)


@pytest.mark.parametrize("seed", [-1, "1", 1.5, True, 2**63, None])
def test_bad_seed(seed):
    with pytest.raises(InputError, match="seed"):
        AuditConfig(seed=seed)


def test_bad_seed_in_toml(tmp_path):
    with pytest.raises(InputError, match=r"seed must be .*; got -3"):
        AuditConfig.from_toml(_write(tmp_path, 'seed = -3\n[data]\nname = "adult"\n'))


def test_numpy_seed_is_accepted():
    np = pytest.importorskip("numpy")
    cfg = AuditConfig(seed=np.int64(5))
    assert cfg.seed == 5 and type(cfg.seed) is int


@pytest.mark.parametrize("members", [["train", "test"], ["members"], [], "train", 5, ["train", 1]])
def test_bad_attack_members(members):
    with pytest.raises(InputError, match="attacks.members") as err:
        AuditConfig(attacks=AttackConfig(members=members))
    for name in MEMBER_SETS:
        assert name in str(err.value)


def test_bad_attack_members_in_toml(tmp_path):
    with pytest.raises(InputError, match="attacks.members"):
        AuditConfig.from_toml(_write(tmp_path, '[attacks]\nmembers = ["train", "nonmembers"]\n'))


def test_every_member_set_is_accepted():
    cfg = AuditConfig(attacks=AttackConfig(members=list(MEMBER_SETS)))
    assert cfg.attacks.members == list(MEMBER_SETS)


@pytest.mark.parametrize("n", [-1, 1.5, "10", True])
def test_bad_n_bootstrap(n):
    with pytest.raises(InputError, match="n_bootstrap"):
        AuditConfig(metrics=MetricsConfig(n_bootstrap=n))


def test_bad_device_type():
    with pytest.raises(InputError, match="device"):
        AuditConfig(device=0)


@pytest.mark.parametrize("section, key, value", [
    ("data", "options", "[1, 2]"),
    ("model", "params", "5"),
    ("model", "training", '"fast"'),
    ("attacks", "options", '"loss"'),
    ("attacks", "names", '"loss"'),
    ("attacks", "options", '{ loss = 3 }'),
    ("metrics", "fprs", '"0.01"'),
    ("metrics", "fprs", "[0.0, 0.1]"),
    ("metrics", "confidence", "1.5"),
    ("data", "stratify", '"yes"'),
    ("data", "name", "3"),
])
def test_wrongly_typed_values_are_input_errors(tmp_path, section, key, value):
    """A value of the wrong type is an InputError naming the key, not a TypeError later."""
    with pytest.raises(InputError, match=rf"{section}\.{key}.* must be .*; got"):
        AuditConfig.from_toml(_write(tmp_path, f"[{section}]\n{key} = {value}\n"))


def test_forget_random_default_is_five_percent():
    assert ForgetConfig().to_spec() == {"kind": "random", "fraction": 0.05}
    assert AuditConfig().forget.to_spec()["fraction"] == 0.05


def test_forget_spec_keeps_what_was_given():
    assert ForgetConfig(kind="random", size=12).to_spec() == {"kind": "random", "size": 12}
    assert ForgetConfig(kind="random", fraction=0.2).to_spec() == {"kind": "random", "fraction": 0.2}
    assert ForgetConfig(kind="classes", classes=[1]).to_spec() == {"kind": "classes", "classes": [1]}
    assert ForgetConfig(kind="indices", indices=[3, 4]).to_spec() == {"kind": "indices", "indices": [3, 4]}


def test_forget_default_from_toml(tmp_path):
    cfg = AuditConfig.from_toml(_write(tmp_path, '[forget]\nkind = "random"\n'))
    assert cfg.forget.to_spec() == {"kind": "random", "fraction": 0.05}


def test_to_dict_records_a_callable_predicate_by_name():
    def my_rule(dataset, idx):
        return idx % 2 == 0

    cfg = AuditConfig(forget=ForgetConfig(kind="predicate", predicate=my_rule))
    d = cfg.to_dict()
    assert re.fullmatch(r"<callable .*my_rule>", d["forget"]["predicate"])
    assert cfg.forget.predicate is my_rule  # the object itself is unchanged
    import json

    json.dumps(d)  # JSON-ready


def test_from_dict_does_not_mutate_its_input():
    raw = {"seed": 3, "data": {"name": "adult"}, "attacks": {"members": ["train"]}}
    before = repr(raw)
    AuditConfig.from_dict(raw)
    assert repr(raw) == before


def test_mutable_defaults_are_not_shared():
    a, b = AuditConfig(), AuditConfig()
    a.attacks.members.append("retain")
    a.metrics.fprs.append(0.5)
    assert b.attacks.members == ["train", "forget"]
    assert b.metrics.fprs == [0.001, 0.01, 0.1]


def test_relative_paths_in_a_config_file_are_relative_to_that_file(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "audit.toml"
    path.write_text('out = "results"\n[data]\nname = "cardio"\ndata_dir = "../data"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    config = AuditConfig.from_toml(path)
    assert Path(config.out) == folder / "results"
    assert Path(config.data.data_dir) == folder / "../data"
    absolute = tmp_path / "abs"
    path.write_text(f'out = "{absolute}"\n', encoding="utf-8")
    assert Path(AuditConfig.from_toml(path).out) == absolute


def test_a_changed_config_is_a_new_validated_one():
    """Overrides (the CLI's --seed / --device) build a new config with dataclasses.replace, which
    validates it like the constructor; the original is left as it was."""
    np = pytest.importorskip("numpy")
    cfg = AuditConfig(seed=1)
    new = dataclasses.replace(cfg, seed=np.int64(3), device="cpu")
    assert new.seed == 3 and type(new.seed) is int and new.device == "cpu" and (cfg.seed, cfg.device) == (1, "auto")
    with pytest.raises(InputError, match=r"seed must be .*; got -1"):
        dataclasses.replace(cfg, seed=-1)
    with pytest.raises(InputError, match="device must be"):
        dataclasses.replace(cfg, device=0)


@pytest.mark.parametrize("key, value, needle", [
    ("n_models", 3, "references.n_models must be an even integer"),
    ("n_models", True, "references.n_models must be an integer >= 2; got True"),
    ("population", -1, "references.population must be an integer >= 0; got -1"),
    ("shadow_pool", 3, "references.shadow_pool must be an integer >= 4 or None; got 3"),
    ("deletions", "many", "references.deletions must be one of 'group', 'single'; got 'many'"),
    ("store", 5, "references.store must be text or None; got 5"),
    ("pair_unlearners", "scrub", "references.pair_unlearners must be a list of unlearner names or None"),
])
def test_reference_settings_are_checked_by_the_shared_helpers(key, value, needle):
    with pytest.raises(InputError, match=re.escape(needle)):
        AuditConfig(references=ReferenceConfig(**{key: value}))


@pytest.mark.parametrize("key, value", [
    ("path", 3),
    ("path", ""),
    ("label", ["income"]),
    ("id", 2),
    ("categorical", "sex"),
    ("numeric", [1, 2]),
])
def test_wrongly_typed_own_data_keys_are_input_errors(key, value):
    data = {"path": "records.csv", "label": "income", key: value}
    with pytest.raises(InputError, match=rf"data\.{key} must be .*; got"):
        AuditConfig.from_dict({"data": data})


def test_own_data_keys_round_trip_and_default_name():
    cfg = AuditConfig.from_dict({"data": {"path": "/data/records.parquet", "label": "income", "id": "pid",
                                          "categorical": ["sex"], "numeric": ["age"]}})
    assert cfg.data.name is None and cfg.data.path == "/data/records.parquet"
    assert AuditConfig.from_dict(cfg.to_dict()) == cfg
    assert AuditConfig.from_dict({"data": {}}).data.name == "adult"  # neither name nor path: adult
    with pytest.raises(InputError, match=r"data\.options .* with data\.path"):
        AuditConfig.from_dict({"data": {"path": "r.csv", "label": "y", "options": {"as_": "sequence"}}})
    with pytest.raises(InputError, match=r"data\.label: .* \.npz file"):
        AuditConfig.from_dict({"data": {"path": "r.npz", "label": "y"}})


def test_ulira_forget_sets_below_two_is_refused():
    """One forget set would forget a reference model's whole training set (nothing retained)."""
    from mia_audit.config import ReferenceConfig

    with pytest.raises(InputError, match=r"^references\.ulira_forget_sets must be an integer >= 2; got 1$"):
        AuditConfig(references=ReferenceConfig(ulira_forget_sets=1))

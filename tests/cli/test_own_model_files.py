"""The user's own model files through ``mia-audit run``: a scikit-learn forest saved with skops,
and a torch state dict loaded into the user's own network (``[target] build``).

The forest memorises (train accuracy 1.0 on noisy labels), so the loss attack's AUC must sit
well above 0.5: more than 4 standard errors, SE = sqrt((n1 + n0 + 1) / (12 n1 n0)).
"""

from __future__ import annotations

import json
import math
import sys
import textwrap

import numpy as np
import pytest
import torch

from mia_audit.cli.commands import EXIT_BAD_INPUT, EXIT_OK, main
from mia_audit.model_files import file_sha256

from .test_cli import _one_line_error  # the CLI's one-line error check, shared

N = 300  # members and non-members each
F = 8
#: the modules the tests write beside their configs (forgotten after each test: sys.modules)
MODULES = ("mynet", "raisingnet")

MYNET = """
import torch


class Net(torch.nn.Module):
    def __init__(self, n_in, n_classes):
        super().__init__()
        self.hidden = torch.nn.Linear(n_in, 32)
        self.out = torch.nn.Linear(32, n_classes)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


def build(input_shape, n_classes):
    return Net(input_shape[0], n_classes)
"""




@pytest.fixture(autouse=True)
def forget_user_modules():
    for name in MODULES:
        sys.modules.pop(name, None)
    yield
    for name in MODULES:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=2 * N, n_features=F, n_informative=5, flip_y=0.15, random_state=0)
    X = X.astype(np.float32)
    folder = tmp_path_factory.mktemp("records")
    np.savez(folder / "members.npz", X=X[:N], y=y[:N])
    np.savez(folder / "nonmembers.npz", X=X[N:], y=y[N:])
    return X, y, folder


def _write_config(folder, records_folder, model, extra=""):
    config = folder / "config.toml"
    config.write_text(textwrap.dedent(f"""\
        [target]
        model = "{model}"
        members = "{records_folder / 'members.npz'}"
        nonmembers = "{records_folder / 'nonmembers.npz'}"
        n_classes = 2
        """) + extra + '\n[attacks]\nnames = ["loss", "confidence"]\n[metrics]\nn_bootstrap = 20\n',
        encoding="utf-8")
    return config


def _se(n1: int, n0: int) -> float:
    return math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))


def _entry(result, attack):
    (entry,) = [e for e in result["results"] if e["attack"] == attack and e["mitigation"] == "none"]
    return entry


# ---------------------------------------------------------------------------- a forest saved with skops


def test_a_forest_saved_with_skops_is_audited_and_leaks(records, tmp_path, monkeypatch):
    sio = pytest.importorskip("skops.io")
    from sklearn.ensemble import RandomForestClassifier

    X, y, rec = records
    forest = RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=1).fit(X[:N], y[:N])
    assert forest.score(X[:N], y[:N]) == 1.0  # it memorises
    assert sio.get_untrusted_types(file=_dump(sio, forest, tmp_path / "forest.skops")) == ["sklearn.tree._tree.Tree"]
    config = _write_config(tmp_path, rec, "forest.skops")  # relative: beside the config
    monkeypatch.chdir(rec)  # not the config's folder
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == EXIT_OK
    result = json.loads((out / "report.json").read_text())
    loss = _entry(result, "loss")
    assert loss["auc"] > 0.5 + 4 * _se(N, N), loss["auc"]
    (model,) = result["models"]
    assert model["sha256"] == file_sha256(tmp_path / "forest.skops") and model["outputs"] == "probs"


def _dump(sio, model, path):
    sio.dump(model, path)
    return path


def test_a_skops_file_with_a_foreign_type_is_one_line_exit_2(records, tmp_path, capsys):
    sio = pytest.importorskip("skops.io")
    from sklearn.linear_model import LogisticRegression

    class Evil(LogisticRegression):  # a user's own class: not scikit-learn's, so refused by name
        pass

    X, y, rec = records
    Evil.__module__ = "mypkg"
    sio.dump(Evil().fit(X[:50], y[:50]), tmp_path / "model.skops")  # dumping names the type, imports nothing
    config = _write_config(tmp_path, rec, "model.skops")
    capsys.readouterr()
    assert main(["run", str(config), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    line = _one_line_error(capsys)
    assert line == (f"mia-audit: error: target.model: {tmp_path / 'model.skops'} holds types mia-audit does not "
                    "load: mypkg.Evil; only scikit-learn, numpy and scipy types are trusted")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- a state dict and the user's build


def _train_net(X, y, seed=0):
    folder_ns: dict = {}
    exec(compile(MYNET, "mynet", "exec"), folder_ns)  # the same network the config's mynet.py builds
    torch.manual_seed(seed)
    net = folder_ns["build"]((F,), 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).long()
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(Xt), yt).backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def trained_net(records):
    X, y, _ = records
    return _train_net(X[:N], y[:N])


def _torch_setup(tmp_path, records, net, build="mynet:build", extra=""):
    _, _, rec = records
    (tmp_path / "mynet.py").write_text(MYNET, encoding="utf-8")
    torch.save(net.state_dict(), tmp_path / "net.pt")
    return _write_config(tmp_path, rec, "net.pt",
                         f'build = "{build}"\ninput_shape = [{F}]\ndevice = "cpu"\n' + extra)


def test_a_state_dict_loads_into_the_users_build(records, trained_net, tmp_path, monkeypatch):
    from mia_audit.testing import audit_model

    X, y, _ = records
    config = _torch_setup(tmp_path, records, trained_net)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == EXIT_OK
    result = json.loads((out / "report.json").read_text())
    in_memory = audit_model(trained_net, (X[:N], y[:N]), (X[N:], y[N:]), attacks=["loss", "confidence"])
    for attack in ("loss", "confidence"):  # the weights came from the file into the user's network
        assert _entry(result, attack)["auc"] == pytest.approx(_entry(in_memory, attack)["auc"], abs=1e-12)
    assert result["models"][0]["sha256"] == file_sha256(tmp_path / "net.pt")


def test_builds_module_is_found_beside_the_config_from_any_directory(records, trained_net, tmp_path, monkeypatch):
    folder = tmp_path / "cfg"
    folder.mkdir()
    config = _torch_setup(folder, records, trained_net)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == EXIT_OK


def test_run_deployed_audit_searches_base_dir_for_build(records, trained_net, tmp_path, monkeypatch):
    from mia_audit.run.deployed import run_deployed_audit

    _, _, rec = records
    _torch_setup(tmp_path, records, trained_net)
    monkeypatch.chdir(rec)
    target = {"model": "net.pt", "build": "mynet:build", "input_shape": [F], "n_classes": 2, "device": "cpu",
              "members": str(rec / "members.npz"), "nonmembers": str(rec / "nonmembers.npz")}
    result = run_deployed_audit(target, attacks=["loss"], metrics={"n_bootstrap": 0}, base_dir=tmp_path)
    assert result["config"]["target"]["build"] == "mynet:build"
    assert _entry(result, "loss")["auc"] > 0.5


RAISING = """
def build(input_shape, n_classes):
    raise ValueError(f"no layer for {input_shape}")
"""


@pytest.mark.parametrize("case", ["no-module", "no-function", "raises", "misfit", "with-architecture",
                                  "no-input-shape"])
def test_bad_build_input_is_one_line_exit_2(case, records, trained_net, tmp_path, capsys, monkeypatch):
    build, extra, net = "mynet:build", "", trained_net
    if case == "no-module":
        build = "nosuchnet:build"
    elif case == "no-function":
        build = "mynet:make"
    elif case == "raises":
        build = "raisingnet:build"
        (tmp_path / "raisingnet.py").write_text(RAISING, encoding="utf-8")
    elif case == "misfit":
        net = torch.nn.Sequential(torch.nn.Linear(F, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    elif case == "with-architecture":
        extra = 'architecture = "mlp"\n'
    config = _torch_setup(tmp_path, records, net, build=build, extra=extra)
    if case == "no-input-shape":
        config.write_text(config.read_text().replace(f"input_shape = [{F}]\n", ""), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["run", str(config), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    line = _one_line_error(capsys)
    assert line.startswith("mia-audit: error: ")
    needle = {
        "no-module": "target.build: cannot import module 'nosuchnet'",
        "no-function": "target.build: module 'mynet' has no attribute 'make'",
        "raises": "target.build: raisingnet:build raised ValueError: no layer for (8,)",
        "misfit": (f"model file {tmp_path / 'net.pt'} does not match build 'mynet:build': missing keys "
                   "'hidden.weight', 'hidden.bias', 'out.weight' and 1 more; unexpected keys '0.weight', "
                   "'0.bias', '2.weight' and 1 more"),
        "with-architecture": "target.architecture and target.build are exclusive",
        "no-input-shape": "needs input_shape to rebuild the network",
    }[case]
    assert needle in line, line
    assert not (tmp_path / "out").exists()

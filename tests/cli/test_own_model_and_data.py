"""Your own CSV and your own training code, from the command line (issue 12)."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from mia_audit.cli.commands import EXIT_BAD_INPUT, EXIT_OK, main

FIT = '''
from sklearn.ensemble import RandomForestClassifier


def fit(X, y, *, seed, device):
    return RandomForestClassifier(n_estimators=40, random_state=seed, n_jobs=1).fit(X, y)
'''


def _csv(path, n=1600, seed=0):
    """A user's own table: two numeric columns, a text category, a text label, a unique id."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    income = rng.normal(50, 15, n).round(2)
    city = rng.choice(["north", "south", "east"], n)
    p = 1 / (1 + np.exp(-(0.04 * (age - 45) + 0.05 * (income - 50) + (city == "north"))))
    label = np.where(rng.random(n) < p, "yes", "no")  # a noisy label: a forest must memorise to fit it
    lines = ["pid,age,income,city,bought"] + [f"p{i:05d},{a},{m},{c},{lab}"
                                               for i, (a, m, c, lab) in enumerate(zip(age, income, city, label))]
    path.write_text("\n".join(lines) + "\n")


def _config(folder, attacks, **extra):
    _csv(folder / "customers.csv")
    (folder / "shop_model.py").write_text(textwrap.dedent(FIT))
    (folder / "audit.toml").write_text(textwrap.dedent(f'''\
        seed = 0
        device = "cpu"
        [data]
        path = "customers.csv"
        label = "bought"
        id = "pid"
        categorical = ["city"]
        numeric = ["age", "income"]
        train_size = 600
        test_size = 600
        [model]
        train = "shop_model:fit"
        [attacks]
        names = {json.dumps(attacks)}
        members = ["train"]
        [metrics]
        n_bootstrap = 20
        [references]
        n_models = 4
        population = 400
        ''') + extra.get("more", ""))
    return folder / "audit.toml"


def test_your_csv_and_your_forest_get_reference_attacks_and_a_fail(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "project"
    folder.mkdir()
    config = _config(folder, ["loss", "lira-offline", "rmia-offline"])
    monkeypatch.chdir(tmp_path)  # not the config's folder: the module is found beside the config
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == EXIT_OK
    result = json.loads((out / "report.json").read_text())
    by_attack = {e["attack"]: e for e in result["results"]}
    assert set(by_attack) == {"loss", "lira-offline", "rmia-offline"} and all(e["applicable"] for e in by_attack.values())
    model = result["models"][0]
    assert model["accuracy"]["train"] == 1.0 and model["architecture"] == "shop_model:fit"
    assert result["data"]["name"] == "customers" and "sha256" in result["data"]["source"]
    assert "one-hot: city (3)" in result["data"]["preprocessing"]
    se = np.sqrt((600 + 600 + 1) / (12 * 600 * 600))
    assert by_attack["loss"]["auc"] > 0.5 + 4 * se
    assert result["verdict"]["status"] == "fail"
    assert (out / "report.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize("change, match", [
    ("label", "data.label"),
    ("module", "cannot import module"),
    ("ids", "data.id"),
    ("signature", "does not take fit(X, y, *, seed, device)"),
    ("returns", "cannot query"),
])
def test_bad_own_data_or_code_is_one_line_and_exit_2(tmp_path, capsys, change, match):
    folder = tmp_path / "project"
    folder.mkdir()
    config = _config(folder, ["loss"])
    text = config.read_text()
    if change == "label":
        config.write_text(text.replace('label = "bought"', 'label = "purchased"'))
    elif change == "module":
        config.write_text(text.replace('train = "shop_model:fit"', 'train = "shop_modle:fit"'))
    elif change == "signature":
        (folder / "shop_model.py").write_text("def fit(X, y):\n    return None\n")
    elif change == "returns":
        (folder / "shop_model.py").write_text("def fit(X, y, *, seed, device):\n    return 'a model'\n")
    else:
        rows = (folder / "customers.csv").read_text().splitlines()
        rows[2] = rows[1].split(",")[0] + "," + ",".join(rows[2].split(",")[1:])  # a repeated id
        (folder / "customers.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0] and "Traceback" not in err[0], err
    assert not out.exists()


def test_a_skops_forest_from_your_csv_gets_loss_lira_rmia_and_qmia_from_the_cli(tmp_path, monkeypatch):
    """Issue 12's first check: a RandomForest trained on a CSV of the user's own, saved with
    skops, with a train function in a small module beside the config: loss, LiRA offline, RMIA
    offline and QMIA entries, and a FAIL verdict for a forest that memorises."""
    import skops.io as sio

    monkeypatch.setenv("MIA_AUDIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "deployed"
    folder.mkdir()
    _csv(folder / "all.csv", n=2400, seed=3)
    rows = (folder / "all.csv").read_text().splitlines()
    header, body = rows[0].split(","), rows[1:]
    keep = [1, 2, 3, 4]  # age, income, city, bought: record files hold features and the label only
    city = {"north": 0, "south": 1, "east": 2}

    def encode(line):
        cells = line.split(",")
        return [cells[1], cells[2], str(city[cells[3]]), "1" if cells[4] == "yes" else "0"]

    parts = {"members": body[:600], "nonmembers": body[600:1200], "population": body[1200:]}
    for name, lines in parts.items():
        (folder / f"{name}.csv").write_text("age,income,city,label\n" + "\n".join(",".join(encode(x)) for x in lines) + "\n")
    assert [header[i] for i in keep] == ["age", "income", "city", "bought"]
    (folder / "shop_model.py").write_text(textwrap.dedent(FIT))
    from mia_audit.user_code import load_function

    fit = load_function("shop_model:fit", param="model.train", base_dir=folder)
    members = np.loadtxt(folder / "members.csv", delimiter=",", skiprows=1, dtype=np.float32)
    forest = fit(members[:, :3], members[:, 3].astype(int), seed=7, device="cpu")
    assert forest.score(members[:, :3], members[:, 3].astype(int)) > 0.99  # it memorises (a few rows repeat)
    sio.dump(forest, folder / "forest.skops")
    (folder / "audit.toml").write_text(textwrap.dedent('''\
        seed = 0
        [target]
        model = "forest.skops"
        members = "members.csv"
        nonmembers = "nonmembers.csv"
        population = "population.csv"
        n_classes = 2
        train = "shop_model:fit"
        [attacks]
        names = ["loss", "lira-offline", "rmia-offline", "qmia"]
        [metrics]
        n_bootstrap = 20
        [references]
        n_models = 4
        population = 1200
        '''))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(folder / "audit.toml"), "--out", str(out), "--quiet"]) == EXIT_OK
    result = json.loads((out / "report.json").read_text())
    by_attack = {e["attack"]: e for e in result["results"]}
    assert set(by_attack) == {"loss", "lira-offline", "rmia-offline", "qmia"}
    assert all(e["applicable"] for e in by_attack.values()), [e.get("reason") for e in by_attack.values()]
    se = np.sqrt((600 + 600 + 1) / (12 * 600 * 600))
    assert by_attack["loss"]["auc"] > 0.5 + 4 * se
    assert result["verdict"]["status"] == "fail"
    assert (out / "report.pdf").read_bytes()[:4] == b"%PDF"

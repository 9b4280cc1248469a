"""A scikit-learn random forest exported with skl2onnx, audited from its ONNX file (issue 9 §1).

Before the fix the adapter read the first ONNX output, skl2onnx's predicted label, so only the
label-only ``gap`` attack ran and the PDF said PASS in a green box for a forest that memorises
(train accuracy 1.0). The adapter must read the probabilities (a tensor, or ZipMap's sequence
of maps), and only a model that truly gives labels alone is audited label-only: then the
verdict is INCONCLUSIVE, with the reason in words on page 1.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

import mia_audit.cli.commands as cli  # noqa: E402
from mia_audit.errors import InputError  # noqa: E402
from mia_audit.model_files import load_model_file  # noqa: E402
from mia_audit.testing import audit_model  # noqa: E402

N = 400  # members and non-members each


@pytest.fixture(scope="module")
def forest(tmp_path_factory):
    """A forest that memorises noisy labels (flip_y): train accuracy 1.0, test about 0.8."""
    X, y = make_classification(n_samples=2 * N, n_features=10, n_informative=5, flip_y=0.15, random_state=0)
    X = X.astype(np.float32)
    rf = RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=1).fit(X[:N], y[:N])
    folder = tmp_path_factory.mktemp("onnx")
    paths = {}
    for zipmap in (True, False):
        options = None if zipmap else {id(rf): {"zipmap": False}}
        onx = skl2onnx.to_onnx(rf, X[:1], options=options)
        paths[zipmap] = folder / f"rf_zipmap{int(zipmap)}.onnx"
        paths[zipmap].write_bytes(onx.SerializeToString())
    np.savez(folder / "members.npz", X=X[:N], y=y[:N])
    np.savez(folder / "nonmembers.npz", X=X[N:], y=y[N:])
    return rf, X, y, folder, paths


@pytest.mark.parametrize("zipmap", [True, False], ids=["zipmap", "tensor"])
def test_the_probabilities_output_is_read_not_the_label(forest, zipmap):
    rf, X, y, _, paths = forest
    adapter = load_model_file(paths[zipmap])
    assert adapter.output_kind == "probs" and adapter.n_classes == 2
    assert adapter.describe()["output"] == ("output_probability" if zipmap else "probabilities")
    np.testing.assert_allclose(adapter.predict(X[:50]).values, rf.predict_proba(X[:50]), atol=1e-5)


def test_the_onnx_audit_matches_the_in_memory_audit_and_fails(forest):
    rf, X, y, _, paths = forest
    members, nonmembers = (X[:N], y[:N]), (X[N:], y[N:])
    in_memory = audit_model(rf, members, nonmembers, attacks=["loss", "gap"])
    from_file = audit_model(load_model_file(paths[True]), members, nonmembers, attacks=["loss", "gap"])
    auc = {e["attack"]: e["auc"] for e in in_memory["results"]}
    assert auc["loss"] > 0.65  # memorised: SE at n = 400 + 400 is about 0.02
    for e in from_file["results"]:
        assert e["auc"] == pytest.approx(auc[e["attack"]], abs=2e-3)  # float32 graph vs float64 sklearn
    assert from_file["verdict"]["status"] == "fail"


def test_labels_only_is_inconclusive_with_the_reason_on_page_one(forest, tmp_path, capsys):
    pypdf = pytest.importorskip("pypdf")
    _, _, _, folder, paths = forest
    config = tmp_path / "audit.toml"
    config.write_text(f'[target]\nmodel = "{paths[True]}"\nmembers = "{folder / "members.npz"}"\n'
                      f'nonmembers = "{folder / "nonmembers.npz"}"\nn_classes = 2\noutput = "output_label"\n')
    assert cli.main(["run", str(config), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "INCONCLUSIVE: model deployed gave labels only: only gap ran" in out  # the terminal's verdict block
    result = json.loads((tmp_path / "out" / "report.json").read_text())
    assert result["verdict"]["status"] == "inconclusive"
    assert result["verdict"]["coverage"][0]["outputs"] == "labels"
    first = pypdf.PdfReader(io.BytesIO((tmp_path / "out" / "report.pdf").read_bytes())).pages[0].extract_text()
    first = " ".join(first.split())
    assert "INCONCLUSIVE" in first and "outputs labels only" in first and "PASS:" not in first
    # the gate refuses it too, though the label-only figure is within the limit
    assert cli.main(["check", str(tmp_path / "out" / "report.json"), "--max-auc", "0.9"]) == 1


def test_the_default_cli_audit_of_the_forest_fails(forest, tmp_path, capsys):
    _, _, _, folder, paths = forest
    config = tmp_path / "audit.toml"
    config.write_text(f'[target]\nmodel = "{paths[True]}"\nmembers = "{folder / "members.npz"}"\n'
                      f'nonmembers = "{folder / "nonmembers.npz"}"\nn_classes = 2\n')
    assert cli.main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    result = json.loads((tmp_path / "out" / "report.json").read_text())
    assert result["verdict"]["status"] == "fail"
    assert "posterior" in result["verdict"]["coverage"][0]["evidence"]
    assert {e["attack"] for e in result["results"] if e["applicable"]} >= {"loss", "loss-lr", "gap"}


def test_an_unknown_output_name_lists_the_outputs(forest):
    _, _, _, _, paths = forest
    with pytest.raises(InputError, match=r"output must name one of the ONNX model's outputs "
                                         r"\(output_label, output_probability\); got 'proba'"):
        load_model_file(paths[True], output="proba")
    with pytest.raises(InputError, match="output names an ONNX model's output"):
        load_model_file(paths[True], kind="xgboost", output="x")

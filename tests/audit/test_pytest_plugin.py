"""The pytest plugin, run on a temporary project with pytester (in-process)."""

from __future__ import annotations

import json
import sys
import types

import pytest

pytest_plugins = ["pytester"]

# inner runs: no cache files; the plugin's packages are already imported in this process,
# so pytest's "cannot be rewritten" notice about them is expected there
INNER = ("-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning")

PROJECT_TESTS = '''
import inspect

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 2.0 * rng.normal(size=300) > 0).astype(np.int64)
    return (X[:150], y[:150]), (X[150:], y[150:])


def test_linear_model_is_private(membership_privacy, data):
    members, nonmembers = data
    model = LogisticRegression().fit(*members)
    result = membership_privacy(model, members, nonmembers, max_auc=0.7, attacks=["loss", "entropy"])
    assert result["gate"]["passed"]
    from mia_audit.testing import assert_membership_privacy
    assert inspect.signature(membership_privacy) == inspect.signature(assert_membership_privacy)


def test_deep_tree_is_private(membership_privacy, data):
    members, nonmembers = data
    model = DecisionTreeClassifier(random_state=0).fit(*members)
    membership_privacy(model, members, nonmembers, max_auc=0.6, attacks=["loss", "entropy"])
'''


@pytest.fixture(scope="module")
def _warm_imports():
    """Import, in this process, everything the inner runs import.

    In-process pytester runs remove the modules first imported during a run; a numpy or
    scikit-learn extension module imported again then fails ("cannot load module more
    than once"). Importing them here keeps them loaded across runs.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    import mia_audit.reports.result_json  # noqa: F401
    from mia_audit.testing import audit_model

    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    return [audit_model(model, (X[:20], y[:20]), (X[20:], y[20:]), attacks=["loss", "entropy"])
            for model in (LogisticRegression().fit(X, y), DecisionTreeClassifier().fit(X, y))]


@pytest.fixture
def project(pytester, _warm_imports):
    pytester.makepyfile(test_privacy=PROJECT_TESTS)
    return pytester


def test_plugin_is_registered_through_the_entry_point(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("mia_audit")
    pytestconfig.getoption("mia_report")  # the option exists (an unknown one raises ValueError)
    from importlib.metadata import entry_points

    assert any(ep.value == "mia_audit.pytest_plugin" for ep in entry_points(group="pytest11"))


def test_one_pass_one_fail_and_the_report(project):
    report_path = project.path / "out" / "privacy.json"
    run = project.runpytest(*INNER, f"--mia-report={report_path}")
    run.assert_outcomes(passed=1, failed=1)
    out = run.stdout.str()
    # the failure shows the violation table
    assert "membership privacy check failed" in out
    run.stdout.re_match_lines([r".*model\s+mitigation\s+attack\s+members\s+figure\s+value\s+allowed.*",
                               r".*model\s+none\s+loss\s+train\s+auc\s+0\.\d{4}\s+0\.6000.*limit.*"],
                              consecutive=False)
    assert "mia-audit: 2 privacy audit(s), 1 failed; report: " in out

    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["kind"] == "mia-audit-pytest-report" and report["n_audits"] == 2 and report["n_failed"] == 1
    assert report["report_version"] == 1 and "schema_version" not in report  # not mistaken for a result
    by_test = {a["test"].split("::")[-1]: a for a in report["audits"]}
    assert set(by_test) == {"test_linear_model_is_private", "test_deep_tree_is_private"}
    assert by_test["test_linear_model_is_private"]["outcome"] == "passed"
    failed = by_test["test_deep_tree_is_private"]
    assert failed["outcome"] == "failed" and failed["gate"]["passed"] is False
    assert {v["attack"] for v in failed["gate"]["violations"]} >= {"loss"}
    for audit in report["audits"]:
        assert audit["result"]["schema_version"] == 1
        assert {e["attack"] for e in audit["result"]["results"]} == {"loss", "entropy"}
    assert not [p for p in report_path.parent.iterdir() if p.name != "privacy.json"]  # no temporary left


def test_results_validate_against_the_schema(project):
    jsonschema = pytest.importorskip("jsonschema")
    from mia_audit.reports.result_json import schema

    report_path = project.path / "r.json"
    project.runpytest(*INNER, f"--mia-report={report_path}").assert_outcomes(passed=1, failed=1)
    for audit in json.loads(report_path.read_text())["audits"]:
        jsonschema.validate(audit["result"], schema())


def test_no_report_without_the_option(project):
    run = project.runpytest(*INNER, "-k", "linear")
    run.assert_outcomes(passed=1, deselected=1)
    assert not list(project.path.glob("*.json"))
    assert "mia-audit: 1 privacy audit(s), 0 failed" in run.stdout.str()


def test_pdf_path_writes_json_beside_and_a_pdf_when_a_renderer_exists(project, monkeypatch):
    calls = []

    def render_pdf(result):
        calls.append(result)
        return b"%PDF-1.4 fake\n"

    fake = types.ModuleType("mia_audit.reports.pdf_report")
    fake.render_pdf = render_pdf
    monkeypatch.setitem(sys.modules, "mia_audit.reports.pdf_report", fake)
    pdf = project.path / "audit.pdf"
    project.runpytest(*INNER, f"--mia-report={pdf}").assert_outcomes(passed=1, failed=1)
    assert pdf.read_bytes().startswith(b"%PDF")
    assert json.loads((project.path / "audit.json").read_text())["n_audits"] == 2
    (merged,) = calls  # one result holding both audits, models named after the tests
    assert {m["name"].split("::")[-1] for m in merged["models"]} == {"test_linear_model_is_private",
                                                                    "test_deep_tree_is_private"}
    assert len(merged["results"]) == 4


def test_pdf_path_without_a_renderer_still_writes_the_json(project, monkeypatch):
    monkeypatch.setitem(sys.modules, "mia_audit.reports.pdf_report", None)  # import fails
    pdf = project.path / "audit.pdf"
    run = project.runpytest(*INNER, f"--mia-report={pdf}")
    run.assert_outcomes(passed=1, failed=1)
    assert not pdf.exists()
    assert json.loads((project.path / "audit.json").read_text())["n_audits"] == 2
    assert "no PDF: mia_audit.reports.pdf_report is not available" in run.stdout.str()


def test_an_unwritable_report_path_fails_the_run_with_one_line(project):
    blocker = project.path / "file"
    blocker.write_text("x")
    run = project.runpytest(*INNER, "-k", "linear", f"--mia-report={blocker / 'r.json'}")
    assert run.ret == 1
    assert "INTERNALERROR" not in run.stdout.str() + run.stderr.str()
    assert "(not written: " in run.stdout.str()


def test_pdf_with_the_real_renderer_uses_the_tests_limits(pytester, _warm_imports):
    pytest.importorskip("mia_audit.reports.pdf_report")
    pypdf = pytest.importorskip("pypdf")
    from mia_audit.reports.pdf_report import render_pdf

    render_pdf(_warm_imports[0])  # loads matplotlib, fpdf, ... here, so they stay loaded after the run
    pytester.makepyfile(test_privacy=PROJECT_TESTS.replace("max_auc=0.7", "max_auc=0.65").replace(
        "max_auc=0.6,", "max_auc=0.65,"))
    pdf = pytester.path / "audit.pdf"
    pytester.runpytest(*INNER, f"--mia-report={pdf}").assert_outcomes(passed=1, failed=1)
    text = pypdf.PdfReader(pdf).pages[0].extract_text()
    assert "AUC <= 0.65" in text and "test_deep_tree_is_private" in text

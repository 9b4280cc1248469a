"""The mia-audit pytest plugin (registered through the ``pytest11`` entry point).

* Fixture ``membership_privacy``: a callable with the signature of
  :func:`mia_audit.testing.assert_membership_privacy`; it audits, records the audit and
  fails the test with a table when a limit or the baseline is exceeded::

      def test_no_leak(membership_privacy):
          membership_privacy(model, (X_train, y_train), (X_test, y_test), max_auc=0.6)

* Option ``--mia-report PATH``: at the end of the session, every audit recorded is
  written to ``PATH`` as JSON (atomically). When ``PATH`` ends with ``.pdf``, the JSON
  goes beside it (same name, ``.json``) and a PDF is rendered too, its verdict built for the
  merged audits under the policy they share (else the default policy).

The report JSON: ``{"kind": "mia-audit-pytest-report", "report_version": 1, "tool",
"created", "n_audits", "n_failed", "audits": [{"test", "outcome" ("passed" |
"failed"), "gate", "result"}]}``, where each ``result`` is a schema-v1 result.
"""

from __future__ import annotations

import datetime as _dt
import functools
from pathlib import Path
from typing import Any, Callable

import pytest

REPORT_KIND = "mia-audit-pytest-report"
_RECORDER_KEY = pytest.StashKey["AuditRecorder"]()
_WRITTEN_KEY = pytest.StashKey[list]()


class AuditRecorder:
    """The audits made during one pytest session, in the order they were made."""

    def __init__(self) -> None:
        self.audits: list[dict[str, Any]] = []

    def record(self, test: str, result: dict[str, Any], *, passed: bool) -> None:
        self.audits.append({"test": test, "outcome": "passed" if passed else "failed",
                            "gate": result.get("gate"), "result": result})

    def report(self) -> dict[str, Any]:
        from . import TOOL_NAME, __version__

        return {
            "kind": REPORT_KIND,
            "report_version": 1,
            "tool": {"name": TOOL_NAME, "version": __version__},
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "n_audits": len(self.audits),
            "n_failed": sum(a["outcome"] == "failed" for a in self.audits),
            "audits": list(self.audits),
        }


def merged_result(report: dict[str, Any]) -> dict[str, Any] | None:
    """All audits of a report as one schema-v1 result (each model named after its test),
    for renderers that take one result; None when there are no audits."""
    audits = report.get("audits") or []
    if not audits:
        return None
    first = audits[0]["result"]
    models, results = [], []
    for audit in audits:
        name = audit["test"]
        for m in audit["result"]["models"]:
            models.append({**m, "name": name})
        for r in audit["result"]["results"]:
            results.append({**r, "model": name})
    return {**first, "config": {"kind": REPORT_KIND, "tests": [a["test"] for a in audits]},
            "models": models, "results": results}


# ---------------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mia-audit", "membership-inference privacy audits")
    group.addoption("--mia-report", action="store", dest="mia_report", default=None, metavar="PATH",
                    help="write every membership_privacy audit of the run to PATH (JSON; "
                         "PATH.pdf also renders a PDF, with the JSON beside it)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RECORDER_KEY] = AuditRecorder()


def recorder_of(config: pytest.Config) -> AuditRecorder:
    if _RECORDER_KEY not in config.stash:
        config.stash[_RECORDER_KEY] = AuditRecorder()
    return config.stash[_RECORDER_KEY]


@pytest.fixture
def membership_privacy(request: pytest.FixtureRequest) -> Callable[..., dict[str, Any]]:
    """``membership_privacy(model, members, nonmembers, *, max_auc=None, ...)``: see
    :func:`mia_audit.testing.assert_membership_privacy`; each audit is recorded for
    ``--mia-report``."""
    from .testing import MembershipPrivacyError, assert_membership_privacy

    recorder = recorder_of(request.config)
    test = request.node.nodeid

    @functools.wraps(assert_membership_privacy)
    def check(*args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            result = assert_membership_privacy(*args, **kwargs)
        except MembershipPrivacyError as exc:
            recorder.record(test, exc.result, passed=False)
            raise
        recorder.record(test, result, passed=True)
        return result

    return check


def _shared_policy(report: dict[str, Any]) -> dict[str, Any] | None:
    """The verdict policy every audit of the report used (so the PDF's verdict is the tests'
    verdict), or None when they differ (the merged report then uses the default policy)."""
    policies = [((a.get("result") or {}).get("verdict") or {}).get("policy") for a in report.get("audits") or []]
    if not policies or any(p != policies[0] for p in policies) or not isinstance(policies[0], dict):
        return None
    return policies[0]


def _render_pdf(report: dict[str, Any], path: Path) -> str | None:
    """Render the PDF; returns a reason when it is not written."""
    try:
        from mia_audit.reports.pdf_report import render_pdf
    except ImportError:
        return "mia_audit.reports.pdf_report is not available"
    from mia_audit.reports.result_json import write_bytes_atomic

    from mia_audit.run.attack_entries import with_verdict

    result = merged_result(report)
    if result is None:
        return "no audits were recorded"
    write_bytes_atomic(path, render_pdf(with_verdict(result, _shared_policy(report))))
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    option = session.config.getoption("mia_report", default=None)
    if not option:
        return
    from mia_audit.reports.result_json import write_json_atomic

    path = Path(option)
    recorder = recorder_of(session.config)
    report = recorder.report()
    json_path = path.with_suffix(".json") if path.suffix.lower() == ".pdf" else path
    try:
        write_json_atomic(json_path, report)
    except OSError as exc:  # one line in the summary and a failed run, not an internal error
        session.config.stash[_WRITTEN_KEY] = [f"(not written: {json_path}: {exc.strerror or exc})"]
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    written = [str(json_path)]
    if path.suffix.lower() == ".pdf":
        try:
            reason = _render_pdf(report, path)
        except Exception as exc:  # never turn a finished test run into a crash
            reason = f"{type(exc).__name__}: {exc}"
        if reason is None:
            written.append(str(path))
        else:
            written.append(f"(no PDF: {reason})")
    session.config.stash[_WRITTEN_KEY] = written


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    recorder = recorder_of(config)
    if not recorder.audits and not config.getoption("mia_report", default=None):
        return
    failed = sum(a["outcome"] == "failed" for a in recorder.audits)
    line = f"mia-audit: {len(recorder.audits)} privacy audit(s), {failed} failed"
    written = config.stash.get(_WRITTEN_KEY, None)
    if written:
        line += "; report: " + " ".join(written)
    terminalreporter.write_line(line)

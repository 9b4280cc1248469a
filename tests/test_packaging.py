"""The installed distribution exposes one top-level import name, ``mia_audit`` (issue 10)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"audit": "mia_audit", "attacks": "mia_audit.attacks", "unlearners": "mia_audit.unlearners",
           "reports": "mia_audit.reports"}


def _declared_packages() -> list[str]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["setuptools"]["packages"]


def test_the_package_list_names_every_folder_that_holds_an_init():
    found = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join([name, *parts]))
    assert sorted(_declared_packages()) == sorted(found)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):  # a copy: building leaves build/ and egg-info behind
        shutil.copy2(ROOT / name, src / name)
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(out)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and "No module named" in done.stderr and "setuptools" in done.stderr:
        pytest.skip("setuptools is not installed in this environment")
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("mia_audit-*.whl")
    return path


def test_a_wheel_has_exactly_one_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        tops = {n.split("/", 1)[0] for n in names}
        top_level = [zf.read(n).decode() for n in names if n.endswith(".dist-info/top_level.txt")]
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert {t for t in tops if not t.endswith(".dist-info")} == {"mia_audit"}
    assert all(t.split() == ["mia_audit"] for t in top_level)  # setuptools may leave the file out
    for expected in ("mia_audit/__init__.py", "mia_audit/attacks/lira.py", "mia_audit/unlearners/retrain.py",
                     "mia_audit/reports/pdf/layout.py", "mia_audit/run/pipeline.py", "mia_audit/cli/commands.py",
                     "mia_audit/data/files/ATTRIBUTION.md", "mia_audit/data/files/adult.data.gz", "mia_audit/reports/schema/result-v1.schema.json"):
        assert expected in names, expected
    assert "mia-audit = mia_audit.cli:main" in entry_points
    assert "mia_audit = mia_audit.pytest_plugin" in entry_points


def test_importing_the_package_loads_neither_torch_nor_a_submodule():
    code = ("import sys, mia_audit; "
            "assert 'torch' not in sys.modules, 'torch'; "
            "assert not [m for m in sys.modules if m.startswith('mia_audit.')], sorted(sys.modules); "
            "f = mia_audit.evaluate; assert callable(f) and 'torch' not in sys.modules; "
            "assert mia_audit.InputError.__module__ == 'mia_audit.errors'; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr

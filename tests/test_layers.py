"""The package's layers, read from every import statement (function-level ones included).

The repository's folders are installed under one import name (see pyproject.toml):
``audit/`` is ``mia_audit``, ``attacks/`` is ``mia_audit.attacks``, ``unlearners/`` is
``mia_audit.unlearners`` and ``reports/`` is ``mia_audit.reports``. Five layers, arrows
pointing down only:

1. core: every module of ``audit/`` not named below;
2. methods: ``attacks/``, ``unlearners/`` (they import the core);
3. renderers: ``reports/`` (they import the core's result, verdict and gate modules);
4. pipeline: ``audit/run/`` (the only code that imports methods and renderers together);
5. faces: ``audit/cli/``, ``audit/testing.py``, ``audit/pytest_plugin.py``, and the package's
   ``__init__`` (the public API, loaded lazily).

The test fails on any import that points up a layer, on methods importing each other's layer
sideways (attacks <-> unlearners), on renderers importing core modules beyond their short list,
and on any import cycle between modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"audit": "mia_audit", "attacks": "mia_audit.attacks", "unlearners": "mia_audit.unlearners",
           "reports": "mia_audit.reports"}
LAYERS = {"core": 1, "methods": 2, "renderers": 3, "pipeline": 4, "faces": 5}
#: the core modules a renderer may read (the result, its entries, verdict and gates; errors; files)
RENDERER_CORE = {"mia_audit.entries", "mia_audit.verdict", "mia_audit.gates", "mia_audit.errors",
                 "mia_audit.files", "mia_audit.result", "mia_audit.version"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    base = FOLDERS[rel.parts[0]]
    parts = list(rel.with_suffix("").parts[1:])
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([base, *parts])


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _modules() -> dict[str, Path]:
    out = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "__pycache__" not in path.parts:
                out[_module_name(path)] = path
    return out


MODULES = _modules()


def _within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def layer_of(module: str) -> str:
    if module == "mia_audit" or _within(module, "mia_audit.cli", "mia_audit.testing", "mia_audit.pytest_plugin"):
        return "faces"
    if _within(module, "mia_audit.run"):
        return "pipeline"
    if _within(module, "mia_audit.reports"):
        return "renderers"
    if _within(module, "mia_audit.attacks", "mia_audit.unlearners"):
        return "methods"
    return "core"


def _resolve(importer: str, path: Path, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The project modules one import statement depends on."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            package = importer if _is_package(path) else importer.rsplit(".", 1)[0]
            for _ in range(node.level - 1):
                package = package.rsplit(".", 1)[0]
            base = f"{package}.{node.module}" if node.module else package
        else:
            base = node.module or ""
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            names.append(candidate if candidate in MODULES else base)
    out = []
    for name in names:
        while name and name not in MODULES:  # "mia_audit.attacks.lira.LiRA" -> the module
            name = name.rsplit(".", 1)[0] if "." in name else ""
        if name and name != importer:
            out.append(name)
    return out


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges[module].update(_resolve(module, path, node))
    return edges


EDGES = _edges()


def _own_package_init(importer: str, target: str) -> bool:
    """``from . import x`` inside a package reads the package's own ``__init__``: not an arrow."""
    return importer.startswith(target + ".") and MODULES[target].name == "__init__.py"


def test_the_tree_uses_the_one_import_name():
    bare = sorted({f"{m}: {line.strip()}" for m, p in MODULES.items()
                   for line in p.read_text(encoding="utf-8").splitlines()
                   if line.strip().startswith(("from audit", "import audit", "from attacks", "import attacks",
                                               "from unlearners", "import unlearners", "from reports",
                                               "import reports"))})
    assert bare == [], "imports of the repository folders' names instead of mia_audit:\n" + "\n".join(bare[:20])


def test_no_import_points_up_a_layer():
    upward = []
    for module, targets in EDGES.items():
        for target in targets:
            if _own_package_init(module, target):
                continue
            a, b = layer_of(module), layer_of(target)
            if LAYERS[b] > LAYERS[a]:
                upward.append(f"{module} ({a}) imports {target} ({b})")
            elif a == b == "methods" and module.split(".")[1:2] != target.split(".")[1:2] \
                    and module.split(".")[:3] != target.split(".")[:3]:
                upward.append(f"{module} imports {target} (attacks and unlearners stay apart)")
            elif a == "renderers" and b == "core" and target not in RENDERER_CORE:
                upward.append(f"{module} (renderer) imports {target}; renderers read only {sorted(RENDERER_CORE)}")
    assert upward == [], "\n".join(sorted(upward))


def test_there_is_no_import_cycle_between_modules():
    edges = {m: {t for t in ts if not _own_package_init(m, t)} for m, ts in EDGES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(edges):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", ["mia_audit.verdict", "mia_audit.attacks.base", "mia_audit.reports.pdf_report"])
def test_the_checker_sees_known_arrows(module):
    """The test can fail: it resolves relative and absolute imports to project modules."""
    assert EDGES[module], f"{module} should import something of the project"
    assert layer_of("mia_audit.run.audit") == "pipeline" and layer_of("mia_audit.cli.main") == "faces"

"""The package's layers, read from every import statement (function-level ones included).

Five layers, arrows pointing down only (DESIGN.md, the README's "Architecture"), all under the
one import name ``mia_audit`` (``audit/`` is ``mia_audit``; ``attacks/``, ``unlearners/`` and
``reports/`` are its subpackages):

1. core: every module of ``mia_audit`` not named below;
2. methods: ``mia_audit.attacks``, ``mia_audit.unlearners`` (they import the core);
3. renderers: ``mia_audit.reports`` (they import the core's result, verdict and gate modules);
4. pipeline: ``mia_audit.run`` (:data:`PIPELINE`);
5. faces: the command line, ``testing`` and the pytest plugin (:data:`FACES`).

Every import of the project goes through ``mia_audit``: an import of a bare folder name
(``import audit``, ``from attacks import ...``) fails the test, since it would load a second copy.

The test fails on any import that points up a layer, on attacks and unlearners importing each
other, on renderers importing core modules beyond their short list, and on any import cycle
between modules, except the arrows and cycles listed in :data:`KNOWN_UPWARD` and
:data:`KNOWN_CYCLES`: what remains of the tangle until issue 10 lands. Those lists may only
shrink: an entry that no longer occurs fails the test too, so that it is struck off.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"audit": "mia_audit", "attacks": "mia_audit.attacks", "unlearners": "mia_audit.unlearners",
           "reports": "mia_audit.reports"}
PIPELINE = ("mia_audit.run",)
FACES = ("mia_audit.cli", "mia_audit.testing", "mia_audit.pytest_plugin")
#: upward arrows and cycles that remain (none now; the lists stay for the next tangle to be named)
KNOWN_UPWARD: set[str] = set()
KNOWN_CYCLES: set[tuple[str, ...]] = set()
LAYERS = {"core": 1, "methods": 2, "renderers": 3, "pipeline": 4, "faces": 5}
#: the core modules a renderer may read (the result, its entries, verdict and gates; errors; files)
RENDERER_CORE = {"mia_audit", "mia_audit.schema", "mia_audit.entries", "mia_audit.verdict", "mia_audit.gates", "mia_audit.errors", "mia_audit.files"}


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
    if _within(module, *FACES):
        return "faces"
    if _within(module, *PIPELINE):
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


def test_no_import_points_up_a_layer():
    upward = []
    for module, targets in EDGES.items():
        for target in targets:
            if _own_package_init(module, target):
                continue
            a, b = layer_of(module), layer_of(target)
            if LAYERS[b] > LAYERS[a]:
                upward.append(f"{module} ({a}) imports {target} ({b})")
            elif a == b == "methods" and module.split(".")[1] != target.split(".")[1]:
                upward.append(f"{module} imports {target} (attacks and unlearners stay apart)")
            elif a == "renderers" and b == "core" and target not in RENDERER_CORE:
                upward.append(f"{module} (renderer) imports {target}; renderers read only {sorted(RENDERER_CORE)}")
    new, gone = sorted(set(upward) - KNOWN_UPWARD), sorted(KNOWN_UPWARD - set(upward))
    assert new == [], "imports that point up a layer:\n" + "\n".join(new)
    assert gone == [], "no longer there, strike them off KNOWN_UPWARD:\n" + "\n".join(gone)


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
    found = {tuple(c) for c in cycles}
    new, gone = sorted(found - KNOWN_CYCLES), sorted(KNOWN_CYCLES - found)
    assert new == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in new)
    assert gone == [], "no longer a cycle, strike it off KNOWN_CYCLES:\n" + "\n".join(" <-> ".join(c) for c in gone)


def test_the_checker_resolves_relative_absolute_and_function_level_imports():
    """The test can fail: these arrows exist in the code, and the checker must see them."""
    assert {"mia_audit.entries", "mia_audit.errors", "mia_audit.gates"} <= EDGES["mia_audit.verdict"]  # relative
    assert {"mia_audit.errors", "mia_audit.signals"} <= EDGES["mia_audit.attacks.base"]  # absolute
    assert "mia_audit.run.attack_entries" in EDGES["mia_audit.run.mitigations"]  # inside a function
    assert layer_of("mia_audit.run.pipeline") == "pipeline" and layer_of("mia_audit.cli.commands") == "faces"
    assert layer_of("mia_audit.metrics.ranking") == "core" and layer_of("mia_audit.reports.pdf.layout") == "renderers"
    assert layer_of("mia_audit.attacks.lira") == "methods" and layer_of("mia_audit.testing") == "faces"


def test_every_import_of_the_project_goes_through_the_one_name():
    bare = []
    others = {str(p.relative_to(ROOT)): p for d in ("tests", "benchmarks") for p in sorted((ROOT / d).rglob("*.py"))}
    for module, path in {**MODULES, **others}.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bare += [f"{module}: {n}" for n in names if n.split(".")[0] in FOLDERS]
    assert bare == [], "imports of a bare folder name (use mia_audit...):\n" + "\n".join(bare)

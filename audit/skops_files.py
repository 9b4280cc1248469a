"""scikit-learn models saved with skops (``.skops``), loaded without unpickling and without
trusting what the file asks to be trusted.

``skops.io.get_untrusted_types(file=path)`` lists the names a load would have to trust beyond
skops' own defaults (for a random forest: ``sklearn.tree._tree.Tree``). mia-audit trusts a
name only when it is a **class of scikit-learn, numpy or scipy**, checked by importing its
module and looking it up (:func:`trusted_name`):

* scikit-learn: the name starts with ``sklearn.`` and is a class defined at that very name
  (its ``__module__`` and ``__name__`` are the name's; an alias re-exported from elsewhere is
  refused);
* numpy / scipy: the name starts with ``numpy.`` or ``scipy.`` and is a numpy scalar type or
  dtype class defined there, or a ufunc (a pure element-wise function);
* never: a function or any other object (``numpy.save``, ``numpy.memmap``, a helper that runs
  code), a name in a ``tests`` / ``testing`` / dunder module, a module that does not import,
  or any other package's type.

The refusal lists every name that is not trusted. Functions are refused because skops calls a
loaded constructor with arguments taken from the file (its ``ConstructorFromReduceNode`` and
``ReduceNode``): trusting ``numpy.testing._private.utils.runstring`` by its prefix alone would
run the file's Python code, ``numpy.save`` or ``numpy.memmap`` would write files.

Then ``skops.io.load(path, trusted=<the names checked above>)``: never ``trusted=True``,
nothing is unpickled. The decision trees in the loaded model (``sklearn.tree._tree.Tree``,
``TreePredictor`` of histogram gradient boosting) are checked for child and feature indices
in range, since scikit-learn follows them without bounds checks (skops' reason for not
trusting ``Tree`` by default); other trusted types' contents are not checked. The estimator
must have ``predict_proba`` and becomes an adapter through :func:`~mia_audit.adapters.as_adapter`.
"""

from __future__ import annotations

import importlib
import sys
import zipfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .adapters import ModelAdapter, as_adapter
from .errors import DataFileError, InputError, one_line

SKOPS_EXTRA_MESSAGE = ("the skops package is needed to load .skops files: pip install 'mia-audit[deploy]' "
                       "(or pip install skops)")
TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")
_REFUSED_PARTS = ("tests", "testing", "_testing", "conftest")


def _lookup(name: str) -> Any:
    """The object ``name`` ("package.module.Attr") denotes, or None where it is not one attribute
    of an importable module of a trusted package (dunder and test modules are never imported)."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] not in TRUSTED_PACKAGES or not all(p.isidentifier() for p in parts):
        return None
    if any(p.startswith("__") or p in _REFUSED_PARTS for p in parts):
        return None
    module_name, attr = ".".join(parts[:-1]), parts[-1]
    try:
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
        return getattr(module, attr, None)
    except ImportError:  # a module that does not import is not trusted
        return None


def trusted_name(name: str) -> bool:
    """Whether mia-audit lets skops load the type ``name`` (see the module docstring)."""
    obj = _lookup(name)
    if obj is None:
        return False
    package = name.split(".")[0]
    if isinstance(obj, np.ufunc):
        return package in ("numpy", "scipy")
    if not isinstance(obj, type) or f"{obj.__module__}.{obj.__name__}" != name:
        return False
    if package == "sklearn":
        return True
    return issubclass(obj, (np.generic, np.dtype))


def _skops_io(p: Path) -> Any:
    try:
        import skops.io as sio
    except ImportError:
        raise InputError(f"model file {p}: {SKOPS_EXTRA_MESSAGE}") from None
    return sio


def load_skops_model(p: Path) -> Any:
    """The estimator saved at ``p``, loaded with only the trust described above."""
    sio = _skops_io(p)
    try:
        untrusted = [str(t) for t in sio.get_untrusted_types(file=p)]
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as exc:  # malformed or truncated
        raise DataFileError(f"model file {p} is not a readable skops file: {one_line(exc)}") from None
    refused = sorted({t for t in untrusted if not trusted_name(t)})
    if refused:
        raise InputError(f"target.model: {p} holds types mia-audit does not load: {', '.join(refused)}; "
                         "only scikit-learn, numpy and scipy types are trusted")
    try:
        model = sio.load(p, trusted=untrusted)
    except Exception as exc:  # noqa: BLE001 - a well-formed schema with broken content
        raise DataFileError(f"model file {p} is not a readable skops file: {one_line(exc)}") from None
    check_trees(model, p)
    return model


def load_skops(p: Path, *, n_classes: Optional[int] = None) -> ModelAdapter:
    """The adapter of the scikit-learn classifier saved with skops at ``p``."""
    model = load_skops_model(p)
    if not callable(getattr(model, "predict_proba", None)):
        raise InputError(f"model file {p} holds a {type(model).__name__}, which has no predict_proba; mia-audit "
                         "audits classifiers that give class probabilities (e.g. SVC needs probability=True)")
    try:
        return as_adapter(model, n_classes=n_classes)
    except InputError as exc:
        raise InputError(f"model file {p}: {exc}") from None


# ---------------------------------------------------------------------------- tree checks


def _tree_problem(left: np.ndarray, right: np.ndarray, feature: np.ndarray, leaf: np.ndarray,
                  n_features: Optional[int]) -> Optional[str]:
    n = left.size
    if n == 0 or right.size != n or feature.size != n or leaf.size != n:
        return "its node arrays are empty or of different lengths"
    idx = np.arange(n)
    inner = ~leaf
    if np.any(inner & ((left <= idx) | (right <= idx) | (left >= n) | (right >= n))):
        return "a child index is out of range (or points back up the tree)"
    if n_features is not None and np.any(inner & ((feature < 0) | (feature >= n_features))):
        return f"a split feature index is outside 0..{n_features - 1}"
    return None


def _check_tree(obj: Any, n_features: Optional[int]) -> Optional[str]:
    from sklearn.tree._tree import Tree

    if isinstance(obj, Tree):
        left, right = np.asarray(obj.children_left), np.asarray(obj.children_right)
        if n_features is not None and int(obj.n_features) != n_features:
            return f"it has {int(obj.n_features)} features, its estimator {n_features}"
        leaf = left == -1
        if np.any(leaf != (right == -1)):
            return "a node has one child"
        return _tree_problem(left, right, np.asarray(obj.feature), leaf, int(obj.n_features))
    nodes = obj.nodes
    names = ("left", "right", "feature_idx", "is_leaf", "is_categorical", "bitset_idx")
    if not isinstance(nodes, np.ndarray) or nodes.dtype.names is None or not set(names) <= set(nodes.dtype.names):
        return "its nodes are not the structured array scikit-learn writes"
    leaf = nodes["is_leaf"].astype(bool)
    problem = _tree_problem(nodes["left"].astype(np.int64), nodes["right"].astype(np.int64),
                            nodes["feature_idx"].astype(np.int64), leaf, n_features)
    categorical = ~leaf & nodes["is_categorical"].astype(bool)
    if problem is None and np.any(categorical):
        n_sets = min(len(np.asarray(obj.raw_left_cat_bitsets)), len(np.asarray(obj.binned_left_cat_bitsets)))
        if np.any(nodes["bitset_idx"][categorical].astype(np.int64) >= n_sets):
            problem = "a categorical split's bitset index is out of range"
    return problem


def check_trees(model: Any, p: Path) -> None:
    """A DataFileError when a decision tree in ``model`` has an index out of range."""
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    stack: list[tuple[Any, Optional[int], str]] = [(model, None, type(model).__name__)]
    while stack:
        obj, n_features, where = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(obj))
        if isinstance(obj, (Tree, TreePredictor)):
            problem = _check_tree(obj, n_features)
            if problem is not None:
                raise DataFileError(f"model file {p}: the decision tree at {where} is malformed ({problem}); "
                                    "the file is corrupt or was altered")
            continue
        if isinstance(obj, dict):
            stack.extend((v, n_features, f"{where}[{k!r}]") for k, v in obj.items())
        elif isinstance(obj, (list, tuple)):
            stack.extend((v, n_features, f"{where}[{i}]") for i, v in enumerate(obj))
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((v, n_features, f"{where}[{i}]") for i, v in enumerate(obj.ravel()))
        elif type(obj).__module__.split(".")[0] == "sklearn" and hasattr(obj, "__dict__"):
            own = getattr(obj, "__dict__", {}).get("n_features_in_")
            n = int(own) if isinstance(own, (int, np.integer)) else n_features
            stack.extend((v, n, f"{where}.{k}") for k, v in vars(obj).items())


__all__ = ["load_skops", "load_skops_model", "trusted_name", "check_trees", "SKOPS_EXTRA_MESSAGE"]

"""The one place that knows the frameworks: which object is a torch module, a tensor, an
XGBoost model or a scikit-learn classifier, and how their values become numpy arrays (or
tensors).

Nothing here imports torch, xgboost or scikit-learn when this module is imported. An
object can only be a torch tensor or module once torch has been imported (by whoever made
the object), so the checks look torch up in ``sys.modules`` and never import it
themselves; :func:`to_tensor`, which makes tensors, imports torch when it is called.
XGBoost objects are told by the module their type comes from.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def _loaded_torch() -> Any:
    """The torch module if something has imported it already, else None (never imports it)."""
    return sys.modules.get("torch")


def _root_module(obj: Any) -> str:
    return (type(obj).__module__ or "").split(".")[0]


# ---------------------------------------------------------------------------- detection


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.Tensor`` (False without importing torch when torch is not loaded)."""
    torch = _loaded_torch()
    return torch is not None and isinstance(obj, torch.Tensor)


def is_torch_module(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module``."""
    torch = _loaded_torch()
    return torch is not None and isinstance(obj, torch.nn.Module)


def is_xgboost(obj: Any) -> bool:
    """Whether ``obj`` comes from xgboost (an ``XGBClassifier``, a ``Booster``, ...), by its type's module."""
    return _root_module(obj) == "xgboost"


def is_sklearn_classifier(obj: Any) -> bool:
    """Whether ``obj`` follows scikit-learn's classifier interface: it has ``predict_proba``
    (duck-typed, so an estimator of another library with that interface counts too)."""
    return hasattr(obj, "predict_proba")


def is_data_frame(obj: Any) -> bool:
    """Whether ``obj`` is indexed by position through ``.iloc`` (a pandas data frame or series)."""
    return hasattr(obj, "iloc")


# ---------------------------------------------------------------------------- values


def to_numpy(a: Any, *, float32: bool = False) -> np.ndarray:
    """``a`` as a numpy array.

    A torch tensor is detached and moved to the CPU, keeping its dtype, except bfloat16
    (which numpy lacks), which becomes float32; with ``float32=True`` every floating tensor
    becomes float32. Anything else (numpy arrays, lists, data frames, scalars) goes through
    ``np.asarray``.
    """
    torch = _loaded_torch()
    if torch is not None and isinstance(a, torch.Tensor):
        t = a.detach()
        if t.is_floating_point() and (float32 or t.dtype == torch.bfloat16):
            t = t.float()
        return t.cpu().numpy()
    return np.asarray(a)


def writable(a: np.ndarray) -> np.ndarray:
    """``a`` itself if numpy may write to it, else a copy (torch warns on read-only arrays,
    e.g. memory-mapped data)."""
    return a if a.flags.writeable else a.copy()


def to_tensor(a: Any, *, copy: bool = False) -> Any:
    """``a`` as a torch tensor: a tensor is returned as it is; anything else goes through
    numpy and ``torch.as_tensor`` (sharing the array's memory where it is writable, a copy
    where not; always a copy with ``copy=True``). Imports torch."""
    import torch

    if isinstance(a, torch.Tensor):
        return a
    return torch.as_tensor(np.array(a) if copy else writable(np.asarray(a)))


__all__ = [
    "is_tensor",
    "is_torch_module",
    "is_xgboost",
    "is_sklearn_classifier",
    "is_data_frame",
    "to_numpy",
    "to_tensor",
    "writable",
]

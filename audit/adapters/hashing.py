"""A model's identity for records and reports: :func:`model_sha256`."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

from ..errors import InputError
from ..frameworks import is_torch_module, is_xgboost
from .base import ModelAdapter, _is_train_result


def _torch_state_sha256(module: Any) -> str:
    import torch

    digest = hashlib.sha256()
    state = module.state_dict()
    for key in sorted(state):
        value = state[key]
        digest.update(key.encode() + b"\0")
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"{tensor.dtype}:{tuple(tensor.shape)}\0".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            digest.update(repr(value).encode() + b"\0")
    return digest.hexdigest()


def _xgboost_sha256(model: Any) -> str:
    import xgboost

    if isinstance(model, xgboost.Booster):
        booster = model
    else:
        try:
            booster = model.get_booster()
        except Exception as exc:  # xgboost raises NotFittedError for an unfitted estimator
            raise InputError(f"cannot hash an unfitted {type(model).__name__}: {exc}") from None
    return hashlib.sha256(bytes(booster.save_raw("json"))).hexdigest()


def model_sha256(model: Any) -> Optional[str]:
    """A sha256 (hex) identifying a model's learned state, or None where there is none to hash.

    Torch modules: over the state_dict in sorted key order (each key, dtype, shape and the
    tensor's bytes, moved to the CPU). XGBoost models: over the booster's raw JSON
    (``save_raw("json")``). Adapters and wrappers hash the model they wrap; a
    TrainResult hashes its model; an object with a ``sha256()`` method (an ensemble) gives
    that. Callables and other scikit-learn estimators give None.
    """
    if isinstance(model, ModelAdapter):
        return model_sha256(model.unwrap())
    if is_torch_module(model):
        return _torch_state_sha256(model)
    if is_xgboost(model):
        return _xgboost_sha256(model)
    if _is_train_result(model):
        return model_sha256(model.model)
    if callable(getattr(model, "sha256", None)):  # ensembles (e.g. SISA's XGBoost shards) hash themselves
        return str(model.sha256())
    return None


__all__ = ["model_sha256"]

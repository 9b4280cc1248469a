"""A torch module as a :class:`~mia_audit.adapters.base.ModelAdapter` (logits)."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

import numpy as np

from ..errors import InputError, bad_value
from ..frameworks import is_torch_module, to_tensor
from .base import DEFAULT_TORCH_BATCH, ModelAdapter, _check_batch_size, _check_n_classes


class TorchAdapter(ModelAdapter):
    """A torch module returning logits (n, C) (or a single logit (n, 1) for 2 classes).

    Runs on the module's own device, in eval mode under ``torch.no_grad``, restoring every
    submodule's train/eval mode afterwards. Floating inputs are cast to the module's dtype;
    the returned logits are float64 numpy arrays. ``n_classes`` defaults to the module's
    ``n_classes`` attribute, else the ``out_features`` of its last ``nn.Linear``.
    """

    framework = "torch"
    output_kind = "logits"

    def __init__(self, module: Any, n_classes: Optional[int] = None, batch_size: int = DEFAULT_TORCH_BATCH):
        if not is_torch_module(module):
            raise bad_value("module", "a torch nn.Module", type(module).__name__)
        self.module = module
        self.n_classes = _check_n_classes(n_classes) if n_classes is not None else self._infer_classes(module)
        self.batch_size = _check_batch_size(batch_size, allow_none=False)

    @staticmethod
    def _infer_classes(module: Any) -> int:
        import torch

        declared = getattr(module, "n_classes", None)
        if declared is not None:
            return _check_n_classes(declared)
        last = None
        for sub in module.modules():
            if isinstance(sub, torch.nn.Linear):
                last = sub
        if last is None:
            raise InputError("n_classes is required for a torch module without an n_classes attribute or a final nn.Linear")
        return 2 if last.out_features == 1 else _check_n_classes(last.out_features)

    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        import torch

        from ..device import model_device, model_dtype

        modes = [(sub, sub.training) for sub in self.module.modules()]
        self._device = model_device(self.module)
        self._dtype = model_dtype(self.module)
        self.module.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for sub, mode in modes:
                sub.training = mode

    def _predict_batch(self, X: Any) -> np.ndarray:
        import torch

        xb = to_tensor(X)
        if xb.is_floating_point():
            xb = xb.to(device=self._device, dtype=self._dtype)
        else:
            xb = xb.to(device=self._device)
        out = self.module(xb)
        if not isinstance(out, torch.Tensor):
            raise InputError(f"the torch module must return a tensor of logits; got {type(out).__name__}")
        if out.dim() == 2 and out.shape[1] == 1 and self.n_classes == 2:
            out = torch.cat([torch.zeros_like(out), out], dim=1)
        return out.detach().to(dtype=torch.float64).cpu().numpy()

    def unwrap(self) -> Any:
        return self.module


__all__ = ["TorchAdapter"]

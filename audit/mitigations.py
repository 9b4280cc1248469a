"""Mitigations against membership inference, and what they change.

A :class:`Mitigation` holds a name and parameters. ``apply(adapter)`` returns a new
adapter wrapping the given one (:mod:`mia_audit.adapters` wrappers), so every attack runs
on a defended model unchanged; the given adapter and its model are never modified.

``MITIGATIONS`` (``create_mitigation(name, **params)``):

==============  ===================================================  ==================
name            what the model releases                              parameters
==============  ===================================================  ==================
label-only      the predicted label only                             none
temperature     softmax(logits / T); T = "fit": the T minimising     T (a number > 0 or
                the NLL on the validation data given to ``apply``     "fit"), default "fit"
top-k           the k largest probabilities, the rest spread evenly  k = 1
rounding        probabilities rounded to ``decimals`` places         decimals = 1
output-noise    probabilities + N(0, sigma^2), clipped, renormalised sigma = 0.1, seed = 0
dp-sgd          (training time) DP-SGD with opacus: optional extra   noise_multiplier or
                (``train`` trains a DP model; ``apply`` refuses)     target_epsilon (default
                                                                     noise_multiplier = 1),
                                                                     delta = 1/(10 n),
                                                                     max_grad_norm = 1
==============  ===================================================  ==================

Output mitigations (all but dp-sgd) are applied after training; dp-sgd changes training
and needs ``pip install 'mia-audit[dp]'``.

:func:`evaluate_mitigations` runs attacks on each mitigated model and measures the
utility it keeps (accuracy, expected calibration error). It is orchestration: it imports
:mod:`mia_audit.run.pipeline` (and through it :mod:`attacks`) when called, never at import time,
so importing this module stays core-only and ``mia_audit.run.pipeline`` can import it in turn.
"""

from __future__ import annotations

import abc
from typing import Any, Optional

import numpy as np

from .adapters import LabelOnly, ModelAdapter, OutputNoise, Rounding, Temperature, TopK, as_adapter
from .adapters.wrappers import _check_seed_param, _check_sigma
from .checks import nonnegative_int, positive_int, positive_number
from .errors import InputError, bad_value
from .registry import Registry

MITIGATIONS: Registry = Registry("mitigation", word="parameter")

DP_EXTRA_MESSAGE = "dp-sgd needs the optional extra: pip install 'mia-audit[dp]'"


# ---------------------------------------------------------------------------- the contract


class Mitigation(abc.ABC):
    """A named defence with parameters; ``apply`` wraps an adapter (never modifies it).

    ``kind`` is "output" (wraps a trained model's outputs) or "training" (changes training).
    ``label`` names this mitigation with its parameters, e.g. ``temperature(T=2)``; it is the
    ``mitigation`` field of result entries, so two mitigations of one audit must differ in it.
    """

    name: str = ""
    kind: str = "output"
    needs_validation: bool = False

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)

    @abc.abstractmethod
    def apply(self, adapter: Any, *, validation: Optional[tuple[Any, Any]] = None) -> ModelAdapter:
        """A new adapter releasing the mitigated outputs of ``adapter`` (a model or an adapter).

        ``validation`` = (X, y): records neither in the audit's members nor non-members, for
        mitigations that fit something (temperature with T = "fit"); others ignore it.
        """

    def applied_params(self, wrapped: ModelAdapter) -> dict[str, Any]:
        """The parameters with what ``apply`` fitted (e.g. the fitted temperature) added."""
        return dict(self.params)

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}({', '.join(f'{k}={_fmt(v)}' for k, v in self.params.items())})"

    def describe(self) -> dict[str, Any]:
        """{"name", "label", "kind", "params"} for reports."""
        return {"name": self.name, "label": self.label, "kind": self.kind, "params": dict(self.params)}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({params})"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _check_validation(validation: Any) -> tuple[Any, np.ndarray]:
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise bad_value("validation", "a pair (X, y) of validation records and their labels",
                        type(validation).__name__)
    X, y = validation
    return X, np.asarray(y)


# ---------------------------------------------------------------------------- output mitigations


@MITIGATIONS.register("label-only", help="only the predicted label is released (Chen et al. 2021, seed paper 003)")
class LabelOnlyMitigation(Mitigation):
    name = "label-only"

    def __init__(self) -> None:
        super().__init__()

    def apply(self, adapter: Any, *, validation: Optional[tuple[Any, Any]] = None) -> ModelAdapter:
        return LabelOnly(as_adapter(adapter))


@MITIGATIONS.register("temperature", help="softmax at temperature T, fixed or fitted on validation data (Guo et al. 2017)")
class TemperatureMitigation(Mitigation):
    name = "temperature"

    def __init__(self, *, T: Any = "fit") -> None:
        if T != "fit":
            try:
                T = positive_number("T", T)
            except InputError:
                raise bad_value("T", "a finite number > 0 or 'fit'", T) from None
        super().__init__(T=T)
        self.needs_validation = T == "fit"

    def apply(self, adapter: Any, *, validation: Optional[tuple[Any, Any]] = None) -> ModelAdapter:
        from .calibration import fit_temperature

        adapter = as_adapter(adapter)
        T = self.params["T"]
        if T == "fit":
            if adapter.output_kind == "labels":
                raise InputError("temperature scaling needs logits or probs; the inner model gives labels only")
            if validation is None:
                raise InputError(
                    "temperature with T='fit' needs validation data: apply(adapter, validation=(X, y)) "
                    "(in evaluate_mitigations: validation_indices), or a fixed T"
                )
            X, y = _check_validation(validation)
            T = fit_temperature(adapter.predict(X), y)
        return Temperature(adapter, T)

    def applied_params(self, wrapped: ModelAdapter) -> dict[str, Any]:
        params = dict(self.params)
        if params["T"] == "fit" and isinstance(wrapped, Temperature):
            params["fitted_T"] = wrapped.T
        return params


@MITIGATIONS.register("top-k", help="only the k largest probabilities; the rest spread evenly")
class TopKMitigation(Mitigation):
    name = "top-k"

    def __init__(self, *, k: int = 1) -> None:
        super().__init__(k=positive_int("k", k))

    def apply(self, adapter: Any, *, validation: Optional[tuple[Any, Any]] = None) -> ModelAdapter:
        return TopK(as_adapter(adapter), self.params["k"])


@MITIGATIONS.register("rounding", help="probabilities rounded to a number of decimals")
class RoundingMitigation(Mitigation):
    name = "rounding"

    def __init__(self, *, decimals: int = 1) -> None:
        super().__init__(decimals=nonnegative_int("decimals", decimals))

    def apply(self, adapter: Any, *, validation: Optional[tuple[Any, Any]] = None) -> ModelAdapter:
        return Rounding(as_adapter(adapter), self.params["decimals"])


@MITIGATIONS.register("output-noise", help="Gaussian noise on the probabilities, fixed per record by a seed")
class OutputNoiseMitigation(Mitigation):
    name = "output-noise"

    def __init__(self, *, sigma: float = 0.1, seed: int = 0) -> None:
        super().__init__(sigma=_check_sigma(sigma), seed=_check_seed_param(seed))

    def apply(self, adapter: Any, *, validation: Optional[tuple[Any, Any]] = None) -> ModelAdapter:
        return OutputNoise(as_adapter(adapter), self.params["sigma"], self.params["seed"])


# ---------------------------------------------------------------------------- training-time mitigations


class DPSGDMitigation(Mitigation):
    """DP-SGD training with opacus (:func:`mia_audit.dp_training.train_model_dp`).

    A training-time mitigation: ``train(model, X, y, recipe, *, seed, device)`` trains a
    DP copy of an (untrained) model; ``apply`` cannot wrap an already trained model.
    Parameters: exactly one of ``noise_multiplier`` / ``target_epsilon`` (neither given:
    ``noise_multiplier = 1.0``), ``delta`` (default ``1 / (10 n)``), ``max_grad_norm``
    (default 1.0). Only the parameters given (or defaulted) appear in ``params``/``label``.
    """

    name = "dp-sgd"
    kind = "training"

    def __init__(self, *, noise_multiplier: Optional[float] = None, target_epsilon: Optional[float] = None,
                 delta: Optional[float] = None, max_grad_norm: float = 1.0) -> None:
        from .dp_training import check_dp_params

        if noise_multiplier is None and target_epsilon is None:
            noise_multiplier = 1.0
        checked = check_dp_params(noise_multiplier=noise_multiplier, target_epsilon=target_epsilon,
                                  delta=delta, max_grad_norm=max_grad_norm)
        params = {k: checked[k] for k in ("noise_multiplier", "target_epsilon", "delta") if checked[k] is not None}
        params["max_grad_norm"] = checked["max_grad_norm"]
        super().__init__(**params)

    def apply(self, adapter: Any, *, validation: Optional[tuple[Any, Any]] = None) -> ModelAdapter:
        raise InputError(
            "dp-sgd is a training-time mitigation: it changes how the model is trained and cannot wrap "
            "an already trained model; use its train(model, X, y, recipe, seed=...) on an untrained model"
        )

    def train(self, model: Any, X: Any, y: Any, recipe: Any, *, seed: int, device: Any = "auto",
              progress: bool = False) -> Any:
        """A :class:`~mia_audit.dp_training.DPTrainResult`: a copy of ``model`` trained with DP-SGD."""
        from .dp_training import train_model_dp

        return train_model_dp(model, X, y, recipe, seed=seed, device=device, progress=progress, **self.params)


@MITIGATIONS.register("dp-sgd", help="(training time) DP-SGD with opacus; optional extra mia-audit[dp]")
def _dp_sgd(*, noise_multiplier: Optional[float] = None, target_epsilon: Optional[float] = None,
            delta: Optional[float] = None, max_grad_norm: float = 1.0) -> Mitigation:
    try:
        import opacus  # noqa: F401
    except ImportError:
        raise InputError(DP_EXTRA_MESSAGE) from None
    return DPSGDMitigation(noise_multiplier=noise_multiplier, target_epsilon=target_epsilon, delta=delta,
                           max_grad_norm=max_grad_norm)


# ---------------------------------------------------------------------------- factory


def create_mitigation(name: str, /, **params: Any) -> Mitigation:
    """The mitigation registered as ``name`` with ``params``; unknown names and parameters
    raise an :class:`InputError` listing what is allowed (:meth:`mia_audit.registry.Registry.create`)."""
    return MITIGATIONS.create(name, **params)


# ---------------------------------------------------------------------------- evaluation


__all__ = [
    "MITIGATIONS",
    "Mitigation",
    "create_mitigation",
    "DP_EXTRA_MESSAGE",
]

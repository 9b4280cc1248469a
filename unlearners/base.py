"""The unlearner contract.

Every method has the same call::

    unlearner = create_unlearner("scrub", epochs=3)
    original = unlearner.fit(model, X_train, y_train, recipe, seed=0)   # the model the method deploys
    result = unlearner.unlearn(original, retain, forget, validation=None, seed=1)
    result.model      # a new Trained (the input is never mutated)
    result.seconds    # wall-clock seconds of the unlearning step (CUDA synchronised)
    result.details    # what the method did (JSON-serialisable)

``fit`` is plain training (:func:`train_original`) for every method except those that
need their own training before any deletion (SISA, EUPG): their ``fit`` is that
training, so the audited "original" is the model they really deploy. ``unlearn``
refuses a model their ``fit`` did not make.

The device comes from the model: a model on CUDA is unlearned there (bfloat16 autocast
where the method allows it), a model on the CPU on the CPU.
"""

from __future__ import annotations

import abc
import copy
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

import numpy as np

from mia_audit.errors import InputError, NotApplicableError
from mia_audit.seeding import check_seed

from .records import Records, as_records, check_subset, fingerprints


@dataclass(frozen=True, eq=False)
class Trained:
    """A trained model as an unlearning method deploys it.

    model       what is audited: a torch ``nn.Module`` returning logits (eval mode, on its
                device), a fitted ``xgboost.XGBClassifier``, or a method's ensemble
    init        the untrained starting point (torch: the module with its initial weights;
                xgboost: the unfitted estimator) that retraining starts from
    recipe      the :class:`mia_audit.training.TrainRecipe` it was trained with (None for xgboost)
    train_keys  sorted fingerprints of the records it was trained on
                (:func:`mia_audit.unlearners.records.fingerprints`)
    method      "plain", or the name of the unlearner whose ``fit`` made it
    state       method-specific state (SISA shards, EUPG's protected pre-trained model, ...)
    seconds     training time (the method's own training included)
    device      where it lives, e.g. "cpu" or "cuda:0"
    trainer     the user's training function (:class:`mia_audit.user_code.TrainFunction`) when it
                trained the model: ``retrain`` then calls it on retain; ``init`` is None
    """

    model: Any
    init: Any
    recipe: Any
    train_keys: np.ndarray
    method: str = "plain"
    state: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    device: str = "cpu"
    trainer: Any = None

    @property
    def framework(self) -> str:
        return framework_of(self.model)

    @classmethod
    def from_model(cls, model: Any, X: Any, y: Any, recipe: Any = None, *, init: Any = None,
                   seed: int = 0) -> "Trained":
        """Wrap a model trained elsewhere on ``(X, y)`` (for plain-trained models only).

        ``init`` (the untrained starting point) is needed by ``retrain``; by default a
        copy re-drawn by :func:`reinitialised` with ``seed``.
        """
        records = as_records((X, y), "train")
        if init is None:
            init = reinitialised(model, seed=seed)
        return cls(model=model, init=init, recipe=recipe, train_keys=np.sort(fingerprints(records)),
                   device=device_of(model))


@dataclass(frozen=True, eq=False)
class UnlearningResult:
    """What ``unlearn`` returns: the new model, the seconds spent and what was done."""

    model: Trained
    seconds: float
    method: str
    details: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "seconds": float(self.seconds), "details": dict(self.details)}


class Unlearner(abc.ABC):
    #: name in the registry (set by the subclass)
    name: str = ""
    #: model families the method applies to ("torch", "xgboost")
    frameworks: tuple[str, ...] = ("torch",)
    #: True when the method must train the original itself (``fit``) before it can forget
    needs_own_training: bool = False
    #: one-line reference shown by ``mia-audit list`` and the report's method notes
    reference: str = ""

    # ------------------------------------------------------------------ training
    def fit(self, model: Any, X: Any, y: Any, recipe: Any = None, *, seed: int, device: Any = "auto",
            progress: bool = False) -> Trained:
        """Train ``model`` (untrained) on ``(X, y)`` the way this method deploys it."""
        return train_original(model, X, y, recipe, seed=seed, device=device, progress=progress)

    def fit_trained_by(self, trainer: Any, X: Any, y: Any, *, seed: int, device: Any = "cpu") -> Trained:
        """For a method that trains its own original (``needs_own_training``): that original, made
        with the user's training function (:class:`mia_audit.user_code.TrainFunction`) instead of a
        built-in architecture. Methods that cannot say so with :class:`NotApplicableError`."""
        raise NotApplicableError(f"{self.name} trains its own original with a built-in architecture; "
                                 f"model.train ({trainer.name}) trains yours")

    # ------------------------------------------------------------------ unlearning
    def unlearn(self, model: Trained, retain: Any, forget: Any, *, validation: Any = None,
                seed: int) -> UnlearningResult:
        """Remove ``forget`` from ``model`` (a :class:`Trained`); ``retain`` is the rest of its
        training set (or the part of it the caller gives). Returns a new model."""
        seed = check_seed(seed)
        if not isinstance(model, Trained):
            raise InputError(
                f"model must be an unlearners.Trained (from unlearner.fit(...), train_original(...) or "
                f"Trained.from_model(...)); got {type(model).__name__}"
            )
        self.check_applicable(model)
        retain = as_records(retain, "retain")
        forget = as_records(forget, "forget")
        validation = None if validation is None else as_records(validation, "validation")
        forget_keys = fingerprints(forget)
        retain_keys = fingerprints(retain)
        check_subset(forget_keys, model.train_keys, param="forget", what="the model's training set")
        check_subset(retain_keys, model.train_keys, param="retain", what="the model's training set")
        # A forget record with an identical copy in retain (real data sets have duplicate rows)
        # stays in the training data through that copy; it is allowed and counted in details.
        duplicated = np.isin(forget_keys, retain_keys)
        from mia_audit.device import synchronize

        start = time.perf_counter()
        new_model, details = self._unlearn(model, retain, forget, validation, seed)
        if model.framework == "torch":
            import torch

            synchronize(torch.device(model.device))
        seconds = time.perf_counter() - start
        if not isinstance(new_model, Trained):
            new_model = replace(model, model=new_model, state=dict(model.state))
        new_model = replace(new_model, train_keys=np.setdiff1d(model.train_keys, forget_keys[~duplicated]))
        details = {"n_retain": len(retain), "n_forget": len(forget),
                   "forget_with_identical_copy_in_retain": int(duplicated.sum()), **details}
        json.dumps(details)  # details must be JSON-serialisable (a method bug otherwise)
        return UnlearningResult(model=new_model, seconds=seconds, method=self.name, details=details)

    def check_applicable(self, model: Trained) -> None:
        """Raise :class:`NotApplicableError` (or InputError) where this method cannot unlearn ``model``."""
        self.check_framework(model.framework)
        if self.needs_own_training and model.method != self.name:
            raise InputError(
                f"unlearner {self.name!r} forgets only from models trained by its own fit() "
                f"(create_unlearner({self.name!r}).fit(...)); got a model trained by {model.method!r}"
            )

    def check_framework(self, framework: str) -> None:
        """Raise :class:`NotApplicableError` unless the method handles ``framework`` models."""
        if framework not in self.frameworks:
            raise NotApplicableError(
                f"unlearner {self.name!r} applies to {' and '.join(self.frameworks)} models; got a {framework} model"
                + (" (gradient-based methods do not apply to trees)" if framework == "xgboost" else "")
            )

    def applicable(self, model: Trained) -> Optional[str]:
        """None when this method can unlearn ``model``, else the reason it cannot."""
        try:
            self.check_applicable(model)
        except (NotApplicableError, InputError) as exc:
            return str(exc)
        return None

    @abc.abstractmethod
    def _unlearn(self, model: Trained, retain: Records, forget: Records, validation: Optional[Records],
                 seed: int) -> tuple[Any, dict[str, Any]]:
        """Return (new model or new Trained, details) for validated inputs (subclasses)."""

    def with_feature_names(self, feature_names: Optional[Any]) -> "Unlearner":
        """This method for tables whose columns have ``feature_names`` (e.g. ``Dataset.feature_names``):
        ``self`` for methods that do not read column names; methods that do (EUPG: one-hot groups)
        return a new unlearner with the same options. Never changes ``self``."""
        return self

    def options(self) -> dict[str, Any]:
        """The method's settings (for the result JSON)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({params})"


# ---------------------------------------------------------------------------- helpers


def train_original(model: Any, X: Any, y: Any, recipe: Any = None, *, seed: int, device: Any = "auto",
                   progress: bool = False) -> Trained:
    """Plain training with :func:`mia_audit.training.train_model`, kept as a :class:`Trained`."""
    from mia_audit.training import train_model

    records = as_records((X, y), "train")
    result = train_model(model, records.X, records.y, recipe, seed=seed, device=device, progress=progress)
    return Trained(model=result.model, init=copy.deepcopy(model), recipe=recipe,
                   train_keys=np.sort(fingerprints(records)), seconds=float(result.seconds),
                   device=str(result.device))


def framework_of(model: Any) -> str:
    """"torch", "xgboost" or "sklearn" (a user's scikit-learn model, which ``retrain`` with the user's
    training function handles and the gradient methods do not)."""
    from mia_audit.frameworks import is_sklearn_classifier, is_torch_module, is_xgboost

    if is_xgboost(model) or getattr(model, "framework", None) == "xgboost":
        return "xgboost"
    if is_torch_module(model):
        return "torch"
    if is_sklearn_classifier(model):
        return "sklearn"
    raise InputError(f"model must be a torch nn.Module, an xgboost or a scikit-learn model; got {type(model).__name__}")


def device_of(model: Any) -> str:
    """The device a model lives on ("cpu" for xgboost and parameter-less modules)."""
    if framework_of(model) == "torch":
        for tensor in list(model.parameters()) + list(model.buffers()):
            return str(tensor.device)
    return "cpu"


def reinitialised(model: Any, *, seed: int) -> Any:
    """An untrained copy: torch layers re-drawn by ``reset_parameters`` from ``seed``
    (the caller's global RNG untouched); xgboost: the unfitted estimator."""
    if framework_of(model) == "xgboost":
        from sklearn.base import clone

        return clone(model)
    from mia_audit.seeding import isolated_torch_seed

    net = copy.deepcopy(model)
    with isolated_torch_seed(check_seed(seed)):
        for module in net.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return net


__all__ = ["Trained", "UnlearningResult", "Unlearner", "train_original", "framework_of", "device_of", "reinitialised"]

"""What a set of reference models is: :class:`ReferenceSpec` (architecture, recipe, K, seed, queries).

A spec is small and picklable, so the same jobs can be shipped to worker processes or
to Ray. It also gives the metadata that a store records and compares on reopening.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from ..checks import table
from ..errors import InputError, bad_value
from ..seeding import check_seed
from ..training import TrainRecipe
from .queries import QuerySet
from .splits import check_n_models, init_seed

TORCH_ARCHITECTURES = ("mlp", "cnn", "resnet18", "airnet", "lstm", "bilstm")
#: the architecture of reference models that the user's own training function trains
CUSTOM = "custom"
#: the architecture of reference models trained elsewhere and imported (:mod:`.imported`)
IMPORTED = "imported"


@dataclass(frozen=True)
class ReferenceSpec:
    """K reference models of one architecture trained with one recipe.

    architecture  a name of :data:`mia_audit.models.MODELS` ("mlp", "cnn", ..., "xgboost")
    params        its build parameters (e.g. {"hidden": [64]}); JSON-able
    input_shape   shape of one record
    n_classes     number of classes
    recipe        the target's :class:`~mia_audit.training.TrainRecipe` (None for xgboost)
    n_models      K, even (complementary pairs, see :mod:`mia_audit.reference.splits`)
    seed          the one seed: mask, initial weights and training of every model
    queries       the per-record queries whose signals are stored (:class:`QuerySet`)
    trainer       for ``architecture = "custom"``: the user's training function (a
                  :class:`mia_audit.user_code.TrainFunction`), which trains every model; its
                  identity (name, source digest, version) is recorded as ``trainer_meta``, and a
                  store opened again compares it, so edited training code never reuses models
    """

    architecture: str
    input_shape: tuple[int, ...]
    n_classes: int
    recipe: Optional[TrainRecipe]
    n_models: int
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    queries: QuerySet = field(default_factory=QuerySet)
    trainer: Any = field(default=None, compare=False, repr=False)
    trainer_meta: Optional[dict[str, Any]] = None

    def __post_init__(self) -> None:
        from ..models import MODELS

        if self.trainer is not None:
            object.__setattr__(self, "trainer_meta", dict(self.trainer.to_meta()))
        if self.architecture in (CUSTOM, IMPORTED):
            if self.trainer_meta is None:
                raise bad_value("trainer", "the training function (or the import folder) of the models", None)
        else:
            if self.trainer is not None:
                raise InputError(f"a training function trains architecture {CUSTOM!r}; got {self.architecture!r}")
            MODELS.get(self.architecture)  # unknown names list the valid ones
        if self.architecture == IMPORTED:  # any K: the mask came with the models
            if isinstance(self.n_models, bool) or not isinstance(self.n_models, int) or self.n_models < 1:
                raise bad_value("n_models", "an integer >= 1", self.n_models)
        else:
            object.__setattr__(self, "n_models", check_n_models(self.n_models))
        object.__setattr__(self, "seed", check_seed(self.seed))
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        table("params", self.params, allowed="a dict of model parameters")
        try:
            params = json.loads(json.dumps(self.params))
        except (TypeError, ValueError):
            raise bad_value("params", "JSON-able model parameters", self.params) from None
        object.__setattr__(self, "params", params)
        if self.is_custom:
            if self.recipe is not None:
                raise bad_value("recipe", "None for a user training function (it trains its own way)", self.recipe)
        elif self.is_torch:
            if not isinstance(self.recipe, TrainRecipe):
                raise bad_value("recipe", f"a TrainRecipe for torch model {self.architecture!r}", self.recipe)
        elif self.recipe is not None:
            raise bad_value("recipe", "None for xgboost (its settings are model params)", self.recipe)
        if not isinstance(self.queries, QuerySet):
            raise bad_value("queries", "a mia_audit.reference.QuerySet", self.queries)
        if not self.is_custom:
            self.build(0)  # bad params or shapes fail now, before any training

    @property
    def is_torch(self) -> bool:
        return self.architecture in TORCH_ARCHITECTURES

    @property
    def is_custom(self) -> bool:
        """Whether the models are the user's own: trained by their function, or imported (no
        built-in architecture; kept as their signals only)."""
        return self.architecture in (CUSTOM, IMPORTED)

    @property
    def is_imported(self) -> bool:
        """Whether the models were trained elsewhere, with their own membership mask."""
        return self.architecture == IMPORTED

    def build(self, k: int) -> Any:
        """Reference model k before training (its initial weights come from ``init_seed``)."""
        from ..models import build_model

        if self.is_custom:
            raise InputError("reference models of a user training function have no untrained form; "
                             "the function trains each one")

        return build_model(self.architecture, input_shape=self.input_shape, n_classes=self.n_classes,
                           seed=init_seed(self.seed, k), **self.params)

    def to_meta(self) -> dict[str, Any]:
        """The fields a store records and compares (JSON types only)."""
        return {
            "architecture": self.architecture,
            "params": self.params,
            "input_shape": list(self.input_shape),
            "n_classes": int(self.n_classes),
            "recipe": None if self.recipe is None else self.recipe.to_dict(),
            "n_models": self.n_models,
            "seed": self.seed,
            "queries": self.queries.to_dict(),
            **({"trainer": self.trainer_meta} if self.is_custom else {}),
        }

    @staticmethod
    def from_meta(meta: dict[str, Any]) -> "ReferenceSpec":
        try:
            recipe = None if meta["recipe"] is None else TrainRecipe(**meta["recipe"])
            return ReferenceSpec(architecture=meta["architecture"], input_shape=tuple(meta["input_shape"]),
                                 n_classes=int(meta["n_classes"]), recipe=recipe, n_models=int(meta["n_models"]),
                                 seed=int(meta["seed"]), params=dict(meta["params"]),
                                 queries=QuerySet(**meta["queries"]), trainer_meta=meta.get("trainer"))
        except (KeyError, TypeError) as exc:
            raise InputError(f"reference store metadata is incomplete or malformed: {exc}") from None


__all__ = ["ReferenceSpec", "TORCH_ARCHITECTURES", "CUSTOM", "IMPORTED"]

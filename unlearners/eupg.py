"""``eupg-kanon`` and ``eupg-dp``: Efficient Unlearning with Privacy Guarantees
(Domingo-Ferrer, Jebreel and Sanchez 2025; paper 004).

Training (``fit``, EUPG's Algorithms 1 and 2): the training data D are protected by a
privacy model into D' (k-anonymity or epsilon-DP), a model M' is pre-trained on D' with
the original recipe, then fine-tuned on the full D for a few epochs; the fine-tuned model
is deployed. M' is kept (``Trained.state["pretrained"]``).

Forgetting (``unlearn``, Protocols 1 and 2): the deployed model is discarded and M' is
fine-tuned on the retained data D_r. The forget records reach the new model only through
D', so they keep the privacy model's guarantee (1/k re-identification through the
quasi-identifiers; epsilon-DP). The number of fine-tuning epochs (option ``epochs``) is
the utility / cost knob.

Privacy models (:mod:`mia_audit.unlearners.protection`):

* ``eupg-kanon``: MDAV microaggregation over the quasi-identifiers (default: every
  column), one-hot categoricals aggregated to their mode; default k = 10 (the paper's
  choice). Images and sequences are flattened and microaggregated over all values (the
  paper did not k-anonymise images; this is an extension so that the method runs on
  every toolkit model, at O(n^2 d / k) cost).
* ``eupg-dp``: tables: Laplace noise on numeric attributes (sensitivity = range) and an
  epsilon-DP selection on one-hot categoricals, epsilon split equally over the attributes;
  images (n, C, H, W): DP-Pix (b = 4, m = 16); sequences: every value as a numeric
  attribute. Default epsilon = 0.5 (the paper's choice). Noise from OpenDP (optional
  dependency, ``pip install "mia-audit[dp]"``).

Fine-tuning epochs: the paper fine-tunes 5 epochs after 100 epochs of training (1/20);
the default here is ceil(recipe.epochs / 20) for both the fit and the unlearning
fine-tuning (so the unlearning costs about 1/20 of retraining), with the recipe's
optimiser, learning rate and batch size, a fresh optimiser each time (as the paper's
code). XGBoost (as in the paper's code): M' is a booster trained on D' with the
estimator's settings; fine-tuning adds trees trained on D (fit) or D_r (unlearn) to M'
by continued boosting (``xgb_model``); ``epochs`` is then the number of added trees,
by default ceil(n_estimators / 20).

Reproducibility: training and fine-tuning draw only from the explicit seed, so
``unlearn`` gives the same model for the same Trained and seed. The DP noise of
``eupg-dp``'s ``fit`` comes from OpenDP's secure generator, which cannot be seeded (a
replayable noise would void the guarantee): two fits with the same seed protect the data
with different noise and give different models. k-anonymity (MDAV) is deterministic.

Departures from the paper: categorical attributes under DP use a 0/1 utility rather
than TabNet-embedding similarities (see :mod:`mia_audit.unlearners.protection.dp_tabular`); the
fine-tuning epochs scale with the recipe (see above).
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Optional, Sequence

import numpy as np

from mia_audit.errors import InputError
from mia_audit.seeding import check_seed, derive_seed

from .base import Trained, Unlearner, framework_of
from .records import Records, as_records, fingerprints
from .registry import UNLEARNERS
from .torch_loops import number, positive_int


def _column_list(param: str, value: Any) -> Optional[list[int]]:
    if value is None:
        return None
    try:
        items = list(value)
    except TypeError:
        raise InputError(f"{param} must be None or a list of column indices; got {value!r}") from None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in items):
        raise InputError(f"{param} must be None or a list of column indices (integers >= 0); got {value!r}")
    return [int(v) for v in items]


def _name_list(value: Any) -> Optional[tuple[str, ...]]:
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise InputError(f"feature_names must be None or a list of column names; got {value!r}")
    try:
        names = tuple(value)
    except TypeError:
        raise InputError(f"feature_names must be None or a list of column names; got {value!r}") from None
    return names


def _group_list(value: Any) -> Optional[list[list[int]]]:
    if value is None:
        return None
    try:
        groups = [list(g) for g in value]
    except TypeError:
        raise InputError(
            f"categorical_groups must be None or a list of lists of column indices; got {value!r}"
        ) from None
    return [_column_list("categorical_groups", g) for g in groups]


class _Eupg(Unlearner):
    """The EUPG pipeline; subclasses protect the data (``protect``).

    ``feature_names`` (the column names of the tables it will protect, e.g.
    ``Dataset.feature_names``) is data, not a setting: where ``categorical_groups`` is None,
    a table's one-hot groups are read from these names
    (:func:`~mia_audit.unlearners.protection.columns.groups_from_feature_names`) rather than
    inferred from its values. It is not one of the recorded :meth:`options`; the audit
    pipeline passes its data set's names through :meth:`with_feature_names`.
    """

    frameworks = ("torch", "xgboost")
    needs_own_training = True
    reference = ("Domingo-Ferrer, Jebreel and Sanchez, Efficient Unlearning with Privacy Guarantees "
                 "(EUPG), arXiv 2025.")

    def __init__(self, *, epochs: Optional[int] = None, fit_epochs: Optional[int] = None,
                 quasi_identifiers: Optional[Sequence[int]] = None,
                 categorical_groups: Optional[Sequence[Sequence[int]]] = None,
                 feature_names: Optional[Sequence[str]] = None):
        from .protection.columns import groups_from_feature_names

        self.epochs = positive_int("epochs", epochs, allow_none=True)
        self.fit_epochs = positive_int("fit_epochs", fit_epochs, allow_none=True)
        self.quasi_identifiers = _column_list("quasi_identifiers", quasi_identifiers)
        self.categorical_groups = _group_list(categorical_groups)
        self._feature_names = _name_list(feature_names)
        # the one-hot groups the names give (None: none, so the groups are inferred from the values)
        self._name_groups = (groups_from_feature_names(self._feature_names) or None
                             if self._feature_names is not None else None)

    def with_feature_names(self, feature_names: Optional[Sequence[str]]) -> "_Eupg":
        """A new unlearner with this one's options that reads one-hot groups from ``feature_names``."""
        if feature_names is None:
            return self
        return type(self)(**self.options(), feature_names=feature_names)

    def table_groups(self, X: np.ndarray) -> Optional[list[list[int]]]:
        """The one-hot groups to protect table ``X`` (n, d) with: the option ``categorical_groups``,
        else the groups of ``feature_names``, else None (inferred from ``X``)."""
        if self.categorical_groups is not None or self._name_groups is None:
            return self.categorical_groups
        if len(self._feature_names) != X.shape[1]:
            raise InputError(f"feature_names must name the {X.shape[1]} columns of the table; "
                             f"got {len(self._feature_names)} names")
        return self._name_groups

    # subclasses
    def protect(self, X: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:  # pragma: no cover - abstract
        raise InputError(f"{type(self).__name__} does not define a protection")

    def _check_table_options(self, X: np.ndarray) -> None:
        if X.ndim != 2 and (self.quasi_identifiers is not None or self.categorical_groups is not None):
            raise InputError(f"quasi_identifiers and categorical_groups apply to tables (n, d); "
                             f"got data of shape {X.shape}")

    # ------------------------------------------------------------------ training
    def fit(self, model: Any, X: Any, y: Any, recipe: Any = None, *, seed: int, device: Any = "auto",
            progress: bool = False) -> Trained:
        from mia_audit.training import train_model

        seed = check_seed(seed)
        records = as_records((X, y), "train")
        framework = framework_of(model)
        if framework == "torch" and recipe is None:
            raise InputError("recipe is required for torch models; got None (see mia_audit.training.recipe_for)")
        X_np, y_np = records.numpy()
        start = time.perf_counter()
        X_protected, summary = self.protect(np.asarray(X_np))
        summary = {**summary, "seconds": time.perf_counter() - start}
        pre = train_model(model, X_protected, y_np, recipe, seed=derive_seed(seed, self.name, "pretrain"),
                          device=device, progress=progress)
        if framework == "xgboost":
            n_trees = self._added_trees(model, self.fit_epochs)
            deployed = boost_more(pre.model, X_np, y_np, n_trees, seed=derive_seed(seed, self.name, "finetune"))
            init = _unfitted(model)
            fine = {"fit_added_estimators": n_trees}
        else:
            epochs = self._epochs(recipe, self.fit_epochs)
            deployed = train_model(pre.model, records.X, records.y, recipe.replace(epochs=epochs),
                                   seed=derive_seed(seed, self.name, "finetune"), device=device).model
            init = copy.deepcopy(model)
            fine = {"fit_epochs": epochs}
        from mia_audit.device import resolve_device, synchronize

        if framework == "torch":
            synchronize(resolve_device(pre.device))
        seconds = time.perf_counter() - start
        state = {"pretrained": pre.model, "protection": summary, **fine}
        return Trained(model=deployed, init=init, recipe=recipe, train_keys=np.sort(fingerprints(records)),
                       method=self.name, state=state, seconds=float(seconds), device=str(pre.device))

    def _epochs(self, recipe, chosen: Optional[int]) -> int:
        return chosen if chosen is not None else max(1, math.ceil(recipe.epochs / 20))

    def _added_trees(self, estimator, chosen: Optional[int]) -> int:
        if chosen is not None:
            return chosen
        n = estimator.get_params().get("n_estimators") or 100
        return max(1, math.ceil(int(n) / 20))

    # ------------------------------------------------------------------ unlearning
    def _unlearn(self, model: Trained, retain: Records, forget: Records, validation, seed: int):
        from mia_audit.training import train_model

        pretrained = model.state["pretrained"]
        if model.framework == "xgboost":
            n_trees = self._added_trees(model.init, self.epochs)
            X_r, y_r = retain.numpy()
            net = boost_more(pretrained, X_r, y_r, n_trees, seed=derive_seed(seed, self.name, "unlearn"))
            details: dict[str, Any] = {"added_estimators": n_trees}
        else:
            epochs = self._epochs(model.recipe, self.epochs)
            net = train_model(pretrained, retain.X, retain.y, model.recipe.replace(epochs=epochs),
                              seed=derive_seed(seed, self.name, "unlearn"), device=model.device).model
            details = {"epochs": epochs, "lr": float(model.recipe.lr), "batch_size": int(model.recipe.batch_size)}
        details["start"] = "protected pre-trained model"
        details["protection"] = {k: v for k, v in model.state["protection"].items() if k != "seconds"}
        return replace_model(model, net), details


def replace_model(model: Trained, net: Any) -> Trained:
    return Trained(model=net, init=model.init, recipe=model.recipe, train_keys=model.train_keys, method=model.method,
                   state=dict(model.state), seconds=model.seconds, device=model.device)


def boost_more(base, X: np.ndarray, y: np.ndarray, n_trees: int, *, seed: int):
    """A new XGBClassifier: ``base``'s trees plus ``n_trees`` trees boosted on (X, y)
    (continued boosting from a copy of ``base``'s booster; ``base`` is not modified)."""
    from sklearn.base import clone

    from mia_audit.models.xgb import xgboost_seed

    y = np.asarray(y).astype(np.int64)
    present = np.unique(y)
    n_classes = len(base.classes_)
    if present.size < 2 or present.max() >= n_classes:
        raise InputError(f"fine-tuning an XGBoost model needs labels of at least 2 of its classes 0..{n_classes - 1}; "
                         f"got classes {present.tolist()}")
    estimator = clone(base)
    estimator.set_params(n_estimators=int(n_trees), random_state=xgboost_seed(seed))
    estimator.fit(np.asarray(X), y, xgb_model=base.get_booster().copy(), verbose=False)
    return estimator


def _unfitted(model):
    from sklearn.base import clone

    return clone(model)


@UNLEARNERS.register("eupg-kanon")
class EupgKanon(_Eupg):
    """EUPG, k-anonymity: pre-train on MDAV-anonymised data; forget by fine-tuning that model on retain."""

    name = "eupg-kanon"

    def __init__(self, *, k: int = 10, epochs: Optional[int] = None, fit_epochs: Optional[int] = None,
                 quasi_identifiers: Optional[Sequence[int]] = None,
                 categorical_groups: Optional[Sequence[Sequence[int]]] = None,
                 feature_names: Optional[Sequence[str]] = None):
        super().__init__(epochs=epochs, fit_epochs=fit_epochs, quasi_identifiers=quasi_identifiers,
                         categorical_groups=categorical_groups, feature_names=feature_names)
        self.k = positive_int("k", k)

    def protect(self, X: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        from .protection.mdav import mdav_anonymize

        self._check_table_options(X)
        flat = X.reshape(X.shape[0], -1)
        if X.ndim == 2:
            out, labels = mdav_anonymize(flat, self.k, quasi_identifiers=self.quasi_identifiers,
                                         categorical_groups=self.table_groups(X))
        else:
            out, labels = mdav_anonymize(flat, self.k, categorical_groups=[])
        sizes = np.bincount(labels)
        summary = {"privacy_model": "k-anonymity (MDAV)", "k": self.k, "groups": int(sizes.size),
                   "smallest_group": int(sizes.min()), "largest_group": int(sizes.max())}
        return out.reshape(X.shape), summary


@UNLEARNERS.register("eupg-dp")
class EupgDp(_Eupg):
    """EUPG, epsilon-DP: pre-train on DP data (DP-Pix for images); forget by fine-tuning that model on retain."""

    name = "eupg-dp"

    def __init__(self, *, epsilon: float = 0.5, epochs: Optional[int] = None, fit_epochs: Optional[int] = None,
                 quasi_identifiers: Optional[Sequence[int]] = None,
                 categorical_groups: Optional[Sequence[Sequence[int]]] = None, pixel_block: int = 4,
                 pixel_m: int = 16, feature_names: Optional[Sequence[str]] = None):
        super().__init__(epochs=epochs, fit_epochs=fit_epochs, quasi_identifiers=quasi_identifiers,
                         categorical_groups=categorical_groups, feature_names=feature_names)
        self.epsilon = number("epsilon", epsilon, low=0.0, low_open=True)
        self.pixel_block = positive_int("pixel_block", pixel_block)
        self.pixel_m = positive_int("pixel_m", pixel_m)

    def protect(self, X: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        from .protection.dp_pix import dp_pix
        from .protection.dp_tabular import dp_protect_table

        self._check_table_options(X)
        if X.ndim == 4:
            out, summary = dp_pix(X, self.epsilon, b=self.pixel_block, m=self.pixel_m)
            return out, {"privacy_model": "epsilon-DP (DP-Pix)", **summary}
        if X.ndim == 2:
            out, summary = dp_protect_table(X, self.epsilon, quasi_identifiers=self.quasi_identifiers,
                                            categorical_groups=self.table_groups(X))
        else:
            flat, summary = dp_protect_table(X.reshape(X.shape[0], -1), self.epsilon, categorical_groups=[])
            out = flat.reshape(X.shape)
        return out, {"privacy_model": "epsilon-DP (Laplace + DP selection)", **summary}


__all__ = ["EupgKanon", "EupgDp", "boost_more"]

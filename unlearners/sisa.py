"""``sisa``: Sharded, Isolated, Sliced, Aggregated training (Bourtoule et al. 2021).

Training (``fit``): the training set is split into S disjoint shards (default 5), each
shard into R disjoint slices (default 3). One model per shard is trained incrementally:
on slice 1, then on slices 1-2, ..., then on slices 1..R (the cumulative data), and its
weights are checkpointed before slice 1 (the initial weights) and after every slice.
Each slice step trains for ``slice_epochs`` epochs, by default ceil(2 E / (R + 1)) for a
recipe of E epochs, the paper's choice that makes sliced training cost the same number of
record passes as E epochs over the whole shard. The deployed model aggregates the shard
models by their mean softmax: a :class:`ShardEnsemble` whose forward returns
log(mean_i softmax_i(x)), logits whose softmax is the mean softmax, so every adapter and
attack uses it like any torch classifier.

Unlearning: the shards that hold a forget record are found from the record fingerprints
kept at training time; each such shard is retrained from the checkpoint taken before its
earliest affected slice, on its remaining (retain) records, slice by slice as in
training. Untouched shards are reused unchanged (copies with bitwise identical weights).
This is exact unlearning: the new model never saw the forget records.

XGBoost: an ensemble of S XGBClassifiers, one per shard, without slices (R = 1: a
boosted model cannot be rewound to an earlier checkpoint more cheaply than refitting its
shard); forgetting refits only the affected shards. :class:`XGBShardEnsemble` averages
the members' predict_proba.

Details and departures from the paper (with the reason):

* Records are assigned to shards and slices by a seeded, class-stratified draw (each
  shard and slice gets its share of every class) instead of a uniform one, so that small
  shards keep every class (XGBoost refuses a shard that misses one; tiny slices of one
  class cannot train a classifier).
* Each slice step starts a fresh optimiser from the previous checkpoint (the checkpoint
  holds the weights only), so retraining from a checkpoint repeats training exactly as
  it was done, with the unlearning call's seed for the data order.
* A slice step whose cumulative data hold fewer than 2 classes is skipped (its
  checkpoint repeats the previous one); a shard left without trainable data after
  forgetting is dropped from the ensemble (reported in details); fitting refuses data
  too small for S x R slices.
* Identical records share a fingerprint: forgetting one forgets all its copies.
* Only the retain records given to ``unlearn`` are used to retrain an affected shard.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Optional

import numpy as np

from mia_audit.errors import InputError
from mia_audit.seeding import check_seed, derive_seed

from .base import Trained, Unlearner, framework_of, reinitialised
from .records import Records, as_records, fingerprints
from .registry import UNLEARNERS
from .torch_loops import positive_int


# ---------------------------------------------------------------------------- ensembles


try:  # torch is optional for XGBoost-only installations
    import torch as _torch
except ImportError:  # pragma: no cover
    _torch = None


if _torch is not None:

    class ShardEnsemble(_torch.nn.Module):
        """Mean-softmax aggregation of shard models: forward returns log(mean_i softmax_i(x))."""

        def __init__(self, members, n_classes: Optional[int] = None):
            super().__init__()
            if len(members) == 0:
                raise InputError("a SISA ensemble needs at least one shard model")
            self.members = _torch.nn.ModuleList(members)
            if n_classes is None:
                n_classes = getattr(members[0], "n_classes", None)
            if n_classes is None:
                linears = [m for m in members[0].modules() if isinstance(m, _torch.nn.Linear)]
                n_classes = linears[-1].out_features if linears else None
            self.n_classes = None if n_classes is None else int(n_classes)

        def forward(self, x):
            from torch.nn import functional as F

            logp = _torch.stack([F.log_softmax(m(x).float(), dim=1) for m in self.members])
            return _torch.logsumexp(logp, dim=0) - math.log(len(self.members))

else:  # pragma: no cover
    ShardEnsemble = None


class ProbaShardEnsemble:
    """Shard models of the user's training function, averaged by their probabilities (any model
    :func:`mia_audit.adapters.as_adapter` queries: torch, scikit-learn, XGBoost, callables)."""

    def __init__(self, members, n_classes: int):
        if len(members) == 0:
            raise InputError("a SISA ensemble needs at least one shard model")
        self.members = tuple(members)
        self.classes_ = np.arange(int(n_classes))

    @property
    def n_classes(self) -> int:
        return int(self.classes_.size)

    def predict_proba(self, X) -> np.ndarray:
        from mia_audit.adapters import as_adapter

        return np.mean([np.exp(as_adapter(m, n_classes=self.n_classes).predict(X).log_probs()) for m in self.members],
                       axis=0)

    def predict(self, X) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)

    def sha256(self) -> str:
        """A hash over the members' own digests, in order."""
        import hashlib

        from mia_audit.adapters import model_sha256

        digest = hashlib.sha256()
        for m in self.members:
            digest.update(str(model_sha256(m)).encode())
        return digest.hexdigest()

    def __repr__(self) -> str:
        return f"ProbaShardEnsemble({len(self.members)} shards)"


class XGBShardEnsemble(ProbaShardEnsemble):
    """Fitted XGBClassifiers averaged by predict_proba (a scikit-learn-like classifier)."""

    framework = "xgboost"

    def __init__(self, members):
        super().__init__(members, len(members[0].classes_) if len(members) else 0)

    def predict_proba(self, X) -> np.ndarray:
        return np.mean([np.asarray(m.predict_proba(X), dtype=np.float64) for m in self.members], axis=0)

    def sha256(self) -> str:
        """A hash over the members' boosters (raw JSON), in order."""
        import hashlib

        digest = hashlib.sha256()
        for m in self.members:
            digest.update(hashlib.sha256(bytes(m.get_booster().save_raw("json"))).digest())
        return digest.hexdigest()

    def __repr__(self) -> str:
        return f"XGBShardEnsemble({len(self.members)} shards)"


# ---------------------------------------------------------------------------- assignment


def assign_shards(y: np.ndarray, n_shards: int, n_slices: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded class-stratified assignment of records to (shard, slice): within each class
    the records are shuffled and dealt round-robin over the S x R buckets (the deal starts
    where the previous class ended, shards first, so shard sizes and bucket sizes differ by
    at most one)."""
    from mia_audit.seeding import rng

    g = rng(seed, "sisa", "assign")
    order = g.permutation(y.shape[0])
    order = order[np.argsort(y[order], kind="stable")]  # shuffled within each class
    bucket = np.empty(y.shape[0], dtype=np.int64)
    bucket[order] = np.arange(y.shape[0]) % (n_shards * n_slices)
    return bucket % n_shards, bucket // n_shards


def _n_distinct(y) -> int:
    return int(np.unique(np.asarray(y)).size)


# ---------------------------------------------------------------------------- method


@UNLEARNERS.register("sisa")
class Sisa(Unlearner):
    """SISA: shard models trained slice by slice with checkpoints; forgetting retrains only affected shards (exact)."""

    name = "sisa"
    frameworks = ("torch", "xgboost")
    needs_own_training = True
    reference = "Bourtoule et al., Machine Unlearning, IEEE S&P 2021 (SISA training)."

    def __init__(self, *, shards: int = 5, slices: int = 3, slice_epochs: Optional[int] = None):
        self.shards = positive_int("shards", shards)
        self.slices = positive_int("slices", slices)
        self.slice_epochs = positive_int("slice_epochs", slice_epochs, allow_none=True)

    # ------------------------------------------------------------------ training
    def fit(self, model: Any, X: Any, y: Any, recipe: Any = None, *, seed: int, device: Any = "auto",
            progress: bool = False) -> Trained:
        from mia_audit.device import resolve_device

        seed = check_seed(seed)
        records = as_records((X, y), "train")
        framework = framework_of(model)
        keys = fingerprints(records)
        _, y_np = records.numpy()
        y_np = y_np.astype(np.int64)
        n_slices = 1 if framework == "xgboost" else self.slices
        if len(records) < self.shards * n_slices:
            raise InputError(f"sisa needs at least shards x slices = {self.shards * n_slices} training records; "
                             f"got {len(records)} (lower shards or slices)")
        shard, slc = assign_shards(y_np, self.shards, n_slices, seed)
        torch_device = resolve_device(device)
        start = time.perf_counter()
        if framework == "xgboost":
            members = []
            for s in range(self.shards):
                rows = np.flatnonzero(shard == s)
                members.append(self._fit_xgb(model, records.take(rows), derive_seed(seed, "sisa", s), torch_device))
            state = {"members": members}
            ensemble = XGBShardEnsemble(members)
            recipe_used = recipe
        else:
            if recipe is None:
                raise InputError("recipe is required for torch models; got None (see mia_audit.training.recipe_for)")
            epochs = self._slice_epochs(recipe)
            checkpoints, members = [], []
            for s in range(self.shards):
                init = reinitialised(model, seed=derive_seed(seed, "sisa", "init", s)).to(torch_device)
                net, ckpts, _ = train_shard(init, [_cpu_state(init)], records, shard == s, slc, 0, n_slices, recipe,
                                            epochs, derive_seed(seed, "sisa", "fit", s), torch_device)
                if net is None:
                    raise InputError(f"sisa: shard {s} has training records of only one class; "
                                     "use fewer shards or slices for this little data")
                checkpoints.append(ckpts)
                members.append(net)
            ensemble = ShardEnsemble(members).to(torch_device).eval()
            state = {"members": members, "checkpoints": checkpoints, "slice_epochs": epochs}
            recipe_used = recipe
        from mia_audit.device import synchronize

        synchronize(torch_device)
        seconds = time.perf_counter() - start
        state.update({"keys": keys, "shard": shard, "slice": slc, "n_shards": self.shards, "n_slices": n_slices})
        init = copy.deepcopy(model)
        return Trained(model=ensemble, init=init, recipe=recipe_used, train_keys=np.sort(keys), method=self.name,
                       state=state, seconds=float(seconds), device=str(torch_device))

    def fit_trained_by(self, trainer: Any, X: Any, y: Any, *, seed: int, device: Any = "cpu") -> Trained:
        """SISA with the user's training function: each shard's model is trained by it (one slice:
        the function is a black box, so there are no checkpoints to resume from), and unlearning
        trains again, with it, the shards that held a forgotten record."""
        seed = check_seed(seed)
        records = as_records((X, y), "train")
        keys = fingerprints(records)
        _, y_np = records.numpy()
        n_classes = int(y_np.max()) + 1
        if len(records) < self.shards:
            raise InputError(f"sisa needs at least {self.shards} training records (one per shard); got {len(records)}")
        shard, slc = assign_shards(y_np.astype(np.int64), self.shards, 1, seed)
        start = time.perf_counter()
        members = [trainer.train(*records.take(np.flatnonzero(shard == s)).numpy(), seed=derive_seed(seed, "sisa", s),
                                 device=device, n_classes=n_classes).model for s in range(self.shards)]
        state = {"members": members, "keys": keys, "shard": shard, "slice": slc, "n_shards": self.shards,
                 "n_slices": 1, "n_classes": n_classes}
        return Trained(model=ProbaShardEnsemble(members, n_classes), init=None, recipe=None,
                       train_keys=np.sort(keys), method=self.name, state=state,
                       seconds=float(time.perf_counter() - start), device=str(device), trainer=trainer)

    def check_applicable(self, model: Trained) -> None:
        if model.trainer is not None and model.method == self.name:  # shards of the user's function
            return
        super().check_applicable(model)

    def _slice_epochs(self, recipe) -> int:
        if self.slice_epochs is not None:
            return self.slice_epochs
        return max(1, math.ceil(2 * recipe.epochs / (self.slices + 1)))

    def _fit_xgb(self, model, records: Records, seed: int, device):
        from mia_audit.training import train_model

        return train_model(model, records.X, records.y, None, seed=seed, device=device).model

    # ------------------------------------------------------------------ unlearning
    def _unlearn(self, model: Trained, retain: Records, forget: Records, validation, seed: int):
        state = model.state
        keys, shard, slc = state["keys"], state["shard"], state["slice"]
        n_shards, n_slices = int(state["n_shards"]), int(state["n_slices"])
        forget_keys = fingerprints(forget)
        retain_keys = fingerprints(retain)
        hit = np.isin(keys, forget_keys)
        affected = sorted(set(shard[hit].tolist()))
        # where each retain record lives (first training record with its fingerprint)
        order = np.argsort(keys, kind="stable")
        pos = order[np.searchsorted(keys[order], retain_keys)]
        r_shard, r_slice = shard[pos], slc[pos]
        framework = model.framework
        members = list(state["members"])
        checkpoints = [list(c) for c in state.get("checkpoints", [])]
        details: dict[str, Any] = {"shards": n_shards, "slices": n_slices, "shards_retrained": affected,
                                   "slices_retrained": {}, "shards_dropped": []}
        device = _device(model) if model.trainer is None else model.device
        new_members = [None if m is None else (m if s in affected else copy.deepcopy(m)) for s, m in enumerate(members)]
        for s in affected:
            in_shard = r_shard == s
            if model.trainer is not None:  # the user's function trains the shard again on what it keeps
                part = retain.take(np.flatnonzero(in_shard))
                if len(part) == 0 or _n_distinct(part.numpy()[1]) < 2:
                    new_members[s] = None
                    details["shards_dropped"].append(s)
                else:
                    new_members[s] = model.trainer.train(*part.numpy(), seed=derive_seed(seed, "sisa", s),
                                                         device=device, n_classes=int(state["n_classes"])).model
                details["slices_retrained"][str(s)] = [0]
                continue
            if framework == "xgboost":
                part = retain.take(np.flatnonzero(in_shard))
                n_classes = len(members[s].classes_) if members[s] is not None else 2
                if len(part) == 0 or _n_distinct(part.numpy()[1]) < n_classes:
                    new_members[s] = None
                    details["shards_dropped"].append(s)
                else:
                    new_members[s] = self._fit_xgb(model.init, part, derive_seed(seed, "sisa", s), device)
                details["slices_retrained"][str(s)] = [0]
                continue
            first = int(slc[hit & (shard == s)].min())
            net = copy.deepcopy(model.init).to(device)
            net.load_state_dict(checkpoints[s][first])
            net, ckpts, _ = train_shard(net, checkpoints[s], retain, in_shard, r_slice, first, n_slices, model.recipe,
                                        int(state["slice_epochs"]), derive_seed(seed, "sisa", "unlearn", s), device)
            if net is None:
                new_members[s] = None
                details["shards_dropped"].append(s)
            else:
                new_members[s] = net.eval()
            checkpoints[s] = ckpts
            details["slices_retrained"][str(s)] = list(range(first, n_slices))
        kept = [m for m in new_members if m is not None]
        if not kept:
            raise InputError("sisa: forgetting these records leaves no shard with trainable data")
        if model.trainer is not None:
            ensemble = ProbaShardEnsemble(kept, int(state["n_classes"]))
        elif framework == "xgboost":
            ensemble = XGBShardEnsemble(kept)
        else:
            ensemble = ShardEnsemble(kept, getattr(model.model, "n_classes", None)).to(device).eval()
        # the new assignment: untouched shards as they were, affected shards hold the retain records given
        keep = ~np.isin(shard, affected)
        new_keys = np.concatenate([keys[keep], retain_keys[np.isin(r_shard, affected)]])
        new_shard = np.concatenate([shard[keep], r_shard[np.isin(r_shard, affected)]])
        new_slice = np.concatenate([slc[keep], r_slice[np.isin(r_shard, affected)]])
        new_state = {**state, "members": new_members, "keys": new_keys, "shard": new_shard, "slice": new_slice}
        if framework == "torch":
            new_state["checkpoints"] = checkpoints
        details["records_per_shard"] = [int((new_shard == s).sum()) for s in range(n_shards)]
        new = Trained(model=ensemble, init=model.init, recipe=model.recipe, train_keys=model.train_keys,
                      method=model.method, state=new_state, seconds=model.seconds, device=model.device,
                      trainer=model.trainer)
        return new, details


def train_shard(net, checkpoints: list, records: Records, in_shard: np.ndarray, slc: np.ndarray, first: int,
                n_slices: int, recipe, epochs: int, seed: int, device):
    """Train one shard model slice by slice from slice ``first``.

    ``net`` holds the weights of ``checkpoints[first]`` (the checkpoint before slice
    ``first``; index 0 is the initial weights, index r + 1 the weights after slice r).
    Slice step r trains ``epochs`` epochs on the shard's records of slices 0..r (rows
    ``in_shard & (slc <= r)`` of ``records``) with ``recipe`` and a fresh optimiser.
    Returns (the trained net, or None when the shard has no data with 2 classes; the
    new checkpoints; the slices trained).
    """
    from mia_audit.training import train_model

    ckpts = list(checkpoints[: first + 1])
    trained = []
    current = net
    for r in range(first, n_slices):
        part = records.take(np.flatnonzero(in_shard & (slc <= r)))
        if len(part) == 0 or _n_distinct(part.numpy()[1]) < 2:
            ckpts.append(ckpts[-1])  # nothing to learn yet: the checkpoint carries over
            continue
        current = train_model(current, part.X, part.y, recipe.replace(epochs=epochs),
                              seed=derive_seed(seed, "slice", r), device=device).model
        ckpts.append(_cpu_state(current))
        trained.append(r)
    everything = records.take(np.flatnonzero(in_shard))
    if len(everything) == 0 or _n_distinct(everything.numpy()[1]) < 2:
        return None, ckpts, trained
    return current.eval(), ckpts, trained


def _cpu_state(net) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def _device(model: Trained):
    from mia_audit.device import resolve_device

    return resolve_device(model.device)


__all__ = ["Sisa", "ShardEnsemble", "XGBShardEnsemble", "assign_shards", "train_shard"]

"""Reference models as a product: K models trained on random halves of a pool, stored and reused.

LiRA, RMIA and the other reference-model attacks compare a target model's output on a
record with the outputs of models that did and did not train on it. This package
trains those models with the target's recipe (batched with ``torch.func`` where the
architecture allows, in worker processes for XGBoost, on Ray when a cluster is
given), keeps them on disk with their membership mask and their per-query signals on
the whole pool, resumes a run cut short, and refuses to reuse a store built for
something else.

::

    from mia_audit.reference import train_references, query_signals

    store = train_references("refs/", X_pool, y_pool, model="mlp", n_models=16, seed=0)
    reference = store.signals()              # logit_confidence / confidence, (K, N, A)
    store.mask                               # (K, N) bool, every record IN for K/2 models
"""

from .batched import can_batch, train_batched
from .build import make_spec, train_references, train_spec
from .executors import (EXECUTORS, BatchedExecutor, Executor, ProcessExecutor, RayExecutor, SequentialExecutor,
                        make_executor)
from .jobs import ModelResult, run_job
from .queries import QuerySet, QuerySignals, augment, query_signals
from .spec import ReferenceSpec
from .splits import init_seed, membership_mask, train_seed
from .store import FORMAT_VERSION, ReferenceStore

__all__ = [
    "EXECUTORS",
    "FORMAT_VERSION",
    "BatchedExecutor",
    "Executor",
    "ModelResult",
    "ProcessExecutor",
    "QuerySet",
    "QuerySignals",
    "RayExecutor",
    "ReferenceSpec",
    "ReferenceStore",
    "SequentialExecutor",
    "augment",
    "can_batch",
    "init_seed",
    "make_executor",
    "make_spec",
    "membership_mask",
    "query_signals",
    "run_job",
    "train_batched",
    "train_references",
    "train_seed",
    "train_spec",
]

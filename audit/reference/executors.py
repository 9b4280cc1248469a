"""Where reference-model jobs run: in this process, in worker processes, or on Ray.

Every executor runs :func:`mia_audit.reference.jobs.run_job` (or, in this process, its
generator form :func:`~mia_audit.reference.jobs.iter_job`) and yields
:class:`~mia_audit.reference.jobs.ModelResult` objects as models finish, so the store writes
each one at once and a killed run loses at most the models in flight: the one model being
trained (``sequential``), one chunk (``batched``), or the job running in each worker
(``process``, ``ray``).

=================  ========================================================================
executor           what it does
=================  ========================================================================
``sequential``     one model after the other with ``train_model`` (the plain loop, for
                   comparison and for architectures that cannot be batched)
``batched``        torch models trained together with ``torch.func`` in chunks of
                   ``chunk_size`` models (default 8 on the CPU, 64 on a GPU), each saved
                   as soon as it is queried (BatchNorm models too, each with its own
                   running statistics); falls back to ``sequential`` for LSTMs (lstm,
                   bilstm) and for xgboost
``process``        jobs in parallel worker processes (joblib's loky backend), one model per
                   job by default: the executor for XGBoost reference models
``ray``            the same jobs as Ray tasks, on the cluster at ``address`` (or a local
                   Ray started here); needs ``pip install "mia-audit[ray]"``
=================  ========================================================================
"""

from __future__ import annotations

import abc
import os
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from ..checks import nonnegative_number, text
from ..errors import InputError, bad_value
from .jobs import ModelResult, batchable, iter_job, run_job
from .spec import ReferenceSpec

EXECUTORS = ("auto", "sequential", "batched", "process", "ray")
RAY_EXTRA = 'pip install "mia-audit[ray]"'
Tick = Optional[Callable[[float], None]]


def _positive(param: str, value: Any, *, allow_none: bool = False) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise bad_value(param, "a positive integer" + (" or None" if allow_none else ""), value)
    return int(value)


def _chunks(indices: Sequence[int], size: int) -> list[list[int]]:
    indices = list(indices)
    return [indices[i:i + size] for i in range(0, len(indices), size)]


def _blocks(indices: Sequence[int], size: int) -> list[list[int]]:
    """``indices`` grouped by ``k // size``: the same groups of a model's neighbours whichever
    models are still pending, so a resumed run trains untouched blocks exactly as an
    uninterrupted one."""
    blocks: dict[int, list[int]] = {}
    for k in indices:
        blocks.setdefault(int(k) // size, []).append(int(k))
    return list(blocks.values())


class Executor(abc.ABC):
    """Runs the jobs of a set of reference models; ``run`` yields results as they finish."""

    name = ""

    @abc.abstractmethod
    def run(self, spec: ReferenceSpec, X: np.ndarray, y: np.ndarray, mask: np.ndarray, indices: Sequence[int], *,
            device: Any, tick: Tick = None) -> Iterator[ModelResult]:
        """Train the models ``indices`` and yield one result per model (any order)."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class SequentialExecutor(Executor):
    """The plain loop: ``train_model`` for each model, in index order."""

    name = "sequential"

    def run(self, spec, X, y, mask, indices, *, device, tick=None):
        for k in indices:
            yield from iter_job(spec, X, y, mask, [k], batched=False, device=device, tick=tick)


class BatchedExecutor(Executor):
    """Torch models trained up to ``chunk_size`` at a time with ``torch.func`` (vmap); an
    architecture that cannot be batched (or xgboost) falls back to the sequential loop.

    Models of one chunk train in lock-step and finish together; each is then queried and
    handed to the store at once, so a kill loses at most one chunk. Chunks are the blocks
    of indices ``[c * chunk_size, (c + 1) * chunk_size)``, whatever is pending, so a resumed
    run forms the same groups as an uninterrupted one. ``chunk_size=None`` (default): 8 on
    the CPU, where training more models together is no faster per model (measured: 0.018
    CPU s per model for chunks of 8, 0.019-0.022 for 64, Adult MLPs on one thread), and 64
    on a GPU, as before: there the width of one vmapped step is what batching buys, and a
    chunk of small models takes seconds. Training batched on the CPU gave bitwise the same
    models whatever the chunk size (digits MLPs: a model's batches, initial weights and
    optimiser are its own), except with dropout, whose masks come from one stream per group.
    """

    name = "batched"
    CPU_CHUNK, GPU_CHUNK = 8, 64

    def __init__(self, chunk_size: Optional[int] = None):
        self.chunk_size = _positive("chunk_size", chunk_size, allow_none=True)

    def chunk_for(self, device: Any) -> int:
        """The chunk size used on ``device`` ("cpu", "cuda:0", a torch.device...)."""
        if self.chunk_size is not None:
            return self.chunk_size
        return self.CPU_CHUNK if str(device).split(":")[0] == "cpu" else self.GPU_CHUNK

    def run(self, spec, X, y, mask, indices, *, device, tick=None):
        if not batchable(spec):
            yield from SequentialExecutor().run(spec, X, y, mask, indices, device=device, tick=tick)
            return
        from ..device import resolve_device

        size = self.chunk_for(resolve_device(device))
        for chunk in _blocks(indices, size):
            yield from iter_job(spec, X, y, mask, chunk, batched=True, device=device, tick=tick)


class ProcessExecutor(Executor):
    """Jobs of ``models_per_job`` models in ``n_jobs`` worker processes (joblib, loky).

    Each worker uses ``threads_per_job`` threads (default: the CPU count divided by
    ``n_jobs``, at least 1). ``batched=True`` trains each job's torch models batched.
    """

    name = "process"

    def __init__(self, n_jobs: Optional[int] = None, models_per_job: int = 1, batched: bool = False,
                 threads_per_job: Optional[int] = None):
        self.n_jobs = _positive("n_jobs", n_jobs, allow_none=True) or max(1, (os.cpu_count() or 1))
        self.models_per_job = _positive("models_per_job", models_per_job)
        self.batched = bool(batched)
        self.threads_per_job = _positive("threads_per_job", threads_per_job, allow_none=True) or max(
            1, (os.cpu_count() or 1) // self.n_jobs)

    def run(self, spec, X, y, mask, indices, *, device, tick=None):
        from joblib import Parallel, delayed

        jobs = _chunks(indices, self.models_per_job)
        parallel = Parallel(n_jobs=min(self.n_jobs, max(len(jobs), 1)), backend="loky",
                            return_as="generator_unordered")
        calls = (delayed(run_job)(spec, X, y, mask, job, batched=self.batched, device=device,
                                  threads=self.threads_per_job) for job in jobs)
        for results in parallel(calls):
            yield from results
            if tick is not None:
                tick(float(len(results)))


class RayExecutor(Executor):
    """The same jobs as Ray tasks. ``address``: a Ray cluster ("auto", "ray://host:10001",
    ...) or None for a local Ray (an existing ``ray.init`` is reused). Each task trains
    ``models_per_task`` models (batched where possible when ``batched=True``) with
    ``num_cpus`` CPUs and ``num_gpus`` GPUs reserved. The pool is put in Ray's object store
    once."""

    name = "ray"

    def __init__(self, address: Optional[str] = None, models_per_task: int = 8, batched: bool = True,
                 num_cpus: float = 1, num_gpus: float = 0):
        self.address = text("ray_address", address, allowed="a Ray address string", allow_none=True)
        self.models_per_task = _positive("models_per_task", models_per_task)
        self.batched = bool(batched)
        self.num_cpus = nonnegative_number("num_cpus", num_cpus)
        self.num_gpus = nonnegative_number("num_gpus", num_gpus)
        import_ray()

    def run(self, spec, X, y, mask, indices, *, device, tick=None):
        ray = import_ray()
        if not ray.is_initialized():
            ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False)
        remote = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus)(run_job)
        X_ref, y_ref, mask_ref = ray.put(X), ray.put(y), ray.put(mask)
        task_device = device if self.num_gpus > 0 else "cpu"
        pending = [remote.remote(spec, X_ref, y_ref, mask_ref, job, batched=self.batched, device=task_device,
                                 threads=max(1, int(self.num_cpus)))
                   for job in _chunks(indices, self.models_per_task)]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            results = ray.get(done[0])
            yield from results
            if tick is not None:
                tick(float(len(results)))


def import_ray():
    """The ``ray`` module, or an InputError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(f"the 'ray' executor needs Ray, which is not installed; install it with: {RAY_EXTRA}") from None
    return ray


def make_executor(executor: Any, spec: ReferenceSpec, *, ray_address: Optional[str] = None,
                  device: Any = None) -> Executor:
    """An :class:`Executor` from a name in :data:`EXECUTORS` or an Executor instance.

    ``"auto"``: ``ray`` when ``ray_address`` is given; ``process`` for xgboost;
    ``batched`` for torch architectures that can be batched, except convolutional ones
    on the CPU (``device``, a torch device or its name; None: the CPU): there vmap's
    grouped convolutions are slower than K separate ones (measured, 4 models of 512
    CIFAR-10 images, one epoch, batched against one after the other: the digits-style
    ``cnn`` 10.4 s against 2.9 s, ``resnet18`` width 8 32.0 s against 25.4 s, ``airnet``
    16-32-32 9.4 s against 9.9 s); ``sequential`` otherwise. Either trains the same models
    (to rounding).
    """
    if isinstance(executor, Executor):
        return executor
    if executor not in EXECUTORS:
        raise bad_value("executor", f"one of {', '.join(EXECUTORS)} or an Executor", executor)
    if spec.is_custom and executor not in ("auto", "sequential"):
        raise InputError(f"references.executor: a user training function runs in this process; use 'sequential' "
                         f"or 'auto'; got {executor!r}")
    if executor == "auto":
        if spec.is_custom:
            executor = "sequential"
        elif ray_address is not None:
            executor = "ray"
        elif not spec.is_torch:
            executor = "process"
        elif _batch_here(spec, device):
            executor = "batched"
        else:
            executor = "sequential"
    if executor == "ray":
        return RayExecutor(address=ray_address)
    if ray_address is not None:
        raise InputError(f"ray_address is given but executor is {executor!r}; use executor='ray' or 'auto'")
    return {"sequential": SequentialExecutor, "batched": BatchedExecutor, "process": ProcessExecutor}[executor]()


def _batch_here(spec: ReferenceSpec, device: Any) -> bool:
    """Whether "auto" batches ``spec``'s models on ``device``: a batchable architecture, and on the
    CPU none with convolutions (one model built, for both questions)."""
    from torch import nn

    from .batched import can_batch

    net = spec.build(0)
    on_gpu = device is not None and not str(device).startswith("cpu")
    return can_batch(net) and (on_gpu or not any(isinstance(m, (nn.Conv1d, nn.Conv2d)) for m in net.modules()))


__all__ = ["EXECUTORS", "Executor", "SequentialExecutor", "BatchedExecutor", "ProcessExecutor", "RayExecutor",
           "make_executor", "import_ray", "RAY_EXTRA"]

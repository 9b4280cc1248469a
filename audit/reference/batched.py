"""Train many small torch models of one architecture at once with ``torch.func``.

:func:`train_batched` reproduces :func:`mia_audit.training.train_model`'s recipe for K
models in lock-step: the K models' weights are stacked (``stack_module_state``), one
``vmap`` of ``functional_call`` runs the K forward passes, and the sum of the K mean
batch losses is back-propagated (the models share no weight, so each stacked slice
receives exactly its own model's gradient). The optimiser is torch's own Adam or
SGD with momentum applied to the stacked tensors: both are element-wise, so each
slice gets the same update as a separate optimiser would give it, and the learning
rate schedules (cosine, one-cycle) depend only on the step count, which all models
share. Per model, as in ``train_model``:

* the epoch order comes from ``torch.randperm`` with the model's own CPU generator
  seeded from ``derive_seed(seed_k, "train", "data")``; the flip-crop augmentation draws
  from the same generator, in the same order (one call per model per batch);
* batches of ``recipe.batch_size`` records, a last batch of one record merged into the
  one before; the loss is the mean cross-entropy (with label smoothing) of the batch;
* bfloat16 autocast on CUDA when the recipe asks for it, float32 on the CPU.

So, with the same seeds, a model trained here sees the same batches in the same order,
from the same initial weights, with the same optimiser maths as ``train_model`` gives
it. The results agree to floating-point rounding, not bitwise: a batched matrix product
adds in another order than K separate ones. Training amplifies those last-bit
differences slowly, except in one place: Adam divides by sqrt(v), so a weight whose
gradient is almost always zero (a dead ReLU unit, a rarely active one-hot input) moves
by about lr per step in a direction set by rounding noise. Measured: digits MLPs after 3
epochs differ by ~1e-8; 7 of 64 Adult 256-256 MLPs after 3 epochs by up to 2e-2 in such
weights, with identical test accuracy (benchmarks/reference_training.py). Dropout masks come from one
seeded stream for the whole group (``vmap(randomness="different")``), not from each
model's own stream as in ``train_model``, so with dropout the two trainers agree only in
distribution.

Only architectures made of stateless layers can be batched this way (Linear, Conv2d,
ReLU, MaxPool2d, Flatten, Dropout: the toolkit's ``mlp`` and ``cnn``). BatchNorm keeps
running statistics that are updated in place, and LSTMs use fused kernels without
batching rules; :func:`can_batch` says no for them and callers train those models one
after the other with ``train_model``.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..device import resolve_device, synchronize
from ..errors import InputError, bad_value
from ..seeding import check_seed, derive_seed
from ..training import (TrainRecipe, TrainResult, check_epoch_loss, flip_crop, make_optimizer, prepare_torch_training,
                        seeded_default_generators, split_batches)
from ..training import check_logits, make_scheduler  # the same checks and schedules as train_model

Tick = Optional[Callable[[float], None]]


def _layer_types():
    from torch import nn

    from ..models.cnn import SmallCNN
    from ..models.mlp import MLP

    leaves = (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Dropout, nn.Identity)
    containers = (nn.Sequential, MLP, SmallCNN)
    return leaves, containers


def can_batch(model: Any) -> bool:
    """True when ``model`` is a torch module built only from stateless layers (no buffers)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    if not isinstance(model, torch.nn.Module) or any(True for _ in model.buffers()):
        return False
    leaves, containers = _layer_types()
    for sub in model.modules():
        if type(sub) in containers:
            continue
        if type(sub) not in leaves:
            return False
    return True


def _has_dropout(model: Any) -> bool:
    from torch import nn

    return any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules())


def _check_inputs(models: Sequence[Any], members: Sequence[Any], seeds: Sequence[int], recipe: TrainRecipe):
    if not isinstance(recipe, TrainRecipe):
        raise bad_value("recipe", "a TrainRecipe", recipe)
    if len(models) == 0:
        raise InputError("models must hold at least one model; got none")
    if len(members) != len(models) or len(seeds) != len(models):
        raise InputError(
            f"models, members and seeds must have one entry per model; got {len(models)}, {len(members)} and {len(seeds)}"
        )
    for i, m in enumerate(models):
        if not can_batch(m):
            raise InputError(
                f"models[{i}] ({type(m).__name__}) cannot be trained batched (only stateless layers: Linear, Conv2d, "
                "ReLU, MaxPool2d, Flatten, Dropout); train it with mia_audit.training.train_model"
            )
    shapes = [(n, tuple(p.shape)) for n, p in models[0].named_parameters()]
    for i, m in enumerate(models[1:], start=1):
        if [(n, tuple(p.shape)) for n, p in m.named_parameters()] != shapes:
            raise InputError(f"models[{i}] has other parameters than models[0]; batched models must share one architecture")
    sizes = {int(len(idx)) for idx in members}
    if len(sizes) != 1:
        raise InputError(f"members must give every model the same number of records; got sizes {sorted(sizes)}")
    if sizes.pop() < 1:
        raise InputError("members must give every model at least one record; got 0")
    return [check_seed(s, "seeds") for s in seeds]


def train_batched(
    models: Sequence[Any],
    X: Any,
    y: Any,
    members: Sequence[Any],
    recipe: TrainRecipe,
    seeds: Sequence[int],
    *,
    device: Any = "auto",
    tick: Tick = None,
) -> list[TrainResult]:
    """Train K copies-to-be: model k on ``X[members[k]], y[members[k]]`` with ``seeds[k]``.

    ``models``: K untrained modules of one architecture that :func:`can_batch` accepts
    (they are copied, never changed). ``X`` (N, ...) and ``y`` (N,): the pool (numpy or
    tensors, unchanged). ``members``: K integer index arrays of equal length. Returns
    one :class:`~mia_audit.training.TrainResult` per model, in order, each holding its own
    trained module on ``device`` in eval mode; ``seconds`` is the group's wall time
    divided by K. ``tick(amount)`` is called after each epoch with ``K / (epochs + 1)``
    (callers add the last share when they have evaluated the models).
    """
    import torch
    from torch.func import functional_call, stack_module_state

    seeds = _check_inputs(models, members, seeds, recipe)
    device = resolve_device(device)
    start = time.perf_counter()
    K = len(models)
    nets = [copy.deepcopy(m).to(device) for m in models]
    _, X_t, y_t = prepare_torch_training(models[0], X, y, recipe, device=device)  # checked tensors on device
    index = torch.stack([torch.as_tensor(np.asarray(m, dtype=np.int64)) for m in members])  # (K, n), CPU
    if int(index.min()) < 0 or int(index.max()) >= X_t.shape[0]:
        raise InputError(f"members must index rows of X (0 to {X_t.shape[0] - 1}); got indices from "
                         f"{int(index.min())} to {int(index.max())}")
    n = int(index.shape[1])

    base = copy.deepcopy(nets[0]).to("meta")
    base.train()
    params, buffers = stack_module_state(nets)
    names = [name for name, _ in nets[0].named_parameters()]

    class _Holder(torch.nn.Module):  # gives torch's optimiser factory the stacked leaves in parameter order
        def parameters(self, recurse: bool = True):
            return iter([params[name] for name in names])

    optimizer = make_optimizer(_Holder(), recipe)
    scheduler = make_scheduler(optimizer, recipe, recipe.epochs * len(split_batches(torch.arange(n), recipe.batch_size)))
    amp = device.type == "cuda" and recipe.amp and torch.cuda.is_bf16_supported()
    smoothing = float(recipe.label_smoothing)

    def one_model(p, b, xb, yb):
        if amp:
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                logits = functional_call(base, (p, b), (xb,))
        else:
            logits = functional_call(base, (p, b), (xb,))
        loss = torch.nn.functional.cross_entropy(logits.float(), yb, label_smoothing=smoothing)
        return loss, logits

    randomness = "different" if _has_dropout(nets[0]) else "error"
    batched = torch.vmap(one_model, randomness=randomness)
    gens = []
    for s in seeds:
        g = torch.Generator(device="cpu")
        g.manual_seed(derive_seed(s, "train", "data"))
        gens.append(g)
    y_max = int(y_t[index.reshape(-1).to(y_t.device)].max().item())
    histories: list[list[float]] = [[] for _ in range(K)]
    checked = False
    with seeded_default_generators(derive_seed(seeds[0], "batched", K, "dropout"), device):
        for epoch in range(recipe.epochs):
            orders = [torch.randperm(n, generator=g) for g in gens]
            parts = [split_batches(o, recipe.batch_size) for o in orders]  # train_model's batches
            total = torch.zeros(K, device=device, dtype=torch.float32)
            for step in range(len(parts[0])):
                rows = torch.stack([index[k][parts[k][step]] for k in range(K)]).to(device, non_blocking=True)
                xb, yb = X_t[rows], y_t[rows]
                if recipe.augment == "flip-crop":
                    xb = torch.stack([flip_crop(xb[k], gens[k]) for k in range(K)])
                losses, logits = batched(params, buffers, xb, yb)
                if not checked:
                    check_logits(logits[0], y_max)
                    checked = True
                optimizer.zero_grad(set_to_none=True)
                losses.sum().backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                total += losses.detach().float() * rows.shape[1]
            means = (total / n).tolist()
            for k, mean in enumerate(means):
                check_epoch_loss(mean, epoch, recipe)
                histories[k].append(mean)
            if tick is not None:
                tick(K / (recipe.epochs + 1))
    with torch.no_grad():
        for k, net in enumerate(nets):
            for name, p in net.named_parameters():
                p.copy_(params[name][k])
            net.eval()
    synchronize(device)
    seconds = (time.perf_counter() - start) / K
    return [TrainResult(model=net, seconds=seconds, device=str(device), history=tuple(h), amp=amp)
            for net, h in zip(nets, histories)]


__all__ = ["can_batch", "train_batched"]

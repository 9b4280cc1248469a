"""Train many small torch models of one architecture at once with ``torch.func``.

:func:`train_batched` reproduces :func:`mia_audit.training.train_model`'s recipe for K
models in lock-step: the K models' weights and buffers are stacked
(``stack_module_state``), one ``vmap`` of ``functional_call`` runs the K forward passes,
and the sum of the K mean batch losses is back-propagated (the models share no weight,
so each stacked slice receives exactly its own model's gradient). The optimiser is the
one ``make_optimizer`` builds for the recipe (Adam, or SGD with momentum / Nesterov),
rebuilt with the same settings as torch's *fused* kernel where torch has one for the
device, and applied to the stacked tensors: every rule is element-wise, so each slice
gets the update a separate optimiser would give it (fused SGD is bitwise the plain one;
fused Adam differs from the for-loop one by at most an ulp per step). Learning-rate
schedules come from ``make_scheduler`` and depend only on the step count, which all
models share. Per model, as in ``train_model``:

* a model's ``init_from_data(X)`` hook (data-dependent initialisation, e.g. a whitening
  layer) is called, when it has one, on that model's copy with its own training rows
  (``X[members[k]]``, on the device, under ``no_grad``), before anything is stacked;
* the epoch order comes from ``torch.randperm`` with the model's own CPU generator
  seeded from ``derive_seed(seed_k, "train", "data")``; the augmentation
  (``recipe.augment``, applied by training.py's own code, see :func:`augment_batch`)
  draws from the same generator, in the same order (one call per model per batch);
* with ``recipe.alternating_flip``, each record's flip is drawn once from that generator before
  the first epoch's order and alternates by epoch; ``recipe.freeze_after`` stops the named
  stacked parameters after their epochs; ``recipe.lookahead`` pulls the stacked weights and
  float buffers to their slow copy (:mod:`mia_audit.lookahead`, element-wise, so per model);
* batches of ``recipe.batch_size`` records, a last batch of one record merged into the
  one before; the loss is the mean cross-entropy (with label smoothing) of the batch;
* bfloat16 autocast on CUDA when the recipe asks for it, float32 on the CPU; on CUDA
  4-D image batches are laid out so that the grouped convolution vmap makes of the K
  convolutions reads channels-last memory (``recipe.channels_last``, set by airnet's recipe; the
  layout changes no value);
* BatchNorm (``nn.BatchNorm1d`` / ``nn.BatchNorm2d``) normalises each model's batch with
  that batch's own statistics and updates that model's own ``running_mean``,
  ``running_var`` (unbiased) and ``num_batches_tracked`` with its ``momentum``, exactly as a
  separate module in train mode does. How: the buffers are stacked like the weights and
  passed to ``functional_call`` under ``vmap`` (batched, ``in_dims=0``); BatchNorm's in-place
  updates then land in the stacked buffers (torch 2.13's batching rule for
  ``native_batch_norm`` accepts batched running statistics: a batched tensor updating a
  batched tensor). The "Patching Batch Norm" recipes of the torch.func docs
  (``replace_all_batch_norm_modules_``, ``track_running_stats=False``) were not used: they
  drop the running statistics, and the trained models must be evaluated in eval mode.
  ``momentum=None`` (a cumulative average, which needs ``float(num_batches_tracked)``
  inside the vmapped call) is refused.

So, with the same seeds, a model trained here sees the same batches in the same order,
from the same initial weights, with the same optimiser maths as ``train_model`` gives
it; the unstacked models come back with their own weights and buffers. The results
agree to floating-point rounding, not bitwise: a batched matrix product (or a grouped
convolution) adds in another order than K separate ones, and fused Adam rounds its
update differently. Training amplifies those last-bit differences slowly, except in one
place: Adam divides by sqrt(v), so a weight whose gradient is almost always zero (a dead
ReLU unit, a rarely active one-hot input) moves by about lr per step in a direction set
by rounding noise. Measured: digits MLPs after 3 epochs differ by ~1e-7; Adult 256-256
MLPs after 3 epochs by up to 1.3e-2 in such weights, with identical test accuracy
(benchmarks/reference_training.py). Dropout masks come from one seeded stream for the
whole group (``vmap(randomness="different")``), not from each model's own stream as in
``train_model``, so with dropout the two trainers agree only in distribution.

What can be batched (:func:`can_batch`): modules built from layers ``vmap`` handles
without hidden state: Linear, Conv1d/2d, the usual activations (ReLU, GELU, SiLU, ...),
max / average / adaptive pooling, LayerNorm, GroupNorm, Flatten, Dropout, Identity, and
BatchNorm1d/2d as above, composed by containers (Sequential, the toolkit's models, any
module class defined outside torch that keeps no buffers of its own, or only buffers it
names in ``constant_buffers`` and never writes in forward, such as airnet's whitening filters:
its forward must use only its parameters, those buffers and its children). LSTMs (fused kernels without batching rules) and
unknown torch layers are refused; callers then train those models one after the other
with ``train_model``.

Speed (CPU): a step is the vmapped forward / backward (one batched matrix product per
linear layer and direction) and one fused optimiser pass over the stacked tensors.
Linear weights are kept as contiguous (K, in, out) leaves and handed to ``functional_call``
as their transposed views, so the weight gradients the batched products produce arrive
in the leaves' own layout (autograd keeps them without a transposing copy) and the fused
kernel runs on contiguous memory (the optimisers are element-wise: no value changes).
The rows of all K models' batches are gathered in one ``index_select`` per step; the
thread count follows :mod:`mia_audit.threads` with the work of all K models
(``models=K``). Measured, 64 Adult MLPs on one thread: 1.4-1.6x faster than before these
changes, ~40 % of a bmm of the trainer's shapes (the rest is memory traffic: Adam's
states, the activations; see benchmarks/reference_training.py). Convolutions become
grouped convolutions under ``vmap``; on the CPU those are slower than K separate ones
(measured: ResNet-18 width 8 and the digits CNN, 4 models, 1.3x and 1.6x slower than
``train_model`` one after the other); on a GPU the width is what batching buys.

Layer settings (strides, BatchNorm momentum and eps, dropout rate) come from
``models[0]`` and must be the same in every model. A bias right before a BatchNorm gets a
gradient of pure rounding noise (the normalisation removes it), which Adam turns into
steps of about lr: such models agree with ``train_model`` only loosely (1e-2 in eval
logits measured), as under any other change of rounding.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..device import resolve_device, synchronize
from ..errors import InputError, bad_value
from ..seeding import check_seed, derive_seed
from ..training import (RecipeSteps, TrainRecipe, TrainResult, augment_images, check_epoch_loss, init_from_data,
                        make_optimizer, prepare_torch_training, seeded_default_generators, split_batches)
from ..training import check_logits, make_scheduler  # the same checks and schedules as train_model

Tick = Optional[Callable[[float], None]]
_BN_BUFFERS = {"running_mean", "running_var", "num_batches_tracked"}


def _stateless_layers() -> tuple:
    from torch import nn

    return (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.ELU, nn.Tanh,
            nn.Sigmoid, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
            nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.LayerNorm, nn.GroupNorm, nn.Flatten,
            nn.Unflatten, nn.Dropout, nn.Identity)


def _why_not_batched(model: Any) -> Optional[str]:
    """None when ``model`` can be trained batched, else the reason (for the error message)."""
    try:
        from torch import nn
    except ImportError:  # pragma: no cover
        return "torch is not installed"
    if not isinstance(model, nn.Module):
        return f"{type(model).__name__} is not a torch module"
    stateless = _stateless_layers()
    for name, sub in model.named_modules():
        label = f"{name or 'the model'} ({type(sub).__name__})"
        if any(isinstance(p, nn.parameter.UninitializedParameter) for p in sub.parameters(recurse=False)):
            return f"{label} has uninitialised (lazy) parameters"
        own_buffers = {b for b, _ in sub.named_buffers(recurse=False)}
        if isinstance(sub, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if sub.track_running_stats and sub.momentum is None:
                return f"{label} has momentum=None (a cumulative average of the batch statistics)"
            if not own_buffers <= _BN_BUFFERS:
                return f"{label} keeps buffers other than BatchNorm's: {sorted(own_buffers - _BN_BUFFERS)}"
            continue
        own_buffers -= set(getattr(sub, "constant_buffers", ()))  # declared read-only in forward (stacked per model)
        if own_buffers:
            return f"{label} keeps buffers {sorted(own_buffers)} that batched training cannot update per model"
        if isinstance(sub, stateless) or type(sub) in (nn.Sequential, nn.ModuleList, nn.ModuleDict):
            continue
        if not type(sub).__module__.startswith("torch."):
            continue  # a composite of the toolkit's or the user's: its children are checked in turn
        return f"{label} is not a layer torch.func can batch"
    return None


def can_batch(model: Any) -> bool:
    """True when ``model`` is a torch module that :func:`train_batched` can train (see the
    module docstring: stateless layers and BatchNorm1d/2d with a momentum)."""
    return _why_not_batched(model) is None


def _has_dropout(model: Any) -> bool:
    from torch import nn

    return any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules())


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
        reason = _why_not_batched(m)
        if reason is not None:
            raise InputError(
                f"models[{i}] ({type(m).__name__}) cannot be trained batched: {reason} (batched training takes "
                "stateless layers and BatchNorm1d/2d); train it with mia_audit.training.train_model"
            )
    _check_same_architecture(models)
    sizes = {int(len(idx)) for idx in members}
    if len(sizes) != 1:
        raise InputError(f"members must give every model the same number of records; got sizes {sorted(sizes)}")
    if sizes.pop() < 1:
        raise InputError("members must give every model at least one record; got 0")
    return [check_seed(s, "seeds") for s in seeds]


def _check_same_architecture(models: Sequence[Any]) -> None:
    def layout(m):
        return ([(n, tuple(p.shape), p.dtype, p.requires_grad) for n, p in m.named_parameters()],
                [(n, tuple(b.shape), b.dtype) for n, b in m.named_buffers()])

    first, text = layout(models[0]), repr(models[0])
    for i, m in enumerate(models[1:], start=1):
        if layout(m) != first:
            raise InputError(f"models[{i}] has other parameters or buffers than models[0]; batched models must share "
                             "one architecture")
        if repr(m) != text:  # the layers' settings (strides, BatchNorm momentum and eps, dropout) come from models[0]
            raise InputError(f"models[{i}] has other layer settings (strides, momentum, eps, dropout, ...) than "
                             "models[0]; batched models must share one architecture")


# ---------------------------------------------------------------------------- the shared hooks


def augment_batch(images: Any, generator: Any, recipe: TrainRecipe, flip: Any = None) -> Any:
    """``recipe.augment`` applied to one model's batch ``images`` (B, C, H, W), drawing from
    ``generator`` (``flip``: the images' given flips, ``recipe.alternating_flip``), with the same
    function ``train_model`` uses (:func:`mia_audit.training.augment_images`)."""
    return images if recipe.augment is None else augment_images(images, recipe.augment, generator, flip=flip)


def _init_from_data(nets: Sequence[Any], X_t: Any, index: Any) -> None:
    """Each model's ``init_from_data`` hook on its own training rows (train_model's own call)."""
    for net, rows in zip(nets, index):
        init_from_data(net, X_t[rows.to(X_t.device)])


def _use_channels_last(device: Any, X_t: Any, recipe: TrainRecipe) -> bool:
    """Whether batches are laid out for channels-last grouped convolutions (CUDA, 4-D images)."""
    return device.type == "cuda" and X_t.dim() == 4 and recipe.channels_last


def _grouped_channels_last(xb: Any) -> Any:
    """``xb`` (K, B, C, H, W) with memory order (B, H, W, K, C): the (B, K*C, H, W) view that
    vmap's batching rule hands the grouped convolution is then a channels-last tensor
    (no copy there). Same values, other strides."""
    return xb.permute(1, 3, 4, 0, 2).contiguous().permute(3, 0, 4, 1, 2)


def _elementwise_optimizers() -> tuple:
    """Optimisers whose update is element-wise (a parameter may be stored in any layout) and that torch can fuse."""
    import torch

    return (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)


def _rebuild(optimizer: Any, swap: dict, device: Any) -> Any:
    """The same optimiser (class, groups, settings) over the tensors ``swap`` maps each of its
    parameters to (by ``id``; unmapped ones stay), on torch's fused kernel where torch has
    one for ``device`` (Adam, AdamW, SGD on the CPU and CUDA)."""
    groups = [{**g, "params": [swap.get(id(p), p) for p in g["params"]]} for g in optimizer.param_groups]
    defaults = dict(optimizer.defaults)
    plain = not any(g.get("differentiable") or g.get("capturable") for g in groups)
    if plain and device.type in ("cpu", "cuda"):
        try:
            fused = [{**g, "fused": True, "foreach": None} for g in groups]
            return type(optimizer)(fused, **{**defaults, "fused": True, "foreach": None})
        except (RuntimeError, ValueError, TypeError):  # pragma: no cover - a torch without that kernel
            pass
    return type(optimizer)(groups, **defaults)


def _batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of train_model's batches over n records (``split_batches``)."""
    import torch

    bounds, start = [], 0
    for part in split_batches(torch.arange(n), batch_size):
        bounds.append((start, start + int(part.numel())))
        start += int(part.numel())
    return bounds


# ---------------------------------------------------------------------------- entry point


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
    trained module (weights and BatchNorm buffers) on ``device`` in eval mode; ``seconds``
    is the group's wall time divided by K. ``tick(amount)`` is called after each epoch
    with ``K / (epochs + 1)`` (callers add the last share when they have evaluated the
    models).
    """
    import torch

    from ..threads import training_threads

    seeds = _check_inputs(models, members, seeds, recipe)
    device = resolve_device(device)
    start = time.perf_counter()
    K = len(models)
    _, X_t, y_t = prepare_torch_training(models[0], X, y, recipe, device=device)  # checked tensors on device
    index = torch.stack([torch.as_tensor(np.asarray(m, dtype=np.int64)) for m in members])  # (K, n), CPU
    if int(index.min()) < 0 or int(index.max()) >= X_t.shape[0]:
        raise InputError(f"members must index rows of X (0 to {X_t.shape[0] - 1}); got indices from "
                         f"{int(index.min())} to {int(index.max())}")
    nets = [copy.deepcopy(m).to(device) for m in models]
    _init_from_data(nets, X_t, index)
    _check_same_architecture(nets)  # an init_from_data hook must not change shapes
    with training_threads(nets[0], X_t, recipe.batch_size, device=device, models=K):
        histories, amp = _train(nets, X_t, y_t, index, recipe, seeds, device, tick)
    for net in nets:
        net.eval()
    synchronize(device)
    seconds = (time.perf_counter() - start) / K
    return [TrainResult(model=net, seconds=seconds, device=str(device), history=tuple(h), amp=amp)
            for net, h in zip(nets, histories)]


def _optimizer_view(net: Any, params: dict) -> Any:
    """A structural copy of ``net`` (on the meta device: no memory) whose parameters are the
    stacked leaves ``params``, for the shared optimiser factory: it sees the model's own
    modules, names and order (parameter groups by layer type or name keep working)."""
    holder = copy.deepcopy(net).to("meta")
    replaced: dict = {}
    for module_name, module in holder.named_modules():
        for name, p in list(module._parameters.items()):
            if p is None:
                continue
            if id(p) not in replaced:  # the first name of a (possibly tied) parameter is its stacked key
                replaced[id(p)] = params[f"{module_name}.{name}" if module_name else name]
            module._parameters[name] = replaced[id(p)]
    return holder


def _stacked_state(nets, recipe: TrainRecipe, device):
    """Stacked weights and buffers of ``nets`` and their optimiser (``make_optimizer``'s).

    Returns ``(weights, buffers, optimizer)``; ``weights()`` gives the (K, ...) tensors to
    hand ``functional_call`` at each step. Where the optimiser is element-wise, linear
    weights (K, out, in) are stored as contiguous (K, in, out) leaves and handed over as
    their transposed views: the batched products' weight gradients arrive in the leaves'
    own layout (autograd keeps them without a copy) and the fused kernel runs on
    contiguous memory; the values are the same.
    """
    from torch import nn
    from torch.func import stack_module_state

    params, buffers = stack_module_state(nets)
    optimizer = make_optimizer(_optimizer_view(nets[0], params), recipe)
    stored: dict = {}
    if type(optimizer) in _elementwise_optimizers():
        for m, sub in nets[0].named_modules():
            name = f"{m}.weight" if m else "weight"
            if isinstance(sub, nn.Linear) and name in params and params[name].dim() == 3:
                p = params[name]
                stored[name] = p.detach().transpose(1, 2).contiguous().requires_grad_(p.requires_grad)
        optimizer = _rebuild(optimizer, {id(params[n]): t for n, t in stored.items()}, device)

    def weights() -> dict:
        return {name: (stored[name].transpose(1, 2) if name in stored else p) for name, p in params.items()}

    leaves = {name: stored.get(name, p) for name, p in params.items()}  # the tensors the optimiser updates
    return weights, buffers, optimizer, leaves


def _train(nets, X_t, y_t, index, recipe: TrainRecipe, seeds, device, tick: Tick):
    """The lock-step loop; leaves the trained weights and buffers in ``nets``."""
    import torch
    from torch.func import functional_call

    K, n = int(index.shape[0]), int(index.shape[1])
    weights, buffers, optimizer, leaves = _stacked_state(nets, recipe, device)
    base = copy.deepcopy(nets[0]).to("meta")
    base.train()
    bounds = _batch_bounds(n, recipe.batch_size)
    scheduler = make_scheduler(optimizer, recipe, recipe.epochs * len(bounds))
    amp = device.type == "cuda" and recipe.amp and torch.cuda.is_bf16_supported()
    smoothing = float(recipe.label_smoothing)
    channels_last = _use_channels_last(device, X_t, recipe)

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
    # Lookahead is element-wise, so each stacked slice gets its own model's pulls; each model's flips are drawn
    # from its own generator before the first epoch's orders, as train_model; positions (orders) are on the CPU
    steps = RecipeSteps(recipe, leaves, list(leaves.values()) + list(buffers.values()), n=n, generators=gens,
                        total_steps=recipe.epochs * len(bounds), device="cpu")
    y_max = int(y_t[index.reshape(-1).to(y_t.device)].max().item())
    histories: list[list[float]] = [[] for _ in range(K)]
    checked = False
    with seeded_default_generators(derive_seed(seeds[0], "batched", K, "dropout"), device):
        for epoch in range(recipe.epochs):
            steps.start_epoch(epoch)
            orders = torch.stack([torch.randperm(n, generator=g) for g in gens])  # train_model's orders, (K, n)
            rows_epoch = torch.gather(index, 1, orders).to(X_t.device, non_blocking=True)
            total = torch.zeros(K, device=device, dtype=torch.float32)
            for lo, hi in bounds:
                rows = rows_epoch[:, lo:hi]
                flat = rows.reshape(-1)  # (K * B,): one gather of whole records for all models
                xb = X_t.index_select(0, flat).view(K, hi - lo, *X_t.shape[1:])
                yb = y_t.index_select(0, flat).view(K, hi - lo)
                if recipe.augment is not None:
                    xb = torch.stack([augment_batch(xb[k], gens[k], recipe, flip=steps.flip(orders[k, lo:hi], epoch, k))
                                      for k in range(K)])
                if channels_last:
                    xb = _grouped_channels_last(xb)
                losses, logits = batched(weights(), buffers, xb, yb)
                if not checked:
                    check_logits(logits[0], y_max)
                    checked = True
                optimizer.zero_grad(set_to_none=True)
                losses.sum().backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                steps.after_step()
                total += losses.detach().float() * (hi - lo)
            means = (total / n).tolist()
            for k, mean in enumerate(means):
                check_epoch_loss(mean, epoch, recipe)
                histories[k].append(mean)
            if tick is not None:
                tick(K / (recipe.epochs + 1))
    steps.finish()
    final = weights()
    with torch.no_grad():
        for k, net in enumerate(nets):
            for name, p in net.named_parameters():
                p.copy_(final[name][k])
            for name, b in net.named_buffers():
                b.copy_(buffers[name][k])
    return histories, amp


__all__ = ["augment_batch", "can_batch", "train_batched"]

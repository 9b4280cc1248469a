"""Train any model of the toolkit with one routine: ``train_model(model, X, y, recipe, *, seed)``.

Torch models
    The input module is deep-copied, moved to the resolved device and trained there; the
    caller's module is never touched. Data are kept as tensors on that device; each
    epoch's order comes from ``torch.randperm`` with an explicit CPU ``torch.Generator``
    seeded from ``seed`` (so the order is the same on every device), as do the
    augmentation draws. Dropout draws from torch's default generators, which are forked
    and seeded for the duration of training (CPU, and the GPU in use), so the caller's
    global RNG state is unchanged afterwards. On CUDA the forward pass runs under
    ``torch.autocast(dtype=torch.bfloat16)`` (``amp=True`` in the result; bf16 needs no
    gradient scaler); on the CPU everything is float32 and the same seed gives
    bitwise-identical weights. (On a GPU, cuDNN kernels may still be non-deterministic.)
    With ``recipe.channels_last`` (airnet's recipe), on CUDA only, the model and each 4-D
    input batch use the channels-last memory format during training (the returned model is
    contiguous again); on the CPU nothing changes. A model with an ``init_from_data(X)``
    method (airnet: its whitening layer) gets it called on the copy with its own training
    inputs, without gradients, before the optimiser is built.
    On the CPU the loop runs with the thread count of :mod:`mia_audit.threads` (one thread
    for small models unless the user chose a count; the choice depends on the model's
    size only, so the same seed still gives the same weights).

XGBoost
    An ``XGBClassifier`` is cloned (``sklearn.base.clone``) and fitted with
    ``device="cuda:N"`` when the resolved device is a GPU, else ``"cpu"``; its
    ``random_state`` is set from ``seed``. ``recipe`` is ignored (the boosting settings
    live in the estimator) and may be None. ``history`` is the training log-loss per round.

Default recipes (:func:`recipe_for`)
    ========  ==========  ====================================================================
    model     data kind   recipe
    ========  ==========  ====================================================================
    mlp       tabular     adam lr 1e-3, 30 epochs, batch 128
    mlp       image       adam lr 1e-3, 30 epochs, batch 128 (images flattened by the caller)
    cnn       image       adam lr 1e-3, 30 epochs, batch 64
    resnet18  image       sgd lr 0.1, momentum 0.9, weight decay 5e-4, onecycle, 30 epochs,
                          batch 512, flip-crop augmentation
    airnet    image       airbench94's: sgd nesterov lr 1.5, momentum 0.85, weight decay 1.33e-3,
                          label smoothing 0.2, linear-warmup (23 %), 10 epochs, batch 1024,
                          flip-translate augmentation with alternating flips, Lookahead, the
                          whitening bias trained for 3 epochs, channels-last on CUDA
    lstm      sequence    adam lr 3e-3, 40 epochs, batch 128
    bilstm    sequence    adam lr 3e-3, 40 epochs, batch 128
    xgboost   tabular     None (settings live in the estimator: build_model params)
    ========  ==========  ====================================================================
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np

from .checks import number
from .device import cuda_index, model_dtype, resolve_device, synchronize
from .errors import InputError, bad_value
from .frameworks import is_torch_module, is_xgboost, to_numpy, to_tensor
from .seeding import check_seed, derive_seed, isolated_torch_seed

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("none", "cosine", "onecycle", "linear-warmup")
AUGMENTS = (None, "flip-crop", "flip-translate")
DATASET_KINDS = ("tabular", "image", "sequence")
CROP_PADDING = 4  # pixels of zero padding around an image before a random crop
TRANSLATE_PADDING = 2  # pixels of reflect padding for "flip-translate" (shifts of up to 2 pixels)
#: augment name -> (padding in pixels, torch padding mode) of :func:`flip_crop`
AUGMENT_PADDING = {"flip-crop": (CROP_PADDING, "constant"), "flip-translate": (TRANSLATE_PADDING, "reflect")}
#: "linear-warmup": the lr factor rises linearly from START to 1, then falls linearly to END (airbench94)
LINEAR_WARMUP_START = 0.2
LINEAR_WARMUP_END = 0.07
#: fields added after the first release: to_dict() leaves them out while they keep their default
#: (the behaviour before they existed), so stored metadata and cache keys of older recipes are unchanged
_LATER_FIELDS = {"nesterov": False, "warmup_fraction": 0.23, "channels_last": False, "alternating_flip": False,
                 "lookahead": False, "freeze_after": ()}


# ---------------------------------------------------------------------------- recipe


@dataclass(frozen=True)
class TrainRecipe:
    """How to train a torch model. Validated on construction.

    epochs          full passes over the training set (int >= 1)
    batch_size      records per optimiser step (int >= 1); a last batch of one record is
                    merged into the one before (BatchNorm cannot train on one record)
    lr              learning rate; the peak rate for ``onecycle`` (finite > 0)
    optimizer       "adam" (torch Adam, L2 weight decay) or "sgd" (with ``momentum``)
    momentum        SGD momentum in [0, 1) (ignored by adam)
    nesterov        Nesterov momentum for sgd (needs optimizer "sgd" and momentum > 0)
    weight_decay    L2 penalty >= 0
    label_smoothing cross-entropy label smoothing in [0, 1)
    schedule        "none", "cosine" (cosine decay to 0 over all steps), "onecycle"
                    (torch OneCycleLR with max_lr=lr over all steps, momentum not cycled) or
                    "linear-warmup" (airbench94's: the rate rises linearly from 0.2 lr to lr over
                    the first ``int(warmup_fraction * steps)`` steps, then falls linearly to
                    0.07 lr at the last step; torch LambdaLR, a function of the step count only)
    warmup_fraction the warm-up share of all steps for "linear-warmup", in [0, 1) (else ignored)
    augment         None, "flip-crop" or "flip-translate", for (n, C, H, W) images: a random
                    horizontal flip, then a random crop after 4-pixel zero padding ("flip-crop")
                    or a random shift by up to 2 pixels with reflect padding ("flip-translate"),
                    per record, per epoch
    alternating_flip with an augment: each record's flip is drawn once, before the first epoch
                    (probability 1/2), and every other epoch flips all records again, so each
                    record is seen in both orientations in turn (airbench94's alternating flip);
                    the shifts stay random per epoch
    lookahead       airbench94's Lookahead: after every 5th optimiser step the weights and the
                    floating-point buffers (BatchNorm statistics) are pulled to a slow copy
                    ``slow = d * slow + (1 - d) * weights; weights = slow`` with
                    ``d = 0.95**5 * (step / steps)**3``; after the last step the model is the slow copy
    freeze_after    ((parameter name, epochs), ...): each named parameter (as in the model's
                    ``named_parameters()``) is trained in the first ``epochs`` epochs only, then
                    left as it is (no gradient, no decay, no momentum); airnet's whitening bias is
                    trained for 3 epochs, as in airbench94
    amp             bfloat16 autocast on CUDA (ignored on CPU)
    channels_last   on CUDA, the model and every batch of 4-D inputs in channels-last memory
                    format (faster convolutions under bf16); ignored on the CPU
    """

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "none"
    augment: Optional[str] = None
    amp: bool = True
    nesterov: bool = False
    warmup_fraction: float = 0.23
    channels_last: bool = False
    alternating_flip: bool = False
    lookahead: bool = False
    freeze_after: tuple = ()

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise bad_value(f"recipe.{name}", "an integer >= 1", value)
            object.__setattr__(self, name, int(value))
        number("recipe.lr", self.lr, low=0.0, low_open=True)
        number("recipe.momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        number("recipe.weight_decay", self.weight_decay, low=0.0)
        number("recipe.label_smoothing", self.label_smoothing, low=0.0, high=1.0, high_open=True)
        if self.optimizer not in OPTIMIZERS:
            raise bad_value("recipe.optimizer", f"one of {', '.join(OPTIMIZERS)}", self.optimizer)
        if self.schedule not in SCHEDULES:
            raise bad_value("recipe.schedule", f"one of {', '.join(SCHEDULES)}", self.schedule)
        augment = None if self.augment in (None, "none") else self.augment
        if augment not in AUGMENTS:
            raise bad_value("recipe.augment", "None, 'flip-crop' or 'flip-translate'", self.augment)
        object.__setattr__(self, "augment", augment)
        for name in ("amp", "nesterov", "channels_last", "alternating_flip", "lookahead"):
            if not isinstance(getattr(self, name), bool):
                raise bad_value(f"recipe.{name}", "True or False", getattr(self, name))
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise InputError(
                "recipe.nesterov=True needs optimizer 'sgd' with momentum > 0; "
                f"got optimizer {self.optimizer!r} with momentum {self.momentum!r}"
            )
        number("recipe.warmup_fraction", self.warmup_fraction, low=0.0, high=1.0, high_open=True)
        object.__setattr__(self, "warmup_fraction", float(self.warmup_fraction))
        if self.alternating_flip and augment is None:
            raise InputError("recipe.alternating_flip=True needs an augment ('flip-crop' or 'flip-translate'); "
                             "got augment None")
        object.__setattr__(self, "freeze_after", _freeze_pairs(self.freeze_after))

    def replace(self, **changes: Any) -> "TrainRecipe":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON types; ``TrainRecipe(**d)`` gives the recipe back. Fields added later
        (nesterov, warmup_fraction, channels_last, alternating_flip, lookahead, freeze_after) are left
        out while at their defaults."""
        fields = dataclasses.asdict(self)
        fields["freeze_after"] = [list(pair) for pair in self.freeze_after]
        for name, default in _LATER_FIELDS.items():
            if fields[name] == (list(default) if isinstance(default, tuple) else default):
                del fields[name]
        return fields


def _freeze_pairs(value: Any) -> tuple:
    """``recipe.freeze_after`` as a tuple of (name, epochs) pairs (JSON and TOML give lists)."""
    allowed = "a list of [parameter name, epochs >= 0] pairs, e.g. [['whiten.bias', 3]]"
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
        raise bad_value("recipe.freeze_after", allowed, value)
    pairs = []
    for pair in value:
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[0], str) or not pair[0]
                or isinstance(pair[1], bool) or not isinstance(pair[1], (int, np.integer)) or pair[1] < 0):
            raise bad_value("recipe.freeze_after", allowed, value)
        pairs.append((pair[0], int(pair[1])))
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise bad_value("recipe.freeze_after", allowed + " with each name once", value)
    return tuple(pairs)


_RECIPES: dict[tuple[str, str], Optional[TrainRecipe]] = {
    ("mlp", "tabular"): TrainRecipe(epochs=30, batch_size=128, lr=1e-3, optimizer="adam"),
    ("mlp", "image"): TrainRecipe(epochs=30, batch_size=128, lr=1e-3, optimizer="adam"),
    ("cnn", "image"): TrainRecipe(epochs=30, batch_size=64, lr=1e-3, optimizer="adam"),
    ("resnet18", "image"): TrainRecipe(
        epochs=30,
        batch_size=512,
        lr=0.1,
        optimizer="sgd",
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        augment="flip-crop",
    ),
    # airbench94's hyper-parameters, rewritten for a mean (not summed) batch loss: its lr of 11.5 per
    # 1024 examples divided by 1 + 1 / (1 - momentum) gives 1.5 at batch 1024 (for a batch size B use
    # 1.5 * B / 1024); its decay per step, 0.0153 * B / (1024 * (1 + 1 / 0.15)), equals torch's
    # lr * weight_decay for weight_decay = 0.0153 / 11.5 at any B. 10 epochs (airbench: 9.9).
    ("airnet", "image"): TrainRecipe(
        epochs=10,
        batch_size=1024,
        lr=1.5,  # 11.5 / (1 + 1 / (1 - 0.85))
        optimizer="sgd",
        momentum=0.85,
        nesterov=True,
        weight_decay=0.0153 / 11.5,
        label_smoothing=0.2,
        schedule="linear-warmup",
        warmup_fraction=0.23,
        augment="flip-translate",
        channels_last=True,
        alternating_flip=True,
        lookahead=True,
        freeze_after=(("whiten.bias", 3),),  # airbench94's whiten_bias_epochs
    ),
    ("lstm", "sequence"): TrainRecipe(epochs=40, batch_size=128, lr=3e-3, optimizer="adam"),
    ("bilstm", "sequence"): TrainRecipe(epochs=40, batch_size=128, lr=3e-3, optimizer="adam"),
    ("xgboost", "tabular"): None,
}


def recipe_for(model_name: str, dataset_kind: str) -> Optional[TrainRecipe]:
    """The default recipe for a model on a kind of data ("tabular", "image", "sequence").

    See the module docstring for the table; ``None`` for xgboost. Pairs without a
    default (e.g. resnet18 on tabular data) raise :class:`InputError` naming the kinds
    that model has a recipe for. Change fields with ``recipe.replace(epochs=...)``.
    """
    if dataset_kind not in DATASET_KINDS:
        raise bad_value("dataset_kind", f"one of {', '.join(DATASET_KINDS)}", dataset_kind)
    models = sorted({m for m, _ in _RECIPES})
    if model_name not in models:
        raise bad_value("model_name", f"one of {', '.join(models)}", model_name)
    if (model_name, dataset_kind) not in _RECIPES:
        kinds = [k for m, k in _RECIPES if m == model_name]
        raise InputError(
            f"no default recipe for model {model_name!r} on {dataset_kind!r} data; "
            f"it has defaults for: {', '.join(kinds)}"
        )
    return _RECIPES[(model_name, dataset_kind)]


# ---------------------------------------------------------------------------- result


@dataclass(frozen=True)
class TrainResult:
    """A trained model and how it was trained.

    model    a trained deep copy (torch: on ``device``, in eval mode; xgboost: a fitted clone)
    seconds  wall-clock time of the whole call (copying model and data to the device
             included; CUDA synchronised before the clock stops)
    device   the device it was trained on, e.g. "cpu" or "cuda:0"
    history  per-epoch mean training loss (xgboost: training log-loss per round)
    amp      True when bfloat16 autocast was used
    """

    model: Any
    seconds: float
    device: str
    history: tuple[float, ...]
    amp: bool


# ---------------------------------------------------------------------------- entry point


def train_model(
    model: Any,
    X: Any,
    y: Any,
    recipe: Optional[TrainRecipe] = None,
    *,
    seed: int,
    device: Any = "auto",
    progress: bool = False,
) -> TrainResult:
    """Train a copy of ``model`` on ``X`` (n, ...) and integer labels ``y`` (n,).

    ``model`` is a torch ``nn.Module`` returning logits (n, C) (``recipe`` required) or an
    ``xgboost.XGBClassifier`` (``recipe`` may be None). ``X`` and ``y`` may be numpy
    arrays or torch tensors; they are not modified. ``progress=True`` shows a bar over
    epochs on a terminal.
    """
    seed = check_seed(seed)
    torch_device = resolve_device(device)
    if is_xgboost(model):
        return _train_xgboost(model, X, y, seed=seed, device=torch_device)
    if not is_torch_module(model):
        raise bad_value("model", "a torch nn.Module or an xgboost XGBClassifier", type(model).__name__)
    if recipe is None:
        raise InputError("recipe is required for torch models; got None (see mia_audit.training.recipe_for)")
    if not isinstance(recipe, TrainRecipe):
        raise bad_value("recipe", "a TrainRecipe", recipe)
    return _train_torch(model, X, y, recipe, seed=seed, device=torch_device, progress=progress)


def _check_two_classes(y: Any) -> None:
    """A classifier cannot be trained, nor membership measured, on labels of one class."""
    labels = to_numpy(y).reshape(-1)
    if labels.size and np.all(labels == labels[0]):
        raise InputError(
            f"y must contain at least 2 classes to train a classifier; got only class {labels[0].item()} "
            f"in all {labels.size} records"
        )


# ---------------------------------------------------------------------------- torch


def check_epoch_loss(mean: float, epoch: int, recipe: TrainRecipe) -> None:
    """Stop with a clear error once an epoch's mean loss is NaN or infinite."""
    if not math.isfinite(mean):
        raise InputError(
            f"training loss became {mean} in epoch {epoch + 1}; lower recipe.lr (got {recipe.lr:g}) "
            "or check the data"
        )


def prepare_torch_training(model, X, y, recipe: TrainRecipe, *, device):
    """A deep copy of ``model`` on ``device`` and the checked data as tensors there
    (shared by plain and DP-SGD training; the caller's model and arrays are untouched)."""
    net = copy.deepcopy(model).to(device)
    X_t, y_t = _torch_data(X, y, device=device, dtype=model_dtype(net))
    if recipe.augment is not None and X_t.dim() != 4:
        raise InputError(
            f"recipe.augment {recipe.augment!r} needs images X of shape (n, C, H, W); got shape {tuple(X_t.shape)}"
        )
    if recipe.augment is not None:
        padding, mode = AUGMENT_PADDING[recipe.augment]
        if mode == "reflect" and min(X_t.shape[2:]) <= padding:
            raise InputError(
                f"recipe.augment {recipe.augment!r} needs images of height and width > {padding}; "
                f"got shape {tuple(X_t.shape)}"
            )
    return net, X_t, y_t


def _train_torch(model, X, y, recipe: TrainRecipe, *, seed: int, device, progress: bool) -> TrainResult:
    import torch
    from tqdm.auto import tqdm

    start = time.perf_counter()
    net, X_t, y_t = prepare_torch_training(model, X, y, recipe, device=device)
    n = int(X_t.shape[0])
    n_batches = _n_batches(n, recipe.batch_size)
    total_steps = recipe.epochs * n_batches
    init_from_data(net, X_t)
    channels_last = recipe.channels_last and device.type == "cuda" and X_t.dim() == 4
    if channels_last:
        net = net.to(memory_format=torch.channels_last)

    optimizer = make_optimizer(net, recipe)
    scheduler = make_scheduler(optimizer, recipe, total_steps)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=float(recipe.label_smoothing))
    amp = device.type == "cuda" and recipe.amp and torch.cuda.is_bf16_supported()
    autocast = (
        (lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    )
    data_gen = torch.Generator(device="cpu")
    data_gen.manual_seed(derive_seed(seed, "train", "data"))
    y_max = int(y_t.max().item()) if n else -1
    steps = RecipeSteps(recipe, dict(net.named_parameters()), list(net.parameters()) + list(net.buffers()),
                        n=n, generators=[data_gen], total_steps=total_steps, device=device)

    history: list[float] = []
    checked = False
    show = bool(progress) and sys.stderr.isatty()
    from .threads import training_threads  # 1 thread for small models unless the user chose (mia_audit.threads)

    with seeded_default_generators(derive_seed(seed, "train"), device), \
            training_threads(net, X_t, recipe.batch_size, device=device):
        net.train()
        bar = tqdm(range(recipe.epochs), desc="train", unit="epoch", disable=not show, leave=False)
        for epoch in bar:
            steps.start_epoch(epoch)
            order = torch.randperm(n, generator=data_gen).to(device, non_blocking=True)
            total = torch.zeros((), device=device, dtype=torch.float32)
            for index in split_batches(order, recipe.batch_size):
                xb, yb = X_t[index], y_t[index]
                if recipe.augment is not None:
                    xb = augment_images(xb, recipe.augment, data_gen, flip=steps.flip(index, epoch))
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with autocast():
                    logits = net(xb)
                    if not checked:
                        check_logits(logits, y_max)
                        checked = True
                    loss = loss_fn(logits.float(), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                steps.after_step()
                total += loss.detach().float() * index.numel()
            mean = total.item() / n
            check_epoch_loss(mean, epoch, recipe)
            history.append(mean)
            bar.set_postfix(loss=f"{mean:.4f}")
        bar.close()
        steps.finish()
    if channels_last:  # back to the usual layout (contiguous weights, e.g. for safetensors)
        net = net.to(memory_format=torch.contiguous_format)
    net.eval()
    synchronize(device)
    seconds = time.perf_counter() - start
    return TrainResult(model=net, seconds=seconds, device=str(device), history=tuple(history), amp=amp)


def frozen_parameters(named: dict, recipe: TrainRecipe) -> list:
    """``recipe.freeze_after`` as (parameter, epochs) pairs of the model's ``named`` parameters
    (those it trains: a parameter that does not require grad stays untrained)."""
    pairs = []
    for name, epochs in recipe.freeze_after:
        if name not in named:
            names = list(named)
            shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
            raise InputError(f"recipe.freeze_after names the parameter {name!r}, which the model does not have; "
                             f"its parameters are: {shown}")
        if named[name].requires_grad:
            pairs.append((named[name], epochs))
    return pairs


def set_frozen(pairs: list, epoch: Optional[int]) -> None:
    """Train each parameter of ``pairs`` in ``epoch`` only while ``epoch < epochs`` (torch optimisers
    skip a parameter without a gradient: no step, no decay, no momentum); ``epoch=None``: after
    training, every one is trainable again (as the caller's model was)."""
    for param, epochs in pairs:
        param.requires_grad_(epoch is None or epoch < epochs)


def initial_flips(n: int, generator, recipe: TrainRecipe):
    """For ``recipe.alternating_flip``: each of the n records' flip in even epochs (a bool CPU
    tensor drawn from ``generator``, probability 1/2); None without it."""
    if not recipe.alternating_flip:
        return None
    import torch

    return torch.rand(n, generator=generator) < 0.5


def epoch_flips(flips, positions, epoch: int):
    """The flips of the records at ``positions`` (of the training set) in ``epoch``: as drawn in
    even epochs, the other way in odd ones."""
    chosen = flips[positions]
    return ~chosen if epoch % 2 else chosen


class RecipeSteps:
    """What ``recipe.freeze_after``, ``alternating_flip`` and ``lookahead`` add to a training loop, one
    object for train_model, the batched trainer and DP-SGD. ``named``: the trained parameters by name;
    ``tensors``: what Lookahead pulls (parameters and buffers); ``generators``: one per model (the
    batched trainer has K), each drawing its n records' flips now, before the first epoch's order;
    the flips live on ``device``, where the loop's record positions are."""

    def __init__(self, recipe: TrainRecipe, named: dict, tensors: list, *, n: int, generators: list,
                 total_steps: int, device):
        self.frozen = frozen_parameters(named, recipe)
        drawn = [initial_flips(n, g, recipe) for g in generators]
        self.flips = [None if f is None else f.to(device) for f in drawn]
        self.lookahead = None
        if recipe.lookahead:
            from .lookahead import Lookahead

            self.lookahead = Lookahead(tensors, total_steps)

    def start_epoch(self, epoch: int) -> None:
        set_frozen(self.frozen, epoch)

    def flip(self, positions, epoch: int, model: int = 0):
        """The flips of the records at ``positions`` in ``epoch`` for ``model``; None: draw them."""
        flips = self.flips[model]
        return None if flips is None else epoch_flips(flips, positions, epoch)

    def after_step(self) -> None:
        if self.lookahead is not None:
            self.lookahead.step()

    def finish(self) -> None:
        """After the last step: the Lookahead's slow copy, every frozen parameter trainable again."""
        if self.lookahead is not None:
            self.lookahead.finish()
        set_frozen(self.frozen, None)


def init_from_data(net, X_t) -> None:
    """Call ``net.init_from_data(X_t)`` without gradients when the model has that hook (a data-
    dependent initialisation such as airnet's whitening layer, from the model's own training inputs)."""
    hook = getattr(net, "init_from_data", None)
    if callable(hook):
        import torch

        with torch.no_grad():
            hook(X_t)


def check_logits(logits, y_max: int) -> None:
    if logits.dim() != 2:
        raise InputError(f"the model must return logits of shape (n, C); got shape {tuple(logits.shape)}")
    if y_max >= logits.shape[1]:
        raise InputError(
            f"labels y must lie in [0, {logits.shape[1] - 1}] for a model with {logits.shape[1]} outputs; "
            f"got a label {y_max}"
        )


def _torch_data(X, y, *, device, dtype):
    """X and y as tensors on ``device`` (copies where a conversion is needed, never in place)."""
    import torch

    X_t, y_t = to_tensor(X), to_tensor(y)
    if X_t.dim() < 2:
        raise bad_value("X", "an array of shape (n, ...) with one record per row", f"shape {tuple(X_t.shape)}")
    if y_t.dim() != 1 or y_t.shape[0] != X_t.shape[0]:
        raise InputError(
            f"y must be a 1-D array with one label per row of X ({X_t.shape[0]} rows); got shape {tuple(y_t.shape)}"
        )
    if X_t.shape[0] == 0:
        raise InputError("X must have at least one row; got 0")
    if y_t.is_floating_point():
        if not bool(torch.all(y_t == torch.round(y_t))):
            raise InputError(f"y must hold integer class labels; got non-integer values of dtype {y_t.dtype}")
    elif y_t.dtype == torch.bool or y_t.is_complex():
        raise InputError(f"y must hold integer class labels; got dtype {y_t.dtype}")
    if int(y_t.min().item()) < 0:
        raise InputError(f"y must hold class labels >= 0; got a minimum of {int(y_t.min().item())}")
    if X_t.is_floating_point():
        X_t = X_t.to(device=device, dtype=dtype)
        if not bool(torch.isfinite(X_t).all()):
            raise InputError("X must be finite for training; it contains NaN or inf")
    else:
        X_t = X_t.to(device=device)
    _check_two_classes(y_t)
    return X_t, y_t.to(device=device, dtype=torch.int64)


def _n_batches(n: int, batch_size: int) -> int:
    count = -(-n // batch_size)
    if count > 1 and n % batch_size == 1:
        count -= 1
    return count


def split_batches(order, batch_size: int):
    """Index batches of ``order``; a last batch of one record is merged into the one before."""
    parts = list(order.split(batch_size))
    if len(parts) > 1 and parts[-1].numel() == 1:
        import torch

        parts[-2] = torch.cat([parts[-2], parts[-1]])
        parts.pop()
    return parts


def make_optimizer(net, recipe: TrainRecipe):
    import torch

    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        raise InputError("the model has no trainable parameters")
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
                               nesterov=recipe.nesterov)
    return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer, recipe: TrainRecipe, total_steps: int):
    import torch

    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if recipe.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, total_steps=total_steps, cycle_momentum=False
        )
    if recipe.schedule == "linear-warmup":
        factor = functools.partial(linear_warmup_factor, total_steps=total_steps,
                                   warmup_fraction=recipe.warmup_fraction)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return None


def linear_warmup_factor(step: int, *, total_steps: int, warmup_fraction: float) -> float:
    """The "linear-warmup" lr factor after ``step`` optimiser steps: from LINEAR_WARMUP_START up to 1
    over the first ``int(warmup_fraction * total_steps)`` steps, then down to LINEAR_WARMUP_END at
    ``total_steps``."""
    warm = int(total_steps * warmup_fraction)
    if step < warm:
        return LINEAR_WARMUP_START + (1.0 - LINEAR_WARMUP_START) * step / warm
    frac = (step - warm) / max(total_steps - warm, 1)
    return 1.0 + (LINEAR_WARMUP_END - 1.0) * min(frac, 1.0)


@contextlib.contextmanager
def seeded_default_generators(seed: int, device) -> Iterator[None]:
    """Seed torch's default CPU generator (and the GPU's, when training on CUDA) for a
    block, restoring the caller's states afterwards. Dropout draws from these."""
    import torch

    with isolated_torch_seed(seed):
        if device.type == "cuda":
            index = cuda_index(device)
            with torch.random.fork_rng(devices=[index], device_type="cuda"):
                torch.cuda.default_generators[index].manual_seed(seed)
                yield
        else:
            yield


def augment_images(images, augment: str, generator, flip=None):
    """The recipe augmentation ``augment`` ("flip-crop" or "flip-translate") of a batch (B, C, H, W);
    ``flip``: the B images' flips when they are not drawn (``recipe.alternating_flip``)."""
    padding, mode = AUGMENT_PADDING[augment]
    return flip_crop(images, generator, padding=padding, mode=mode, flip=flip)


def flip_crop(images, generator, padding: int = CROP_PADDING, mode: str = "constant", flip=None):
    """Random horizontal flip and random crop (after ``padding`` pixels of padding) per image.

    ``mode`` is torch's padding mode: "constant" (zeros; "flip-crop") or "reflect" (mirror
    without repeating the edge, needs H and W > padding; "flip-translate"). ``images``
    (B, C, H, W) on any device; the random draws (B flips, unless ``flip`` gives them as B
    booleans, then B x 2 shifts in [0, 2 * padding]) come from ``generator`` (a CPU
    ``torch.Generator``) and the image work runs in batched ops on the images' device. Returns a
    new tensor; the input is not modified.
    """
    import torch
    from torch.nn import functional as F

    B, C, H, W = images.shape
    if flip is None:
        flip = torch.rand(B, generator=generator) < 0.5
    shift = torch.randint(0, 2 * padding + 1, (B, 2), generator=generator)
    dev = images.device
    flip, shift = flip.to(dev, non_blocking=True), shift.to(dev, non_blocking=True)
    out = torch.where(flip[:, None, None, None], images.flip(-1), images)
    if padding == 0:
        return out
    padded = F.pad(out, (padding, padding, padding, padding)) if mode == "constant" else \
        F.pad(out, (padding, padding, padding, padding), mode=mode)
    rows = shift[:, 0:1] + torch.arange(H, device=dev)  # (B, H)
    cols = shift[:, 1:2] + torch.arange(W, device=dev)  # (B, W)
    batch = torch.arange(B, device=dev)[:, None, None]
    cropped = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return cropped.permute(0, 3, 1, 2).contiguous()


# ---------------------------------------------------------------------------- xgboost


def _train_xgboost(model, X, y, *, seed: int, device) -> TrainResult:
    import xgboost
    from sklearn.base import clone

    from .models.xgb import xgboost_seed

    if not isinstance(model, xgboost.XGBClassifier):
        raise bad_value("model", "an unfitted xgboost.XGBClassifier (see build_model('xgboost', ...))", type(model).__name__)
    X_np = to_numpy(X)
    y_np = to_numpy(y)
    if X_np.ndim != 2:
        raise bad_value("X", "a 2-D array (n, F) for xgboost", f"shape {X_np.shape}")
    if y_np.ndim != 1 or y_np.shape[0] != X_np.shape[0]:
        raise InputError(
            f"y must be a 1-D array with one label per row of X ({X_np.shape[0]} rows); got shape {y_np.shape}"
        )
    if y_np.size == 0 or not np.all(np.isfinite(y_np)) or np.any(y_np != np.round(y_np)):
        raise InputError("y must hold integer class labels (at least one)")
    y_np = y_np.astype(np.int64)
    _check_two_classes(y_np)
    params = model.get_params()
    expected = 2 if str(params.get("objective", "")).startswith("binary") else params.get("num_class")
    present = np.unique(y_np)
    if expected is not None:
        missing = sorted(set(range(int(expected))) - set(present.tolist()))
        extra = sorted(set(present.tolist()) - set(range(int(expected))))
        if missing or extra:
            raise InputError(
                f"XGBoost needs every class 0..{int(expected) - 1} in the training labels; "
                + (f"missing: {missing}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unexpected: {extra}" if extra else "")
            )
    elif not np.array_equal(present, np.arange(present.size)):
        raise InputError(f"XGBoost needs training labels 0..C-1 with every class present; got classes {present.tolist()}")

    start = time.perf_counter()
    estimator = clone(model)
    estimator.set_params(device=str(device) if device.type == "cuda" else "cpu", random_state=xgboost_seed(seed))
    estimator.fit(X_np, y_np, eval_set=[(X_np, y_np)], verbose=False)
    seconds = time.perf_counter() - start
    history: tuple[float, ...] = ()
    try:
        results = estimator.evals_result()["validation_0"]
        history = tuple(float(v) for v in next(iter(results.values())))
    except Exception:  # pragma: no cover - history is informative only
        history = ()
    return TrainResult(model=estimator, seconds=seconds, device=str(device), history=history, amp=False)


__all__ = ["TrainRecipe", "TrainResult", "train_model", "recipe_for", "flip_crop", "augment_images", "DATASET_KINDS"]

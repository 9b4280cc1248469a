"""Train a torch model with DP-SGD (opacus): ``train_model_dp(model, X, y, recipe, *, seed, ...)``.

Needs the optional extra ``pip install 'mia-audit[dp]'`` (opacus); this module imports
without it and :func:`train_model_dp` raises an :class:`InputError` saying so.

What it does
    The input module is deep-copied (never modified). Modules opacus cannot train with
    per-sample gradients are checked with ``opacus.validators.ModuleValidator``: what it can
    fix is fixed (BatchNorm -> GroupNorm, nn.LSTM -> DPLSTM; the replaced module names are
    in ``DPTrainResult.fixed``), anything else raises :class:`InputError` naming the problem.
    Training uses opacus' ``PrivacyEngine`` (``secure_mode=False``) with Poisson sampling
    over the training records: each record joins each step's batch with probability
    ``recipe.batch_size / n`` (so batches vary in size), ``ceil(n / batch_size)`` steps per
    epoch. Per-sample gradients are clipped to ``max_grad_norm`` and Gaussian noise of std
    ``noise_multiplier * max_grad_norm`` is added. With ``target_epsilon`` the noise
    multiplier is the smallest one reaching (target_epsilon, delta) after ``recipe.epochs``
    epochs (``make_private_with_epsilon``).

    The recipe's optimiser, learning rate (schedule), weight decay, label smoothing,
    augmentation (with ``alternating_flip``: each record's flip, drawn once, alternates by
    epoch), ``freeze_after`` and ``lookahead`` are used as in
    :func:`mia_audit.training.train_model` (Lookahead only combines the noisy iterates:
    post-processing, no privacy cost); ``recipe.amp`` is ignored (DP-SGD always trains in float32).

Privacy accounting
    ``delta`` defaults to ``1 / (10 * n)`` for ``n`` training records (below the ``1 / n``
    that opacus advises staying under). ``epsilon`` in the result is
    ``privacy_engine.get_epsilon(delta)`` after training, with the ``accountant`` used
    ("prv", opacus' default, or "rdp"). The guarantee covers the training records only,
    as "add/remove one record" differential privacy under Poisson sampling.

Determinism
    Batch sampling draws from a CPU ``torch.Generator`` and the DP noise from a
    ``torch.Generator`` on the training device, both seeded from ``seed``; dropout draws
    from torch's default generators, seeded for the duration (the caller's state is
    restored). On the CPU the same seed gives bitwise-identical weights. ``secure_mode``
    is off: the noise is reproducible and therefore *not* cryptographically secure; fine
    for an audit, not for a production release of a DP model.
"""

from __future__ import annotations

import copy
import math
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .device import resolve_device, synchronize
from .errors import InputError, bad_value
from .frameworks import is_torch_module
from .seeding import check_seed, derive_seed
from .training import (
    TrainRecipe,
    check_logits,
    make_optimizer,
    make_scheduler,
    seeded_default_generators,
    check_epoch_loss,
    prepare_torch_training,
    augment_images,
    RecipeSteps,
)

DP_OPACUS_MESSAGE = "dp-sgd needs the optional extra: pip install 'mia-audit[dp]' (opacus)"
ACCOUNTANTS = ("prv", "rdp")


@dataclass(frozen=True)
class DPTrainResult:
    """A model trained with DP-SGD and its privacy guarantee.

    model             a plain trained ``nn.Module`` (a deep copy; eval mode; no opacus hooks)
    seconds           wall-clock time of the whole call
    device            the device it was trained on
    history           per-epoch mean training loss (over the records sampled that epoch)
    amp               always False (DP-SGD trains in float32)
    epsilon           the epsilon spent, for ``delta`` (``privacy_engine.get_epsilon(delta)``)
    delta             the delta of the guarantee
    noise_multiplier  the noise multiplier used (computed from target_epsilon when given)
    max_grad_norm     the per-sample gradient clipping norm
    accountant        "prv" or "rdp"
    target_epsilon    the requested epsilon, or None when noise_multiplier was given
    fixed             names of submodules ModuleValidator replaced (e.g. BatchNorm), or ()
    """

    model: Any
    seconds: float
    device: str
    history: tuple[float, ...]
    amp: bool
    epsilon: float
    delta: float
    noise_multiplier: float
    max_grad_norm: float
    accountant: str
    target_epsilon: Optional[float] = None
    fixed: tuple[str, ...] = ()

    def privacy(self) -> dict[str, Any]:
        """The guarantee as a JSON-ready dict (for a result's ``models`` entry)."""
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "noise_multiplier": self.noise_multiplier,
            "max_grad_norm": self.max_grad_norm,
            "accountant": self.accountant,
            "target_epsilon": self.target_epsilon,
        }


def _finite(value: object) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and math.isfinite(float(value)))  # type: ignore[arg-type]


def check_dp_params(
    *,
    noise_multiplier: Any = None,
    target_epsilon: Any = None,
    delta: Any = None,
    max_grad_norm: Any = 1.0,
    accountant: Any = "prv",
) -> dict[str, Any]:
    """Validated DP-SGD parameters (floats) or an :class:`InputError` naming the bad one."""
    if (noise_multiplier is None) == (target_epsilon is None):
        raise InputError(
            "dp-sgd needs exactly one of noise_multiplier and target_epsilon; got "
            + ("both" if noise_multiplier is not None else "neither")
        )
    if noise_multiplier is not None and not (_finite(noise_multiplier) and float(noise_multiplier) > 0):
        raise bad_value("noise_multiplier", "a finite number > 0", noise_multiplier)
    if target_epsilon is not None and not (_finite(target_epsilon) and float(target_epsilon) > 0):
        raise bad_value("target_epsilon", "a finite number > 0", target_epsilon)
    if delta is not None and not (_finite(delta) and 0 < float(delta) < 1):
        raise bad_value("delta", "a number in (0, 1) (default 1 / (10 n))", delta)
    if not (_finite(max_grad_norm) and float(max_grad_norm) > 0):
        raise bad_value("max_grad_norm", "a finite number > 0", max_grad_norm)
    if accountant not in ACCOUNTANTS:
        raise bad_value("accountant", f"one of {', '.join(ACCOUNTANTS)}", accountant)
    return {
        "noise_multiplier": None if noise_multiplier is None else float(noise_multiplier),
        "target_epsilon": None if target_epsilon is None else float(target_epsilon),
        "delta": None if delta is None else float(delta),
        "max_grad_norm": float(max_grad_norm),
        "accountant": accountant,
    }


def _import_opacus():
    try:
        import opacus  # noqa: F401
        from opacus import PrivacyEngine
        from opacus.validators import ModuleValidator
    except ImportError:
        raise InputError(DP_OPACUS_MESSAGE) from None
    return PrivacyEngine, ModuleValidator


def _dp_compatible(net, ModuleValidator) -> tuple[Any, tuple[str, ...]]:
    """``net`` (training mode) made DP-compatible: fixed where opacus can, else InputError."""
    net.train()
    errors = ModuleValidator.validate(net, strict=False)
    if not errors:
        return net, ()
    before = {name: type(m) for name, m in net.named_modules()}
    try:
        fixed = ModuleValidator.fix(net)
    except Exception as exc:  # a fixer that cannot handle this module
        raise InputError(f"the model cannot be trained with DP-SGD: {_describe(errors)}; opacus could not fix it: {exc}") from None
    remaining = ModuleValidator.validate(fixed, strict=False)
    if remaining:
        raise InputError(f"the model cannot be trained with DP-SGD (opacus): {_describe(remaining)}")
    after = {name: type(m) for name, m in fixed.named_modules()}
    replaced = tuple(sorted(n for n, t in before.items() if n in after and after[n] is not t and n))
    return fixed, replaced


def _describe(errors) -> str:
    return "; ".join(str(e) for e in errors[:5]) + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else "")


def train_model_dp(
    model: Any,
    X: Any,
    y: Any,
    recipe: TrainRecipe,
    *,
    seed: int,
    device: Any = "auto",
    noise_multiplier: Optional[float] = None,
    target_epsilon: Optional[float] = None,
    delta: Optional[float] = None,
    max_grad_norm: float = 1.0,
    accountant: str = "prv",
    progress: bool = False,
) -> DPTrainResult:
    """Train a copy of the torch ``model`` on ``X``, ``y`` with DP-SGD (see the module docstring).

    Exactly one of ``noise_multiplier`` (> 0) and ``target_epsilon`` (> 0) must be given;
    ``delta`` in (0, 1) defaults to ``1 / (10 * n)``; ``max_grad_norm`` > 0.
    """
    params = check_dp_params(noise_multiplier=noise_multiplier, target_epsilon=target_epsilon, delta=delta,
                             max_grad_norm=max_grad_norm, accountant=accountant)
    seed = check_seed(seed)
    if not isinstance(recipe, TrainRecipe):
        raise bad_value("recipe", "a TrainRecipe (see mia_audit.training.recipe_for)", recipe)
    PrivacyEngine, ModuleValidator = _import_opacus()
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from tqdm.auto import tqdm

    if not is_torch_module(model):
        raise bad_value("model", "a torch nn.Module (DP-SGD does not apply to xgboost)", type(model).__name__)
    torch_device = resolve_device(device)

    start = time.perf_counter()
    # no init_from_data here: a first layer set from the private records' statistics (airnet's
    # whitening) would be a release DP-SGD does not account for; such a layer keeps its data-free start
    net, X_t, y_t = prepare_torch_training(model, X, y, recipe, device=torch_device)
    n = int(X_t.shape[0])
    delta_value = params["delta"] if params["delta"] is not None else 1.0 / (10.0 * n)
    net, fixed = _dp_compatible(net, ModuleValidator)
    net = net.to(torch_device)
    template = copy.deepcopy(net)  # a clean module to load the trained weights into

    loader_gen = torch.Generator(device="cpu")
    loader_gen.manual_seed(derive_seed(seed, "dp", "sampling"))
    noise_gen = torch.Generator(device=torch_device)
    noise_gen.manual_seed(derive_seed(seed, "dp", "noise"))
    aug_gen = torch.Generator(device="cpu")
    aug_gen.manual_seed(derive_seed(seed, "dp", "augment"))
    positions = torch.arange(n, device=X_t.device)  # which records a Poisson batch holds (alternating flips)
    loader = DataLoader(TensorDataset(X_t, y_t, positions), batch_size=min(recipe.batch_size, n), shuffle=True,
                        generator=loader_gen)
    steps_per_epoch = len(loader)
    steps = RecipeSteps(recipe, dict(net.named_parameters()), list(net.parameters()) + list(net.buffers()),
                        n=n, generators=[aug_gen], total_steps=recipe.epochs * steps_per_epoch, device=X_t.device)
    optimizer = make_optimizer(net, recipe)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=float(recipe.label_smoothing))

    common = dict(module=net, optimizer=optimizer, criterion=loss_fn, data_loader=loader,
                  max_grad_norm=params["max_grad_norm"], poisson_sampling=True, noise_generator=noise_gen)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
            warnings.filterwarnings("ignore", message=".*Optimal order.*")
            engine = PrivacyEngine(accountant=params["accountant"], secure_mode=False)
            if params["target_epsilon"] is not None:
                dp_net, dp_optimizer, dp_loader = engine.make_private_with_epsilon(
                    **common, target_epsilon=params["target_epsilon"], target_delta=delta_value,
                    epochs=recipe.epochs)
            else:
                dp_net, dp_optimizer, dp_loader = engine.make_private(
                    **common, noise_multiplier=params["noise_multiplier"])
    except (NotImplementedError, ValueError) as exc:  # e.g. a layer without a per-sample gradient rule
        raise InputError(f"the model cannot be trained with DP-SGD (opacus): {exc}") from None
    scheduler = make_scheduler(dp_optimizer, recipe, recipe.epochs * steps_per_epoch)
    y_max = int(y_t.max().item())

    history: list[float] = []
    checked = False
    show = bool(progress) and sys.stderr.isatty()
    from .threads import training_threads  # 1 thread for small models unless the user chose (mia_audit.threads)

    with seeded_default_generators(derive_seed(seed, "dp", "train"), torch_device), warnings.catch_warnings(), \
            training_threads(template, X_t, recipe.batch_size, device=torch_device):
        warnings.filterwarnings("ignore", message=".*Optimal order.*")
        # opacus' hooks on the first layer, whose input needs no gradient: harmless
        warnings.filterwarnings("ignore", message=".*Full backward hook is firing.*")
        dp_net.train()
        bar = tqdm(range(recipe.epochs), desc="train (dp-sgd)", unit="epoch", disable=not show, leave=False)
        for epoch in bar:
            steps.start_epoch(epoch)
            total, seen = 0.0, 0
            for xb, yb, ib in dp_loader:
                if recipe.augment is not None and len(xb):
                    xb = augment_images(xb, recipe.augment, aug_gen, flip=steps.flip(ib, epoch))
                logits = dp_net(xb)
                if not checked and len(xb):
                    check_logits(logits, y_max)
                    checked = True
                loss = loss_fn(logits, yb)
                dp_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                dp_optimizer.step()  # an empty Poisson batch still takes a (noise-only) step
                if scheduler is not None:
                    scheduler.step()
                steps.after_step()
                if len(xb):
                    total += float(loss.detach()) * len(xb)
                    seen += len(xb)
            mean = total / seen if seen else float("nan")
            if seen:  # an epoch of only empty Poisson batches has no loss to check
                check_epoch_loss(mean, epoch, recipe)
            history.append(mean)
            bar.set_postfix(loss=f"{mean:.4f}")
        bar.close()
        steps.finish()
        epsilon = float(engine.get_epsilon(delta_value))
    inner = dp_net._module if hasattr(dp_net, "_module") else dp_net
    template.load_state_dict(inner.state_dict())
    template.eval()
    synchronize(torch_device)
    seconds = time.perf_counter() - start
    return DPTrainResult(
        model=template,
        seconds=seconds,
        device=str(torch_device),
        history=tuple(history),
        amp=False,
        epsilon=epsilon,
        delta=float(delta_value),
        noise_multiplier=float(dp_optimizer.noise_multiplier),
        max_grad_norm=params["max_grad_norm"],
        accountant=params["accountant"],
        target_epsilon=params["target_epsilon"],
        fixed=fixed,
    )


__all__ = ["DPTrainResult", "train_model_dp", "check_dp_params", "DP_OPACUS_MESSAGE", "ACCOUNTANTS"]

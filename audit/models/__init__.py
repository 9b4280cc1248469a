"""Model architectures by name: ``build_model(name, *, input_shape, n_classes, seed, **params)``.

=========  ======================  ==========================================================
name       input_shape             params (defaults)
=========  ======================  ==========================================================
mlp        (F,)                    hidden=(256, 256), dropout=0.0
cnn        (C, H, W), H, W >= 4    channels=(32, 64), hidden=128, dropout=0.0
resnet18   (C, H, W)               width=64 (stages 64-128-256-512)
airnet     (C, H, W), H, W >= 9    widths=(64, 256, 256), tta=True (airbench-style fast CIFAR net;
                                   H, W >= 2**len(widths) + 1; tta: True or 1 the flip, 2 flip
                                   and shifts, False or 0 none)
lstm       (T, F)                  hidden_size=128, num_layers=1, dropout=0.0
bilstm     (T, F)                  hidden_size=128, num_layers=1, dropout=0.0
xgboost    (F,)                    n_estimators=200, max_depth=6, learning_rate=0.1, and
                                   subsample, colsample_bytree, min_child_weight, reg_lambda,
                                   reg_alpha, gamma, n_jobs
=========  ======================  ==========================================================

``input_shape`` is the shape of one record (no batch dimension). Torch models come back
as a fresh float32 ``nn.Module`` on the CPU, with weights drawn inside
:func:`mia_audit.seeding.isolated_torch_seed` (same seed, same weights; the caller's global
RNG state is untouched). Each has an ``n_classes`` attribute and returns logits of shape
(n, n_classes). ``xgboost`` returns an unfitted ``xgboost.XGBClassifier`` seeded through
``random_state``. Train either with :func:`mia_audit.training.train_model`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..checks import is_int, positive_int, positive_number, probability
from ..errors import InputError, bad_value
from ..registry import Registry
from ..seeding import check_seed, isolated_torch_seed
from .xgb import XGB_PARAMS

#: the arguments build_model passes to every builder itself (not parameters a user gives)
SUPPLIED = ("input_shape", "n_classes", "seed")

MODELS: Registry[Any] = Registry("model", word="parameter", supplied=SUPPLIED)

# ---------------------------------------------------------------------------- validation


def _shape(input_shape: object) -> tuple[int, ...]:
    if is_int(input_shape):
        input_shape = (input_shape,)
    try:
        shape = tuple(input_shape)  # type: ignore[arg-type]
    except TypeError:
        raise bad_value("input_shape", "a tuple of positive integers (one record's shape)", input_shape) from None
    if not shape or any(not is_int(v) or int(v) < 1 for v in shape):
        raise bad_value("input_shape", "a tuple of positive integers (one record's shape)", input_shape)
    return tuple(int(v) for v in shape)


def _need_rank(name: str, shape: tuple[int, ...], rank: int, meaning: str) -> None:
    if len(shape) != rank:
        raise InputError(f"input_shape for model {name!r} must be {meaning}; got {shape}")


def _int_tuple(param: str, value: object, *, allow_empty: bool) -> tuple[int, ...]:
    if is_int(value):
        value = (value,)
    try:
        items = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise bad_value(param, "a tuple of positive integers", value) from None
    if (not items and not allow_empty) or any(not is_int(v) or int(v) < 1 for v in items):
        raise bad_value(param, "a tuple of positive integers" + ("" if allow_empty else " (at least one)"), value)
    return tuple(int(v) for v in items)


def _dropout(value: object) -> float:
    return probability("dropout", value, high_open=True)


def _torch_build(seed: int, make: Callable[[], Any]) -> Any:
    import torch

    with isolated_torch_seed(seed):
        module = make()
    return module.to(device="cpu", dtype=torch.float32)


# ---------------------------------------------------------------------------- builders


@MODELS.register("mlp", help="multi-layer perceptron over 1-D features (hidden=(256, 256), dropout=0)")
def _build_mlp(*, input_shape, n_classes, seed, hidden: Sequence[int] = (256, 256), dropout: float = 0.0):
    from .mlp import MLP

    _need_rank("mlp", input_shape, 1, "1-D features (F,); flatten images first")
    hidden = _int_tuple("hidden", hidden, allow_empty=True)
    dropout = _dropout(dropout)
    return _torch_build(seed, lambda: MLP(input_shape[0], n_classes, hidden, dropout))


@MODELS.register("cnn", help="small CNN for (C, H, W) images (channels=(32, 64), hidden=128)")
def _build_cnn(*, input_shape, n_classes, seed, channels: Sequence[int] = (32, 64), hidden: int = 128, dropout: float = 0.0):
    from .cnn import SmallCNN

    _need_rank("cnn", input_shape, 3, "an image shape (C, H, W)")
    channels = _int_tuple("channels", channels, allow_empty=False)
    smallest = 2 ** len(channels)
    if min(input_shape[1:]) < smallest:
        raise InputError(
            f"input_shape for model 'cnn' with {len(channels)} pooling stages needs H and W >= {smallest}; got {input_shape}"
        )
    hidden = positive_int("hidden", hidden)
    dropout = _dropout(dropout)
    return _torch_build(seed, lambda: SmallCNN(input_shape, n_classes, channels, hidden, dropout))


@MODELS.register("resnet18", help="CIFAR-style ResNet-18 for (C, H, W) images (width=64)")
def _build_resnet18(*, input_shape, n_classes, seed, width: int = 64):
    from .resnet import ResNet18

    _need_rank("resnet18", input_shape, 3, "an image shape (C, H, W)")
    width = positive_int("width", width)
    return _torch_build(seed, lambda: ResNet18(input_shape, n_classes, width))


@MODELS.register("airnet", help="fast airbench-style VGG net with patch whitening for (C, H, W) images "
                                 "(widths=(64, 256, 256), tta=True)")
def _build_airnet(*, input_shape, n_classes, seed, widths: Sequence[int] = (64, 256, 256), tta: bool | int = True):
    from .airnet import TTA_LEVELS, AirNet, smallest_side

    _need_rank("airnet", input_shape, 3, "an image shape (C, H, W)")
    widths = _int_tuple("widths", widths, allow_empty=False)
    if isinstance(tta, (bool, np.bool_)):
        tta = bool(tta)
    elif isinstance(tta, (int, np.integer)) and int(tta) in TTA_LEVELS:
        tta = int(tta)
    else:
        raise bad_value("tta", "True (the flip), False (none) or a level 0, 1 or 2 (2: flip and shifts)", tta)
    side = smallest_side(len(widths))
    if min(input_shape[1:]) < side:
        raise InputError(
            f"input_shape for model 'airnet' with {len(widths)} blocks needs H and W >= {side}; got {input_shape}"
        )
    return _torch_build(seed, lambda: AirNet(input_shape, n_classes, widths, tta))


def _lstm_builder(name: str, bidirectional: bool):
    def build(*, input_shape, n_classes, seed, hidden_size: int = 128, num_layers: int = 1, dropout: float = 0.0):
        from .lstm import LSTMClassifier

        _need_rank(name, input_shape, 2, "a sequence shape (T, F): T steps of F features")
        hidden_size = positive_int("hidden_size", hidden_size)
        num_layers = positive_int("num_layers", num_layers)
        dropout = _dropout(dropout)
        return _torch_build(
            seed, lambda: LSTMClassifier(input_shape[1], n_classes, hidden_size, num_layers, bidirectional, dropout)
        )

    return build


MODELS.register("lstm", help="LSTM over (T, F) sequences, classifies from the last hidden state")(
    _lstm_builder("lstm", False)
)
MODELS.register("bilstm", help="bidirectional LSTM over (T, F) sequences (both last states)")(
    _lstm_builder("bilstm", True)
)


@MODELS.register("xgboost", help="XGBoost classifier (hist trees) over 1-D features", options=XGB_PARAMS)
def _build_xgboost(*, input_shape, n_classes, seed, n_estimators: int = 200, max_depth: int = 6, learning_rate: float = 0.1, **extra):
    from .xgb import xgboost_classifier

    _need_rank("xgboost", input_shape, 1, "1-D features (F,)")
    n_estimators = positive_int("n_estimators", n_estimators)
    max_depth = positive_int("max_depth", max_depth)
    learning_rate = positive_number("learning_rate", learning_rate)
    return xgboost_classifier(
        n_classes, seed, n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate, **extra
    )


# ---------------------------------------------------------------------------- entry point


def model_params(name: str) -> list[str]:
    """The keyword parameters model ``name`` accepts (besides input_shape, n_classes, seed)."""
    return MODELS.options(name)


def build_model(name: str, *, input_shape: Sequence[int], n_classes: int, seed: int, **params: Any) -> Any:
    """Build the model registered as ``name`` for records of ``input_shape`` and ``n_classes``.

    Same ``seed``, same initial weights. Unknown names or parameters, and input shapes the
    architecture cannot take, raise :class:`InputError` naming what is allowed.
    """
    MODELS.get(name)  # an unknown name fails first, listing the valid ones
    shape = _shape(input_shape)
    n_classes = positive_int("n_classes", n_classes, minimum=2)
    seed = check_seed(seed)
    return MODELS.create(name, input_shape=shape, n_classes=n_classes, seed=seed, **params)


__all__ = ["MODELS", "build_model", "model_params"]

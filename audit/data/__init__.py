"""Datasets, splits and forget sets.

* :func:`load_dataset` (registry :data:`DATASETS`): ``adult`` (bundled), ``digits``
  (from scikit-learn), ``cardio``, ``credit`` and ``cifar10`` (files in ``data_dir``
  or ``$MIA_AUDIT_DATA``), each one preprocessed pool as a :class:`Dataset`.
* :func:`make_split` → :class:`Split` (train / test, then forget / retain inside train).
* :func:`select_forget` with a :class:`ForgetSpec` (random, classes, indices or a
  predicate; named predicates in :data:`PREDICATES`: ``red``, ``older``).
"""

from .dataset import DATA_DIR_ENV, DATASETS, KINDS, Dataset, load_dataset
from .split import Split, make_split
from .forget import FORGET_KINDS, PREDICATES, ForgetSpec, select_forget
from . import adult as _adult  # noqa: F401  (registers "adult")
from . import images as _images  # noqa: F401  (registers "digits", "cifar10")
from . import tabular as _tabular  # noqa: F401  (registers "cardio", "credit")
from .colors import color_mask, delta_e_cie76, dominant_colors, srgb_to_lab

__all__ = [
    "DATA_DIR_ENV",
    "DATASETS",
    "FORGET_KINDS",
    "KINDS",
    "PREDICATES",
    "Dataset",
    "ForgetSpec",
    "Split",
    "color_mask",
    "delta_e_cie76",
    "dominant_colors",
    "load_dataset",
    "make_split",
    "select_forget",
    "srgb_to_lab",
]

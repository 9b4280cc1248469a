"""Datasets, splits and forget sets.

* :func:`load_dataset` (registry :data:`DATASETS`): ``adult`` (bundled), ``digits``
  (from scikit-learn), ``cardio``, ``credit`` and ``cifar10`` (files in ``data_dir``
  or ``$MIA_AUDIT_DATA``), each one preprocessed pool as a :class:`Dataset`.
* Your own records: :meth:`Dataset.from_file` (CSV, Parquet, ``.npz``), :meth:`Dataset.from_frame`
  and :meth:`Dataset.from_arrays` (:mod:`mia_audit.data.own`); :func:`load_configured_dataset`
  loads what a ``[data]`` table names (a registered name or a ``path``).
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
from .own import file_fields as _file_fields


def load_configured_dataset(data_config) -> Dataset:
    """The pool a configuration's ``[data]`` table names (a :class:`mia_audit.config.DataConfig`).

    With ``data_config.path``: the user's own records file (:meth:`Dataset.from_file` with its
    ``label``, ``id``, ``categorical``, ``numeric``; ``name`` is only the display name); messages
    name the keys as ``data.label``, ``data.path``, .... Otherwise the registered data set
    ``data_config.name``: ``load_dataset(name, data_dir=data_config.data_dir, **data_config.options)``.
    """
    if getattr(data_config, "path", None) is not None:
        return Dataset(**_file_fields(data_config.path, label=data_config.label, id=data_config.id,
                                      categorical=data_config.categorical, numeric=data_config.numeric,
                                      name=data_config.name, prefix="data."))
    return load_dataset(data_config.name, data_dir=data_config.data_dir, **data_config.options)


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
    "load_configured_dataset",
    "load_dataset",
    "make_split",
    "select_forget",
    "srgb_to_lab",
]

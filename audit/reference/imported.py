"""Reference models trained elsewhere, imported into a store: :func:`import_references`.

A folder written by whoever trained the models::

    mask.npy        (K, N) booleans: mask[k, i] is True when model k trained on record i
    ids.npy         (N,) the ids of those N records (integers or text), unique
    models/         K model files, any kind :func:`mia_audit.model_files.load_model_file` reads
                    (.skops, XGBoost .json/.ubj, .onnx, .safetensors with an architecture or a
                    build function), model k being the k-th file in name order

Every record of the audit's pool must be among the ids; the mask is re-indexed to the pool's
order. Each model is loaded (never unpickled) and queried on the pool, and its signals go into a
store of architecture ``"imported"`` beside the others, keyed by the folder's contents: the
mask's, the ids' and every model file's sha256. Opening it again for another folder, pool or
files is refused with what differs, as for any store. The scores are the same, bit for bit, as
those of the same models trained in this process (a test checks it).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import DataFileError, InputError, one_line
from .queries import QuerySet
from .spec import IMPORTED, ReferenceSpec

MASK_FILE, IDS_FILE, MODELS_DIR = "mask.npy", "ids.npy", "models"


def _npy(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise DataFileError(f"references.import: {path} not found ({what})")
    try:
        return np.load(io.BytesIO(path.read_bytes()), allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataFileError(f"references.import: {path} is not a readable .npy array without objects "
                            f"({one_line(exc, 160)})") from None


def read_folder(folder: str | os.PathLike) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """``(model files, mask (K, N) bool, ids (N,))`` of an import folder, checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(f"references.import: {folder} is not a folder")
    mask = _npy(folder / MASK_FILE, "the (K, N) membership mask")
    ids = _npy(folder / IDS_FILE, "the N record ids")
    files = sorted(p for p in (folder / MODELS_DIR).glob("*") if p.is_file()) if (folder / MODELS_DIR).is_dir() else []
    if mask.ndim != 2 or mask.dtype != np.bool_:
        raise InputError(f"references.import: {MASK_FILE} must be a (K, N) boolean array; got {mask.dtype} {mask.shape}")
    if ids.ndim != 1 or ids.shape[0] != mask.shape[1]:
        raise InputError(f"references.import: {IDS_FILE} must hold one id per column of {MASK_FILE} "
                         f"({mask.shape[1]}); got shape {ids.shape}")
    if len(np.unique(ids)) != ids.size:
        raise InputError(f"references.import: {IDS_FILE} holds duplicate ids")
    if len(files) != mask.shape[0]:
        raise InputError(f"references.import: {MODELS_DIR}/ holds {len(files)} model files; {MASK_FILE} has "
                         f"{mask.shape[0]} rows (one per model)")
    if mask.shape[0] < 1:
        raise InputError(f"references.import: {MASK_FILE} has no models")
    return files, mask, ids


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def import_references(path: str | os.PathLike, folder: str | os.PathLike, X_pool: Any, y_pool: Any, pool_ids: Any, *,
                      n_classes: int, seed: int = 0, queries: Any = "auto",
                      load_options: Optional[dict[str, Any]] = None) -> Any:
    """A complete :class:`~mia_audit.reference.ReferenceStore` at ``path`` holding the signals of the
    models in ``folder`` on the pool ``X_pool, y_pool``, whose records have the ids ``pool_ids``.
    ``load_options`` go to :func:`mia_audit.model_files.load_model_file` (e.g. architecture,
    params, input_shape for torch files)."""
    from ..model_files import load_model_file
    from .jobs import ModelResult
    from .queries import query_signals
    from .store import ReferenceStore, array_sha256

    files, mask, ids = read_folder(folder)
    X, y = np.asarray(X_pool), np.asarray(y_pool).astype(np.int64, copy=False)
    pool_ids = np.asarray(pool_ids)
    if pool_ids.shape != (X.shape[0],):
        raise InputError(f"pool_ids must hold one id per pool record ({X.shape[0]}); got shape {pool_ids.shape}")
    order = {v: i for i, v in enumerate(ids.tolist())}
    missing = [v for v in pool_ids.tolist() if v not in order]
    if missing:
        raise InputError(f"references.import: {len(missing)} of the audit's {pool_ids.size} records are not among "
                         f"the imported models' ids (first: {missing[:3]}); the reference models must have been "
                         "trained or not trained on every record audited")
    columns = np.array([order[v] for v in pool_ids.tolist()], dtype=np.int64)
    pool_mask = np.ascontiguousarray(mask[:, columns])
    identity = {"imported": str(Path(folder).resolve()), "mask_sha256": array_sha256(mask),
                "ids_sha256": array_sha256(ids), "models": [_sha(p.read_bytes()) for p in files]}
    spec = ReferenceSpec(architecture=IMPORTED, input_shape=tuple(X.shape[1:]), n_classes=int(n_classes), recipe=None,
                         n_models=len(files), seed=seed, queries=QuerySet.for_data(X.shape, queries),
                         trainer_meta=identity)
    store = ReferenceStore.create(path, spec, X, y, mask=pool_mask)
    options = dict(load_options or {})
    options.setdefault("n_classes", int(n_classes))
    for k in store.pending():
        adapter = load_model_file(files[k], **options)
        signals = query_signals(adapter, X, y, spec.queries)
        if signals.logit_confidence is None:
            raise InputError(f"references.import: {files[k].name} gives labels only; reference attacks need "
                             "probabilities or logits")
        store.write(ModelResult(index=k, weights=b"", weights_format="none", signals=signals, history=(),
                                seconds=0.0, device="cpu"))
    return store


__all__ = ["import_references", "read_folder", "MASK_FILE", "IDS_FILE", "MODELS_DIR"]

"""Reference models on disk: :class:`ReferenceStore`.

Layout of a store directory (format version 1)::

    meta.json                  written first: format, spec (architecture, params, recipe,
                               K, seed, queries), per-model seeds, pool sha256 and shape
    mask.npy                   the (K, N) boolean membership mask
    models/model_0003.safetensors   (or .ubj for XGBoost) model 3's weights
    signals/model_0003.safetensors  model 3's per-query signals on the whole pool:
                               logit_confidence and confidence, float32 (N, A), and, as
                               text metadata, its loss history, seconds and device

Every file is written atomically (a temporary name in the same folder, then
``os.replace``), and a model's signals file is written after its weights, so a model
counts as done exactly when its signals file exists: a run killed half-way resumes
with the models that were not done. Opening a store for another spec or another pool
raises :class:`~audit.errors.InputError` listing what differs; a store is never
silently reused for something else. Nothing is unpickled: weights load with
safetensors or XGBoost's own format, the mask with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from ..errors import DataFileError, InputError
from ..files import write_bytes_atomic
from .jobs import WEIGHT_FORMATS, ModelResult
from .queries import QuerySignals
from .spec import ReferenceSpec
from .splits import init_seed, membership_mask, train_seed

FORMAT_VERSION = 1
STORE_KIND = "mia-audit reference models"
META = "meta.json"
MASK = "mask.npy"


# ---------------------------------------------------------------------------- files


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    write_bytes_atomic(path, data)

def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def array_sha256(a: Any) -> str:
    """sha256 over an array's dtype, shape and bytes (C order)."""
    arr = np.ascontiguousarray(np.asarray(a))
    digest = hashlib.sha256(f"{arr.dtype.str}:{arr.shape}\0".encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()


def data_meta(X: Any, y: Any) -> dict[str, Any]:
    X, y = np.asarray(X), np.asarray(y).astype(np.int64, copy=False)
    return {"n": int(X.shape[0]), "X_shape": list(X.shape), "X_dtype": X.dtype.str, "X_sha256": array_sha256(X),
            "y_sha256": array_sha256(y)}


def _differences(stored: Any, wanted: Any, prefix: str = "") -> list[str]:
    if isinstance(stored, dict) and isinstance(wanted, dict):
        out = []
        for key in sorted(set(stored) | set(wanted)):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in stored:
                out.append(f"{name}: not in the store, requested {wanted[key]!r}")
            elif key not in wanted:
                out.append(f"{name}: stored {stored[key]!r}, not requested")
            else:
                out += _differences(stored[key], wanted[key], name)
        return out
    return [] if stored == wanted else [f"{prefix}: stored {stored!r}, requested {wanted!r}"]


# ---------------------------------------------------------------------------- the store


class ReferenceStore:
    """An open store directory. ``ReferenceStore(path)`` opens an existing store;
    :meth:`create` opens or starts one for a spec and a pool (refusing a mismatch).

    Attributes: ``path``, ``meta`` (the parsed meta.json), ``spec`` (:class:`ReferenceSpec`),
    ``mask`` ((K, N) bool), ``n_models``, ``n_records``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        meta_path = self.path / META
        if not meta_path.is_file():
            raise DataFileError(f"reference store {self.path}: {META} not found; is this a reference store?")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise DataFileError(f"reference store {self.path}: cannot read {META}: {exc}") from None
        if not isinstance(meta, dict) or meta.get("kind") != STORE_KIND:
            raise DataFileError(f"reference store {self.path}: {META} is not a reference-store metadata file")
        if meta.get("format_version") != FORMAT_VERSION:
            raise InputError(f"reference store {self.path}: format_version must be {FORMAT_VERSION}; "
                             f"got {meta.get('format_version')!r}")
        self.meta = meta
        self.spec = ReferenceSpec.from_meta(meta["spec"])
        self.n_models = self.spec.n_models
        self.n_records = int(meta["data"]["n"])
        expected = membership_mask(self.n_models, self.n_records, self.spec.seed)
        mask_path = self.path / MASK
        if mask_path.is_file():
            mask = np.load(mask_path, allow_pickle=False)
            if mask.shape != expected.shape or not np.array_equal(mask, expected):
                raise InputError(f"reference store {self.path}: {MASK} does not match the mask of its seed; "
                                 "the store was modified: delete it and train again")
        else:  # killed between meta.json and mask.npy: the mask is a function of the seed
            write_atomic(mask_path, _npy_bytes(expected))
        self.mask = expected

    # -------------------------------------------------------------- creation

    @classmethod
    def create(cls, path: str | os.PathLike, spec: ReferenceSpec, X: Any, y: Any) -> "ReferenceStore":
        """Open the store at ``path`` for ``spec`` and the pool ``X, y``, starting it if
        the folder has no store yet. A store built for anything else raises InputError."""
        path = Path(path)
        wanted = cls.meta_for(spec, X, y)
        if (path / META).is_file():
            store = cls(path)
            diffs = _differences({k: store.meta.get(k) for k in ("spec", "data")},
                                 {k: wanted[k] for k in ("spec", "data")})
            if diffs:
                raise InputError(
                    f"reference store {path} was built for other settings ({'; '.join(diffs[:6])}"
                    f"{'; ...' if len(diffs) > 6 else ''}); use another directory or delete this one"
                )
            return store
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InputError(f"reference store path {path} exists and is not an empty directory nor a reference store")
        path.mkdir(parents=True, exist_ok=True)
        write_atomic(path / META, (json.dumps(wanted, indent=1, sort_keys=True) + "\n").encode())
        write_atomic(path / MASK, _npy_bytes(membership_mask(spec.n_models, int(np.asarray(X).shape[0]), spec.seed)))
        return cls(path)

    @staticmethod
    def meta_for(spec: ReferenceSpec, X: Any, y: Any) -> dict[str, Any]:
        from .. import __version__

        X, y = np.asarray(X), np.asarray(y)
        if X.ndim < 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise InputError(f"X_pool must be (N, ...) and y_pool (N,) with the same N; got shapes {X.shape} and {y.shape}")
        if tuple(X.shape[1:]) != tuple(spec.input_shape):
            raise InputError(f"X_pool records have shape {tuple(X.shape[1:])}; the spec's input_shape is {spec.input_shape}")
        return {
            "kind": STORE_KIND,
            "format_version": FORMAT_VERSION,
            "tool_version": __version__,
            "spec": spec.to_meta(),
            "data": data_meta(X, y),
            "seeds": [{"init": init_seed(spec.seed, k), "train": train_seed(spec.seed, k)} for k in range(spec.n_models)],
            "n_queries": spec.queries.n_queries(tuple(X.shape)),
            "mask_file": MASK,
        }

    # -------------------------------------------------------------- per model

    def _weights_path(self, k: int, fmt: str) -> Path:
        return self.path / "models" / f"model_{k:04d}.{WEIGHT_FORMATS[fmt]}"

    def _signals_path(self, k: int) -> Path:
        return self.path / "signals" / f"model_{k:04d}.safetensors"

    def completed(self) -> list[int]:
        """Indices of the models whose weights and signals are on disk."""
        return [k for k in range(self.n_models) if self._signals_path(k).is_file()]

    def pending(self) -> list[int]:
        done = set(self.completed())
        return [k for k in range(self.n_models) if k not in done]

    @property
    def is_complete(self) -> bool:
        return not self.pending()

    def write(self, result: ModelResult) -> None:
        """Save one trained model: weights first, then its signals (which mark it done)."""
        from safetensors.numpy import save

        k = int(result.index)
        if not 0 <= k < self.n_models:
            raise InputError(f"model index must lie in [0, {self.n_models - 1}]; got {k}")
        if result.weights_format not in WEIGHT_FORMATS:
            raise InputError(f"weights_format must be one of {', '.join(WEIGHT_FORMATS)}; got {result.weights_format!r}")
        lc, conf = result.signals.logit_confidence, result.signals.confidence
        n_queries = int(self.meta["n_queries"])
        if lc is None or lc.shape != (self.n_records, n_queries) or conf.shape != lc.shape:
            raise InputError(f"model {k}'s signals must have shape ({self.n_records}, {n_queries}); "
                             f"got {None if lc is None else lc.shape}")
        write_atomic(self._weights_path(k, result.weights_format), result.weights)
        info = {"history": json.dumps(list(result.history)), "seconds": repr(float(result.seconds)),
                "device": result.device, "weights_format": result.weights_format}
        payload = save({"logit_confidence": np.ascontiguousarray(lc, dtype=np.float32),
                        "confidence": np.ascontiguousarray(conf, dtype=np.float32)}, metadata=info)
        write_atomic(self._signals_path(k), payload)

    def model_info(self, k: int) -> dict[str, Any]:
        """Model k's loss history, seconds, device and weights format."""
        from safetensors import safe_open

        path = self._require(k)
        with safe_open(str(path), framework="numpy") as f:
            info = dict(f.metadata() or {})
        return {"history": json.loads(info.get("history", "[]")), "seconds": float(info.get("seconds", "nan")),
                "device": info.get("device"), "weights_format": info.get("weights_format")}

    def _require(self, k: int) -> Path:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < self.n_models:
            raise InputError(f"model index must be an integer in [0, {self.n_models - 1}]; got {k!r}")
        path = self._signals_path(int(k))
        if not path.is_file():
            raise InputError(f"reference model {k} of {self.path} is not trained yet; run train_references again")
        return path

    def signals(self, indices: Optional[Iterable[int]] = None) -> QuerySignals:
        """Per-query signals of the models ``indices`` (default: all; all must be done):
        ``logit_confidence`` and ``confidence`` of shape (K, N, A), float32."""
        from safetensors.numpy import load_file

        ks = list(range(self.n_models)) if indices is None else [int(k) for k in indices]
        missing = [k for k in ks if not self._signals_path(k).is_file()]
        if missing:
            raise InputError(f"reference store {self.path} is incomplete: {len(missing)} of {len(ks)} models are not "
                             f"trained (first: {missing[0]}); run train_references again to finish it")
        parts = [load_file(str(self._signals_path(k))) for k in ks]
        return QuerySignals(logit_confidence=np.stack([p["logit_confidence"] for p in parts]),
                            confidence=np.stack([p["confidence"] for p in parts]))

    def load_model(self, k: int, *, device: Any = "cpu") -> Any:
        """Reference model k: a torch module in eval mode on ``device``, or a fitted XGBClassifier."""
        self._require(k)
        k = int(k)
        model = self.spec.build(k)
        if self.spec.is_torch:
            from safetensors.torch import load

            from ..device import resolve_device

            model.load_state_dict(load(self._weights_path(k, "safetensors").read_bytes()))
            return model.to(resolve_device(device)).eval()
        model.load_model(bytearray(self._weights_path(k, "xgboost-ubj").read_bytes()))
        return model

    def check_data(self, X: Any, y: Any) -> None:
        """Refuse a pool other than the one the store was trained on."""
        diffs = _differences(self.meta["data"], data_meta(X, y))
        if diffs:
            raise InputError(f"X_pool / y_pool differ from the pool of reference store {self.path} "
                             f"({'; '.join(diffs[:4])})")

    def __repr__(self) -> str:
        return (f"ReferenceStore({str(self.path)!r}, architecture={self.spec.architecture!r}, "
                f"models={len(self.completed())}/{self.n_models}, records={self.n_records})")


__all__ = ["ReferenceStore", "FORMAT_VERSION", "write_atomic", "array_sha256"]

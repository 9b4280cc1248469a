"""Reference models on disk: :class:`ReferenceStore`.

Layout of a store directory (format version 2)::

    meta.json                  written first: format, spec (architecture, params, recipe,
                               K, seed, queries), per-model seeds, pool sha256 and shape,
                               the mask's sha256, and ``sha256``: its own digest
    mask.npy                   the (K, N) boolean membership mask
    models/model_0003.safetensors   (or .ubj for XGBoost) model 3's weights
    signals/model_0003.safetensors  model 3's per-query signals on the whole pool:
                               logit_confidence and confidence, float32 (N, A), and, as
                               text metadata, its loss history, seconds and device, its
                               index, its store's digest, the weights file's sha256 and
                               ``sha256``: the digest of its own arrays and metadata

Every file is written atomically (a temporary name in the same folder, then
``os.replace``), and a model's signals file is written after its weights, so a model
counts as done exactly when both its files exist: a run killed half-way resumes with
the models that were not done (a missing file is retrained), after deleting the
temporary files the kill left behind. Opening a store for another spec or another pool
raises :class:`~mia_audit.errors.InputError` listing what differs; a store is never
silently reused for something else.

What is read back is verified: every file's digest is recorded when it is written (in
the file itself for meta.json and the signals, in meta.json for the mask, in the signals
file for the weights) and checked on every read, and a signals file must carry its own
model's index and its own store's digest (two swapped or copied files are refused), and
the store's shape. A file that fails a check raises :class:`~mia_audit.errors.DataFileError`
naming it and what to delete to rebuild it; nothing damaged is used. Nothing is
unpickled: weights load with safetensors or XGBoost's own format, the mask with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from ..checks import nonnegative_int
from ..errors import DataFileError, InputError, one_line
from ..files import remove_stale_temp_files, write_bytes_atomic
from .jobs import WEIGHT_FORMATS, ModelResult
from .queries import QuerySignals
from .spec import ReferenceSpec
from .splits import init_seed, membership_mask, train_seed

FORMAT_VERSION = 2  # 2: every file carries a content digest (1 had none)
STORE_KIND = "mia-audit reference models"
META = "meta.json"
MASK = "mask.npy"


# ---------------------------------------------------------------------------- files


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    write_bytes_atomic(path, data)

def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def array_sha256(a: Any) -> str:
    """sha256 over an array's dtype, shape and bytes (C order)."""
    arr = np.ascontiguousarray(np.asarray(a))
    digest = hashlib.sha256(f"{arr.dtype.str}:{arr.shape}\0".encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()


def meta_sha256(meta: dict[str, Any]) -> str:
    """The digest meta.json carries of itself: sha256 of its canonical JSON without ``sha256``."""
    body = {k: v for k, v in meta.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def signals_sha256(arrays: dict[str, np.ndarray], info: dict[str, str]) -> str:
    """The digest a signals file carries: its arrays (dtype, shape, bytes) and its text metadata."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(f"{name}\0{array_sha256(arrays[name])}\0".encode())
    digest.update(json.dumps({k: v for k, v in info.items() if k != "sha256"}, sort_keys=True).encode())
    return digest.hexdigest()


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` table of a safetensors file's header (8-byte length, then JSON)."""
    size = int.from_bytes(data[:8], "little")
    if len(data) < 8 or size > len(data) - 8:
        raise ValueError(f"the header claims {size} bytes, the file holds {len(data)}")
    header = json.loads(data[8:8 + size])
    info = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
        raise ValueError("its header has no text metadata")
    return info


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
            raise DataFileError(f"reference store {self.path}: cannot read {meta_path} ({one_line(exc, 160)}); "
                                "delete the store folder and train again") from None
        if not isinstance(meta, dict) or meta.get("kind") != STORE_KIND:
            raise DataFileError(f"reference store {self.path}: {META} is not a reference-store metadata file")
        if meta.get("format_version") != FORMAT_VERSION:
            raise InputError(f"reference store {self.path}: format_version must be {FORMAT_VERSION} (files with "
                             f"content digests); got {meta.get('format_version')!r}: delete the folder and train again")
        if meta.get("sha256") != meta_sha256(meta):
            raise DataFileError(f"reference store {self.path}: {meta_path} does not match its sha256 (the file was "
                                "changed or damaged); delete the store folder and train again")
        self.meta = meta
        self.spec = ReferenceSpec.from_meta(meta["spec"])
        self.n_models = self.spec.n_models
        self.n_records = int(meta["data"]["n"])
        mask_path = self.path / MASK
        if self.spec.is_imported:  # the mask came with the models: read it, check its digest
            self.mask = self._given_mask(mask_path, meta)
            return
        expected = membership_mask(self.n_models, self.n_records, self.spec.seed)
        if mask_path.is_file():
            rebuild = f"delete {mask_path} (it is rebuilt from the seed)"
            try:
                mask = np.load(io.BytesIO(mask_path.read_bytes()), allow_pickle=False)
            except (OSError, ValueError, EOFError, TypeError) as exc:
                raise DataFileError(f"reference store {self.path}: {mask_path} is damaged (not a readable .npy "
                                    f"array: {one_line(exc, 160)}); {rebuild}") from None
            if mask.shape != expected.shape or not np.array_equal(mask, expected):
                raise DataFileError(f"reference store {self.path}: {mask_path} does not match the mask of its seed "
                                    f"(shape {mask.shape}, expected {expected.shape}); {rebuild}")
            if array_sha256(mask) != meta.get("mask_sha256"):
                raise DataFileError(f"reference store {self.path}: {mask_path} does not match its sha256 in {META} "
                                    f"(dtype {mask.dtype}); {rebuild}")
        else:  # killed between meta.json and mask.npy: the mask is a function of the seed
            write_atomic(mask_path, _npy_bytes(expected))
        self.mask = expected

    def _given_mask(self, mask_path: Path, meta: dict[str, Any]) -> np.ndarray:
        try:
            mask = np.load(io.BytesIO(mask_path.read_bytes()), allow_pickle=False)
        except (OSError, ValueError, EOFError, TypeError) as exc:
            raise DataFileError(f"reference store {self.path}: {mask_path} is missing or damaged "
                                f"({one_line(exc, 160)}); delete the store folder and import again") from None
        if mask.shape != (self.n_models, self.n_records) or array_sha256(mask) != meta.get("mask_sha256"):
            raise DataFileError(f"reference store {self.path}: {mask_path} does not match its sha256 in {META}; "
                                "delete the store folder and import again")
        return mask

    # -------------------------------------------------------------- creation

    @classmethod
    def create(cls, path: str | os.PathLike, spec: ReferenceSpec, X: Any, y: Any,
               mask: Optional[np.ndarray] = None) -> "ReferenceStore":
        """Open the store at ``path`` for ``spec`` and the pool ``X, y``, starting it if
        the folder has no store yet. A store built for anything else raises InputError.
        ``mask``: imported models' own (K, N) mask (only for ``spec.is_imported``; otherwise
        the mask is a function of the seed)."""
        if (mask is not None) != spec.is_imported:
            raise InputError("a membership mask is given with imported reference models only")
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
            store.remove_stale_temp_files()  # left by a run killed while writing
            return store
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InputError(f"reference store path {path} exists and is not an empty directory nor a reference store")
        path.mkdir(parents=True, exist_ok=True)
        if mask is None:
            mask = membership_mask(spec.n_models, int(np.asarray(X).shape[0]), spec.seed)
        elif mask.shape != (spec.n_models, int(np.asarray(X).shape[0])) or mask.dtype != np.bool_:
            raise InputError(f"the mask must be ({spec.n_models}, {int(np.asarray(X).shape[0])}) booleans; "
                             f"got {mask.dtype} {mask.shape}")
        wanted = json.loads(json.dumps({**wanted, "mask_sha256": array_sha256(mask)}))  # as it reads back
        wanted["sha256"] = meta_sha256(wanted)
        write_atomic(path / META, (json.dumps(wanted, indent=1, sort_keys=True) + "\n").encode())
        write_atomic(path / MASK, _npy_bytes(mask))
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

    @property
    def _weights_format(self) -> str:
        if self.spec.is_custom:
            return "none"
        return "safetensors" if self.spec.is_torch else "xgboost-ubj"

    def _is_done(self, k: int) -> bool:
        return self._signals_path(k).is_file() and self._weights_path(k, self._weights_format).is_file()

    def completed(self) -> list[int]:
        """Indices of the models whose weights and signals are on disk (their contents are
        verified when they are read)."""
        return [k for k in range(self.n_models) if self._is_done(k)]

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete the temporary files a killed run left in the store; return them."""
        return [p for folder in (self.path, self.path / "models", self.path / "signals")
                for p in remove_stale_temp_files(folder)]

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
        weights = bytes(result.weights)
        write_atomic(self._weights_path(k, result.weights_format), weights)
        arrays = {"logit_confidence": np.ascontiguousarray(lc, dtype=np.float32),
                  "confidence": np.ascontiguousarray(conf, dtype=np.float32)}
        info = {"history": json.dumps(list(result.history)), "seconds": repr(float(result.seconds)),
                "device": str(result.device), "weights_format": result.weights_format, "index": str(k),
                "store": str(self.meta["sha256"]), "weights_sha256": hashlib.sha256(weights).hexdigest()}
        info["sha256"] = signals_sha256(arrays, info)
        write_atomic(self._signals_path(k), save(arrays, metadata=info))

    def _read_signals(self, k: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Model k's verified signals file: its arrays and its text metadata."""
        from safetensors import SafetensorError
        from safetensors.numpy import load

        path = self._signals_path(k)
        where = f"reference store {self.path}: {path}"
        rebuild = f"delete it to train model {k} again (or delete the store folder to rebuild it all)"
        try:
            data = path.read_bytes()
            info = _safetensors_metadata(data)
            arrays = load(data)
        except (SafetensorError, ValueError, OSError, KeyError, TypeError) as exc:  # malformed or truncated
            raise DataFileError(f"{where} is damaged (not a readable safetensors file: {one_line(exc, 160)}); "
                                f"{rebuild}") from None
        if "sha256" not in info:
            raise DataFileError(f"{where} has no content digest; {rebuild}")
        if info["sha256"] != signals_sha256(arrays, info):
            raise DataFileError(f"{where} does not match its sha256 (the file was changed or damaged); {rebuild}")
        if info.get("store") != self.meta["sha256"]:
            raise DataFileError(f"{where} belongs to another reference store (copied in?); {rebuild}")
        if info.get("index") != str(k):
            raise DataFileError(f"{where} holds the signals of model {info.get('index')}, not of model {k} "
                                f"(files renamed or swapped); {rebuild}")
        shape = (self.n_records, int(self.meta["n_queries"]))
        for name in ("logit_confidence", "confidence"):
            got = arrays.get(name)
            if got is None or got.dtype != np.float32 or got.shape != shape:
                described = "missing" if got is None else f"{got.dtype} of shape {got.shape}"
                raise DataFileError(f"{where}: {name} must be float32 of shape {shape}; got {described}; {rebuild}")
        return arrays, info

    def model_info(self, k: int) -> dict[str, Any]:
        """Model k's loss history, seconds, device and weights format."""
        _, info = self._read_signals(self._require(k))
        try:
            history, seconds = json.loads(info.get("history", "[]")), float(info.get("seconds", "nan"))
        except ValueError:  # pragma: no cover - the digest matched, so the writer wrote these
            history, seconds = [], float("nan")
        return {"history": history, "seconds": seconds, "device": info.get("device"),
                "weights_format": info.get("weights_format")}

    def _require(self, k: int) -> int:
        k = nonnegative_int("model index", k, maximum=self.n_models - 1)
        if not self._is_done(k):
            raise InputError(f"reference model {k} of {self.path} is not trained yet; run train_references again")
        return int(k)

    def signals(self, indices: Optional[Iterable[int]] = None) -> QuerySignals:
        """Per-query signals of the models ``indices`` (default: all; all must be done):
        ``logit_confidence`` and ``confidence`` of shape (K, N, A), float32."""
        ks = list(range(self.n_models)) if indices is None else [int(k) for k in indices]
        bad = [k for k in ks if not 0 <= k < self.n_models]
        if bad:
            raise InputError(f"model indices must lie in [0, {self.n_models - 1}]; got {bad[0]}")
        missing = [k for k in ks if not self._is_done(k)]
        if missing:
            raise InputError(f"reference store {self.path} is incomplete: {len(missing)} of {len(ks)} models are not "
                             f"trained (first: {missing[0]}); run train_references again to finish it")
        parts = [self._read_signals(k)[0] for k in ks]
        return QuerySignals(logit_confidence=np.stack([p["logit_confidence"] for p in parts]),
                            confidence=np.stack([p["confidence"] for p in parts]))

    def load_model(self, k: int, *, device: Any = "cpu") -> Any:
        """Reference model k: a torch module in eval mode on ``device``, or a fitted XGBClassifier."""
        k = self._require(k)
        if self.spec.is_custom:
            raise InputError(f"reference store {self.path}: models of a user training function are kept as "
                             "their signals only; there are no weights to load")
        _, info = self._read_signals(k)
        path = self._weights_path(k, self._weights_format)
        rebuild = f"delete it to train model {k} again (or delete the store folder to rebuild it all)"
        try:
            weights = path.read_bytes()
        except OSError as exc:
            raise DataFileError(f"reference store {self.path}: cannot read {path}: {one_line(exc, 160)}; {rebuild}") from None
        if hashlib.sha256(weights).hexdigest() != info.get("weights_sha256"):
            raise DataFileError(f"reference store {self.path}: {path} does not match the sha256 recorded in "
                                f"{self._signals_path(k)} (the file was changed, damaged or swapped); {rebuild}")
        model = self.spec.build(k)
        if self.spec.is_torch:
            from safetensors.torch import load

            from ..device import resolve_device

            model.load_state_dict(load(weights))
            return model.to(resolve_device(device)).eval()
        model.load_model(bytearray(weights))
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


__all__ = ["ReferenceStore", "FORMAT_VERSION", "write_atomic", "array_sha256", "meta_sha256", "signals_sha256"]

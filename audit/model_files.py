"""Load a saved model file (one mia-audit did not train) as a :class:`~mia_audit.adapters.ModelAdapter`.

``load_model_file(path, *, kind=None, architecture=None, build=None, input_shape=None,
n_classes=None, params=None, device="auto", output=None, base_dir=None)``

=================  =======================  ==================================================
kind               suffix                   how it is loaded
=================  =======================  ==================================================
torch-state-dict   .pt, .pth                ``torch.load(weights_only=True)`` into
                                            ``build_model(architecture, ...)`` or the user's
                                            ``build(input_shape, n_classes)``, strict
safetensors        .safetensors             ``safetensors.torch.load_file`` into the same
xgboost            .json, .ubj              ``xgboost.XGBClassifier().load_model``
onnx               .onnx                    onnxruntime on the CPU (optional extra); read from
                                            its probability or logit output (see OnnxAdapter)
skops              .skops                   ``skops.io.load`` trusting only scikit-learn, numpy
                                            and scipy classes (see :mod:`mia_audit.skops_files`)
=================  =======================  ==================================================

A torch state dict needs the network it belongs to: ``architecture`` (a name of the zoo,
``mia_audit.models.MODELS``, built with ``params``) or ``build`` (the user's own function, not
both): ``"package.module:function"`` (imported by :func:`mia_audit.user_code.load_function`,
``base_dir`` searched first) or a callable, called as ``build(input_shape, n_classes)`` with
``input_shape`` a tuple of ints (one record's shape) and ``n_classes`` an int; it returns an
untrained ``torch.nn.Module`` whose ``state_dict()`` keys and shapes the file must match
exactly (``load_state_dict(strict=True)``). It is called once, under a forked torch RNG
seeded 0 (the caller's random state is left alone).

Nothing is ever unpickled: torch files are read with ``weights_only=True`` (or as safetensors),
skops files by skops' own format with an explicit allowlist, XGBoost from JSON/UBJSON. Every
failure is an :class:`~mia_audit.errors.InputError` (a :class:`~mia_audit.errors.DataFileError`
for a missing or unreadable file) with a one-line message naming the file.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .adapters import ModelAdapter, TorchAdapter, XGBoostAdapter
from .adapters.base import _check_batch_size, _check_n_classes
from .checks import shape
from .errors import DataFileError, InputError, bad_value, one_line as _one_line
from .frameworks import is_data_frame, to_numpy

KINDS = ("torch-state-dict", "safetensors", "xgboost", "onnx", "skops")
TORCH_KINDS = ("torch-state-dict", "safetensors")
SUFFIXES = {".pt": "torch-state-dict", ".pth": "torch-state-dict", ".safetensors": "safetensors",
            ".json": "xgboost", ".ubj": "xgboost", ".onnx": "onnx", ".skops": "skops"}
BUILD_SIGNATURE = "build(input_shape, n_classes) -> torch.nn.Module"
ONNX_EXTRA_MESSAGE = "the onnxruntime package is needed to load ONNX models: pip install onnxruntime"
SAFETENSORS_EXTRA_MESSAGE = "the safetensors package is needed to load .safetensors files: pip install safetensors"


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def infer_kind(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"model file {path}: cannot tell its kind from the suffix {suffix or '(none)'!r}; "
            f"give kind, one of {', '.join(KINDS)} (suffixes {', '.join(SUFFIXES)})"
        )
    return SUFFIXES[suffix]


def load_model_file(
    path: str | Path,
    *,
    kind: Optional[str] = None,
    architecture: Optional[str] = None,
    input_shape: Optional[Sequence[int]] = None,
    n_classes: Optional[int] = None,
    params: Optional[dict[str, Any]] = None,
    device: str = "auto",
    output: Optional[str] = None,
    build: Any = None,
    base_dir: Optional[str | Path] = None,
) -> ModelAdapter:
    """The adapter of the model saved at ``path`` (see the module docstring for kinds).

    Torch kinds need ``architecture`` (a name of ``mia_audit.models.MODELS``) or ``build``
    (the user's function, see the module docstring; ``base_dir`` is searched first for its
    module), ``input_shape`` and ``n_classes``; ``params`` go to ``build_model`` (with
    ``build`` only ``params.batch_size`` applies). The module is moved to ``device``
    ("auto": a GPU when there is one). ``n_classes`` is read from XGBoost files and, when
    not given, from an ONNX model's output shape. ``output`` names the ONNX output to read
    (default: its probabilities or logits when it has them; see :class:`OnnxAdapter`).
    """
    p = Path(path)
    if kind is None:
        kind = infer_kind(p)
    elif kind not in KINDS:
        raise InputError(f"model kind must be one of {', '.join(KINDS)}; got {kind!r} (file {p})")
    if not p.is_file():
        raise DataFileError(f"model file not found: {p}")
    if params is not None and not isinstance(params, dict):
        raise InputError(f"params must be a table of architecture options; got {type(params).__name__} (file {p})")
    if output is not None and kind != "onnx":
        raise InputError(f"output names an ONNX model's output; model file {p} is {kind}, which has one output")
    if build is not None and architecture is not None:
        raise InputError(f"target.architecture and target.build are exclusive (model file {p}): architecture names "
                         "a network of the zoo, build your own function; give one")
    if build is not None and kind not in TORCH_KINDS:
        raise InputError(f"target.build rebuilds a torch network for its weights; model file {p} is {kind}")
    if kind in TORCH_KINDS:
        return _load_torch(p, kind, architecture, build, input_shape, n_classes, dict(params or {}), device, base_dir)
    if kind == "xgboost":
        return _load_xgboost(p, n_classes)
    if kind == "skops":
        from .skops_files import load_skops

        return load_skops(p, n_classes=n_classes)
    return OnnxAdapter(p, n_classes=n_classes, output=output)


# ---------------------------------------------------------------------------- torch


def _read_state(p: Path, kind: str) -> dict[str, Any]:
    import torch

    if kind == "safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise InputError(f"model file {p}: {SAFETENSORS_EXTRA_MESSAGE}") from None
        try:
            state = load_file(str(p), device="cpu")
        except Exception as exc:  # SafetensorError, OSError: malformed or truncated
            raise DataFileError(f"model file {p} is not a readable safetensors file: {_one_line(exc)}") from None
    else:
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError, RuntimeError (bad zip), EOFError: malformed or truncated
            raise DataFileError(
                f"model file {p} is not a readable torch weights file (torch.load with weights_only=True "
                f"failed: {_one_line(exc)})"
            ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise DataFileError(
            f"model file {p} must hold a state dict (names to tensors, torch.save(model.state_dict())); "
            f"got {type(state).__name__}"
        )
    return state


def _few(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _check_state(p: Path, model: Any, state: dict[str, Any], what: str) -> None:
    """An InputError listing (a few of) the missing, unexpected and misshapen keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshapen = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing key{'s' if len(missing) > 1 else ''} {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected key{'s' if len(unexpected) > 1 else ''} {_few(unexpected)}")
    noun = what.split()[0]  # "architecture" or "build"
    for k in misshapen[:2]:
        problems.append(f"key {k!r} has shape {tuple(state[k].shape)}, the {noun} expects {tuple(expected[k].shape)}")
    if len(misshapen) > 2:
        problems.append(f"{len(misshapen) - 2} more keys of the wrong shape")
    if problems:
        raise InputError(f"model file {p} does not match {what}: {'; '.join(problems)}")


def _call_build(build: Any, input_shape: tuple[int, ...], n_classes: int, base_dir: Any) -> tuple[Any, str]:
    """The untrained module the user's ``build`` returns, and how to name that function."""
    import torch

    from .user_code import load_function, qualified_name

    if isinstance(build, str):
        fn, name = load_function(build, param="target.build", base_dir=base_dir), build
    elif callable(build):
        fn, name = build, qualified_name(build)
    else:
        raise bad_value("target.build", f'"package.module:function" or a function {BUILD_SIGNATURE}', build)
    try:
        inspect.signature(fn).bind(input_shape, n_classes)
    except TypeError:
        raise InputError(f"target.build: {name}{inspect.signature(fn)} cannot be called as {BUILD_SIGNATURE}") from None
    except ValueError:  # no signature (a builtin): its call is checked below
        pass
    try:
        from .seeding import isolated_torch_seed

        with isolated_torch_seed(0):  # the weights are loaded next; the caller's RNG is untouched
            model = fn(input_shape, n_classes)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code failed: say where, in one line
        raise InputError(f"target.build: {name} raised {type(exc).__name__}: {_one_line(exc)}") from None
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"target.build: {name} returned a {type(model).__name__}, not a torch.nn.Module "
                         f"({BUILD_SIGNATURE})")
    return model, name


def _load_torch(p: Path, kind: str, architecture, build, input_shape, n_classes, params, device,
                base_dir) -> TorchAdapter:
    from .device import resolve_device
    from .models import build_model

    network = ("build", build) if build is not None else ("architecture", architecture)
    missing = [name for name, v in (network, ("input_shape", input_shape), ("n_classes", n_classes)) if v is None]
    if missing:
        hint = " (architecture: a zoo name, or build: your own function)" if network[1] is None else ""
        raise InputError(f"model file {p} ({kind}) needs {', '.join(missing)} to rebuild the network{hint}")
    if architecture == "xgboost":
        raise InputError(f"model file {p}: architecture 'xgboost' is not a torch network; save it as .json or .ubj")
    input_shape = shape("input_shape", input_shape)
    batch_size = _check_batch_size(params.pop("batch_size", 1024), "params.batch_size", allow_none=False)
    if build is not None:
        if params:
            raise InputError(f"target.params: with build only batch_size applies (build is called as "
                             f"{BUILD_SIGNATURE}); got {', '.join(sorted(params))}")
        model, name = _call_build(build, tuple(int(d) for d in input_shape), _check_n_classes(n_classes), base_dir)
        what = f"build {name!r}"
    else:
        model = build_model(architecture, input_shape=tuple(input_shape), n_classes=n_classes, seed=0, **params)
        what = f"architecture {architecture!r}"
    state = _read_state(p, kind)
    _check_state(p, model, state, what)
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # noqa: BLE001 - _check_state catches the known causes; a custom hook may fail
        raise InputError(f"model file {p} does not match {what}: {_one_line(exc)}") from None
    model.to(resolve_device(device))
    model.eval()
    return TorchAdapter(model, n_classes=n_classes, batch_size=batch_size)


# ---------------------------------------------------------------------------- xgboost


def _load_xgboost(p: Path, n_classes: Optional[int]) -> XGBoostAdapter:
    import xgboost

    model = xgboost.XGBClassifier()
    try:
        model.load_model(str(p))
    except Exception as exc:  # XGBoostError: malformed or truncated
        raise DataFileError(f"model file {p} is not a readable XGBoost model (.json / .ubj): {_one_line(exc)}") from None
    try:
        adapter = XGBoostAdapter(model) if getattr(model, "classes_", None) is not None else None
    except InputError:
        adapter = None
    if adapter is None:  # a bare booster file: its objective says what it outputs
        adapter = XGBoostAdapter(model.get_booster())
    if n_classes is not None and _check_n_classes(n_classes) != adapter.n_classes:
        raise InputError(f"model file {p}: n_classes {n_classes} does not match the model's {adapter.n_classes} classes")
    return adapter


# ---------------------------------------------------------------------------- onnx

_ONNX_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
                "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def _onnx_output_role(out: Any) -> str:
    """'scores' (a float tensor of rank 2: probabilities or logits), 'map' (a sequence of maps
    {class: probability}, skl2onnx's ZipMap), 'labels' (an integer tensor of rank 1) or 'other'."""
    shape = list(out.shape or [])
    if out.type in ("tensor(float)", "tensor(double)", "tensor(float16)") and len(shape) == 2:
        return "scores"
    if out.type.startswith("seq(map(") and ("float" in out.type or "double" in out.type):
        return "map"
    if out.type in ("tensor(int64)", "tensor(int32)") and len(shape) == 1:
        return "labels"
    return "other"


class OnnxAdapter(ModelAdapter):
    """An ONNX model run by onnxruntime on the CPU: first input in, one output out.

    The output read is ``output`` when given (an unknown name lists the outputs that exist);
    otherwise the first float tensor of shape (n, n_classes) (skl2onnx's ``probabilities``,
    or a network's logits), else the first sequence of maps {class: probability} (skl2onnx's
    ZipMap, columns in sorted class order), else the first integer tensor of one label per
    record. Only a model that has nothing but labels is audited as label-only.

    A float output is read as probabilities when every row of a probe (4 seeded
    standard-normal records, when the input's record shape is known) lies in [0, 1] and sums
    to 1, else as logits. A ZipMap output is probabilities.
    """

    framework = "onnx"

    def __init__(self, path: str | Path, *, n_classes: Optional[int] = None, batch_size: Optional[int] = 1024,
                 output: Optional[str] = None):
        p = Path(path)
        try:
            import onnxruntime
        except ImportError:
            raise InputError(f"model file {p}: {ONNX_EXTRA_MESSAGE} (the 'onnx' extra)") from None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # InvalidProtobuf, Fail: malformed or truncated
            raise DataFileError(f"model file {p} is not a readable ONNX model: {_one_line(exc)}") from None
        self.path = p
        self.batch_size = _check_batch_size(batch_size)
        first_in = self.session.get_inputs()[0]
        outputs = list(self.session.get_outputs())
        names = [o.name for o in outputs]
        if output is not None:
            if not isinstance(output, str) or output not in names:
                raise InputError(f"output must name one of the ONNX model's outputs ({', '.join(names)}); "
                                 f"got {output!r} (file {p})")
            chosen = outputs[names.index(output)]
        else:
            roles = [_onnx_output_role(o) for o in outputs]
            pick = next((roles.index(r) for r in ("scores", "map", "labels") if r in roles), 0)
            chosen = outputs[pick]
        role = _onnx_output_role(chosen)
        if role == "other":
            raise InputError(f"model file {p}: ONNX output {chosen.name!r} ({chosen.type}, shape {chosen.shape}) is "
                             "neither scores of shape (n, n_classes), a ZipMap nor one label per record")
        self._input = first_in.name
        self._output = chosen.name
        self._role = role
        self._classes: Optional[list] = None
        self._dtype = _ONNX_DTYPES.get(first_in.type, np.float32)
        self.outputs_available = names
        record = [d for d in list(first_in.shape or [])[1:]]
        probe = None
        if record and all(isinstance(d, int) and d > 0 for d in record):
            probe = np.random.default_rng(0).standard_normal((4, *record)).astype(self._dtype)
        if role == "labels":
            self.output_kind = "labels"
            if n_classes is None:
                raise InputError(f"model file {p}: the ONNX model outputs labels only ({chosen.name!r}); give n_classes")
            self.n_classes = _check_n_classes(n_classes)
            return
        if role == "map":
            self.output_kind = "probs"
            if probe is not None:
                self._probe(probe)  # sets the classes from the first row of the map
            width = None if self._classes is None else len(self._classes)
            if n_classes is None and width is None:
                raise InputError(f"model file {p}: cannot tell the classes of ONNX output {chosen.name!r}; give n_classes")
            self.n_classes = _check_n_classes(n_classes if n_classes is not None else width)
            if width is not None and width != self.n_classes:
                raise InputError(f"model file {p}: n_classes {n_classes} does not match the {width} classes of "
                                 f"ONNX output {chosen.name!r}")
            return
        out_shape = list(chosen.shape or [])
        width = out_shape[1] if isinstance(out_shape[1], int) else None
        if n_classes is None and width is None:
            raise InputError(f"model file {p}: the ONNX output's class dimension is not fixed; give n_classes")
        self.n_classes = _check_n_classes(n_classes if n_classes is not None else width)
        if width is not None and n_classes is not None and width != self.n_classes:
            raise InputError(f"model file {p}: n_classes {n_classes} does not match the ONNX output width {width}")
        self.output_kind = "logits"
        if probe is not None:
            values = np.asarray(self._probe(probe), dtype=np.float64)
            if values.ndim == 2 and np.all((values >= 0) & (values <= 1)) and np.allclose(values.sum(1), 1, atol=1e-4):
                self.output_kind = "probs"

    @property
    def record_shape(self) -> Optional[tuple[int, ...]]:
        dims = list(self.session.get_inputs()[0].shape or [])[1:]
        return tuple(int(d) for d in dims) if dims and all(isinstance(d, int) and d > 0 for d in dims) else None

    def _probe(self, probe: np.ndarray) -> np.ndarray:
        """The chosen output on the probe records; a model that fails on them is a bad file."""
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        runtime_errors = tuple(v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception))
        try:
            return self._run(probe)
        except runtime_errors + (RuntimeError, ValueError, TypeError) as exc:
            raise DataFileError(f"model file {self.path}: the ONNX model fails on a probe batch: "
                                f"{_one_line(exc)}") from None

    def _run(self, X: np.ndarray) -> np.ndarray:
        out = self.session.run([self._output], {self._input: X})[0]
        if self._role != "map":
            return out
        rows = list(out)
        classes = self._classes if self._classes is not None else (sorted(rows[0]) if rows else [])
        if self._classes is None:
            self._classes = classes
        values = np.empty((len(rows), len(classes)), dtype=np.float64)
        for i, row in enumerate(rows):
            if sorted(row) != classes:
                raise InputError(f"model file {self.path}: ONNX output {self._output!r} gave classes {sorted(row)} "
                                 f"in one row and {classes} in another")
            values[i] = [row[c] for c in classes]
        return values

    def _predict_batch(self, X: Any) -> np.ndarray:
        arr = np.ascontiguousarray(np.asarray(X if is_data_frame(X) else to_numpy(X, float32=True)), dtype=self._dtype)
        out = np.asarray(self._run(arr))
        return out.astype(np.int64) if self.output_kind == "labels" else out.astype(np.float64)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "output": self._output, "outputs_available": list(self.outputs_available)}

    def unwrap(self) -> Any:
        return self.session


__all__ = ["KINDS", "BUILD_SIGNATURE", "load_model_file", "infer_kind", "file_sha256", "OnnxAdapter"]

"""The user's own code, named in a configuration: ``"package.module:function"``.

A configuration may name Python functions of the user's: ``[model] train = "mymodel:fit"``
(``fit(X, y, *, seed, device) -> model``) and ``[model] build = "mymodel:build"`` (an
untrained model, for the methods that need one, and for loading a torch state dict). Naming code
in a configuration **runs that code**: mia-audit imports the module, and nothing else from a
configuration is ever executed.

:func:`load_function` imports the named function, searching the configuration's own folder
first (``train = "mymodel:fit"`` finds ``mymodel.py`` beside the config). :class:`TrainFunction`
wraps a training function: it calls it with one seed per model, checks that what it returns can
be queried, and gives the identity a reference-model cache is keyed by (the function's
qualified name, a digest of its module's source, and an optional version the user declares), so
that edited training code never reuses stale models.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from .errors import InputError, bad_value

TRAIN_SIGNATURE = "fit(X, y, *, seed, device) -> model"  # seed: an int in [0, 2**32); device: "cpu", "cuda", ...


@contextlib.contextmanager
def _search_first(folder: Optional[Path]) -> Iterator[None]:
    if folder is None:
        yield
        return
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def load_function(spec: Any, *, param: str, base_dir: Optional[str | Path] = None) -> Callable[..., Any]:
    """The function ``spec`` names (``"package.module:function"``, dotted attributes allowed
    after the colon), imported with ``base_dir`` searched first; an InputError naming ``param``
    when it does not import or is not callable."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise bad_value(param, '"package.module:function" (the module, a colon, the function)', spec)
    module_name, attr = spec.split(":")
    folder = Path(base_dir).resolve() if base_dir is not None else None
    cached = sys.modules.get(module_name)
    if cached is not None and folder is not None:  # another folder's module of the same name was imported
        candidate = folder.joinpath(*module_name.split(".")).with_suffix(".py")
        here = getattr(cached, "__file__", None)
        if candidate.is_file() and (here is None or Path(here).resolve() != candidate):
            del sys.modules[module_name]
    with _search_first(folder):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            where = f" (searched {folder} first, then sys.path)" if folder is not None else ""
            raise InputError(f"{param}: cannot import module {module_name!r}{where}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the user's module failed while importing
            raise InputError(f"{param}: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise InputError(f"{param}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise bad_value(param, "a callable", f"{spec} ({type(target).__name__})")
    return target


def source_sha256(fn: Callable[..., Any]) -> Optional[str]:
    """A digest of the source of the module that defines ``fn`` (None where there is no source file)."""
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    path = getattr(module, "__file__", None)
    if not path or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def qualified_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', type(fn).__name__)}"


def _check_train_signature(fn: Callable[..., Any], param: str) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or C callable: trust it, its call is checked
        return
    params = sig.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    positional = [p for p in params.values()
                  if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params.values())
    missing = [k for k in ("seed", "device") if k not in params]
    if (len(positional) < 2 and not varargs) or missing:
        raise InputError(f"{param}: {qualified_name(fn)}{sig} does not take {TRAIN_SIGNATURE}"
                         + (f" (no {' or '.join(missing)} keyword)" if missing else ""))


@dataclass(frozen=True)
class Trained:
    """What :meth:`TrainFunction.train` returns: the model and how long its training took (the
    fields of :class:`mia_audit.training.TrainResult` that an audit reads)."""

    model: Any
    seconds: float
    device: str = "cpu"
    history: tuple[float, ...] = ()


@dataclass(frozen=True)
class TrainFunction:
    """The user's training function, ``fit(X, y, *, seed, device) -> model``.

    ``name`` is how the configuration named it (or its qualified name when given from Python);
    ``version`` an optional tag the user declares; ``digest`` the sha256 of its module's source.
    """

    fn: Callable[..., Any] = field(repr=False, compare=False)
    name: str
    version: Optional[str] = None
    digest: Optional[str] = None
    param: str = "model.train"

    @classmethod
    def of(cls, value: Any, *, param: str = "model.train", base_dir: Optional[str | Path] = None,
           version: Optional[str] = None) -> "TrainFunction":
        """A TrainFunction from a ``"module:function"`` text, a callable, or a TrainFunction."""
        if isinstance(value, TrainFunction):
            return value
        if version is not None and not isinstance(version, str):
            raise bad_value("model.version", "text (a version tag of your training code)", version)
        if isinstance(value, str):
            fn, name = load_function(value, param=param, base_dir=base_dir), value
        elif callable(value):
            fn, name = value, qualified_name(value)
        else:
            raise bad_value(param, f'"package.module:function" or a function {TRAIN_SIGNATURE}', value)
        _check_train_signature(fn, param)
        return cls(fn=fn, name=name, version=version, digest=source_sha256(fn), param=param)

    def train(self, X: Any, y: Any, *, seed: int, device: Any = "cpu", n_classes: Optional[int] = None) -> Trained:
        """One model trained by the user's function on ``X, y`` with ``seed``; refused with a
        clear error when it raises or returns something the toolkit cannot query."""
        from .adapters import as_adapter

        start = time.perf_counter()
        try:  # a seed in [0, 2**32): what numpy, scikit-learn, XGBoost and torch all accept
            model = self.fn(X, y, seed=int(seed) % 2**32, device=str(device))
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's code failed: say where, in one line
            raise InputError(f"{self.param}: {self.name} raised {type(exc).__name__}: {exc}") from None
        seconds = time.perf_counter() - start
        if model is None:
            raise InputError(f"{self.param}: {self.name} returned None; it must return the trained model")
        try:
            as_adapter(model, n_classes=n_classes)
        except InputError as exc:
            raise InputError(f"{self.param}: {self.name} returned a {type(model).__name__}, which mia-audit "
                             f"cannot query ({exc}); return a torch module, a scikit-learn or XGBoost model, "
                             "or a CallableAdapter") from None
        return Trained(model=model, seconds=seconds, device=str(device))

    def to_meta(self) -> dict[str, Any]:
        """The identity a result records and a reference-model cache is keyed by."""
        return {"train": self.name, "source_sha256": self.digest, "version": self.version}


def training_function(given: Any, named: Optional[str], *, param: str, base_dir: Optional[str | Path] = None,
                      version: Optional[str] = None) -> Optional[TrainFunction]:
    """The training function of an audit: ``given`` from Python (``train_fn``) or ``named`` in the
    configuration (``param``, e.g. "model.train"); None when neither is; both is refused."""
    if given is None and named is None:
        return None
    if given is not None and named is not None:
        raise InputError(f"train_fn and {param} both name a training function ({named!r}); give one")
    return TrainFunction.of(given if given is not None else named, param=param, base_dir=base_dir, version=version)


__all__ = ["load_function", "TrainFunction", "training_function", "Trained", "source_sha256", "qualified_name", "TRAIN_SIGNATURE"]

"""A name-to-factory registry with a clear error for unknown names and unknown options.

One instance per kind of thing (attacks, datasets, models, unlearners, ...)::

    ATTACKS = Registry("attack")

    @ATTACKS.register("loss")
    class LossAttack: ...

    ATTACKS.create("loss", **options)

:meth:`Registry.create` is the one place where options are checked: every option must be
a keyword the factory accepts (read from its signature, or declared with
``register(..., options=...)`` for a factory taking ``**kwargs``); anything else is refused
with one message shape, the same for every registry::

    attack 'loss-lr': unknown option 'folds'; valid options: C, n_splits, seed

(``parameter`` instead of ``option`` for registries whose settings are called parameters,
e.g. models and mitigations). Arguments the toolkit passes itself (``supplied``, e.g. a
model's ``input_shape``) are accepted but not listed as options.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, Optional, TypeVar

from .errors import InputError

T = TypeVar("T")

_KEYWORDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def unknown_options_message(what: str, given: Iterable[str], allowed: Iterable[str], *, word: str = "option") -> str:
    """The one message for unknown options: ``<what>: unknown option 'x'; valid options: a, b``.

    ``what`` names the thing the options were given to (e.g. ``attack 'loss'``), ``given``
    the unknown option names as the caller wrote them, ``allowed`` the valid ones.
    """
    unknown = sorted(str(k) for k in given)
    names = ", ".join(repr(k) for k in unknown)
    valid = ", ".join(sorted(allowed)) or "none"
    plural = "s" if len(unknown) > 1 else ""
    return f"{what}: unknown {word}{plural} {names}; valid {word}s: {valid}"


class Registry(Generic[T]):
    """Factories by name.

    ``kind`` names what is registered ("attack", "model", ...) in messages; ``word`` is what
    its settings are called ("option" or "parameter"); ``supplied`` lists the keyword
    arguments the toolkit itself passes to every factory (not options a user gives).
    """

    def __init__(self, kind: str, *, word: str = "option", supplied: Iterable[str] = ()) -> None:
        self.kind = kind
        self.word = word
        self.supplied = tuple(supplied)
        self._items: dict[str, Callable[..., T]] = {}
        self._help: dict[str, str] = {}
        self._options: dict[str, tuple[str, ...]] = {}

    def register(self, name: str, *, help: str | None = None,
                 options: Optional[Iterable[str]] = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that registers a factory (class or function) under ``name``.

        The factory's options are its keyword parameters (less ``supplied``); a factory that
        takes ``**kwargs`` must declare the full list with ``options``.
        """

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._options[name] = self._read_options(name, factory, options)
            self._items[name] = factory
            doc = help or (factory.__doc__ or "").strip().splitlines()
            self._help[name] = doc if isinstance(doc, str) else (doc[0] if doc else "")
            return factory

        return decorate

    def _read_options(self, name: str, factory: Callable[..., Any], declared: Optional[Iterable[str]]) -> tuple[str, ...]:
        params = inspect.signature(factory).parameters.values()
        if declared is not None:
            return tuple(p for p in declared if p not in self.supplied)
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            raise ValueError(f"{self.kind} {name!r} takes **kwargs: declare its options with register(..., options=...)")
        return tuple(p.name for p in params if p.kind in _KEYWORDS and p.name not in self.supplied)

    def names(self) -> list[str]:
        return sorted(self._items)

    def describe(self, name: str) -> str:
        self.get(name)
        return self._help[name]

    def get(self, name: str) -> Callable[..., T]:
        if not isinstance(name, str) or name not in self._items:
            raise InputError(
                f"{self.kind} must be one of {', '.join(self.names())}; got {name!r}"
            )
        return self._items[name]

    def options(self, name: str) -> list[str]:
        """The options a user may give ``name`` (in the factory's order; ``supplied`` excluded)."""
        self.get(name)
        return list(self._options[name])

    def check_options(self, name: str, options: Mapping[str, Any]) -> None:
        """Refuse any key of ``options`` that ``name`` does not take (``supplied`` keys pass)."""
        allowed = self.options(name)
        unknown = [k for k in options if k not in allowed and k not in self.supplied]
        if unknown:
            raise InputError(unknown_options_message(f"{self.kind} {name!r}", unknown, allowed, word=self.word))

    def create(self, name: str, /, **options: Any) -> T:
        """``name``'s factory called with ``options``, after :meth:`check_options`."""
        factory = self.get(name)
        self.check_options(name, options)
        return factory(**options)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

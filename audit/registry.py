"""A name-to-factory registry with a clear error for unknown names.

One instance per kind of thing (attacks, datasets, models, unlearners, ...)::

    ATTACKS = Registry("attack")

    @ATTACKS.register("loss")
    class LossAttack: ...

    ATTACKS.create("loss", **options)
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Callable[..., T]] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, *, help: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that registers a factory (class or function) under ``name``."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = factory
            doc = help or (factory.__doc__ or "").strip().splitlines()
            self._help[name] = doc if isinstance(doc, str) else (doc[0] if doc else "")
            return factory

        return decorate

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

    def create(self, name: str, /, **options: Any) -> T:
        return self.get(name)(**options)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

"""Registries that make parts pluggable by name (spaCy style): sources, components, sinks.

A plug-in registers a factory under a name; settings and the CLI refer to it by that name::

    @SOURCES.register("toy")
    class ToySource(Source): ...

A registration made in any imported module (a test, a DAG's own module, a deployment's
package) is seen everywhere in that process; nothing in ``pipelines`` needs editing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pipelines.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str) -> None:
        self.what = what
        self._factories: dict[str, T] = {}

    def register(self, name: str, factory: T | None = None) -> Callable[[T], T] | T:
        """Register ``factory`` under ``name``; used bare as a decorator it registers what it decorates."""

        def add(item: T) -> T:
            self._factories[name] = item
            return item

        return add(factory) if factory is not None else add

    def get(self, name: str) -> T:
        try:
            return self._factories[name]
        except KeyError:
            raise ConfigError(f"no {self.what} named {name!r}; known: {', '.join(sorted(self._factories))}") from None

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

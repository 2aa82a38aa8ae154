"""Named registries (scorers, reductions, backends, judges) with did-you-mean errors."""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownName(LookupError):
    """A registry miss; the message names the close matches and the valid names."""


class Registry(Generic[T]):
    """``builtins`` names the modules whose decorators register the built-in entries: the registry imports
    them itself before its first lookup, so what a lookup finds never depends on what happened to be imported."""

    def __init__(self, kind: str, builtins: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._builtins = builtins
        self._loaded = not builtins

    def load_builtins(self) -> None:
        if self._loaded:
            return
        import importlib

        self._loaded = True  # set first: the imports register, and a registration never looks up
        for module in self._builtins:
            importlib.import_module(module)

    def register(self, name: str, entry: T | None = None):
        """Register ``entry`` under ``name``; usable as a decorator when ``entry`` is omitted."""

        def add(obj: T) -> T:
            # the latest registration wins: a conftest reloaded by pytester re-registers its scorers
            self._entries[name] = obj
            return obj

        return add(entry) if entry is not None else add

    def get(self, name: str) -> T:
        self.load_builtins()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(unknown_name_message(self.kind, name, self._entries)) from None

    def __contains__(self, name: object) -> bool:
        self.load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        self.load_builtins()
        return sorted(self._entries)


def unknown_name_message(kind: str, name: str, valid) -> str:
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean: {close[0]}?" if close else ""
    return f"Unknown {kind} {name!r}.{hint} Valid: {', '.join(valid)}"


def lazy(module: str, attr: str) -> Callable:
    """A factory that imports ``module`` only when called: keeps heavy dependencies optional."""

    def load(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    load.__qualname__ = f"lazy({module}.{attr})"
    return load

"""A module imported on first use, for code that a cold start should not pay for."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name``: the first attribute read imports it.

    Blueprints hold their services this way, so ``import app`` registers every
    route without importing a service, its storage or its pydantic models;
    a request imports those of its own route only.
    """

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str) -> Any:
    """``name`` as a ``LazyModule`` (typed ``Any``: attributes are the module's)."""
    return LazyModule(name)

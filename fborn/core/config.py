"""Process-wide configuration flags (``fborn.config.update("enable_x64", True)``)."""

from __future__ import annotations

import os
from typing import Any


class Config:
    """Holds fborn's flags. ``enable_x64`` keeps 64-bit inputs as 64-bit, as in JAX."""

    _defaults = {
        "enable_x64": os.environ.get("FBORN_ENABLE_X64", "0").lower() in ("1", "true"),
        "disable_jit": False,
    }

    def __init__(self) -> None:
        self._values: dict[str, Any] = dict(self._defaults)

    def update(self, name: str, value: Any) -> None:
        """Set flag ``name`` (``jax_`` prefixes are accepted); unknown names raise ValueError."""
        key = name.removeprefix("jax_").removeprefix("fborn_")
        if key not in self._values:
            raise ValueError(f"unknown fborn config option {name!r}; known: {sorted(self._values)}")
        self._values[key] = value

    def read(self, name: str) -> Any:
        return self._values[name.removeprefix("jax_").removeprefix("fborn_")]

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("_values", {})
        key = name.removeprefix("jax_").removeprefix("fborn_")
        if key in values:
            return values[key]
        raise AttributeError(name)


config = Config()

"""Process-wide configuration flags (``fborn.config.update("enable_x64", True)``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


class Config:
    """Holds fborn's flags. ``enable_x64`` keeps 64-bit inputs as 64-bit, as in JAX."""

    _defaults = {
        "enable_x64": os.environ.get("FBORN_ENABLE_X64", "0").lower() in ("1", "true"),
        "disable_jit": False,
        # How jit runs its jaxprs on the CPU: "numba" (one compiled native function per jaxpr)
        # or "reference" (op by op on numpy: no compile time, for debugging).
        "jit_compiler": os.environ.get("FBORN_JIT_COMPILER", "numba"),
    }

    enable_x64: bool
    disable_jit: bool
    jit_compiler: str

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        for key, value in self._defaults.items():
            self.update(key, value)

    def update(self, name: str, value: Any) -> None:
        """Set flag ``name`` (``jax_`` prefixes are accepted); unknown names raise ValueError."""
        key = name.removeprefix("jax_").removeprefix("fborn_")
        if key not in self._defaults:
            raise ValueError(f"unknown fborn config option {name!r}; known: "
                             f"{sorted(self._defaults)}")
        self._values[key] = value
        setattr(self, key, value)  # plain attributes: read on every dtype decision

    def read(self, name: str) -> Any:
        return self._values[name.removeprefix("jax_").removeprefix("fborn_")]

    def restore(self, values: dict[str, Any]) -> None:
        """Set every flag from ``values`` (as returned by ``snapshot``)."""
        for key, value in values.items():
            self.update(key, value)

    def snapshot(self) -> dict[str, Any]:
        return dict(self._values)

    @contextlib.contextmanager
    def override(self, **flags: Any) -> Iterator[None]:
        """Set ``flags`` for a ``with`` block, then restore every flag as it was
        (``with fborn.config.override(enable_x64=True): ...``)."""
        saved = self.snapshot()
        try:
            for name, value in flags.items():
                self.update(name, value)
            yield
        finally:
            self.restore(saved)


config = Config()

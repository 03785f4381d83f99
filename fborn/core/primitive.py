"""``Primitive``: a named operation whose rules (abstract eval, impl, jvp...) live side by side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fborn.core.errors import FbornDtypeError, FbornShapeError, user_frame_summary
from fborn.core.trace import current_var

_REGISTRY: dict[str, Primitive] = {}


class Primitive:
    """An operation the tracer records and every transform interprets.

    Rules are attached with the ``def_*`` decorators:
    ``abstract_eval(*avals, **params) -> aval | list[aval]`` (raise FbornShapeError/FbornDtypeError
    on bad operands), ``impl(*numpy_arrays, **params) -> ndarray | list[ndarray]`` (the reference
    implementation), and the transform rules (``jvp``, ``transpose``, ``batch``), which later
    layers read from the same object.
    """

    def __init__(self, name: str, multiple_results: bool = False):
        if name in _REGISTRY:
            raise ValueError(f"a primitive named {name!r} already exists")
        _REGISTRY[name] = self
        self.name = name
        self.multiple_results = multiple_results
        self._abstract_eval: Callable[..., Any] | None = None
        self.impl: Callable[..., Any] = self._missing_impl
        self.jvp: Callable[..., Any] | None = None
        self.transpose: Callable[..., Any] | None = None
        self.batch: Callable[..., Any] | None = None

    def bind(self, *args: Any, **params: Any) -> Any:
        """Apply this primitive to ``args`` under the current interpreter."""
        return current_var.get().process_primitive(self, args, params)

    def def_abstract_eval(self, rule: Callable[..., Any]) -> Callable[..., Any]:
        self._abstract_eval = rule
        return rule

    def def_impl(self, rule: Callable[..., Any]) -> Callable[..., Any]:
        self.impl = rule
        return rule

    def abstract_eval(self, *avals: Any, **params: Any) -> Any:
        """Output aval(s) for input avals; errors name this primitive and the user's call site."""
        try:
            return self._abstract_eval(*avals, **params)  # type: ignore[misc]
        except (FbornShapeError, FbornDtypeError) as e:
            if getattr(e, "fborn_located", False):
                raise
            where = user_frame_summary()
            err = type(e)(f"{self.name}: {e}" + (f"\n  (called from {where})" if where else ""))
            err.fborn_located = True  # type: ignore[attr-defined]
            raise err from None

    def _missing_impl(self, *args: Any, **params: Any) -> Any:
        raise NotImplementedError(f"primitive {self.name} has no reference implementation")

    def __repr__(self) -> str:
        return self.name


def all_primitives() -> dict[str, Primitive]:
    """Every primitive defined so far, by name."""
    return dict(_REGISTRY)

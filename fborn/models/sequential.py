"""``Sequential``: layers applied one after another, and ``Lambda`` to hold a plain function."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fborn import random
from fborn.core.array import Array
from fborn.models.module import Module, field

__all__ = ["Lambda", "Sequential"]


class Lambda(Module):
    """A function (e.g. ``fborn.nn.relu``) as a layer without parameters; the function is a
    static field (part of the pytree structure: jit retraces when it changes)."""

    fn: Callable[..., Any] = field(static=True)

    def __call__(self, x: Any, *, key: Any = None) -> Any:
        """``fn(x)``; ``key`` is ignored."""
        del key
        return self.fn(x)


@functools.cache
def _takes_key(layer_type: type) -> bool:
    try:
        params = inspect.signature(layer_type.__call__).parameters
    except (TypeError, ValueError):
        return False
    return "key" in params


class Sequential(Module):
    """Apply ``layers`` in order: ``Sequential([Linear(...), fborn.nn.relu, Linear(...)])``.

    Plain callables are wrapped in :class:`Lambda`. A ``key`` given to the call is split into
    one key per layer, passed to the layers whose ``__call__`` takes a ``key`` (Dropout...).
    Layers with state (BatchNorm) are not threaded: call those explicitly.
    """

    layers: tuple[Module, ...]

    def __init__(self, layers: Sequence[Callable[..., Any]]):
        for layer in layers:
            if not callable(layer):
                raise TypeError(f"Sequential: every layer must be callable, got "
                                f"{type(layer).__name__}")
        self.layers = tuple(layer if isinstance(layer, Module) else Lambda(layer)
                            for layer in layers)

    def __call__(self, x: Any, *, key: Array | None = None) -> Any:
        """Run ``x`` through the layers, splitting ``key`` (if given) among them."""
        keys = [None] * len(self.layers) if key is None else list(random.split(key,
                                                                              len(self.layers)))
        for layer, k in zip(self.layers, keys, strict=True):
            x = layer(x, key=k) if _takes_key(type(layer)) else layer(x)
        return x

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(self.layers[index])
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

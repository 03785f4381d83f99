"""The optax-style core: ``GradientTransformation``, ``chain``, ``identity``, ``apply_updates``.

A gradient transformation is a pair of pure functions: ``init(params) -> state`` and
``update(updates, state, params=None) -> (updates, state)``. States are pytrees (NamedTuples of
arrays), so a whole training step (gradient, update, ``apply_updates``) can be jitted and the
optimizer state saved with the parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import fborn.numpy as fnp
from fborn.core.array import Array
from fborn.numpy._util import ArrayLike
from fborn.tree_util import tree_leaves, tree_map

__all__ = [
    "EmptyState", "GradientTransformation", "OptState", "Params", "Schedule", "ScalarOrSchedule",
    "TransformInitFn", "TransformUpdateFn", "Updates", "apply_updates", "chain", "global_norm",
    "identity",
]

Params = Any
"""A pytree of parameter arrays (``None`` leaves allowed)."""
Updates = Any
"""A pytree of updates (gradients on the way in), with the structure of the parameters."""
OptState = Any
"""A pytree of optimizer state: NamedTuples of arrays."""
Schedule = Callable[[ArrayLike], ArrayLike]
"""A function from the step count (an int32 scalar) to a hyperparameter value."""
ScalarOrSchedule = float | Array | Schedule


class TransformInitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    def __call__(self, updates: Updates, state: OptState,
                 params: Params | None = None) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """An optimizer, or one stage of one: ``init(params) -> state`` and
    ``update(updates, state, params=None) -> (new_updates, new_state)``, both pure."""

    init: TransformInitFn
    update: TransformUpdateFn


class EmptyState(NamedTuple):
    """The state of a stateless transformation: a pytree with no leaves."""


def identity() -> GradientTransformation:
    """A transformation that returns the updates unchanged (state ``EmptyState()``)."""

    def init_fn(params: Params) -> EmptyState:
        del params
        return EmptyState()

    def update_fn(updates: Updates, state: OptState,
                  params: Params | None = None) -> tuple[Updates, OptState]:
        del params
        return updates, state

    return GradientTransformation(init_fn, update_fn)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Applies ``transforms`` in order; the state is the tuple of their states.

    Raises TypeError for an argument without ``init``/``update``, and ValueError when
    ``update`` gets a state that is not a tuple of one state per transformation."""
    for i, t in enumerate(transforms):
        if not (callable(getattr(t, "init", None)) and callable(getattr(t, "update", None))):
            raise TypeError(f"chain: argument {i} is {type(t).__name__}, "
                            "expected a GradientTransformation (an init/update pair)")

    def init_fn(params: Params) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update_fn(updates: Updates, state: OptState,
                  params: Params | None = None) -> tuple[Updates, tuple]:
        if type(state) is not tuple or len(state) != len(transforms):
            got = f"a tuple of {len(state)}" if type(state) is tuple else type(state).__name__
            raise ValueError(f"chain of {len(transforms)} transformations expects a tuple of "
                             f"{len(transforms)} states (from its init), got {got}")
        new_states = []
        for t, s in zip(transforms, state, strict=True):
            updates, s = t.update(updates, s, params)
            new_states.append(s)
        return updates, tuple(new_states)

    return GradientTransformation(init_fn, update_fn)


def apply_updates(params: Params, updates: Updates) -> Params:
    """``params + updates`` leaf by leaf, each result cast back to its parameter's dtype.

    ``None`` parameters stay ``None`` (their update is ignored). Raises ValueError when the
    structures differ."""

    def add(p: Any, u: Any) -> Any:
        if p is None:
            return None
        p = fnp.asarray(p)
        return fnp.asarray(p + u).astype(p.dtype)

    return tree_map(add, params, updates, is_leaf=lambda x: x is None)


def global_norm(updates: Updates) -> Array:
    """The L2 norm of all leaves together: ``sqrt(sum of every element squared)``; a scalar of
    the leaves' promoted dtype (0.0 for a tree without leaves)."""
    leaves = tree_leaves(updates)
    if not leaves:
        return fnp.zeros((), fnp.float32)
    total = fnp.sum(fnp.square(leaves[0]))
    for x in leaves[1:]:
        total = total + fnp.sum(fnp.square(x))
    return fnp.sqrt(total)

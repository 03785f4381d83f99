"""``fborn.models.Module``: models as immutable pytrees (equinox-style), and pytree helpers.

A subclass of :class:`Module` is turned into a dataclass and registered as a pytree node::

    class Affine(Module):
        weight: fborn.Array
        bias: fborn.Array
        activation: Callable = fnp.tanh

        def __call__(self, x):
            return self.activation(x @ self.weight + self.bias)

Which field values are *children* (leaves or subtrees) and which live in the *treedef* is decided
per value when the module is flattened:

- children: arrays (``fborn.Array`` and tracers, numpy arrays and scalars, ``ShapeDtypeStruct``),
  sub-modules, ``None``, and containers (lists, tuples, dicts, any pytree) holding any of these;
- treedef (static): fields declared with ``field(static=True)`` and every other value: ints,
  floats, strings, bools, callables, dtypes, tuples of ints. These must be hashable (checked at
  construction), so ``fborn.jit`` caches on them and retraces when one changes.

So ``jit``, ``grad`` and ``vmap`` take modules directly, ``tree_map`` maps over the arrays only,
and the key paths of leaves name fields (``keystr(path, simple=True, separator='.')`` gives
``layers.0.weight``). A container mixing arrays and Python values makes those values leaves:
keep sizes and flags in fields of their own.

Construction: a subclass may define its own ``__init__`` assigning fields with ``self.x = ...``
(fields with defaults may be left out); every field must be set by the end of ``__init__``.
After construction a module is frozen: assignment raises ``FrozenInstanceError``. Build modified
copies with :func:`tree_at` (arrays) or ``dataclasses.replace`` (generated ``__init__`` only).

Equality and hash (used when a module is a static value, e.g. a ``jit`` static argument) compare
the pytree structure and the leaves by identity for arrays, by value for hashable Python values.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.array import Array
from fborn.core.aval import ShapeDtypeStruct
from fborn.core.tree import (
    GetAttrKey,
    PyTree,
    register_pytree_with_keys,
    tree_flatten,
    tree_leaves,
    tree_map,
)

__all__ = ["Module", "combine", "field", "is_array", "is_inexact_array", "partition", "tree_at"]


_BUILDING = "_fborn_module_building"
_MISSING: Any = object()


def field(*, static: bool = False, **kwargs: Any) -> Any:
    """A dataclass field of a Module; ``static=True`` keeps its value in the treedef even if it
    is an array-like (the value must be hashable). Other keyword arguments go to
    ``dataclasses.field`` (``default``, ``default_factory``, ``metadata``...)."""
    metadata = dict(kwargs.pop("metadata", None) or {})
    if static:
        metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)


def is_array(x: Any) -> bool:
    """Whether ``x`` is an array: an ``fborn.Array`` (tracers included), a numpy array or a numpy
    scalar."""
    return isinstance(x, (Array, np.ndarray, np.generic))


def is_inexact_array(x: Any) -> bool:
    """Whether ``x`` is an array of a floating dtype (the trainable parameters of a model)."""
    return is_array(x) and dtypes.is_float(np.dtype(x.dtype))


class _Probe:
    """A unique stand-in for one leaf (or ``None``) of a tree, used by :func:`tree_at`."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


_DATA_TYPES = (Array, np.ndarray, np.generic, ShapeDtypeStruct, _Probe)
_STATIC_TYPES = (int, float, complex, str, bytes, bool, type, np.dtype)


def _is_data_leaf(x: Any) -> bool:
    return x is None or isinstance(x, (Module, *_DATA_TYPES))


def _holds_data(value: Any) -> bool:
    """Whether a field value belongs among the module's children (see the module docstring)."""
    if _is_data_leaf(value):
        return True
    if isinstance(value, _STATIC_TYPES) or callable(value):
        return False
    if type(value) in (tuple, list):
        return any(_holds_data(v) for v in value)
    return any(_is_data_leaf(x) for x in tree_leaves(value, is_leaf=_is_data_leaf))


def _fields(cls: type) -> tuple[tuple[str, bool], ...]:
    """``(name, declared static)`` for every dataclass field of a Module class."""
    return tuple((f.name, bool(f.metadata.get("static", False))) for f in dataclasses.fields(cls))


def _split_fields(module: Module) -> tuple[list[str], list[Any], tuple[tuple[str, Any], ...]]:
    """The names and values of the children, and the ``(name, value)`` pairs kept static."""
    values = module.__dict__
    names, children, static = [], [], []
    for name, declared_static in type(module)._fborn_fields:
        value = values[name]
        if not declared_static and _holds_data(value):
            names.append(name)
            children.append(value)
        else:
            static.append((name, value))
    return names, children, tuple(static)


def _flatten(module: Module) -> tuple[list[Any], tuple[tuple[str, ...], tuple]]:
    names, children, static = _split_fields(module)
    return children, (tuple(names), static)


def _flatten_with_keys(module: Module) -> tuple[list[tuple[GetAttrKey, Any]], tuple]:
    names, children, static = _split_fields(module)
    return [(GetAttrKey(n), c) for n, c in zip(names, children, strict=True)], (tuple(names),
                                                                              static)


def _unflatten(cls: type[Module], aux: tuple[tuple[str, ...], tuple], children: Any) -> Module:
    names, static = aux
    module = object.__new__(cls)
    values = module.__dict__
    values.update(zip(names, children, strict=True))
    values.update(static)
    return module


def _guard_init(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a Module ``__init__``: fields may be assigned while it runs (the outermost call then
    fills defaults and checks the fields); afterwards the instance is frozen."""

    @functools.wraps(init)
    def __init__(self: Module, *args: Any, **kwargs: Any) -> None:
        values = self.__dict__
        if values.get(_BUILDING):  # a nested super().__init__ call
            init(self, *args, **kwargs)
            return
        values[_BUILDING] = True
        try:
            init(self, *args, **kwargs)
        finally:
            del values[_BUILDING]
        _finish_init(self)

    return __init__


def _finish_init(module: Module) -> None:
    """Fill unset fields that have defaults; raise for unset fields and unhashable statics."""
    cls = type(module)
    values = module.__dict__
    for f in dataclasses.fields(cls):
        if f.name in values:
            continue
        if f.default is not dataclasses.MISSING:
            values[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            values[f.name] = f.default_factory()
        else:
            raise ValueError(
                f"{cls.__qualname__}.__init__ did not set the field {f.name!r} (every field "
                f"without a default must be assigned during construction)"
            )
    for name, value in _split_fields(module)[2]:
        try:
            hash(value)
        except TypeError:
            raise TypeError(
                f"{cls.__qualname__}.{name}: a {type(value).__name__} is kept static (in the "
                f"pytree structure), so it must be hashable; use a tuple instead of a list, or "
                f"hold arrays in it to make it part of the pytree"
            ) from None


class Module:
    """Base class of models and layers: a frozen dataclass registered as a pytree (see the
    module docstring for which fields are leaves and which are static)."""

    _fborn_fields: tuple[tuple[str, bool], ...] = ()
    _fborn_field_names: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own_init = "__init__" in cls.__dict__
        inherits_custom = not own_init and getattr(cls.__init__, "_fborn_custom", False)
        dataclasses.dataclass(cls, init=not (own_init or inherits_custom), repr=False, eq=False)
        if not inherits_custom:
            guarded = _guard_init(cls.__dict__["__init__"])
            guarded._fborn_custom = own_init  # type: ignore[attr-defined]
            cls.__init__ = guarded  # type: ignore[method-assign]
        cls._fborn_fields = _fields(cls)
        cls._fborn_field_names = frozenset(n for n, _ in cls._fborn_fields)
        register_pytree_with_keys(
            cls, _flatten_with_keys, functools.partial(_unflatten, cls), _flatten
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if not self.__dict__.get(_BUILDING):
            raise dataclasses.FrozenInstanceError(
                f"cannot assign to {type(self).__qualname__}.{name}: modules are immutable once "
                f"built; use fborn.models.tree_at to make a copy with new values"
            )
        if name not in type(self)._fborn_field_names:
            raise AttributeError(
                f"{type(self).__qualname__} has no field {name!r}; declare it in the class body "
                f"(e.g. '{name}: fborn.Array') before assigning it in __init__"
            )
        self.__dict__[name] = value

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(
            f"cannot delete {type(self).__qualname__}.{name}: modules are immutable"
        )

    def _identity_key(self) -> tuple[Any, tuple[Any, ...]]:
        leaves, treedef = tree_flatten(self)
        return treedef, tuple(_leaf_key(x) for x in leaves)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self is other or self._identity_key() == other._identity_key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._identity_key())

    def __repr__(self) -> str:
        return _repr(self, "")


def _leaf_key(x: Any) -> tuple[str, Any]:
    """What equality of modules compares for one leaf: arrays by identity, values by value."""
    if not is_array(x):
        try:
            hash(x)
        except TypeError:
            pass
        else:
            return ("value", x)
    return ("id", id(x))


def _repr(x: Any, indent: str) -> str:
    if is_array(x) or isinstance(x, ShapeDtypeStruct):
        dtype = np.dtype(x.dtype)
        return f"{dtypes.SHORT_NAMES.get(dtype, str(dtype))}{list(x.shape)}"
    if isinstance(x, Module):
        inner = indent + "  "
        parts = [f"{n}={_repr(x.__dict__[n], inner)}" for n, _ in type(x)._fborn_fields]
        one_line = f"{type(x).__name__}({', '.join(parts)})"
        if len(one_line) + len(indent) <= 100 and "\n" not in one_line:
            return one_line
        body = "".join(f"\n{inner}{p}," for p in parts)
        return f"{type(x).__name__}({body}\n{indent})"
    if type(x) in (list, tuple) and any(isinstance(v, Module) for v in x):
        inner = indent + "  "
        body = "".join(f"\n{inner}{_repr(v, inner)}," for v in x)
        left, right = ("[", "]") if type(x) is list else ("(", ")")
        return f"{left}{body}\n{indent}{right}"
    if isinstance(x, type):
        return x.__name__
    if callable(x) and hasattr(x, "__qualname__"):
        return f"<function {x.__qualname__}>"
    return repr(x)


# --- filtering and surgery -----------------------------------------------------------------


def partition(pytree: PyTree, filter_spec: Callable[[Any], bool], replace: Any = None,
              is_leaf: Callable[[Any], bool] | None = None) -> tuple[PyTree, PyTree]:
    """Split ``pytree`` in two trees of the same structure: the leaves where ``filter_spec(leaf)``
    holds (others replaced by ``replace``, None by default) and the remaining leaves (the
    selected ones replaced). ``combine`` undoes it. Typical: ``partition(model,
    is_inexact_array)`` gives (trainable parameters, everything else)."""
    if not callable(filter_spec):
        raise TypeError(f"partition: filter_spec must be a callable leaf -> bool, got "
                        f"{filter_spec!r}")
    leaves, treedef = tree_flatten(pytree, is_leaf=is_leaf)
    flags = [bool(filter_spec(x)) for x in leaves]
    chosen = [x if keep else replace for x, keep in zip(leaves, flags, strict=True)]
    rest = [replace if keep else x for x, keep in zip(leaves, flags, strict=True)]
    return treedef.unflatten(chosen), treedef.unflatten(rest)


def combine(*pytrees: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> PyTree:
    """Merge trees of one structure (up to ``None`` holes): each leaf is the first non-None
    value among the trees at its position (``combine(*partition(t, f)) == t``)."""
    if not pytrees:
        raise TypeError("combine: at least one pytree is required")

    def none_or_leaf(x: Any) -> bool:
        return x is None or (is_leaf is not None and is_leaf(x))

    def first(*xs: Any) -> Any:
        return next((x for x in xs if x is not None), None)

    return tree_map(first, *pytrees, is_leaf=none_or_leaf)


def tree_at(where: Callable[[PyTree], Any], pytree: PyTree, replace: Any = _MISSING,
            replace_fn: Callable[[Any], Any] = _MISSING,
            is_leaf: Callable[[Any], bool] | None = None) -> PyTree:
    """A copy of ``pytree`` with the node(s) ``where(pytree)`` selects replaced.

    ``where`` returns one node (a leaf, a ``None`` field, a sub-module, a list of layers...) or
    a tuple/list of nodes; ``replace`` gives the new value(s) (a sequence matching the nodes
    when several are selected), or ``replace_fn(old)`` computes each. Raises ValueError when
    both or neither are given, or when a selected value is not a node of the tree (e.g. a
    static field such as ``in_features``: rebuild the module for those).
    """
    if (replace is _MISSING) == (replace_fn is _MISSING):
        raise ValueError("tree_at: pass exactly one of replace and replace_fn")

    def none_or_leaf(x: Any) -> bool:
        return x is None or (is_leaf is not None and is_leaf(x))

    leaves, treedef = tree_flatten(pytree, is_leaf=none_or_leaf)
    probe_tree = treedef.unflatten([_Probe(i) for i in range(len(leaves))])
    targets = _targets(where(probe_tree), probe_tree)
    if replace is not _MISSING and len(targets) > 1:
        if not isinstance(replace, Sequence) or len(replace) != len(targets):
            raise ValueError(f"tree_at: where selected {len(targets)} nodes, so replace must be "
                             f"a sequence of {len(targets)} values")
    index = {id(t): k for k, t in enumerate(targets)}
    parts, part_def = tree_flatten(probe_tree, is_leaf=lambda x: id(x) in index)
    new_parts, found = [], set()
    for part in parts:
        k = index.get(id(part))
        if k is None:
            new_parts.append(leaves[part.index])
            continue
        found.add(k)
        if replace_fn is not _MISSING:
            old = tree_map(lambda p: leaves[p.index], part)
            new_parts.append(replace_fn(old))
        else:
            new_parts.append(replace[k] if len(targets) > 1 else replace)
    if len(found) != len(targets):
        missing = [k for k in range(len(targets)) if k not in found]
        raise ValueError(
            f"tree_at: where returned value(s) at position(s) {missing} that are not nodes of "
            f"the tree (static fields such as sizes and flags cannot be replaced this way)"
        )
    return part_def.unflatten(new_parts)


def _targets(selected: Any, probe_tree: PyTree) -> list[Any]:
    """The nodes ``where`` selected: ``selected`` itself if it is a node of the tree, else its
    elements when it is a tuple/list built by ``where``."""
    if isinstance(selected, (tuple, list)) and not _is_node_of(selected, probe_tree):
        return list(selected)
    return [selected]


def _is_node_of(node: Any, tree: PyTree) -> bool:
    hits = tree_leaves(tree, is_leaf=lambda x: x is node)
    return any(x is node for x in hits)

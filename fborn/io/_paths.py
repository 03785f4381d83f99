"""Tensor names from pytree key paths and back; leaf conversion for the file writers and readers.

A leaf's name is its key path with the entries' bare values joined by dots: the leaf at
``model.layers[0].weight`` (``GetAttrKey('layers')``, ``SequenceKey(0)``, ``GetAttrKey('weight')``
under ``DictKey('model')``) is named ``"model.layers.0.weight"``, as in PyTorch state dicts and
safetensors files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

import numpy as np

from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl
from fborn.core.errors import FbornDtypeError, FbornShapeError, PyTreeError
from fborn.core.tree import (
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    KeyPath,
    PyTree,
    SequenceKey,
    tree_flatten_with_path,
    tree_unflatten,
)
from fborn.io._validate import dtype_code, name_problem

__all__ = ["named_to_tree", "tree_to_named"]

# Leaf kinds recorded by the native checkpoint, so a load without ``like`` returns each leaf as
# the type it was saved as.
KINDS = ("array", "numpy", "bool", "int", "float")


def key_segment(key: Any) -> str:
    """The name segment of one key path entry (``DictKey('w')`` -> ``'w'``, ``SequenceKey(0)`` ->
    ``'0'``)."""
    if isinstance(key, SequenceKey):
        return str(key.idx)
    if isinstance(key, DictKey):
        return str(key.key)
    if isinstance(key, GetAttrKey):
        return key.name
    if isinstance(key, FlattenedIndexKey):
        return str(key.key)
    return str(key)


def path_to_name(path: KeyPath) -> str:
    """The dotted name of a key path; ValueError for a bare leaf (empty path) or a bad name."""
    if not path:
        raise ValueError("a bare array has no name: wrap it in a container, e.g. {'weight': x}")
    name = ".".join(key_segment(k) for k in path)
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(f"cannot name the leaf at {''.join(map(str, path))}: {problem}")
    return name


def named_leaves(tree: PyTree) -> list[tuple[str, KeyPath, Any]]:
    """``(name, key_path, leaf)`` for each leaf of ``tree`` in flatten order; ValueError when two
    leaves get the same name."""
    pairs, _ = tree_flatten_with_path(tree)
    out: list[tuple[str, KeyPath, Any]] = []
    seen: set[str] = set()
    for path, leaf in pairs:
        name = path_to_name(path)
        if name in seen:
            raise ValueError(f"two leaves are both named {name!r}; rename a dict key")
        seen.add(name)
        out.append((name, path, leaf))
    return out


def tree_to_named(tree: PyTree) -> dict[str, Any]:
    """A flat ``{name: leaf}`` dict of ``tree``'s leaves, named from their key paths.

    ``{'layers': [{'weight': w, 'bias': b}]}`` gives ``{'layers.0.bias': b, 'layers.0.weight': w}``.
    Leaves are returned as they are. Raises ValueError for a bare leaf, a name holding a path
    or control character, or two leaves with the same name.
    """
    return {name: leaf for name, _, leaf in named_leaves(tree)}


def named_to_tree(named: Mapping[str, Any], like: PyTree = None) -> PyTree:
    """Inverse of :func:`tree_to_named`.

    With ``like``, rebuild ``like``'s structure (any pytree: modules, namedtuples...), taking the
    leaf named by each key path from ``named`` and converting it to the type of ``like``'s leaf
    (see :func:`rebuild_like`). Without ``like``, nest the names on their dots into dicts; a dict
    whose keys are exactly ``'0'..'n-1'`` becomes a list. Raises PyTreeError when names are
    missing or left over, FbornShapeError/FbornDtypeError when a leaf does not match ``like``,
    and ValueError when the names clash (``'a'`` and ``'a.b'``).
    """
    if like is not None:
        return rebuild_like(like, {k: np.asarray(v) for k, v in named.items()})

    def conflict(message: str) -> NoReturn:
        raise ValueError(message)

    items = [(tuple((False, seg) for seg in name.split(".")), value)
             for name, value in named.items()]
    return nest(items, conflict, digits_to_lists=True)


# ---------------------------------------------------------------------------------------------
# Nesting named leaves without a template
# ---------------------------------------------------------------------------------------------


class _Node:
    __slots__ = ("seq", "children")

    def __init__(self, seq: bool):
        self.seq = seq
        self.children: dict[Any, Any] = {}


class _Leaf:
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def nest(items: Iterable[tuple[tuple[tuple[bool, Any], ...], Any]],
         conflict: Callable[[str], NoReturn], *, digits_to_lists: bool = False) -> PyTree:
    """Nested dicts and lists from ``(path, value)`` pairs, a path being ``(is_sequence, key)``
    entries. A sequence level becomes a list whose missing indices hold None (an empty subtree
    when saved). ``conflict`` raises when two paths disagree (a leaf where a container is, a
    level used both as a list and as a dict)."""
    root: _Node | None = None
    for path, value in items:
        if not path:
            conflict("a tensor has an empty key path")
        if root is None:
            root = _Node(path[0][0])
        node = root
        for depth, (is_seq, key) in enumerate(path):
            if node.seq != is_seq:
                conflict(f"{_where(path, depth)!r} is used both as a list index and as a dict key")
            child = node.children.get(key)
            if depth == len(path) - 1:
                if child is not None:
                    conflict(f"{_where(path, depth)!r} is both a leaf and a container")
                node.children[key] = _Leaf(value)
                break
            if child is None:
                child = node.children[key] = _Node(path[depth + 1][0])
            elif isinstance(child, _Leaf):
                conflict(f"{_where(path, depth)!r} is both a leaf and a container")
            node = child
    return {} if root is None else _finish(root, digits_to_lists, conflict)


def _where(path: tuple[tuple[bool, Any], ...], depth: int) -> str:
    return ".".join(str(k) for _, k in path[:depth + 1])


def _finish(node: _Node | _Leaf, digits_to_lists: bool,
            conflict: Callable[[str], NoReturn]) -> PyTree:
    if isinstance(node, _Leaf):
        return node.value
    children = {k: _finish(c, digits_to_lists, conflict) for k, c in node.children.items()}
    if node.seq:
        size = max(children) + 1
        if size > 2 * len(children) + 64:
            conflict(f"list index {size - 1} is far past the {len(children)} items stored")
        out = [None] * size
        for i, v in children.items():
            out[i] = v
        return out
    if digits_to_lists and set(children) == {str(i) for i in range(len(children))}:
        return [children[str(i)] for i in range(len(children))]
    return children


# ---------------------------------------------------------------------------------------------
# Leaf conversion
# ---------------------------------------------------------------------------------------------


def leaf_to_numpy(name: str, leaf: Any) -> tuple[np.ndarray, str]:
    """A C-contiguous little-endian numpy array holding ``leaf``, and the leaf's kind.

    Python scalars are stored as bool, int64 and float64. Raises TypeError for leaves that are
    not arrays or scalars, FbornDtypeError for unsupported dtypes, ValueError for ints out of
    the int64 range.
    """
    if isinstance(leaf, bool):
        arr, kind = np.array(leaf, np.bool_), "bool"
    elif isinstance(leaf, int):
        if not -(2**63) <= leaf < 2**63:
            raise ValueError(f"leaf {name!r}: the int {leaf} does not fit in int64")
        arr, kind = np.array(leaf, np.int64), "int"
    elif isinstance(leaf, float):
        arr, kind = np.array(leaf, np.float64), "float"
    elif isinstance(leaf, Array):
        arr, kind = np.asarray(leaf), "array"
    elif isinstance(leaf, (np.ndarray, np.generic)):
        arr, kind = np.asarray(leaf), "numpy"
    else:
        raise TypeError(f"leaf {name!r} is a {type(leaf).__name__}: only arrays (fborn or numpy) "
                        "and Python bool/int/float can be saved")
    try:
        dtype_code(arr.dtype)
    except FbornDtypeError as e:
        raise FbornDtypeError(f"leaf {name!r}: {e}") from None
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    # (np.ascontiguousarray would turn a 0-d array into a 1-d one)
    return (arr if arr.flags.c_contiguous else arr.copy(order="C")), kind


def as_fborn(value: np.ndarray) -> ArrayImpl:
    """Wrap a (read-only) numpy array as an fborn Array without copying when its dtype is
    canonical; 64-bit data is narrowed when x64 is off, as ``fborn.numpy.asarray`` does."""
    target = dtypes.canonicalize(value.dtype)
    return ArrayImpl(value if value.dtype == target else value.astype(target))


def as_kind(value: np.ndarray, kind: str) -> Any:
    """A loaded array as the leaf type it was saved as."""
    if kind == "array":
        return as_fborn(value)
    if kind == "numpy":
        return value
    return {"bool": bool, "int": int, "float": float}[kind](value[()])


def rebuild_like(like: PyTree, named: Mapping[str, np.ndarray]) -> PyTree:
    """``like``'s structure with each leaf replaced by ``named[name]`` converted to its type.

    A Python bool/int/float leaf takes a 0-d bool/integer/floating value and returns a Python
    scalar; an fborn Array or ShapeDtypeStruct leaf returns an fborn Array, a numpy array a
    numpy array, each after checking shape and dtype. Raises PyTreeError when names are missing
    or left over.
    """
    pairs, treedef = tree_flatten_with_path(like)
    leaves, missing, used = [], [], set()
    for path, template in pairs:
        name = path_to_name(path)
        if name not in named:
            missing.append(name)
            continue
        used.add(name)
        leaves.append(_convert_like(name, named[name], template))
    extra = sorted(set(named) - used)
    if missing or extra:
        raise PyTreeError(
            f"the stored tensors do not match `like`: missing {_few(missing)}, "
            f"unexpected {_few(extra)}")
    return tree_unflatten(treedef, leaves)


def _few(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


_SCALAR_KINDS = {bool: ("b", "bool"), int: ("iu", "an integer"), float: ("f", "a float")}


def _convert_like(name: str, value: np.ndarray, template: Any) -> Any:
    scalar_type = next((t for t in (bool, int, float) if isinstance(template, t)), None)
    if scalar_type is not None:
        kinds, what = _SCALAR_KINDS[scalar_type]
        is_float = dtypes.is_float(value.dtype)
        if value.shape != () or not (value.dtype.kind in kinds or (scalar_type is float
                                                                    and is_float)):
            raise FbornDtypeError(f"tensor {name!r} is {value.dtype}{list(value.shape)}; `like` "
                                  f"holds a Python {scalar_type.__name__}, which needs {what} "
                                  "scalar")
        return scalar_type(value[()])
    shape, dtype = getattr(template, "shape", None), getattr(template, "dtype", None)
    if shape is None or dtype is None:
        raise TypeError(f"`like` leaf {name!r} is a {type(template).__name__}; expected an "
                        "array, a ShapeDtypeStruct or a Python scalar")
    if tuple(shape) != value.shape:
        raise FbornShapeError(f"tensor {name!r} has shape {value.shape}; `like` expects "
                              f"{tuple(shape)}")
    if np.dtype(dtype) != value.dtype:
        raise FbornDtypeError(f"tensor {name!r} has dtype {value.dtype}; `like` expects "
                              f"{np.dtype(dtype)}")
    if isinstance(template, np.ndarray):
        return value
    if isinstance(template, np.generic):
        return value[()]
    return as_fborn(value)

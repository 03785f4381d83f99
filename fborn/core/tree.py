"""Pytrees: nested containers of leaves, with JAX's semantics.

A *pytree* is a nested structure of container nodes whose non-container values are *leaves*.
Node types are ``tuple``, ``list``, ``dict``, ``None`` (a node with no children),
``collections.OrderedDict``, ``collections.defaultdict``, namedtuples (any ``tuple`` subclass with
a ``_fields`` attribute), and every type registered with :func:`register_pytree_node` (or its
variants). Everything else is a leaf: numbers, numpy arrays, strings, unregistered objects.
Dispatch is on the *exact* type: a subclass of a registered type is a leaf unless registered.

``tree_flatten`` turns a pytree into a list of leaves (depth first, left to right) and a
:class:`PyTreeDef`, an immutable, hashable description of the structure that can rebuild the tree
with ``tree_unflatten``.

Ordering of children:

* ``dict`` and ``defaultdict`` children are in sorted key order, and unflattening builds the dict
  with its keys in that sorted order (as JAX does). Keys that Python cannot sort (mixed types, e.g.
  ``{1: a, 'x': b}``) fall back to a deterministic order: grouped by type name, then in natural
  order within a type (by ``repr`` where values of one type cannot be compared either).
* ``OrderedDict`` children are in insertion order, and the order is part of the structure.

Key paths name where a leaf sits: ``SequenceKey`` (tuple/list index), ``DictKey`` (dict key),
``GetAttrKey`` (namedtuple field, dataclass field) and ``FlattenedIndexKey`` (child index of a
custom node registered without keys). ``keystr`` renders a path, e.g. ``"['a'][0].w"``.

Structure mismatches raise :class:`fborn.core.errors.PyTreeError` (a ``ValueError``) naming both
structures; misuse of the registration API raises ``TypeError`` or ``ValueError``.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from fborn.core.errors import PyTreeError

__all__ = [
    "DictKey",
    "FlattenedIndexKey",
    "GetAttrKey",
    "KeyEntry",
    "KeyPath",
    "PyTree",
    "PyTreeDef",
    "SequenceKey",
    "all_leaves",
    "keystr",
    "register_dataclass",
    "register_pytree_node",
    "register_pytree_node_class",
    "register_pytree_with_keys",
    "register_static",
    "tree_all",
    "tree_flatten",
    "tree_flatten_with_path",
    "tree_leaves",
    "tree_leaves_with_path",
    "tree_map",
    "tree_map_with_path",
    "tree_reduce",
    "tree_structure",
    "tree_transpose",
    "tree_unflatten",
    "treedef_children",
    "treedef_is_leaf",
    "treedef_is_strict_leaf",
]

PyTree = Any
T = TypeVar("T")
TypeT = TypeVar("TypeT", bound=type)


# --------------------------------------------------------------------------------------------
# Key path entries
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class SequenceKey:
    """Path entry for the child at index ``idx`` of a tuple or list; prints as ``[idx]``."""

    idx: int

    def __str__(self) -> str:
        return f"[{self.idx!r}]"


@dataclasses.dataclass(frozen=True, slots=True)
class DictKey:
    """Path entry for the child at ``key`` of a dict-like node; prints as ``[key!r]``."""

    key: Hashable

    def __str__(self) -> str:
        return f"[{self.key!r}]"


@dataclasses.dataclass(frozen=True, slots=True)
class GetAttrKey:
    """Path entry for an attribute (namedtuple or dataclass field); prints as ``.name``."""

    name: str

    def __str__(self) -> str:
        return f".{self.name}"


@dataclasses.dataclass(frozen=True, slots=True)
class FlattenedIndexKey:
    """Path entry for the ``key``-th child of a custom node without keys; prints as ``[key]``."""

    key: int

    def __str__(self) -> str:
        return f"[{self.key!r}]"


KeyEntry = SequenceKey | DictKey | GetAttrKey | FlattenedIndexKey | Any
KeyPath = tuple[KeyEntry, ...]


def keystr(keys: KeyPath, *, simple: bool = False, separator: str = "") -> str:
    """Render a key path: ``keystr((DictKey('a'), SequenceKey(0)))`` is ``"['a'][0]"``.

    With ``simple=True`` each entry is rendered as its bare value (``a``, ``0``, ``w``) and the
    entries are joined with ``separator``.
    """
    if not simple:
        return separator.join(str(k) for k in keys)
    return separator.join(_simple_key_str(k) for k in keys)


def _simple_key_str(key: Any) -> str:
    if isinstance(key, SequenceKey):
        return str(key.idx)
    if isinstance(key, DictKey):
        return str(key.key)
    if isinstance(key, GetAttrKey):
        return key.name
    if isinstance(key, FlattenedIndexKey):
        return str(key.key)
    return str(key)


# --------------------------------------------------------------------------------------------
# Node kinds and the registry
# --------------------------------------------------------------------------------------------


class _NodeKind:
    """How to take apart and rebuild one node type. One instance per type; compared by identity."""

    __slots__ = ("type", "category", "flatten", "unflatten", "flatten_with_keys")

    def __init__(
        self,
        type_: type,
        category: str,
        flatten: Callable[[Any], tuple[Iterable[Any], Any]],
        unflatten: Callable[[Any, Iterable[Any]], Any],
        flatten_with_keys: Callable[[Any], tuple[Iterable[tuple[Any, Any]], Any]],
    ) -> None:
        self.type = type_
        self.category = category
        self.flatten = flatten
        self.unflatten = unflatten
        self.flatten_with_keys = flatten_with_keys

    def __repr__(self) -> str:
        return f"<node kind {self.type.__qualname__}>"

    def __reduce__(self) -> tuple[Any, tuple[type]]:
        # Copies and unpickled kinds must be *the* kind of their type (kinds compare by identity).
        return _lookup_kind, (self.type,)


# Types registered by users (and the built-in node types), by exact type.
_registry: dict[type, _NodeKind] = {}
# What flattening dispatches on: the registry plus namedtuple types met so far.
_dispatch: dict[type, _NodeKind] = {}


class _FallbackSortKey:
    """Sort key for dict keys Python cannot order: by type name, then value, then ``repr``."""

    __slots__ = ("key", "tname")

    def __init__(self, key: Any) -> None:
        self.key = key
        self.tname = type(key).__qualname__

    def __lt__(self, other: _FallbackSortKey) -> bool:
        if self.tname != other.tname:
            return self.tname < other.tname
        try:
            return bool(self.key < other.key)
        except TypeError:
            return repr(self.key) < repr(other.key)


def _sorted_keys(d: dict) -> tuple:
    try:
        return tuple(sorted(d))
    except TypeError:
        return tuple(sorted(d, key=_FallbackSortKey))


def _flatten_dict(d: dict) -> tuple[list, tuple]:
    keys = _sorted_keys(d)
    return [d[k] for k in keys], keys


def _flatten_dict_with_keys(d: dict) -> tuple[list, tuple]:
    keys = _sorted_keys(d)
    return [(DictKey(k), d[k]) for k in keys], keys


def _flatten_ordered_dict(d: collections.OrderedDict) -> tuple[list, tuple]:
    return list(d.values()), tuple(d)


def _flatten_ordered_dict_with_keys(d: collections.OrderedDict) -> tuple[list, tuple]:
    return [(DictKey(k), v) for k, v in d.items()], tuple(d)


def _flatten_defaultdict(d: collections.defaultdict) -> tuple[list, tuple]:
    keys = _sorted_keys(d)
    return [d[k] for k in keys], (d.default_factory, keys)


def _flatten_defaultdict_with_keys(d: collections.defaultdict) -> tuple[list, tuple]:
    keys = _sorted_keys(d)
    return [(DictKey(k), d[k]) for k in keys], (d.default_factory, keys)


def _flatten_sequence_with_keys(x: Sequence) -> tuple[list, None]:
    return [(SequenceKey(i), c) for i, c in enumerate(x)], None


def _builtin(
    type_: type,
    category: str,
    flatten: Callable[[Any], tuple[Iterable[Any], Any]],
    unflatten: Callable[[Any, Iterable[Any]], Any],
    flatten_with_keys: Callable[[Any], tuple[Iterable[tuple[Any, Any]], Any]],
) -> _NodeKind:
    kind = _NodeKind(type_, category, flatten, unflatten, flatten_with_keys)
    _registry[type_] = kind
    _dispatch[type_] = kind
    return kind


_TUPLE = _builtin(
    tuple, "tuple", lambda x: (x, None), lambda _, c: tuple(c), _flatten_sequence_with_keys
)
_LIST = _builtin(
    list, "list", lambda x: (x, None), lambda _, c: list(c), _flatten_sequence_with_keys
)
_DICT = _builtin(
    dict,
    "dict",
    _flatten_dict,
    lambda keys, c: dict(zip(keys, c, strict=True)),
    _flatten_dict_with_keys,
)
_NONE = _builtin(
    type(None), "none", lambda _: ((), None), lambda _a, _c: None, lambda _: ((), None)
)
_ORDERED_DICT = _builtin(
    collections.OrderedDict,
    "ordereddict",
    _flatten_ordered_dict,
    lambda keys, c: collections.OrderedDict(zip(keys, c, strict=True)),
    _flatten_ordered_dict_with_keys,
)
_DEFAULTDICT = _builtin(
    collections.defaultdict,
    "defaultdict",
    _flatten_defaultdict,
    lambda aux, c: collections.defaultdict(aux[0], zip(aux[1], c, strict=True)),
    _flatten_defaultdict_with_keys,
)


def _namedtuple_kind(t: type) -> _NodeKind:
    """Node kind of a namedtuple type, created on first sight and cached in the dispatch table."""
    fields = tuple(t._fields)  # type: ignore[attr-defined]
    kind = _NodeKind(
        t,
        "namedtuple",
        lambda x: (x, None),
        lambda _, c: t(*c),
        lambda x: ([(GetAttrKey(f), c) for f, c in zip(fields, x, strict=True)], None),
    )
    return _dispatch.setdefault(t, kind)


def _lookup_kind(t: type) -> _NodeKind:
    """The node kind registered for type ``t`` (used when unpickling treedefs)."""
    kind = _dispatch.get(t)
    if kind is None and issubclass(t, tuple) and hasattr(t, "_fields"):
        kind = _namedtuple_kind(t)
    if kind is None:
        raise ValueError(f"{t.__module__}.{t.__qualname__} is not registered as a pytree node")
    return kind


def _kind_of(x: Any) -> _NodeKind | None:
    """The node kind of ``x``, or None when ``x`` is a leaf."""
    t = type(x)
    kind = _dispatch.get(t)
    if kind is None and issubclass(t, tuple) and hasattr(t, "_fields"):
        kind = _namedtuple_kind(t)
    return kind


def _check_registrable(nodetype: Any, fn_name: str) -> None:
    if not isinstance(nodetype, type):
        raise TypeError(f"{fn_name}: expected a type, got {nodetype!r}")
    if nodetype in _registry:
        raise ValueError(
            f"{fn_name}: {nodetype.__module__}.{nodetype.__qualname__} is already registered as "
            "a pytree node type"
        )


def _add_kind(kind: _NodeKind) -> None:
    _registry[kind.type] = kind
    _dispatch[kind.type] = kind  # replaces an automatic namedtuple entry, if there was one


def register_pytree_node(
    nodetype: type,
    flatten_func: Callable[[Any], tuple[Iterable[Any], Hashable]],
    unflatten_func: Callable[[Any, Iterable[Any]], Any],
    flatten_with_keys_func: Callable[[Any], tuple[Iterable[tuple[Any, Any]], Hashable]]
    | None = None,
) -> None:
    """Register ``nodetype`` (exactly that type, not subclasses) as a pytree node.

    ``flatten_func(x) -> (children, aux_data)``; ``unflatten_func(aux_data, children) -> x``.
    ``aux_data`` is stored in the treedef: it must be hashable and comparable with ``==``.
    Without ``flatten_with_keys_func`` the children's path entries are ``FlattenedIndexKey(i)``.
    Registering a type twice raises ``ValueError``.
    """
    _check_registrable(nodetype, "register_pytree_node")
    if flatten_with_keys_func is None:

        def flatten_with_keys_func(x: Any) -> tuple[list[tuple[Any, Any]], Any]:
            children, aux = flatten_func(x)
            return [(FlattenedIndexKey(i), c) for i, c in enumerate(children)], aux

    _add_kind(_NodeKind(nodetype, "custom", flatten_func, unflatten_func, flatten_with_keys_func))


def register_pytree_with_keys(
    nodetype: type,
    flatten_with_keys: Callable[[Any], tuple[Iterable[tuple[Any, Any]], Hashable]],
    unflatten_func: Callable[[Any, Iterable[Any]], Any],
    flatten_func: Callable[[Any], tuple[Iterable[Any], Hashable]] | None = None,
) -> None:
    """Register ``nodetype`` as a pytree node whose children have path entries.

    ``flatten_with_keys(x) -> ([(key, child), ...], aux_data)``. ``flatten_func`` (same as for
    :func:`register_pytree_node`) is a faster alternative used by ``tree_flatten``; it is derived
    from ``flatten_with_keys`` when omitted.
    """
    _check_registrable(nodetype, "register_pytree_with_keys")
    if flatten_func is None:

        def flatten_func(x: Any) -> tuple[list[Any], Any]:
            pairs, aux = flatten_with_keys(x)
            return [c for _, c in pairs], aux

    _add_kind(_NodeKind(nodetype, "custom", flatten_func, unflatten_func, flatten_with_keys))


def register_pytree_node_class(cls: TypeT) -> TypeT:
    """Class decorator: register ``cls`` using its ``tree_flatten`` method and its
    ``tree_unflatten(aux_data, children)`` classmethod."""
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


def register_dataclass(
    nodetype: TypeT,
    data_fields: Sequence[str] | None = None,
    meta_fields: Sequence[str] | None = None,
) -> TypeT:
    """Register a dataclass-like type as a pytree node; returns ``nodetype`` (usable as decorator).

    ``data_fields`` are the children (path entries ``GetAttrKey(name)``); ``meta_fields`` are
    static and stored in the treedef's aux data, so they take part in treedef equality and hash
    (their values must be hashable). Instances are rebuilt with ``nodetype(**fields)``.
    When both lists are None, ``nodetype`` must be a dataclass: its ``init=True`` fields with
    ``metadata={'static': True}`` are meta fields, the other ``init=True`` fields are data fields.
    """
    if data_fields is None and meta_fields is None:
        if not dataclasses.is_dataclass(nodetype):
            raise TypeError(
                f"register_dataclass: {nodetype!r} is not a dataclass; pass data_fields and "
                "meta_fields explicitly"
            )
        data_fields, meta_fields = [], []
        for field in dataclasses.fields(nodetype):
            if not field.init:
                continue
            if field.metadata.get("static", False):
                meta_fields.append(field.name)
            else:
                data_fields.append(field.name)
    elif data_fields is None or meta_fields is None:
        raise TypeError(
            "register_dataclass: data_fields and meta_fields must both be given, or both omitted"
        )
    data_names, meta_names = tuple(data_fields), tuple(meta_fields)
    for name in (*data_names, *meta_names):
        if not isinstance(name, str):
            raise TypeError(f"register_dataclass: field names must be strings, got {name!r}")
    if len(set(data_names + meta_names)) != len(data_names) + len(meta_names):
        raise ValueError(
            f"register_dataclass: a field is listed twice in data_fields={list(data_names)} and "
            f"meta_fields={list(meta_names)}"
        )
    if dataclasses.is_dataclass(nodetype):
        init_names = {f.name for f in dataclasses.fields(nodetype) if f.init}
        given = set(data_names) | set(meta_names)
        if given != init_names:
            raise ValueError(
                f"register_dataclass: data_fields and meta_fields must together be the init "
                f"fields of {nodetype.__qualname__}: missing {sorted(init_names - given)}, "
                f"unexpected {sorted(given - init_names)}"
            )

    def flatten(x: Any) -> tuple[list[Any], tuple[Any, ...]]:
        return [getattr(x, n) for n in data_names], tuple(getattr(x, n) for n in meta_names)

    def flatten_with_keys(x: Any) -> tuple[list[tuple[Any, Any]], tuple[Any, ...]]:
        return (
            [(GetAttrKey(n), getattr(x, n)) for n in data_names],
            tuple(getattr(x, n) for n in meta_names),
        )

    def unflatten(meta: tuple[Any, ...], children: Iterable[Any]) -> Any:
        kwargs = dict(zip(meta_names, meta, strict=True))
        kwargs.update(zip(data_names, children, strict=True))
        return nodetype(**kwargs)

    register_pytree_with_keys(nodetype, flatten_with_keys, unflatten, flatten)
    return nodetype


def register_static(cls: TypeT) -> TypeT:
    """Register ``cls`` as static: an instance is a node with no children, stored whole in the
    treedef (so it must be hashable). Returns ``cls`` (usable as a class decorator)."""
    register_pytree_node(cls, lambda x: ((), x), lambda aux, _: aux)
    return cls


# --------------------------------------------------------------------------------------------
# PyTreeDef
# --------------------------------------------------------------------------------------------

# The internal structure is a nested tuple: a leaf is the ``_LEAF`` marker and a node is
# ``(kind, aux_data, children)`` with ``children`` a tuple of structures. Tuples compare and
# hash in C; kinds compare by identity.
_LEAF: Any = None
_NONE_NODE = (_NONE, None, ())


class _Mismatch(Exception):
    """Raised inside ``_flatten_up_to``; carries the path (innermost entry first) and detail."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.path: list[Any] = []


def _describe_kind(kind: _NodeKind) -> str:
    if kind.category in ("tuple", "list", "dict"):
        return f"a {kind.category}"
    if kind.category == "none":
        return "None"
    return f"a {kind.type.__qualname__}"


def _describe_obj(obj: Any) -> str:
    if obj is None:
        return "None"
    text = repr(obj)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"a {type(obj).__qualname__} ({text})"


def _flatten_up_to(node: Any, obj: Any, out: list[Any]) -> None:
    if node is _LEAF:
        out.append(obj)
        return
    kind, aux, children = node
    if kind is _DICT:
        if not isinstance(obj, dict):
            raise _Mismatch(f"expected a dict, got {_describe_obj(obj)}")
        if len(obj) != len(aux) or any(k not in obj for k in aux):
            raise _Mismatch(
                f"dict keys differ: expected keys {list(aux)}, got keys {list(_sorted_keys(obj))}"
            )
        subs: Sequence[Any] = [obj[k] for k in aux]
    else:
        if type(obj) is not kind.type:
            raise _Mismatch(f"expected {_describe_kind(kind)}, got {_describe_obj(obj)}")
        if kind is _LIST or kind is _TUPLE:
            subs = obj
        else:
            subs, obj_aux = kind.flatten(obj)
            subs = list(subs)
            if obj_aux != aux:
                raise _Mismatch(
                    f"{_describe_kind(kind)} node's data differ: expected {aux!r}, got {obj_aux!r}"
                )
        if len(subs) != len(children):
            raise _Mismatch(
                f"expected {_describe_kind(kind)} with {len(children)} children, got "
                f"{len(subs)} children"
            )
    for i, child in enumerate(children):
        try:
            _flatten_up_to(child, subs[i], out)
        except _Mismatch as e:
            e.path.append(_child_key(kind, obj, i))
            raise


def _child_key(kind: _NodeKind, obj: Any, i: int) -> Any:
    try:
        pairs, _ = kind.flatten_with_keys(obj)
        return list(pairs)[i][0]
    except Exception:  # only used to decorate an error message
        return FlattenedIndexKey(i)


def _mismatch_location(e: _Mismatch) -> str:
    path = tuple(reversed(e.path))
    return f"at {keystr(path)}" if path else "at the root"


class PyTreeDef:
    """Immutable, hashable description of a pytree's structure (everything but the leaves)."""

    __slots__ = ("_node", "_num_leaves", "_num_nodes", "_hash")

    # Immutable by construction: no public attribute has a setter and ``__slots__`` forbids new
    # attributes. (Overriding ``__setattr__`` would triple the construction cost, which is paid
    # on every flatten.) The private slots are set only here and by the lazy caches below.

    def __init__(self, node: Any, num_leaves: int | None = None) -> None:
        self._node = node
        self._num_leaves = num_leaves
        self._num_nodes: int | None = None
        self._hash: int | None = None

    @property
    def num_leaves(self) -> int:
        """Number of leaves in trees of this structure."""
        n = self._num_leaves
        if n is None:
            n = _count(self._node)[0]
            self._num_leaves = n
        return n

    @property
    def num_nodes(self) -> int:
        """Number of nodes, leaves and ``None`` included (a leaf treedef has 1)."""
        n = self._num_nodes
        if n is None:
            n = _count(self._node)[1]
            self._num_nodes = n
        return n

    def unflatten(self, leaves: Iterable[Any]) -> PyTree:
        """Build the pytree of this structure whose leaves are ``leaves`` (in flatten order)."""
        leaves = leaves if isinstance(leaves, (list, tuple)) else list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(
                f"unflatten: {self} has {self.num_leaves} leaves, but {len(leaves)} were given"
            )
        node = self._node
        if node is _LEAF:
            return leaves[0]
        return _build(node, iter(leaves).__next__)

    def flatten_up_to(self, tree: PyTree) -> list[Any]:
        """The subtrees of ``tree`` at this structure's leaf positions, in flatten order.

        ``tree`` must have this structure, or a structure of which this one is a prefix (its
        subtrees at our leaf positions may be anything); otherwise a :class:`PyTreeError`
        (``ValueError``) naming both structures is raised.
        """
        out: list[Any] = []
        try:
            _flatten_up_to(self._node, tree, out)
        except _Mismatch as e:
            raise PyTreeError(
                f"flatten_up_to: the tree's structure {tree_structure(tree)} does not have "
                f"{self} as a prefix; {_mismatch_location(e)}: {e.detail}"
            ) from None
        return out

    def children(self) -> list[PyTreeDef]:
        """Treedefs of the root node's children (empty for a leaf)."""
        if self._node is _LEAF:
            return []
        return [PyTreeDef(c) for c in self._node[2]]

    def node_data(self) -> tuple[type, Any] | None:
        """``(node_type, aux_data)`` of the root node, or None for a leaf.

        ``aux_data`` is None for tuples, lists, namedtuples and None; the sorted keys for dicts;
        the keys in order for OrderedDicts; ``(default_factory, sorted keys)`` for defaultdicts;
        the registered flatten function's aux data for custom nodes.
        """
        if self._node is _LEAF:
            return None
        kind, aux, _ = self._node
        return kind.type, aux

    def compose(self, inner: PyTreeDef) -> PyTreeDef:
        """The structure of this tree with every leaf replaced by a tree of structure ``inner``."""
        inner_node = inner._node

        def sub(n: Any) -> Any:
            if n is _LEAF:
                return inner_node
            kind, aux, children = n
            return (kind, aux, tuple([sub(c) for c in children]))

        return PyTreeDef(sub(self._node), self.num_leaves * inner.num_leaves)

    def __reduce__(self) -> tuple[type[PyTreeDef], tuple[Any, int]]:
        # The cached hash is not carried over: hashes of types differ between processes.
        return PyTreeDef, (self._node, self.num_leaves)

    def __copy__(self) -> PyTreeDef:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> PyTreeDef:
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        return self is other or self._node == other._node

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash(self._node)
            self._hash = h
        return h

    def __repr__(self) -> str:
        return f"PyTreeDef({_node_repr(self._node)})"


def _count(node: Any) -> tuple[int, int]:
    """(number of leaves, number of nodes) of an internal structure."""
    if node is _LEAF:
        return 1, 1
    leaves, nodes = 0, 1
    for c in node[2]:
        cl, cn = _count(c)
        leaves += cl
        nodes += cn
    return leaves, nodes


def _node_repr(node: Any) -> str:
    if node is _LEAF:
        return "*"
    kind, aux, children = node
    parts = [_node_repr(c) for c in children]
    cat = kind.category
    if cat == "tuple":
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if cat == "list":
        return "[" + ", ".join(parts) + "]"
    if cat == "none":
        return "None"
    if cat == "dict":
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(aux, parts, strict=True)) + "}"
    if cat == "ordereddict":
        body = ", ".join(f"{k!r}: {p}" for k, p in zip(aux, parts, strict=True))
        return f"OrderedDict({{{body}}})"
    if cat == "defaultdict":
        body = ", ".join(f"{k!r}: {p}" for k, p in zip(aux[1], parts, strict=True))
        return f"defaultdict({aux[0]!r}, {{{body}}})"
    if cat == "namedtuple":
        fields = kind.type._fields
        body = ", ".join(f"{f}={p}" for f, p in zip(fields, parts, strict=True))
        return f"{kind.type.__name__}({body})"
    return f"CustomNode({kind.type.__name__}[{aux!r}], [{', '.join(parts)}])"


# --------------------------------------------------------------------------------------------
# Flattening
# --------------------------------------------------------------------------------------------


def tree_flatten(
    tree: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[Any], PyTreeDef]:
    """Flatten ``tree`` into ``(leaves, treedef)``; leaves are in depth-first, left-to-right order.

    ``is_leaf(x)`` returning True makes ``x`` a leaf even if it is a node (it is asked about
    every subtree, ``None`` included, before the subtree is taken apart).
    """
    leaves: list[Any] = []
    node = _flatten_node(tree, is_leaf, leaves.append)
    return leaves, PyTreeDef(node, len(leaves))


# The recursions are module functions, not closures calling themselves: such a closure is a
# reference cycle that keeps the leaves it saw (device buffers, large arrays) alive until the
# next garbage collection.
def _flatten_node(x: Any, is_leaf: Callable[[Any], bool] | None,
                  append: Callable[[Any], None]) -> Any:
    """The structure node of ``x``; its leaves are passed to ``append`` in order."""
    if is_leaf is not None and is_leaf(x):
        append(x)
        return _LEAF
    t = type(x)
    if t is list:
        return (_LIST, None, tuple([_flatten_node(c, is_leaf, append) for c in x]))
    if t is tuple:
        return (_TUPLE, None, tuple([_flatten_node(c, is_leaf, append) for c in x]))
    if x is None:
        return _NONE_NODE
    kind = _dispatch.get(t)
    if kind is None:
        if issubclass(t, tuple) and hasattr(t, "_fields"):
            kind = _namedtuple_kind(t)
        else:
            append(x)
            return _LEAF
    children, aux = kind.flatten(x)
    return (kind, aux, tuple([_flatten_node(c, is_leaf, append) for c in children]))


def _build(n: Any, nxt: Callable[[], Any]) -> Any:
    """The pytree of structure node ``n`` whose leaves are taken from ``nxt()`` in order."""
    if n is _LEAF:
        return nxt()
    kind, aux, children = n
    if kind is _LIST:
        return [_build(c, nxt) for c in children]
    if kind is _TUPLE:
        return tuple([_build(c, nxt) for c in children])
    return kind.unflatten(aux, tuple([_build(c, nxt) for c in children]))


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> PyTree:
    """Rebuild the pytree of structure ``treedef`` from ``leaves`` (inverse of ``tree_flatten``)."""
    if not isinstance(treedef, PyTreeDef):
        raise TypeError(f"tree_unflatten: expected a PyTreeDef, got {treedef!r}")
    return treedef.unflatten(leaves)


def tree_leaves(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of ``tree``, in flatten order."""
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The :class:`PyTreeDef` of ``tree``."""
    return tree_flatten(tree, is_leaf)[1]


def _flatten_rest(fn_name: str, treedef: PyTreeDef, rest: Sequence[PyTree]) -> list[list[Any]]:
    """Flatten each of ``rest`` up to ``treedef``, raising a message that names both structures."""
    out = []
    node = treedef._node
    for i, r in enumerate(rest, start=1):
        flat: list[Any] = []
        try:
            _flatten_up_to(node, r, flat)
        except _Mismatch as e:
            raise PyTreeError(
                f"{fn_name}: the tree at position {i} has structure {tree_structure(r)} but the "
                f"first tree has structure {treedef} (every other tree must have the first "
                f"tree's structure, or have it as a prefix); mismatch {_mismatch_location(e)}: "
                f"{e.detail}"
            ) from None
        out.append(flat)
    return out


def tree_map(
    f: Callable[..., Any],
    tree: PyTree,
    *rest: PyTree,
    is_leaf: Callable[[Any], bool] | None = None,
) -> PyTree:
    """Apply ``f`` to the leaves of ``tree`` (and the matching subtrees of ``rest``).

    Each tree in ``rest`` must have ``tree``'s structure or have it as a prefix: it is flattened
    up to ``tree``'s structure, so ``f`` receives the whole subtree found at each leaf position of
    ``tree``. Returns a tree of ``tree``'s structure holding ``f``'s results.
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    if not rest:
        return treedef.unflatten([f(x) for x in leaves])
    others = _flatten_rest("tree_map", treedef, rest)
    return treedef.unflatten([f(*xs) for xs in zip(leaves, *others, strict=True)])


_NO_INITIALIZER: Any = object()


def tree_reduce(
    function: Callable[[T, Any], T],
    tree: PyTree,
    initializer: Any = _NO_INITIALIZER,
    is_leaf: Callable[[Any], bool] | None = None,
) -> T:
    """``functools.reduce(function, tree_leaves(tree), initializer)``.

    Without an initializer, a tree with no leaves raises ``TypeError``.
    """
    leaves = tree_leaves(tree, is_leaf)
    if initializer is _NO_INITIALIZER:
        if not leaves:
            raise TypeError(
                f"tree_reduce: the tree has no leaves ({tree_structure(tree, is_leaf)}) and no "
                "initializer was given"
            )
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_all(tree: PyTree, *, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """Whether every leaf of ``tree`` is truthy (True for a tree without leaves)."""
    return all(tree_leaves(tree, is_leaf))


def tree_transpose(
    outer_treedef: PyTreeDef, inner_treedef: PyTreeDef | None, pytree_to_transpose: PyTree
) -> PyTree:
    """Turn a tree of structure ``outer`` of trees of structure ``inner`` into an ``inner`` of
    ``outer``s. With ``inner_treedef=None`` it is taken from the first outer leaf's subtree.

    Raises ``TypeError`` when the tree's structure is not ``outer_treedef.compose(inner)``.
    """
    if inner_treedef is None:
        subtrees = outer_treedef.flatten_up_to(pytree_to_transpose)
        if not subtrees:
            raise ValueError(
                f"tree_transpose: cannot infer the inner structure: the outer structure "
                f"{outer_treedef} has no leaves"
            )
        inner_treedef = tree_structure(subtrees[0])
    flat, treedef = tree_flatten(pytree_to_transpose)
    expected = outer_treedef.compose(inner_treedef)
    if treedef != expected:
        raise TypeError(
            f"tree_transpose: the tree has structure {treedef}, but outer {outer_treedef} "
            f"composed with inner {inner_treedef} is {expected}"
        )
    inner_size = inner_treedef.num_leaves
    # flat is outer-major: outer leaf i holds inner leaf j at flat[i * inner_size + j].
    transposed = [outer_treedef.unflatten(flat[j::inner_size]) for j in range(inner_size)]
    return inner_treedef.unflatten(transposed)


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    """Whether ``treedef`` has a single node (a leaf, ``None``, or an empty container), as JAX."""
    return treedef.num_nodes == 1


def treedef_is_strict_leaf(treedef: PyTreeDef) -> bool:
    """Whether ``treedef`` is the structure of a single leaf."""
    return treedef._node is _LEAF


def treedef_children(treedef: PyTreeDef) -> list[PyTreeDef]:
    """Treedefs of the root node's children (same as ``treedef.children()``)."""
    return treedef.children()


def all_leaves(iterable: Iterable[Any], is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """Whether every element of ``iterable`` is a leaf (``None`` is not: it is a node)."""
    for x in iterable:
        if is_leaf is not None and is_leaf(x):
            continue
        if _kind_of(x) is not None:
            return False
    return True


# --------------------------------------------------------------------------------------------
# Key paths
# --------------------------------------------------------------------------------------------


def tree_flatten_with_path(
    tree: PyTree,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> tuple[list[tuple[KeyPath, Any]], PyTreeDef]:
    """Like ``tree_flatten``, with each leaf paired with its key path: ``[(path, leaf)], treedef``.

    With ``is_leaf_takes_path=True``, ``is_leaf`` is called as ``is_leaf(path, x)``.
    """
    out: list[tuple[KeyPath, Any]] = []
    if is_leaf is not None and not is_leaf_takes_path:
        plain = is_leaf
        is_leaf = lambda _path, x: plain(x)  # noqa: E731
    node = _flatten_path_node(tree, (), is_leaf, out.append)
    return out, PyTreeDef(node, len(out))


def _flatten_path_node(x: Any, path: KeyPath, is_leaf: Callable[[KeyPath, Any], bool] | None,
                       append: Callable[[tuple[KeyPath, Any]], None]) -> Any:
    """The structure node of ``x`` at ``path``; its (path, leaf) pairs go to ``append``."""
    if is_leaf is not None and is_leaf(path, x):
        append((path, x))
        return _LEAF
    t = type(x)
    if t is list or t is tuple:
        return (_LIST if t is list else _TUPLE, None,
                tuple([_flatten_path_node(c, (*path, SequenceKey(i)), is_leaf, append)
                       for i, c in enumerate(x)]))
    if x is None:
        return _NONE_NODE
    kind = _kind_of(x)
    if kind is None:
        append((path, x))
        return _LEAF
    pairs, aux = kind.flatten_with_keys(x)
    return (kind, aux, tuple([_flatten_path_node(c, (*path, k), is_leaf, append)
                              for k, c in pairs]))


def tree_leaves_with_path(
    tree: PyTree,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> list[tuple[KeyPath, Any]]:
    """The ``(key_path, leaf)`` pairs of ``tree``, in flatten order."""
    return tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)[0]


def tree_map_with_path(
    f: Callable[..., Any],
    tree: PyTree,
    *rest: PyTree,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> PyTree:
    """Like ``tree_map``, but calls ``f(path, leaf, *rest_subtrees)``."""
    pairs, treedef = tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)
    if not rest:
        return treedef.unflatten([f(p, x) for p, x in pairs])
    others = _flatten_rest("tree_map_with_path", treedef, rest)
    return treedef.unflatten([f(p, x, *xs) for (p, x), *xs in zip(pairs, *others, strict=True)])

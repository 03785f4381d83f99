"""Tests of fborn.tree_util (pytrees with JAX's semantics)."""

from __future__ import annotations

import collections
import copy
import dataclasses
import operator
import pickle
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fborn import tree_util as tu

Point = collections.namedtuple("Point", ["x", "y"])


class Pair(NamedTuple):
    first: Any
    second: Any


# --------------------------------------------------------------------------------------------
# Reference helpers (independent of the implementation)
# --------------------------------------------------------------------------------------------


def ref_leaves(t: Any) -> list:
    """Leaves in JAX order, computed without fborn."""
    if t is None:
        return []
    if type(t) in (list, tuple) or (isinstance(t, tuple) and hasattr(type(t), "_fields")):
        return [leaf for c in t for leaf in ref_leaves(c)]
    if type(t) is collections.OrderedDict:
        return [leaf for c in t.values() for leaf in ref_leaves(c)]
    if type(t) is dict:
        return [leaf for k in sorted(t) for leaf in ref_leaves(t[k])]
    return [t]


def ref_num_nodes(t: Any) -> int:
    if t is None:
        return 1
    if isinstance(t, (list, tuple)):
        return 1 + sum(ref_num_nodes(c) for c in t)
    if isinstance(t, dict):
        return 1 + sum(ref_num_nodes(c) for c in t.values())
    return 1


def ref_map(f: Any, t: Any) -> Any:
    if t is None:
        return None
    if type(t) is list:
        return [ref_map(f, c) for c in t]
    if type(t) is tuple:
        return tuple(ref_map(f, c) for c in t)
    if isinstance(t, tuple):  # namedtuple
        return type(t)(*[ref_map(f, c) for c in t])
    if type(t) is collections.OrderedDict:
        return collections.OrderedDict((k, ref_map(f, v)) for k, v in t.items())
    if type(t) is dict:
        return {k: ref_map(f, v) for k, v in t.items()}
    return f(t)


def strict_equal(a: Any, b: Any) -> bool:
    """Equality that also checks container types and OrderedDict order at every level."""
    if type(a) is not type(b):
        return False
    if isinstance(a, collections.OrderedDict):
        return list(a) == list(b) and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, dict):
        return set(a) == set(b) and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def get_by_path(t: Any, path: tuple) -> Any:
    for k in path:
        if isinstance(k, tu.SequenceKey):
            t = t[k.idx]
        elif isinstance(k, tu.DictKey):
            t = t[k.key]
        elif isinstance(k, tu.GetAttrKey):
            t = getattr(t, k.name)
        else:
            raise AssertionError(f"unexpected key {k!r}")
    return t


_KEY_POOL = ["a", "b", "c", "ab", "x", "zz"]


def _keyed(container: type) -> Any:
    """Build ``container`` from values and a key permutation (so insertion order is unsorted)."""
    return lambda vals, keys: container(zip(keys, vals, strict=False))


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    vals = st.lists(children, max_size=4)
    perms = st.permutations(_KEY_POOL)
    return st.one_of(
        vals,
        vals.map(tuple),
        st.builds(_keyed(dict), vals, perms),
        st.builds(Point, children, children),
        st.builds(Pair, children, children),
        st.builds(_keyed(collections.OrderedDict), vals, perms),
    )


trees = st.recursive(st.one_of(st.integers(-1000, 1000), st.none()), _extend, max_leaves=24)


# --------------------------------------------------------------------------------------------
# Property-based round trips
# --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(trees)
def test_flatten_unflatten_round_trip(tree: Any) -> None:
    leaves, treedef = tu.tree_flatten(tree)
    assert leaves == ref_leaves(tree)
    assert treedef.num_leaves == len(leaves)
    assert treedef.num_nodes == ref_num_nodes(tree)
    rebuilt = tu.tree_unflatten(treedef, leaves)
    assert strict_equal(rebuilt, tree)
    again = tu.tree_structure(rebuilt)
    assert again == treedef
    assert hash(again) == hash(treedef)
    assert tu.tree_leaves(tree) == leaves


@settings(max_examples=200, deadline=None)
@given(trees)
def test_tree_map_matches_reference(tree: Any) -> None:
    doubled = tu.tree_map(lambda x: 2 * x + 1, tree)
    assert strict_equal(doubled, ref_map(lambda x: 2 * x + 1, tree))
    negated = tu.tree_map(operator.neg, tree)
    zeros = tu.tree_map(operator.add, tree, negated)
    assert tu.tree_leaves(zeros) == [0] * len(tu.tree_leaves(tree))
    assert tu.tree_structure(zeros) == tu.tree_structure(tree)


@settings(max_examples=200, deadline=None)
@given(trees)
def test_paths_locate_leaves(tree: Any) -> None:
    pairs, treedef = tu.tree_flatten_with_path(tree)
    assert treedef == tu.tree_structure(tree)
    assert [leaf for _, leaf in pairs] == tu.tree_leaves(tree)
    for path, leaf in pairs:
        assert get_by_path(tree, path) == leaf
    mapped = tu.tree_map_with_path(lambda p, x: tu.keystr(p), tree)
    assert tu.tree_leaves(mapped) == [tu.keystr(p) for p, _ in pairs]


@settings(max_examples=100, deadline=None)
@given(trees)
def test_flatten_up_to_own_structure_gives_leaves(tree: Any) -> None:
    treedef = tu.tree_structure(tree)
    assert treedef.flatten_up_to(tree) == tu.tree_leaves(tree)


# --------------------------------------------------------------------------------------------
# Built-in node types
# --------------------------------------------------------------------------------------------


def test_dict_keys_are_sorted() -> None:
    tree = {"b": 1, "a": 2, "c": 3}
    leaves, treedef = tu.tree_flatten(tree)
    assert leaves == [2, 1, 3]
    rebuilt = tu.tree_unflatten(treedef, [10, 20, 30])
    assert rebuilt == {"a": 10, "b": 20, "c": 30}
    assert list(rebuilt) == ["a", "b", "c"]
    assert treedef == tu.tree_structure({"c": 0, "a": 0, "b": 0})
    assert treedef.node_data() == (dict, ("a", "b", "c"))
    assert repr(treedef) == "PyTreeDef({'a': *, 'b': *, 'c': *})"


def test_dict_with_unsortable_keys_is_deterministic() -> None:
    t1 = {1: "a", "x": "b", 2: "c", 10: "d"}
    t2 = {"x": "b", 10: "d", 2: "c", 1: "a"}
    # grouped by type name ('int' < 'str'), natural order within a type
    assert tu.tree_leaves(t1) == ["a", "c", "d", "b"]
    assert tu.tree_leaves(t2) == ["a", "c", "d", "b"]
    assert tu.tree_structure(t1) == tu.tree_structure(t2)
    leaves, treedef = tu.tree_flatten(t1)
    assert tu.tree_unflatten(treedef, leaves) == t1


def test_none_is_an_empty_node() -> None:
    assert tu.tree_leaves([None, 1]) == [1]
    assert tu.tree_leaves(None) == []
    treedef = tu.tree_structure(None)
    assert treedef.num_leaves == 0
    assert treedef.num_nodes == 1
    assert repr(treedef) == "PyTreeDef(None)"
    assert tu.tree_unflatten(treedef, []) is None
    assert tu.tree_map(lambda x: x + 1, [None, 1, (None,)]) == [None, 2, (None,)]
    assert tu.tree_map(operator.add, [None, 1], [None, 2]) == [None, 3]
    # None in a later tree can sit at a leaf position of the first tree ...
    assert tu.tree_map(lambda x, y: (x, y), [1, 2], [None, 3]) == [(1, None), (2, 3)]
    # ... but None in the first tree only matches None.
    with pytest.raises(ValueError, match="expected None"):
        tu.tree_map(lambda x, y: x, [None, 1], [5, 2])
    assert tu.tree_leaves([None, 1], is_leaf=lambda x: x is None) == [None, 1]


def test_namedtuple_keeps_type() -> None:
    p = Point(1, (2, 3))
    leaves, treedef = tu.tree_flatten(p)
    assert leaves == [1, 2, 3]
    rebuilt = tu.tree_unflatten(treedef, [4, 5, 6])
    assert type(rebuilt) is Point
    assert rebuilt == Point(4, (5, 6))
    assert repr(treedef) == "PyTreeDef(Point(x=*, y=(*, *)))"
    assert treedef != tu.tree_structure((1, (2, 3)))
    assert treedef != tu.tree_structure(Pair(1, (2, 3)))
    assert tu.tree_map(lambda x: x * 10, Pair(1, 2)) == Pair(10, 20)
    assert type(tu.tree_map(lambda x: x * 10, Pair(1, 2))) is Pair


def test_ordered_dict_keeps_type_and_order() -> None:
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    leaves, treedef = tu.tree_flatten(od)
    assert leaves == [1, 2]
    rebuilt = tu.tree_unflatten(treedef, [3, 4])
    assert type(rebuilt) is collections.OrderedDict
    assert list(rebuilt.items()) == [("b", 3), ("a", 4)]
    assert treedef != tu.tree_structure(collections.OrderedDict([("a", 2), ("b", 1)]))
    assert treedef != tu.tree_structure({"b": 1, "a": 2})
    assert repr(treedef) == "PyTreeDef(OrderedDict({'b': *, 'a': *}))"


def test_defaultdict_keeps_default_factory() -> None:
    dd = collections.defaultdict(list, {"b": 1, "a": 2})
    leaves, treedef = tu.tree_flatten(dd)
    assert leaves == [2, 1]
    rebuilt = tu.tree_unflatten(treedef, [5, 6])
    assert type(rebuilt) is collections.defaultdict
    assert rebuilt.default_factory is list
    assert dict(rebuilt) == {"a": 5, "b": 6}
    assert treedef != tu.tree_structure(collections.defaultdict(set, {"b": 1, "a": 2}))
    pairs = tu.tree_leaves_with_path(dd)
    assert [tu.keystr(p) for p, _ in pairs] == ["['a']", "['b']"]


def test_other_objects_are_leaves() -> None:
    arr = np.arange(3)
    obj = object()

    class MyList(list):
        pass

    leaves = tu.tree_leaves([arr, 1.5, "s", obj, MyList([1, 2]), np.float32(2)])
    assert len(leaves) == 6
    assert leaves[0] is arr
    assert leaves[3] is obj
    assert type(leaves[4]) is MyList
    assert tu.tree_structure(arr) == tu.tree_structure(3)
    assert repr(tu.tree_structure(arr)) == "PyTreeDef(*)"


# --------------------------------------------------------------------------------------------
# PyTreeDef
# --------------------------------------------------------------------------------------------


def test_treedef_hash_eq_and_repr() -> None:
    a = tu.tree_structure((1, {"a": 2, "b": None}))
    b = tu.tree_structure((np.zeros(2), {"b": None, "a": "x"}))
    assert a == b
    assert hash(a) == hash(b)
    assert {a: "cached"}[b] == "cached"
    assert a != tu.tree_structure([1, {"a": 2, "b": None}])
    assert a != tu.tree_structure((1, {"a": 2, "c": None}))
    assert a != tu.tree_structure((1, {"a": 2, "b": 3}))
    assert a != (1, 2)
    assert repr(a) == "PyTreeDef((*, {'a': *, 'b': None}))"
    assert repr(tu.tree_structure((1,))) == "PyTreeDef((*,))"
    assert repr(tu.tree_structure([])) == "PyTreeDef([])"
    assert a.num_leaves == 2
    assert a.num_nodes == 5
    with pytest.raises(AttributeError):
        a.num_leaves = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        a.extra = 1  # type: ignore[attr-defined]


def test_treedef_copy_and_pickle() -> None:
    treedef = tu.tree_structure(
        (
            1,
            {"a": [2, None]},
            Point(3, 4),
            collections.OrderedDict(z=5),
            collections.defaultdict(list),
        )
    )
    assert copy.copy(treedef) is treedef
    assert copy.deepcopy({"t": treedef})["t"] is treedef
    restored = pickle.loads(pickle.dumps(treedef))
    assert restored == treedef
    assert hash(restored) == hash(treedef)
    assert repr(restored) == repr(treedef)
    assert tu.tree_unflatten(restored, [1, 2, 3, 4, 5]) == (
        1,
        {"a": [2, None]},
        Point(3, 4),
        collections.OrderedDict(z=5),
        collections.defaultdict(list),
    )


def test_treedef_children_node_data_compose() -> None:
    treedef = tu.tree_structure((1, [2, 3], {"k": 4}))
    assert treedef.children() == [
        tu.tree_structure(0),
        tu.tree_structure([0, 0]),
        tu.tree_structure({"k": 0}),
    ]
    assert tu.treedef_children(treedef) == treedef.children()
    assert treedef.node_data() == (tuple, None)
    assert tu.tree_structure(1).node_data() is None
    assert tu.tree_structure(1).children() == []
    composed = tu.tree_structure([0, 0]).compose(tu.tree_structure((0, 0, 0)))
    assert composed == tu.tree_structure([(1, 2, 3), (4, 5, 6)])
    assert composed.num_leaves == 6


def test_unflatten_with_wrong_number_of_leaves() -> None:
    treedef = tu.tree_structure([1, 2])
    with pytest.raises(ValueError, match=r"PyTreeDef\(\[\*, \*\]\) has 2 leaves, but 3"):
        tu.tree_unflatten(treedef, [1, 2, 3])
    with pytest.raises(ValueError, match="but 1 were given"):
        treedef.unflatten(iter([1]))
    with pytest.raises(TypeError):
        tu.tree_unflatten([1, 2], [1, 2])  # type: ignore[arg-type]


def test_flatten_up_to() -> None:
    treedef = tu.tree_structure({"a": 0, "b": (0, 0)})
    tree = {"a": [1, 2], "b": ({"x": 3}, None)}
    assert treedef.flatten_up_to(tree) == [[1, 2], {"x": 3}, None]
    with pytest.raises(ValueError) as info:
        treedef.flatten_up_to({"a": 1, "b": [2, 3]})
    msg = str(info.value)
    assert "PyTreeDef({'a': *, 'b': (*, *)})" in msg
    assert "PyTreeDef({'a': *, 'b': [*, *]})" in msg
    assert "['b']" in msg


def test_treedef_is_leaf_and_all_leaves() -> None:
    assert tu.treedef_is_leaf(tu.tree_structure(1))
    assert tu.treedef_is_leaf(tu.tree_structure(None))  # one node, as in JAX
    assert tu.treedef_is_leaf(tu.tree_structure(()))
    assert not tu.treedef_is_leaf(tu.tree_structure((1,)))
    assert tu.treedef_is_strict_leaf(tu.tree_structure(1))
    assert not tu.treedef_is_strict_leaf(tu.tree_structure(None))
    assert tu.all_leaves([1, np.zeros(2), "x"])
    assert not tu.all_leaves([1, None])
    assert not tu.all_leaves([1, (2,)])
    assert tu.all_leaves([1, (2,)], is_leaf=lambda x: isinstance(x, tuple))


# --------------------------------------------------------------------------------------------
# tree_map, is_leaf, errors
# --------------------------------------------------------------------------------------------


def test_tree_map_multiple_trees() -> None:
    out = tu.tree_map(lambda x, y, z: x + y * z, [1, (2, 3)], [4, (5, 6)], [7, (8, 9)])
    assert out == [29, (42, 57)]


def test_tree_map_prefix_trees() -> None:
    out = tu.tree_map(
        lambda x, y: (x, y), {"a": 1, "b": 2}, {"a": [1, 2], "b": {"c": 3, "d": None}}
    )
    assert out == {"a": (1, [1, 2]), "b": (2, {"c": 3, "d": None})}
    # the first tree must be the prefix: a deeper first tree does not match a shallower other
    with pytest.raises(ValueError) as info:
        tu.tree_map(lambda x, y: x, {"a": [1, 2], "b": 3}, {"a": 1, "b": 2})
    msg = str(info.value)
    assert "PyTreeDef({'a': *, 'b': *})" in msg
    assert "PyTreeDef({'a': [*, *], 'b': *})" in msg


def test_tree_map_is_leaf() -> None:
    tree = [(1, 2), (3,), 4]
    leaves = tu.tree_leaves(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert leaves == [(1, 2), (3,), 4]
    out = tu.tree_map(len, tree[:2], is_leaf=lambda x: isinstance(x, tuple))
    assert out == [2, 1]
    out = tu.tree_map(
        lambda x, y: (x, y), [(1, 2), 3], [[5, 6], 7], is_leaf=lambda x: isinstance(x, tuple)
    )
    assert out == [((1, 2), [5, 6]), (3, 7)]
    assert tu.tree_structure(tree, is_leaf=lambda x: isinstance(x, tuple)) == tu.tree_structure(
        [0, 0, 0]
    )


def test_mismatch_error_names_both_structures() -> None:
    with pytest.raises(ValueError) as info:
        tu.tree_map(lambda x, y: x, (1, 2), [1, 2])
    msg = str(info.value)
    assert "PyTreeDef([*, *])" in msg
    assert "PyTreeDef((*, *))" in msg
    assert "position 1" in msg

    with pytest.raises(ValueError) as info:
        tu.tree_map(lambda x, y, z: x, {"a": 1}, {"a": 1}, {"b": 1})
    msg = str(info.value)
    assert "position 2" in msg
    assert "PyTreeDef({'b': *})" in msg
    assert "PyTreeDef({'a': *})" in msg

    with pytest.raises(ValueError) as info:
        tu.tree_map(lambda x, y: x, [1, (2, 3)], [1, (2, 3, 4)])
    msg = str(info.value)
    assert "PyTreeDef([*, (*, *)])" in msg
    assert "PyTreeDef([*, (*, *, *)])" in msg
    assert "[1]" in msg

    with pytest.raises(ValueError) as info:
        tu.tree_map(lambda x, y: x, Point(1, 2), (1, 2))
    msg = str(info.value)
    assert "PyTreeDef(Point(x=*, y=*))" in msg
    assert "PyTreeDef((*, *))" in msg

    with pytest.raises(ValueError, match="tree_map_with_path"):
        tu.tree_map_with_path(lambda p, x, y: x, [1], [1, 2])


# --------------------------------------------------------------------------------------------
# tree_transpose, tree_reduce, tree_all
# --------------------------------------------------------------------------------------------


def test_tree_transpose() -> None:
    outer = tu.tree_structure([0, 0, 0])
    inner = tu.tree_structure((0, 0))
    out = tu.tree_transpose(outer, inner, [(1, 2), (3, 4), (5, 6)])
    assert out == ([1, 3, 5], [2, 4, 6])

    outer = tu.tree_structure({"x": 0, "y": 0})
    inner = tu.tree_structure({"a": 0, "b": [0, 0]})
    tree = {"x": {"a": 1, "b": [2, 3]}, "y": {"a": 4, "b": [5, 6]}}
    expected = {"a": {"x": 1, "y": 4}, "b": [{"x": 2, "y": 5}, {"x": 3, "y": 6}]}
    assert tu.tree_transpose(outer, inner, tree) == expected
    assert tu.tree_transpose(outer, None, tree) == expected

    with pytest.raises(TypeError) as info:
        tu.tree_transpose(tu.tree_structure([0, 0]), tu.tree_structure((0, 0)), [(1, 2), (3,)])
    assert "PyTreeDef([(*, *), (*,)])" in str(info.value)


def test_tree_reduce() -> None:
    tree = {"a": [1, 2], "b": (3, None), "c": 4}
    assert tu.tree_reduce(operator.add, tree) == 10
    assert tu.tree_reduce(operator.add, tree, 100) == 110
    assert tu.tree_reduce(lambda acc, x: acc + [x], tree, []) == [1, 2, 3, 4]
    assert tu.tree_reduce(operator.add, [None, ()], 7) == 7
    with pytest.raises(TypeError):
        tu.tree_reduce(operator.add, [None, ()])
    assert (
        tu.tree_reduce(
            lambda acc, x: acc + len(x), [(1, 2), (3,)], 0, is_leaf=lambda x: isinstance(x, tuple)
        )
        == 3
    )


def test_tree_all() -> None:
    assert tu.tree_all([True, (1, {"a": "x"})])
    assert not tu.tree_all([True, (1, {"a": 0})])
    assert tu.tree_all([None, ()])


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------


def test_register_pytree_node_custom_class() -> None:
    class Box:
        def __init__(self, value: Any, label: str) -> None:
            self.value = value
            self.label = label

    tu.register_pytree_node(
        Box, lambda b: ((b.value,), b.label), lambda label, children: Box(children[0], label)
    )
    tree = [Box((1, 2), "p"), 3]
    leaves, treedef = tu.tree_flatten(tree)
    assert leaves == [1, 2, 3]
    assert repr(treedef) == "PyTreeDef([CustomNode(Box['p'], [(*, *)]), *])"
    rebuilt = tu.tree_unflatten(treedef, [10, 20, 30])
    assert type(rebuilt[0]) is Box
    assert rebuilt[0].value == (10, 20)
    assert rebuilt[0].label == "p"
    assert rebuilt[1] == 30
    assert treedef.children()[0].node_data() == (Box, "p")
    assert treedef != tu.tree_structure([Box((1, 2), "q"), 3])
    assert treedef == tu.tree_structure([Box((5, 6), "p"), 7])
    paths = [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(tree)]
    assert paths == ["[0][0][0]", "[0][0][1]", "[1]"]
    mapped = tu.tree_map(operator.add, Box(1, "p"), Box(2, "p"))
    assert (mapped.value, mapped.label) == (3, "p")
    with pytest.raises(ValueError) as info:
        tu.tree_map(operator.add, Box(1, "p"), Box(2, "q"))
    assert "CustomNode(Box['p'], [*])" in str(info.value)
    assert "CustomNode(Box['q'], [*])" in str(info.value)

    class SubBox(Box):
        pass

    assert tu.tree_leaves(SubBox(1, "s"))[0].__class__ is SubBox  # subclasses are leaves


def test_register_pytree_with_keys() -> None:
    class Params:
        def __init__(self, w: Any, b: Any) -> None:
            self.w = w
            self.b = b

    tu.register_pytree_with_keys(
        Params,
        lambda p: (((tu.GetAttrKey("w"), p.w), (tu.GetAttrKey("b"), p.b)), None),
        lambda _, children: Params(*children),
    )
    tree = {"layer": [Params(1, 2)]}
    assert tu.tree_leaves(tree) == [1, 2]
    paths = [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(tree)]
    assert paths == ["['layer'][0].w", "['layer'][0].b"]
    out = tu.tree_map_with_path(lambda p, x: f"{tu.keystr(p)}={x}", tree)
    assert (out["layer"][0].w, out["layer"][0].b) == ("['layer'][0].w=1", "['layer'][0].b=2")


def test_register_pytree_node_class_decorator() -> None:
    @tu.register_pytree_node_class
    class Wrapper:
        def __init__(self, x: Any) -> None:
            self.x = x

        def tree_flatten(self) -> tuple[tuple[Any], None]:
            return (self.x,), None

        @classmethod
        def tree_unflatten(cls, aux: None, children: Any) -> Wrapper:
            return cls(*children)

    assert tu.tree_map(lambda v: v + 1, Wrapper(1)).x == 2


def test_register_dataclass_static_fields_affect_treedef() -> None:
    @tu.register_dataclass
    @dataclasses.dataclass
    class Layer:
        w: Any
        b: Any
        activation: str = dataclasses.field(default="relu", metadata={"static": True})

    a = Layer(1, 2, "relu")
    leaves, treedef = tu.tree_flatten(a)
    assert leaves == [1, 2]
    assert treedef == tu.tree_structure(Layer(5, 6, "relu"))
    assert treedef != tu.tree_structure(Layer(5, 6, "tanh"))
    assert hash(treedef) == hash(tu.tree_structure(Layer(5, 6, "relu")))
    assert treedef.node_data() == (Layer, ("relu",))
    assert tu.tree_unflatten(treedef, [3, 4]) == Layer(3, 4, "relu")
    assert tu.tree_map(lambda x: x * 2, Layer(1, 2, "tanh")) == Layer(2, 4, "tanh")
    paths = [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(a)]
    assert paths == [".w", ".b"]
    with pytest.raises(ValueError) as info:
        tu.tree_map(operator.add, Layer(1, 2, "relu"), Layer(1, 2, "tanh"))
    assert "CustomNode(Layer[('relu',)], [*, *])" in str(info.value)
    assert "CustomNode(Layer[('tanh',)], [*, *])" in str(info.value)


def test_register_dataclass_explicit_fields() -> None:
    @dataclasses.dataclass
    class Opt:
        lr: float
        state: Any

    tu.register_dataclass(Opt, data_fields=["state"], meta_fields=["lr"])
    leaves, treedef = tu.tree_flatten(Opt(0.1, [1, 2]))
    assert leaves == [1, 2]
    assert treedef.node_data() == (Opt, (0.1,))
    assert tu.tree_unflatten(treedef, [7, 8]) == Opt(0.1, [7, 8])

    @dataclasses.dataclass
    class Bad:
        a: Any
        b: Any

    with pytest.raises(ValueError, match="missing"):
        tu.register_dataclass(Bad, data_fields=["a"], meta_fields=[])
    with pytest.raises(TypeError):
        tu.register_dataclass(Bad, data_fields=["a"])

    class NotADataclass:
        pass

    with pytest.raises(TypeError):
        tu.register_dataclass(NotADataclass)


def test_register_static() -> None:
    @tu.register_static
    @dataclasses.dataclass(frozen=True)
    class Config:
        depth: int

    tree = (1, Config(3))
    leaves, treedef = tu.tree_flatten(tree)
    assert leaves == [1]
    assert treedef != tu.tree_structure((1, Config(4)))
    assert treedef == tu.tree_structure((2, Config(3)))
    assert tu.tree_unflatten(treedef, [9]) == (9, Config(3))


def test_register_twice_raises() -> None:
    class Thing:
        pass

    tu.register_pytree_node(Thing, lambda t: ((), None), lambda _a, _c: Thing())
    with pytest.raises(ValueError, match="already registered"):
        tu.register_pytree_node(Thing, lambda t: ((), None), lambda _a, _c: Thing())
    with pytest.raises(ValueError, match="already registered"):
        tu.register_static(Thing)
    for builtin in (list, tuple, dict, type(None), collections.OrderedDict):
        with pytest.raises(ValueError, match="already registered"):
            tu.register_pytree_node(builtin, lambda t: ((), None), lambda _a, _c: None)
    with pytest.raises(TypeError):
        tu.register_pytree_node("notatype", lambda t: ((), None), lambda _a, _c: None)


# --------------------------------------------------------------------------------------------
# Key paths
# --------------------------------------------------------------------------------------------


def test_key_types_and_keystr() -> None:
    assert str(tu.SequenceKey(0)) == "[0]"
    assert str(tu.DictKey("a")) == "['a']"
    assert str(tu.DictKey(3)) == "[3]"
    assert str(tu.GetAttrKey("w")) == ".w"
    assert str(tu.FlattenedIndexKey(2)) == "[2]"
    assert tu.SequenceKey(1) == tu.SequenceKey(1)
    assert hash(tu.DictKey("a")) == hash(tu.DictKey("a"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        tu.SequenceKey(1).idx = 2  # type: ignore[misc]
    path = (tu.DictKey("a"), tu.SequenceKey(0), tu.GetAttrKey("w"))
    assert tu.keystr(path) == "['a'][0].w"
    assert tu.keystr(path, simple=True, separator="/") == "a/0/w"
    assert tu.keystr(()) == ""


def test_tree_flatten_with_path() -> None:
    tree = {"a": [1, Point(2, 3)], "b": None, "c": (4,)}
    pairs, treedef = tu.tree_flatten_with_path(tree)
    assert treedef == tu.tree_structure(tree)
    assert pairs == [
        ((tu.DictKey("a"), tu.SequenceKey(0)), 1),
        ((tu.DictKey("a"), tu.SequenceKey(1), tu.GetAttrKey("x")), 2),
        ((tu.DictKey("a"), tu.SequenceKey(1), tu.GetAttrKey("y")), 3),
        ((tu.DictKey("c"), tu.SequenceKey(0)), 4),
    ]
    assert [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(tree)] == [
        "['a'][0]",
        "['a'][1].x",
        "['a'][1].y",
        "['c'][0]",
    ]
    out = tu.tree_map_with_path(lambda p, x, y: (tu.keystr(p), x + y), [1, 2], [10, 20])
    assert out == [("[0]", 11), ("[1]", 22)]
    leaves = tu.tree_leaves_with_path(
        {"a": (1, 2), "b": (3, 4)},
        is_leaf=lambda p, x: p == (tu.DictKey("a"),),
        is_leaf_takes_path=True,
    )
    assert leaves == [
        ((tu.DictKey("a"),), (1, 2)),
        ((tu.DictKey("b"), tu.SequenceKey(0)), 3),
        ((tu.DictKey("b"), tu.SequenceKey(1)), 4),
    ]


def test_public_module_exports() -> None:
    from fborn.core import tree as core_tree

    for name in tu.__all__:
        assert getattr(tu, name) is getattr(core_tree, name)
    for name in ("tree_flatten", "tree_map", "PyTreeDef", "register_dataclass", "keystr"):
        assert name in tu.__all__


def test_flattening_keeps_no_leaf_alive_after_it_returns() -> None:
    """Leaves (device buffers, large arrays) are freed when the caller drops them, without
    waiting for a garbage collection (no reference cycle holds them)."""
    import gc
    import weakref

    class Leaf:
        pass

    gc.disable()
    try:
        leaf = Leaf()
        alive = weakref.ref(leaf)
        tree = {"a": [leaf, (1, None)], "b": {"c": 2}}
        leaves, treedef = tu.tree_flatten(tree)
        rebuilt = tu.tree_unflatten(treedef, leaves)
        pairs = tu.tree_flatten_with_path(tree, is_leaf=lambda x: isinstance(x, Leaf))
        mapped = tu.tree_map(lambda x: x, tree)
        del leaf, tree, leaves, rebuilt, pairs, mapped
        assert alive() is None
    finally:
        gc.enable()

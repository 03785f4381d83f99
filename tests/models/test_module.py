"""fborn.models.Module: pytree registration, static fields, frozen construction, equality, and
the helpers partition/combine/tree_at."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

import fborn
import fborn.numpy as fnp
from fborn import random
from fborn.models import (
    Lambda,
    Linear,
    Module,
    Sequential,
    combine,
    field,
    is_array,
    is_inexact_array,
    partition,
    tree_at,
)
from fborn.tree_util import keystr, tree_flatten, tree_leaves, tree_leaves_with_path, tree_map


def relu(x):
    return fnp.maximum(x, 0)


class Affine(Module):
    weight: fborn.Array
    bias: fborn.Array
    scale: float = 1.0
    activation: Callable = fnp.tanh

    def __call__(self, x):
        return self.activation(self.scale * (x @ self.weight + self.bias))


class Counter(Module):
    """A module with an integer array (not trainable) beside a float one."""

    w: fborn.Array
    steps: fborn.Array
    name: str = "counter"


class Stack(Module):
    layers: list
    sizes: tuple[int, ...] = field(static=True)

    def __init__(self, sizes, *, key):
        keys = random.split(key, len(sizes) - 1)
        self.sizes = tuple(sizes)
        self.layers = [Linear(a, b, key=k) for a, b, k in zip(sizes[:-1], sizes[1:], keys,
                                                                          strict=True)]

    def __call__(self, x):
        for layer in self.layers:
            x = relu(layer(x))
        return x


def affine(n_in=3, n_out=2, **kw):
    w = np.arange(n_in * n_out, dtype=np.float32).reshape(n_in, n_out) / 10
    return Affine(fnp.asarray(w), fnp.asarray(np.full(n_out, 0.5, np.float32)), **kw)


def paths(tree):
    return [keystr(p, simple=True, separator=".") for p, _ in tree_leaves_with_path(tree)]


# --- pytree structure ------------------------------------------------------------------------


def test_arrays_are_leaves_and_python_values_are_static():
    m = affine()
    leaves, treedef = tree_flatten(m)
    assert leaves[0] is m.weight and leaves[1] is m.bias and len(leaves) == 2
    rebuilt = treedef.unflatten([fnp.zeros((3, 2)), fnp.ones(2)])
    assert type(rebuilt) is Affine
    assert rebuilt.scale == 1.0 and rebuilt.activation is fnp.tanh
    np.testing.assert_array_equal(np.asarray(rebuilt.bias), np.ones(2, np.float32))
    assert tree_flatten(affine(scale=2.0))[1] != treedef
    assert tree_flatten(affine())[1] == treedef


def test_key_paths_name_fields_and_list_indices():
    s = Stack((4, 3, 2), key=random.key(0))
    assert paths(s) == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    seq = Sequential([Linear(2, 3, key=random.key(1)), relu, Linear(3, 1, key=random.key(2))])
    assert paths(seq) == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]


def test_none_field_is_an_empty_node():
    lin = Linear(3, 2, use_bias=False, key=random.key(0))
    assert lin.bias is None
    assert paths(lin) == ["weight"]


def test_tree_map_rebuilds_modules():
    m = affine()
    doubled = tree_map(lambda x: x * 2, m)
    assert type(doubled) is Affine and doubled.activation is fnp.tanh
    np.testing.assert_allclose(np.asarray(doubled.weight), 2 * np.asarray(m.weight))


# --- transforms --------------------------------------------------------------------------------


def test_jit_caches_on_statics_and_retraces_when_one_changes():
    calls = fborn.jit(lambda m, x: m(x))
    x = fnp.ones((4, 3))
    out = calls(affine(), x)
    calls(tree_map(lambda a: a + 1, affine()), x)  # new arrays, same structure: cached
    assert calls.trace_count == 1
    out2 = calls(affine(scale=2.0), x)
    assert calls.trace_count == 2
    calls(affine(activation=relu), x)
    assert calls.trace_count == 3
    expected = np.tanh(np.ones((4, 3)) @ np.asarray(affine().weight) + 0.5)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out2), np.tanh(2 * np.arctanh(expected)), rtol=1e-5)


def test_grad_returns_a_module_of_gradients():
    m = affine(activation=lambda v: v)
    x = fnp.asarray(np.array([[1.0, 2.0, 3.0]], np.float32))
    g = fborn.grad(lambda mod: fnp.sum(mod(x)))(m)
    assert type(g) is Affine
    np.testing.assert_allclose(np.asarray(g.weight), np.array([[1, 1], [2, 2], [3, 3]]))
    np.testing.assert_allclose(np.asarray(g.bias), np.ones(2))


def test_vmap_over_inputs_and_over_a_stacked_ensemble():
    m = affine()
    xs = fnp.asarray(np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32))
    per_example = fborn.vmap(lambda mod, x: mod(x), in_axes=(None, 0))(m, xs)
    np.testing.assert_allclose(np.asarray(per_example), np.asarray(m(xs)), rtol=1e-6)
    ensemble = tree_map(lambda a: fnp.stack([a, 2 * a]), m)
    outs = fborn.vmap(lambda mod: mod(xs))(ensemble)
    assert outs.shape == (2, 5, 2)
    np.testing.assert_allclose(np.asarray(outs[1]),
                               np.asarray(tree_map(lambda a: 2 * a, m)(xs)), rtol=1e-6)


def test_jit_of_grad_of_a_nested_model():
    s = Stack((3, 4, 2), key=random.key(3))
    x = fnp.ones((2, 3))
    loss = lambda mod: fnp.sum(mod(x) ** 2)  # noqa: E731
    g_jit = fborn.jit(fborn.grad(loss))(s)
    g = fborn.grad(loss)(s)
    assert tree_flatten(g_jit)[1] == tree_flatten(s)[1]
    for a, b in zip(tree_leaves(g_jit), tree_leaves(g), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_make_jaxpr_of_a_module_call_has_only_array_inputs():
    jaxpr = fborn.make_jaxpr(lambda mod, x: mod(x))(affine(), fnp.ones(3))
    assert len(jaxpr.jaxpr.invars) == 3


# --- construction and immutability -------------------------------------------------------------


def test_modules_are_frozen_after_construction():
    m = affine()
    with pytest.raises(dataclasses.FrozenInstanceError, match="Affine.weight.*tree_at"):
        m.weight = fnp.zeros((3, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        del m.bias


def test_custom_init_must_declare_and_set_fields():
    class Undeclared(Module):
        a: int

        def __init__(self):
            self.a = 1
            self.b = 2

    with pytest.raises(AttributeError, match="Undeclared has no field 'b'"):
        Undeclared()

    class Missing(Module):
        a: int
        b: int = 7

        def __init__(self):
            pass

    with pytest.raises(ValueError, match="did not set the field 'a'"):
        Missing()

    class Defaults(Module):
        a: int
        b: int = 7
        c: tuple = field(default_factory=tuple)

        def __init__(self):
            self.a = 1

    d = Defaults()
    assert (d.a, d.b, d.c) == (1, 7, ())


def test_static_values_must_be_hashable():
    class Holder(Module):
        sizes: list

    with pytest.raises(TypeError, match="Holder.sizes: a list is kept static.*tuple"):
        Holder([1, 2])
    assert Holder((1, 2)).sizes == (1, 2)
    with_array = Holder([fnp.ones(2), 3])  # a list holding an array is part of the pytree
    assert len(tree_leaves(with_array)) == 2


def test_declared_static_field_stays_in_the_treedef():
    class Tagged(Module):
        w: fborn.Array
        table: tuple = field(static=True)

    t = Tagged(fnp.ones(2), (1, 2))
    assert len(tree_leaves(t)) == 1
    assert dataclasses.fields(t)[1].metadata["static"] is True


def test_subclasses_inherit_custom_init_or_get_a_generated_one():
    class MyLinear(Linear):
        def double(self, x):
            return 2 * self(x)

    lin = MyLinear(3, 2, key=random.key(0))
    assert lin.in_features == 3 and lin.double(fnp.ones(3)).shape == (2,)

    class Scaled(Affine):
        factor: float = 3.0

    s = Scaled(fnp.ones((2, 2)), fnp.zeros(2), factor=4.0)
    assert s.factor == 4.0 and s.scale == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.factor = 1.0


def test_generated_init_supports_dataclasses_replace():
    m = affine()
    m2 = dataclasses.replace(m, scale=3.0)
    assert m2.scale == 3.0 and m2.weight is m.weight and m.scale == 1.0


# --- equality and hashing -------------------------------------------------------------------


def test_equality_compares_structure_and_array_identity():
    m = affine()
    assert m == m and hash(m) == hash(m)
    same_arrays = Affine(m.weight, m.bias)
    assert same_arrays == m and hash(same_arrays) == hash(m)
    assert affine() != m  # equal values, distinct arrays
    assert Affine(m.weight, m.bias, scale=2.0) != m
    assert Lambda(relu) == Lambda(relu) and hash(Lambda(relu)) == hash(Lambda(relu))
    assert Lambda(relu) != Lambda(fnp.tanh)


def test_module_as_a_static_jit_argument():
    f = fborn.jit(lambda act, x: act(x), static_argnums=0)
    x = fnp.asarray(np.array([-1.0, 2.0], np.float32))
    np.testing.assert_array_equal(np.asarray(f(Lambda(relu), x)), [0.0, 2.0])
    f(Lambda(relu), x)
    assert f.trace_count == 1


def test_repr_shows_shapes_and_statics():
    assert repr(affine()) == ("Affine(weight=f32[3, 2], bias=f32[2], scale=1.0, "
                              "activation=<function tanh>)")
    text = repr(Stack((3, 4, 2), key=random.key(0)))
    assert text.startswith("Stack(\n  layers=[\n    Linear(weight=f32[4, 3], bias=f32[4]")


# --- filters, partition, combine --------------------------------------------------------------


def test_array_predicates():
    assert is_array(fnp.ones(2)) and is_array(np.ones(2)) and is_array(np.float32(1))
    assert not is_array(1.0) and not is_array([1.0])
    assert is_inexact_array(fnp.ones(2, "bfloat16")) and is_inexact_array(np.ones(2))
    assert not is_inexact_array(fnp.ones(2, "int32")) and not is_inexact_array(2.0)


def test_partition_and_combine_round_trip():
    c = Counter(fnp.ones(3), fnp.zeros((), "int32"))
    params, rest = partition(c, is_inexact_array)
    assert params.w is c.w and params.steps is None and params.name == "counter"
    assert rest.w is None and rest.steps is c.steps
    assert paths(params) == ["w"] and paths(rest) == ["steps"]
    back = combine(params, rest)
    assert type(back) is Counter and back.w is c.w and back.steps is c.steps
    assert combine(rest, params).w is c.w


def test_partition_feeds_grad_and_jit():
    c = Counter(fnp.asarray(np.array([1.0, 2.0], np.float32)), fnp.zeros((), "int32"))
    params, rest = partition(c, is_inexact_array)

    @fborn.jit
    def loss(p, r):
        model = combine(p, r)
        return fnp.sum(model.w ** 2) + model.steps

    g = fborn.grad(loss)(params, rest)
    np.testing.assert_allclose(np.asarray(g.w), [2.0, 4.0])
    assert g.steps is None


def test_partition_replace_and_bad_filter():
    c = Counter(fnp.ones(3), fnp.zeros((), "int32"))
    params, _ = partition(c, is_inexact_array, replace=0)
    assert params.steps == 0
    with pytest.raises(TypeError, match="filter_spec must be a callable"):
        partition(c, True)


# --- tree_at ------------------------------------------------------------------------------------


def test_tree_at_replaces_one_leaf_and_leaves_the_original():
    s = Stack((3, 4, 2), key=random.key(0))
    new_w = fnp.zeros((2, 4))
    s2 = tree_at(lambda m: m.layers[1].weight, s, new_w)
    assert s2.layers[1].weight is new_w and s2.layers[0].weight is s.layers[0].weight
    assert s.layers[1].weight is not new_w
    assert s2.sizes == (3, 4, 2)


def test_tree_at_several_leaves_and_replace_fn():
    m = affine()
    m2 = tree_at(lambda a: (a.weight, a.bias), m, (fnp.zeros((3, 2)), fnp.ones(2)))
    np.testing.assert_array_equal(np.asarray(m2.weight), np.zeros((3, 2)))
    np.testing.assert_array_equal(np.asarray(m2.bias), np.ones(2))
    m3 = tree_at(lambda a: [a.weight, a.bias], m, replace_fn=lambda v: v * 10)
    np.testing.assert_allclose(np.asarray(m3.bias), [5.0, 5.0])
    np.testing.assert_allclose(np.asarray(m3.weight), 10 * np.asarray(m.weight))


def test_tree_at_subtrees_none_fields_and_shared_arrays():
    s = Stack((3, 4, 2), key=random.key(0))
    replacement = Linear(4, 2, key=random.key(9))
    s2 = tree_at(lambda m: m.layers[1], s, replacement)
    assert s2.layers[1] is replacement
    scaled = tree_at(lambda m: m.layers[0], s, replace_fn=lambda lin: tree_map(lambda a: 0 * a,
                                                                                lin))
    assert float(fnp.sum(fnp.abs(scaled.layers[0].weight))) == 0.0
    no_bias = Linear(3, 2, use_bias=False, key=random.key(0))
    with_bias = tree_at(lambda m: m.bias, no_bias, fnp.ones(2))
    np.testing.assert_allclose(np.asarray(with_bias(fnp.zeros(3))), [1.0, 1.0])
    shared = fnp.ones(2)
    twice = tree_at(lambda a: a.weight, Affine(shared, shared), fnp.zeros(2))
    assert twice.bias is shared and twice.weight is not shared


def test_tree_at_errors():
    m = affine()
    with pytest.raises(ValueError, match="exactly one of replace and replace_fn"):
        tree_at(lambda a: a.weight, m)
    with pytest.raises(ValueError, match="exactly one"):
        tree_at(lambda a: a.weight, m, 1, replace_fn=lambda v: v)
    with pytest.raises(ValueError, match="not nodes of the tree.*static"):
        tree_at(lambda a: a.scale, m, 2.0)
    with pytest.raises(ValueError, match="selected 2 nodes"):
        tree_at(lambda a: (a.weight, a.bias), m, fnp.ones(2))

"""jit semantics: retrace cache, static arguments, disable_jit, pytrees, errors."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import fborn
from fborn import lax
from fborn.errors import ConcretizationError


def test_cache_hit_on_new_values_and_retrace_on_new_shape_or_static():
    count = [0]

    def f(x, n):
        count[0] += 1
        return lax.mul(x, float(n))

    jf = fborn.jit(f, static_argnums=1)
    np.testing.assert_allclose(jf(np.ones(3, np.float32), 2), 2.0)
    np.testing.assert_allclose(jf(np.full(3, 5.0, np.float32), 2), 10.0)
    assert count[0] == 1
    jf(np.ones(4, np.float32), 2)
    assert count[0] == 2
    jf(np.ones(4, np.float32), 3)
    assert count[0] == 3
    jf(np.ones(4, np.int32).astype(np.float32), 3)
    assert count[0] == 3 and jf.trace_count == 3


def test_static_argnames_and_tree_structure_retrace():
    count = [0]

    @fborn.jit
    def g(tree):
        count[0] += 1
        return lax.add(tree["a"], tree["b"])

    g({"a": np.ones(2, np.float32), "b": np.ones(2, np.float32)})
    g({"a": np.ones(2, np.float32), "b": np.ones(2, np.float32)})
    assert count[0] == 1
    h = fborn.jit(lambda x, *, scale: lax.mul(x, scale), static_argnames="scale")
    np.testing.assert_allclose(h(np.ones(2, np.float32), scale=3.0), 3.0)
    np.testing.assert_allclose(h(np.ones(2, np.float32), scale=4.0), 4.0)
    assert h.trace_count == 2


def test_unhashable_static_argument_is_a_clear_error():
    f = fborn.jit(lambda x, s: x, static_argnums=1)
    with pytest.raises(ValueError, match="Non-hashable static arguments"):
        f(np.ones(2), [1, 2])


def test_pytree_outputs_keep_their_types():
    Pair = collections.namedtuple("Pair", "first second")
    out = fborn.jit(lambda x: Pair(lax.sin(x), {"c": lax.cos(x)}))(np.zeros(2, np.float32))
    assert isinstance(out, Pair) and set(out.second) == {"c"}
    np.testing.assert_allclose(out.second["c"], 1.0)


def test_python_control_flow_on_traced_value_raises_concretization_error():
    f = fborn.jit(lambda x: x if bool(lax.gt(x, 0.0)) else lax.neg(x))
    with pytest.raises(ConcretizationError, match="concrete value"):
        f(np.float32(1.0))


def test_python_if_works_under_grad():
    def f(x):
        if lax.gt(x, 0.0):
            return lax.mul(x, x)
        return lax.neg(x)

    assert float(fborn.grad(f)(3.0)) == 6.0
    assert float(fborn.grad(f)(-3.0)) == -1.0


def test_disable_jit_runs_python_each_call():
    count = [0]

    def f(x):
        count[0] += 1
        return lax.sin(x)

    jf = fborn.jit(f)
    with fborn.disable_jit():
        jf(np.ones(2, np.float32))
        jf(np.ones(2, np.float32))
    assert count[0] == 2
    jf(np.ones(2, np.float32))
    jf(np.ones(2, np.float32))
    assert count[0] == 3


def test_donate_argnums_is_accepted():
    f = fborn.jit(lambda x: lax.add(x, 1.0), donate_argnums=0)
    np.testing.assert_allclose(f(np.zeros(2, np.float32)), 1.0)


def test_jit_of_closure_over_outer_tracer_under_grad(x64):
    def outer(w):
        inner = fborn.jit(lambda x: lax.mul(x, lax.broadcast_in_dim(w, (3,), ())))
        return lax.reduce_sum(inner(np.arange(3.0)), (0,))

    assert float(fborn.grad(outer)(2.0)) == 3.0
    assert float(fborn.grad(outer)(5.0)) == 3.0


def test_jit_appears_as_one_equation_in_outer_jaxpr():
    inner = fborn.jit(lambda x: lax.exp(lax.sin(x)))
    closed = fborn.make_jaxpr(lambda x: lax.add(inner(x), 1.0))(np.ones(3, np.float32))
    assert [e.primitive.name for e in closed.eqns][0] == "jit"
    np.testing.assert_allclose(
        fborn.eval_jaxpr(closed.jaxpr, closed.consts, np.ones(3, np.float32))[0],
        np.exp(np.sin(1.0)) + 1.0, rtol=1e-6)

"""cond/switch/while_loop/fori_loop/scan/map under jit, vmap and differentiation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn
from fborn import lax
from fborn.test_util import check_grads


def _branchy(x):
    return lax.cond(lax.gt(lax.reduce_sum(x, (0,)), 0.0), lax.sin, lambda a: lax.mul(a, a), x)


@given(seed=st.integers(0, 2**16))
def test_cond_values_and_derivatives(x64, seed):
    x = np.random.default_rng(seed).standard_normal(3)
    want = np.sin(x) if x.sum() > 0 else x * x
    np.testing.assert_allclose(_branchy(x), want)
    np.testing.assert_allclose(fborn.jit(_branchy)(x), want)
    check_grads(_branchy, [x], order=2)


def test_batched_predicate_becomes_select(x64):
    x = np.array([-1.0, 0.5, 2.0])
    f = fborn.vmap(lambda v: lax.cond(lax.gt(v, 0.0), lax.sin, lambda a: lax.mul(a, a), v))
    np.testing.assert_allclose(f(x), np.where(x > 0, np.sin(x), x * x))
    names = [e.primitive.name for e in fborn.make_jaxpr(f)(x).eqns]
    assert "cond" not in names and "select_n" in names


def test_switch_clamps_index_and_batches():
    x = np.array([0.1, 0.2, 0.3], np.float32)
    branches = [lambda a: a, lax.sin, lax.cos]
    np.testing.assert_allclose(lax.switch(7, branches, x), np.cos(x), rtol=1e-6)
    np.testing.assert_allclose(lax.switch(-2, branches, x), x)
    out = fborn.vmap(lambda i, v: lax.switch(i, branches, v))(np.array([0, 1, 2]), x)
    np.testing.assert_allclose(out, [x[0], np.sin(x[1]), np.cos(x[2])], rtol=1e-6)


def test_cond_branch_type_mismatch_is_a_type_error():
    with pytest.raises(TypeError, match="identical"):
        lax.cond(True, lambda a: a, lambda a: lax.convert_element_type(a, np.int32),
                 np.ones(2, np.float32))


def _recurrence(c, x):
    c = lax.add(lax.sin(c), x)
    return c, lax.mul(c, 2.0)


@given(seed=st.integers(0, 2**16), reverse=st.booleans())
def test_scan_matches_python_loop_and_differentiates(x64, seed, reverse):
    rng = np.random.default_rng(seed)
    c0, xs = rng.standard_normal(3), rng.standard_normal((4, 3))
    carry, ys = lax.scan(_recurrence, c0, xs, reverse=reverse)
    c, ref = c0.copy(), [None] * 4
    for i in (reversed(range(4)) if reverse else range(4)):
        c = np.sin(c) + xs[i]
        ref[i] = 2 * c
    np.testing.assert_allclose(carry, c)
    np.testing.assert_allclose(ys, np.stack(ref))
    check_grads(lambda a, b: lax.scan(_recurrence, a, b, reverse=reverse), [c0, xs], order=2)


def test_scan_with_closed_over_weights_under_grad_and_vmap(x64):
    rng = np.random.default_rng(0)
    w, c0, xs = 0.3 * rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal(
        (5, 3))

    def rnn(w, c0, xs):
        return lax.scan(lambda c, x: (lax.tanh(lax.add(lax.dot(w, c), x)), c), c0, xs)

    check_grads(rnn, [w, c0, xs], order=2)
    batched = fborn.vmap(lambda c: rnn(w, c, xs)[0])(np.stack([c0, -c0]))
    np.testing.assert_allclose(batched[1], rnn(w, -c0, xs)[0])


def test_scan_length_unroll_and_errors():
    carry, ys = lax.scan(lambda c, _: (lax.add(c, 1), c), np.int32(0), None, length=5, unroll=2)
    assert int(carry) == 5 and list(np.asarray(ys)) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="different leading axis sizes"):
        lax.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(TypeError, match="carry"):
        lax.scan(lambda c, x: (lax.convert_element_type(c, np.int32), x), np.float32(0.0),
                 np.ones(3, np.float32))


def test_fori_loop_static_bounds_support_reverse_mode(x64):
    f = lambda x: lax.fori_loop(0, 4, lambda i, v: lax.mul(v, lax.sin(v)), x)  # noqa: E731
    check_grads(f, [np.array([0.4, 1.1])], order=2)


def test_while_loop_forward_mode_and_reverse_mode_error(x64):
    def doubling(x):
        return lax.while_loop(lambda v: lax.lt(lax.reduce_sum(v, (0,)), 10.0),
                              lambda v: lax.mul(v, 2.0), x)

    x = np.array([0.6, 0.9])
    np.testing.assert_allclose(doubling(x), x * 8)
    _, t = fborn.jvp(doubling, (x,), (np.ones(2),))
    np.testing.assert_allclose(t, 8.0)
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        fborn.grad(lambda v: lax.reduce_sum(doubling(v), (0,)))(x)


def test_while_loop_with_batched_predicate():
    f = fborn.vmap(lambda v: lax.while_loop(lambda c: lax.lt(c, 10.0), lambda c: lax.mul(c, 2.0),
                                            v))
    np.testing.assert_allclose(f(np.array([1.0, 3.0, 20.0], np.float32)), [16.0, 12.0, 20.0])


def test_fori_loop_with_traced_bounds_is_a_while_loop():
    f = fborn.jit(lambda n: lax.fori_loop(0, n, lambda i, acc: lax.add(acc, i), np.int32(0)))
    assert int(f(np.int32(5))) == 10
    names = [e.primitive.name for e in fborn.make_jaxpr(f)(np.int32(5)).jaxpr.eqns[0]
             .params["jaxpr"].eqns]
    assert "while" in names


def test_map():
    xs = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    np.testing.assert_allclose(lax.map(lambda v: lax.mul(v, v), xs), xs * xs)

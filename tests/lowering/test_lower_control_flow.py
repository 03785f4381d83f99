"""Control flow compiled by the numba backend: cond/switch, while_loop, fori_loop and scan
lower to native branches and loops (If / While / Scan statements), and jitted results equal
the eager (reference) ones, also under grad and vmap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fborn
import fborn.lowering.numba.compile  # noqa: F401  (registers every lowering rule)
import fborn.numpy as fnp
from fborn import lax
from fborn.lowering.kernel_ir import Block, If, Scan, While
from fborn.lowering.passes import optimize
from fborn.lowering.schedule import schedule
from fborn.tree_util import tree_leaves

F32 = np.float32




def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(F32)


def check(fn, *args, rtol=1e-6, atol=1e-6):
    """``jit(fn)`` (compiled) equals ``fn`` (eager), leaf by leaf, in value, dtype, shape."""
    got = tree_leaves(fborn.jit(fn)(*args))
    want = tree_leaves(fn(*args))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        if w.dtype.kind in "biu":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def program(fn, *args):
    """The kernel-IR program the compiler builds for ``fn`` (not compiled)."""
    return schedule(optimize(fborn.make_jaxpr(fn)(*args)))


def statements(block_statements):
    """Every statement, nested ones included."""
    for s in block_statements:
        yield s
        if isinstance(s, If):
            for b in s.branches:
                yield from statements(b.statements)
        elif isinstance(s, While):
            yield from statements(s.cond.statements)
            yield from statements(s.body.statements)
        elif isinstance(s, Scan):
            yield from statements(s.body.statements)


# --- cond / switch -----------------------------------------------------------------------------

def test_switch_clamps_index_and_runs_one_branch():
    x = rand(5)
    branches = [lambda v: v * 2.0, lambda v: v - 1.0, lambda v: fnp.sin(v), lambda v: v]
    fn = fborn.jit(lambda i, v: lax.switch(i, branches, v))
    for i in (-3, 0, 1, 2, 3, 9):
        k = min(max(i, 0), 3)
        np.testing.assert_allclose(np.asarray(fn(np.int32(i), x)),
                                   np.asarray(branches[k](x)), rtol=1e-6)
    p = program(lambda i, v: lax.switch(i, branches, v), np.int32(0), x)
    (stmt,) = [s for s in p.statements if isinstance(s, If)]
    assert len(stmt.branches) == 4 and all(isinstance(b, Block) for b in stmt.branches)
    source = fn.lower(np.int32(0), x).as_text()
    assert "<= 0:" in source and "elif" in source


def test_cond_pytrees_passthrough_and_int_operands():
    x, n = rand(3, 4), np.arange(4, dtype=np.int32)

    def fn(pred, x, n):
        return lax.cond(pred, lambda a: {"x": fnp.exp(a[0][:, 1:]), "n": a[1] * 3},
                        lambda a: {"x": fnp.zeros((3, 3), F32) + 1.0, "n": a[1]}, (x, n))

    for pred in (True, False, np.int32(2), np.int32(0)):
        check(fn, pred, x, n)
    # a branch returning its operand (an input) unchanged: the result is a fresh copy
    ident = fborn.jit(lambda p, v: lax.cond(p, lambda a: a, lambda a: a + 1.0, v))
    out = np.asarray(ident(True, x))
    np.testing.assert_array_equal(out, x)
    assert not np.shares_memory(out, x)


def test_cond_with_known_predicate_schedules_one_branch():
    p = program(lambda v: lax.cond(True, lambda a: a * 2.0, lambda a: a - 1.0, v), rand(3))
    assert not any(isinstance(s, If) and len(s.branches) > 1 for s in statements(p.statements))


# --- while / fori ------------------------------------------------------------------------------

def test_while_loop_with_reduction_in_cond():
    def fn(x, limit):
        def body(c):
            i, v = c
            return i + 1, v * 1.5 + 0.25

        return lax.while_loop(lambda c: fnp.sum(c[1]) < limit, body, (np.int32(0), x))

    x = np.abs(rand(6)) + 0.1
    check(fn, x, np.float32(100.0))
    check(fn, x, np.float32(-1.0))  # zero iterations
    p = program(fn, x, np.float32(100.0))
    (loop,) = [s for s in p.statements if isinstance(s, While)]
    assert loop.cond.statements and loop.carry == loop.body.inputs[-2:]


def test_fori_loop_static_bounds_scan_traced_bounds_while():
    x = rand(4)

    def body(i, v):
        return v * fnp.cos(v) + i.astype(F32)

    static = fborn.make_jaxpr(lambda v: lax.fori_loop(1, 7, body, v))(x)
    traced = fborn.make_jaxpr(lambda lo, v: lax.fori_loop(lo, 7, body, v))(np.int32(1), x)
    assert "scan[" in str(static) and "while[" in str(traced)
    check(lambda v: lax.fori_loop(1, 7, body, v), x)
    check(lambda lo, hi, v: lax.fori_loop(lo, hi, body, v), np.int32(1), np.int32(7), x)
    check(lambda lo, hi, v: lax.fori_loop(lo, hi, body, v), np.int32(5), np.int32(2), x)


# --- scan --------------------------------------------------------------------------------------

def _cumsum_and_max(c, x):
    return c + x, fnp.max(c + x)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_reverse_and_consts(reverse):
    w, b, xs = rand(4, 4, seed=1) / 2.0, rand(4, seed=2), rand(9, 4, seed=3)

    def fn(w, b, h, xs):
        def cell(h, x):
            h = fnp.tanh(w @ h + x + b)
            return h, (h * 2.0, fnp.sum(h))

        return lax.scan(cell, h, xs, reverse=reverse)

    check(fn, w, b, np.zeros(4, F32), xs, rtol=1e-5)


def test_scan_pytrees_aliasing_and_permuted_carries():
    xs = {"a": rand(5, 2, 3), "b": np.arange(5, dtype=np.int32)}

    def fn(a, b, xs):
        def step(carry, x):
            (p, q), r, k = carry
            # swap a pair, output the old carry and the x row itself
            return ((q, p), r + x["a"], k + x["b"]), {"old": p, "row": x["a"], "k": k, "r": r}

        return lax.scan(step, ((a, b), a * 0.0, np.int32(0)), xs)

    check(fn, rand(2, 3, seed=4), rand(2, 3, seed=5), xs)
    check(lambda xs: lax.scan(lambda c, x: (x, c), xs[0], xs), rand(6, 3))  # carry = x row


def test_scan_zero_length_and_no_xs():
    check(lambda c, xs: lax.scan(_cumsum_and_max, c, xs), rand(3), np.zeros((0, 3), F32))
    check(lambda c: lax.scan(lambda c, _: (c * 0.5 + 1.0, c), c, None, length=6), rand(3))
    check(lambda c: lax.scan(lambda c, _: (c + 1.0, None), c, None, length=0), rand(2))
    check(lambda xs: lax.map(lambda x: (fnp.sum(x), x[::-1]), xs), rand(4, 3))  # no carry


def test_scan_of_100_steps_is_one_native_loop():
    fn = fborn.jit(lambda h, xs: lax.scan(lambda h, x: (fnp.tanh(h * 0.5 + x), h), h, xs))
    h, xs = rand(8), rand(100, 8)
    source = fn.lower(h, xs).as_text()
    assert "range(100)" in source and source.count("tanh_f32(") + source.count("np.tanh(") == 1
    assert source.count("def program") == 1
    check(lambda h, xs: lax.scan(lambda h, x: (fnp.tanh(h * 0.5 + x), h), h, xs), h, xs)


@settings(max_examples=25)
@given(hnp.arrays(F32, (7, 3), elements=st.floats(-100, 100, width=32)),
       hnp.arrays(F32, (3,), elements=st.floats(-100, 100, width=32)))
def test_scan_cumulative_sum_matches_numpy(xs, c):
    fn = fborn.jit(lambda c, xs: lax.scan(lambda c, x: (c + x, c + x), c, xs))
    final, ys = fn(c, xs)
    want = np.cumsum(np.concatenate([c[None], xs]), axis=0, dtype=F32)[1:]
    np.testing.assert_allclose(np.asarray(ys), want, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(final), np.asarray(ys)[-1])


# --- nesting and transforms --------------------------------------------------------------------

def test_scan_inside_cond_inside_while():
    def fn(x, xs):
        def body(c):
            i, v = c
            v = lax.cond(i % 2 == 0,
                         lambda v: lax.scan(lambda h, x: (h * 0.5 + x, h), v, xs)[0],
                         lambda v: v - 1.0, v)
            return i + 1, v

        return lax.while_loop(lambda c: c[0] < 5, body, (np.int32(0), x))

    x, xs = rand(3), rand(4, 3, seed=7)
    check(fn, x, xs)
    p = program(fn, x, xs)
    (loop,) = [s for s in p.statements if isinstance(s, While)]
    kinds = {type(s) for s in statements(loop.body.statements)}
    assert {If, Scan} <= kinds


def test_grad_of_scan_and_fori_loop_compiles_transposed_scans():
    w, xs = rand(4, 4, seed=8) / 2.0, rand(6, 4, seed=9)

    def loss(w, xs):
        h, _ = lax.scan(lambda h, x: (fnp.tanh(w @ h + x), None), np.zeros(4, F32), xs)
        return fnp.sum(h ** 2)

    def loop_loss(x):
        return fnp.sum(lax.fori_loop(0, 5, lambda i, c: fnp.sin(c) * c + 0.1, x))

    jaxpr = str(fborn.make_jaxpr(fborn.grad(loss))(w, xs))
    assert "reverse=True" in jaxpr
    check(fborn.grad(loss, argnums=(0, 1)), w, xs, rtol=1e-5)
    check(fborn.value_and_grad(loop_loss), rand(4))


def test_vmap_cond_selects_and_vmap_while_is_predicated():
    preds, xs = np.array([1.0, -1.0, 2.0], F32), rand(3, 4)
    vcond = fborn.vmap(lambda p, x: lax.cond(p > 0, lambda v: v * 2.0, lambda v: v - 1.0, x))
    check(vcond, preds, xs)
    assert not any(isinstance(s, If) for s in statements(program(vcond, preds, xs).statements))

    def count_doublings(x):
        return lax.while_loop(lambda c: c[1] < 10.0, lambda c: (c[0] + 1, c[1] * 2.0),
                              (np.int32(0), x))

    starts = np.array([0.5, 3.0, 20.0, 1.0], F32)
    vwhile = fborn.vmap(count_doublings)
    check(vwhile, starts)
    np.testing.assert_array_equal(np.asarray(fborn.jit(vwhile)(starts)[0]), [5, 2, 0, 4])

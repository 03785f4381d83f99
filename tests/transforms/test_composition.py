"""Transforms nest inside each other: the composition matrix and known answers."""

from __future__ import annotations

import numpy as np

import fborn
from fborn import lax
from fborn.core.primitive import all_primitives
from fborn.primitives import elementwise as ew


def mlp_loss(params, x, y):
    w1, b1, w2 = params
    h = lax.tanh(lax.add(lax.dot(x, w1), lax.broadcast_in_dim(b1, (x.shape[0], 4), (1,))))
    out = lax.dot(h, w2)
    diff = lax.sub(out, y)
    return lax.reduce_sum(lax.mul(diff, diff), (0, 1))


def make_params(rng):
    return (rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((4, 2)))


def test_grad_of_grad_and_sixth_derivative(x64):
    f = lambda x: lax.div(1.0, x)  # noqa: E731
    g = f
    for _ in range(6):
        g = fborn.grad(g)
    np.testing.assert_allclose(g(4.0), 720 / 4.0**7, rtol=1e-12)


def test_grad_jit_commute(x64):
    rng = np.random.default_rng(0)
    params, x, y = make_params(rng), rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    plain = fborn.grad(mlp_loss)(params, x, y)
    for combo in (fborn.grad(fborn.jit(mlp_loss)), fborn.jit(fborn.grad(mlp_loss))):
        for a, b in zip(plain, combo(params, x, y), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10)


def test_vmap_of_grad_is_per_example_gradients(x64):
    rng = np.random.default_rng(1)
    params, x, y = make_params(rng), rng.standard_normal((6, 3)), rng.standard_normal((6, 2))

    def one(params, xi, yi):
        return mlp_loss(params, lax.reshape(xi, (1, 3)), lax.reshape(yi, (1, 2)))

    batched = fborn.vmap(fborn.grad(one), in_axes=(None, 0, 0))(params, x, y)
    for i in range(6):
        loop = fborn.grad(one)(params, x[i], y[i])
        for a, b in zip(batched, loop, strict=True):
            np.testing.assert_allclose(np.asarray(a)[i], b, rtol=1e-10)


def test_grad_of_vmap(x64):
    x = np.linspace(0.1, 1.0, 5)
    g = fborn.grad(lambda v: lax.reduce_sum(fborn.vmap(lax.sin)(v), (0,)))(x)
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-12)


def test_jacfwd_equals_jacrev_and_hessian(x64):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(4)
    f = lambda v: lax.mul(lax.sin(v), lax.broadcast_in_dim(  # noqa: E731
        lax.reduce_sum(lax.mul(v, v), (0,)), (4,), ()))
    np.testing.assert_allclose(fborn.jacfwd(f)(x), fborn.jacrev(f)(x), rtol=1e-10)
    s = lambda v: lax.reduce_sum(lax.mul(lax.sin(v), v), (0,))  # noqa: E731
    h = fborn.hessian(s)(x)
    np.testing.assert_allclose(h, fborn.jacfwd(fborn.jacrev(s))(x), rtol=1e-12)
    np.testing.assert_allclose(h, np.diag(2 * np.cos(x) - x * np.sin(x)), atol=1e-12)


def test_jit_vmap_jit_traces_once():
    inner_count, outer_count = [0], [0]

    def inner(v):
        inner_count[0] += 1
        return lax.mul(v, 2.0)

    jitted_inner = fborn.jit(inner)

    def outer(x):
        outer_count[0] += 1
        return fborn.vmap(jitted_inner)(x)

    f = fborn.jit(outer)
    for _ in range(3):
        np.testing.assert_allclose(f(np.ones((2, 3), np.float32)), 2.0)
    assert outer_count == [1] and inner_count == [1]


def test_checkpoint_inside_every_transform(x64):
    f = fborn.checkpoint(lambda v: lax.sin(lax.sin(v)))
    x = np.array([0.3, 0.7])
    want = np.cos(np.sin(x)) * np.cos(x)
    np.testing.assert_allclose(fborn.vmap(fborn.grad(f))(x), want, rtol=1e-12)
    np.testing.assert_allclose(fborn.jit(fborn.vmap(fborn.grad(f)))(x), want, rtol=1e-12)
    np.testing.assert_allclose(fborn.grad(lambda v: lax.reduce_sum(fborn.vmap(f)(v), (0,)))(x),
                               want, rtol=1e-12)
    second = fborn.vmap(fborn.grad(fborn.grad(f)))(x)
    s, c = np.sin(x), np.cos(x)
    np.testing.assert_allclose(second, -np.sin(s) * c * c - np.cos(s) * s, rtol=1e-10)


def test_scan_inside_grad_inside_vmap(x64):
    xs = np.random.default_rng(3).standard_normal((4, 2))

    def run(c0):
        return lax.reduce_sum(lax.scan(lambda c, x: (lax.sin(lax.add(c, x)), c), c0, xs)[0],
                              (0,))

    cs = np.array([[0.1, 0.2], [0.3, -0.4], [1.0, 0.5]])
    batched = fborn.vmap(fborn.grad(run))(cs)
    for i, c in enumerate(cs):
        np.testing.assert_allclose(batched[i], fborn.grad(run)(c), rtol=1e-12)


def test_linearized_checkpoint_recomputes_sin_once_and_cos_twice(monkeypatch):
    counts = {"sin": 0, "cos": 0}
    sin_impl, cos_impl = ew.sin_p.impl, ew.cos_p.impl

    def counting_sin(x):
        counts["sin"] += 1
        return sin_impl(x)

    def counting_cos(x):
        counts["cos"] += 1
        return cos_impl(x)

    monkeypatch.setattr(ew.sin_p, "impl", counting_sin)
    monkeypatch.setattr(ew.cos_p, "impl", counting_cos)
    f = fborn.checkpoint(lambda v: lax.sin(lax.sin(v)))
    _, f_lin = fborn.linearize(f, np.float32(1.5))
    counts.update(sin=0, cos=0)
    out = f_lin(np.float32(1.0))
    assert counts == {"sin": 1, "cos": 2}
    np.testing.assert_allclose(out, np.cos(np.sin(1.5)) * np.cos(1.5), rtol=1e-6)


def test_known_answers():
    assert float(fborn.grad(lambda x: lax.integer_pow(x, 0))(0.0)) == 0.0
    gx, gy = fborn.grad(lambda x, y: lax.max(x, y), argnums=(0, 1))(1.0, 1.0)
    assert (float(gx), float(gy)) == (0.5, 0.5)  # ties split the gradient evenly, as JAX
    np.testing.assert_array_equal(fborn.vmap(lambda x: 3.0)(np.ones(4, np.float32)), [3.0] * 4)


def test_grad_jaxpr_of_mlp_has_only_primitives(x64):
    rng = np.random.default_rng(4)
    params, x, y = make_params(rng), rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    closed = fborn.make_jaxpr(fborn.grad(mlp_loss))(params, x, y)
    fborn.typecheck_jaxpr(closed.jaxpr)
    names = {e.primitive.name for e in closed.eqns}
    assert names <= set(all_primitives())
    text = str(closed)
    assert "dot_general" in text and "tanh" in text and "transpose" in text

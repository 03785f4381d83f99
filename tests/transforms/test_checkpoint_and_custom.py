"""checkpoint policies and residuals; custom_jvp and custom_vjp."""

from __future__ import annotations

import numpy as np
import pytest

import fborn
from fborn import ad_checkpoint, lax


def _layer(w, x):
    return lax.tanh(lax.dot(x, w))


def test_policies_choose_what_is_saved():
    w, x = np.ones((3, 3), np.float32), np.ones((2, 3), np.float32)
    everything = ad_checkpoint.saved_residuals(
        fborn.checkpoint(_layer, policy=ad_checkpoint.everything_saveable), w, x)
    nothing = ad_checkpoint.saved_residuals(fborn.checkpoint(_layer), w, x)
    dots = ad_checkpoint.saved_residuals(
        fborn.checkpoint(_layer, policy=ad_checkpoint.dots_saveable), w, x)
    assert all(where.startswith("from the argument") for _, where in nothing)
    assert len(nothing) == 2
    assert any(where == "output of checkpoint" for _, where in dots)
    assert len(everything) >= len(dots) >= len(nothing)


def test_save_only_these_names():
    def f(x):
        a = ad_checkpoint.checkpoint_name(lax.sin(x), "a")
        return lax.sin(lax.sin(a))

    named = ad_checkpoint.saved_residuals(
        fborn.checkpoint(f, policy=ad_checkpoint.save_only_these_names("a")), np.float32(1.0))
    assert [str(a.str_short()) for a, _ in named] == ["f32[]", "f32[]"]
    assert sum(where == "output of checkpoint" for _, where in named) == 1


def test_print_saved_residuals(capsys):
    ad_checkpoint.print_saved_residuals(lambda x: lax.sin(lax.sin(x)), np.float32(1.0))
    assert capsys.readouterr().out.splitlines() == ["f32[] output of cos", "f32[] output of cos"]


def test_checkpoint_gradients_match_plain(x64):
    x = np.linspace(-1, 1, 5)
    f = lambda v: lax.reduce_sum(lax.sin(lax.mul(lax.exp(v), v)), (0,))  # noqa: E731
    for policy in (None, ad_checkpoint.everything_saveable, ad_checkpoint.dots_saveable):
        np.testing.assert_allclose(fborn.grad(fborn.checkpoint(f, policy=policy))(x),
                                   fborn.grad(f)(x), rtol=1e-12)


@fborn.custom_jvp
def clipped_sin(x):
    return lax.sin(x)


@clipped_sin.defjvp
def _clipped_sin_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return lax.sin(x), lax.mul(lax.mul(t, lax.cos(x)), 2.0)


def test_custom_jvp_is_used_by_every_transform():
    x = np.float32(0.3)
    want = 2 * np.cos(0.3)
    np.testing.assert_allclose(fborn.grad(clipped_sin)(x), want, rtol=1e-6)
    np.testing.assert_allclose(fborn.grad(fborn.jit(clipped_sin))(x), want, rtol=1e-6)
    np.testing.assert_allclose(fborn.vmap(fborn.grad(clipped_sin))(np.full(3, x)), want,
                               rtol=1e-6)
    _, t = fborn.jvp(fborn.vmap(clipped_sin), (np.full(3, x),), (np.ones(3, np.float32),))
    np.testing.assert_allclose(t, want, rtol=1e-6)
    assert "custom_jvp_call" in str(fborn.make_jaxpr(clipped_sin)(x))


def test_custom_jvp_nondiff_argnums():
    def scaled(n, x):
        return lax.mul(x, float(n))

    f = fborn.custom_jvp(scaled, nondiff_argnums=(0,))
    f.defjvp(lambda n, primals, tangents: (scaled(n, *primals),
                                           lax.mul(tangents[0], float(10 * n))))
    assert float(fborn.grad(lambda x: f(3, x))(1.0)) == 30.0


@fborn.custom_vjp
def scaled_product(x, y):
    return lax.mul(x, y)


scaled_product.defvjp(lambda x, y: (lax.mul(x, y), (x, y)),
                      lambda res, ct: (lax.mul(ct, lax.mul(res[1], 10.0)), lax.mul(ct, res[0])))


def test_custom_vjp_in_reverse_mode_and_under_vmap():
    gx, gy = fborn.grad(scaled_product, argnums=(0, 1))(np.float32(2.0), np.float32(3.0))
    assert (float(gx), float(gy)) == (30.0, 2.0)
    g = fborn.vmap(fborn.grad(scaled_product), in_axes=(0, None))(np.ones(3, np.float32),
                                                                 np.float32(3.0))
    np.testing.assert_allclose(g, 30.0)
    gy = fborn.grad(lambda y: lax.reduce_sum(fborn.vmap(scaled_product, in_axes=(0, None))(
        np.ones(3, np.float32), y), (0,)))(np.float32(3.0))
    assert float(gy) == 3.0


def test_custom_vjp_forward_mode_is_an_error():
    with pytest.raises(TypeError, match="forward-mode"):
        fborn.jvp(scaled_product, (np.float32(2.0), np.float32(3.0)),
                  (np.float32(1.0), np.float32(1.0)))


def test_custom_vjp_nondiff_argnums():
    def power(n, x):
        return lax.integer_pow(x, n)

    f = fborn.custom_vjp(power, nondiff_argnums=(0,))
    f.defvjp(lambda n, x: (power(n, x), x), lambda n, x, ct: (lax.mul(ct, float(n * 100)),))
    assert float(fborn.grad(lambda x: f(2, x))(3.0)) == 200.0

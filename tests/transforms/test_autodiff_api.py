"""The differentiation API: pytrees, argnums, has_aux, allow_int, and its error messages."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import fborn
from fborn import lax
from fborn.errors import LeakedTracerError

Point = collections.namedtuple("Point", "x y")


def _energy(p):
    return lax.add(lax.reduce_sum(lax.mul(p.x, p.x), (0,)), lax.reduce_sum(lax.sin(p.y), (0,)))


def test_namedtuple_argument_gets_namedtuple_gradient():
    p = Point(np.array([1.0, 2.0], np.float32), np.array([0.0, 0.5], np.float32))
    g = fborn.grad(_energy)(p)
    assert isinstance(g, Point)
    np.testing.assert_allclose(g.x, 2 * p.x)
    np.testing.assert_allclose(g.y, np.cos(p.y), rtol=1e-6)


def test_dict_output_gives_dict_of_jacobians():
    x = np.array([1.0, 2.0], np.float32)
    jac = fborn.jacrev(lambda v: {"s": lax.sin(v), "sq": lax.mul(v, v)})(x)
    assert set(jac) == {"s", "sq"}
    np.testing.assert_allclose(jac["sq"], np.diag(2 * x))
    jac_f = fborn.jacfwd(lambda v: {"s": lax.sin(v), "sq": lax.mul(v, v)})(x)
    np.testing.assert_allclose(jac_f["s"], np.diag(np.cos(x)), rtol=1e-6)


def test_argnums_tuple_has_aux_and_value_and_grad():
    def f(a, b):
        return lax.mul(a, b), {"aux": a}

    (value, aux), (ga, gb) = fborn.value_and_grad(f, argnums=(0, 1), has_aux=True)(2.0, 5.0)
    assert (float(value), float(aux["aux"]), float(ga), float(gb)) == (10.0, 2.0, 5.0, 2.0)
    g, aux = fborn.grad(f, has_aux=True)(2.0, 5.0)
    assert float(g) == 5.0


def test_vjp_with_has_aux_and_linearize():
    out, vjp_fun, aux = fborn.vjp(lambda x: (lax.sin(x), "aux"), np.float32(0.0), has_aux=True)
    assert aux == "aux" and float(vjp_fun(np.float32(2.0))[0]) == 2.0
    y, f_jvp = fborn.linearize(lax.exp, np.float32(0.0))
    assert float(y) == 1.0 and float(f_jvp(np.float32(3.0))) == 3.0


def test_grad_errors_have_jax_like_wording(x64):
    with pytest.raises(TypeError, match="Gradient only defined for scalar-output functions"):
        fborn.grad(lax.sin)(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="grad requires real-valued inputs"):
        fborn.grad(lambda x: lax.convert_element_type(x, np.float32))(np.int32(3))
    with pytest.raises(TypeError, match="requires real-valued outputs"):
        fborn.grad(lambda x: lax.convert_element_type(x, np.int32))(np.float32(3))
    with pytest.raises(ValueError, match="different primal and tangent shapes"):
        fborn.jvp(lax.sin, (np.ones(2),), (np.ones(3),))
    with pytest.raises(ValueError, match="same tree structure"):
        fborn.jvp(lambda a, b: a, (1.0, 2.0), ((1.0,), 2.0))
    with pytest.raises(TypeError, match="dtypes must be equal"):
        fborn.jvp(lax.sin, (np.float32(1.0),), (np.float64(1.0),))


def test_allow_int_gives_float0_gradient():
    g = fborn.grad(lambda x, n: lax.mul(x, lax.convert_element_type(n, np.float32)),
                   argnums=(0, 1), allow_int=True)(np.float32(2.0), np.int32(3))
    assert float(g[0]) == 3.0 and g[1].dtype.names == ("float0",)


def test_leaked_tracer_is_reported_when_used():
    leaked = []

    def f(x):
        leaked.append(x)
        return lax.sin(x)

    fborn.grad(f)(1.0)
    with pytest.raises(LeakedTracerError, match="escaped"):
        lax.cos(leaked[0])
    fborn.jit(f)(np.float32(1.0))
    with pytest.raises(LeakedTracerError):
        lax.exp(leaked[1])


def test_stop_gradient():
    g = fborn.grad(lambda x: lax.mul(x, lax.stop_gradient(x)))(3.0)
    assert float(g) == 3.0

"""vmap: in_axes/out_axes forms, axis_size, named axes and collectives, batching folds."""

from __future__ import annotations

import numpy as np
import pytest

import fborn
from fborn import lax


def test_in_axes_ints_none_negative_and_prefixes():
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    y = np.arange(4.0, dtype=np.float32)
    out = fborn.vmap(lambda a, b: lax.add(a, b), in_axes=(0, None))(x, y)
    np.testing.assert_allclose(out, x + y)
    out = fborn.vmap(lambda a: lax.reduce_sum(a, (0,)), in_axes=-1)(x)
    np.testing.assert_allclose(out, x.sum(0))
    tree = {"w": x, "b": y}
    out = fborn.vmap(lambda t: lax.add(t["w"], lax.broadcast_in_dim(t["b"], (3,), ())),
                     in_axes=({"w": 1, "b": 0},))(tree)
    np.testing.assert_allclose(out, x.T + y[:, None])


def test_out_axes_and_unbatched_outputs_broadcast():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    out = fborn.vmap(lambda a: lax.mul(a, 2.0), out_axes=1)(x)
    np.testing.assert_allclose(out, (x * 2).T)
    const = fborn.vmap(lambda a: (a, np.float32(7.0)), out_axes=(0, None))(x)
    assert np.asarray(const[1]).shape == ()
    np.testing.assert_allclose(fborn.vmap(lambda a: 3.0)(np.ones(4, np.float32)), [3.0] * 4)


def test_axis_size_without_mapped_inputs():
    out = fborn.vmap(lambda: lax.broadcasted_iota(np.int32, (2,), 0), in_axes=(),
                     axis_size=3)()
    assert np.asarray(out).shape == (3, 2)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="inconsistent sizes"):
        fborn.vmap(lax.add)(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="at least one non-None"):
        fborn.vmap(lambda a: a, in_axes=None)(np.ones(3))
    with pytest.raises(ValueError, match="out of bounds"):
        fborn.vmap(lambda a: a, in_axes=2)(np.ones((3, 2)))
    with pytest.raises(ValueError, match="out_axes is None"):
        fborn.vmap(lambda a: a, out_axes=None)(np.ones(3))


def test_vector_dot_over_both_axes_is_one_dot_general():
    x = np.ones((5, 3), np.float32)
    closed = fborn.make_jaxpr(fborn.vmap(lambda a, b: lax.dot(a, b)))(x, x)
    assert [e.primitive.name for e in closed.eqns] == ["dot_general"]
    np.testing.assert_allclose(fborn.vmap(lambda a, b: lax.dot(a, b))(x, x), [3.0] * 5)


def test_collectives_over_a_named_axis():
    x = np.array([1.0, 2.0, 4.0], np.float32)
    np.testing.assert_allclose(fborn.vmap(lambda v: lax.psum(v, "i"), axis_name="i")(x), 7.0)
    np.testing.assert_allclose(fborn.vmap(lambda v: lax.pmean(v, "i"), axis_name="i")(x), 7 / 3)
    np.testing.assert_allclose(fborn.vmap(lambda v: lax.pmax(v, "i"), axis_name="i")(x), 4.0)
    np.testing.assert_allclose(fborn.vmap(lambda v: lax.pmin(v, "i"), axis_name="i")(x), 1.0)
    np.testing.assert_array_equal(
        fborn.vmap(lambda v: lax.axis_index("i"), axis_name="i")(x), [0, 1, 2])
    gathered = fborn.vmap(lambda v: lax.all_gather(v, "i"), axis_name="i")(x)
    np.testing.assert_allclose(gathered, np.tile(x, (3, 1)))
    shifted = fborn.vmap(lambda v: lax.ppermute(v, "i", [(0, 1), (1, 2)]), axis_name="i")(x)
    np.testing.assert_allclose(shifted, [0.0, 1.0, 2.0])
    m = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    scattered = fborn.vmap(lambda v: lax.psum_scatter(v, "i", tiled=True), axis_name="i")(
        np.tile(np.arange(6.0, dtype=np.float32), (3, 1)))
    np.testing.assert_allclose(scattered, 3 * np.arange(6.0).reshape(3, 2))
    del m


def test_nested_named_axes():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    out = fborn.vmap(fborn.vmap(lambda v: lax.psum(v, "inner"), axis_name="inner"),
                     axis_name="outer")(x)
    np.testing.assert_allclose(out, np.repeat(x.sum(1, keepdims=True), 3, 1))
    out = fborn.vmap(fborn.vmap(lambda v: lax.psum(v, ("inner", "outer")), axis_name="inner"),
                     axis_name="outer")(x)
    np.testing.assert_allclose(out, np.full((2, 3), x.sum()))


def test_collective_outside_a_named_axis_raises_name_error():
    with pytest.raises(NameError, match="unbound axis name: i"):
        lax.psum(np.ones(2), "i")
    with pytest.raises(NameError, match="unbound axis name: j"):
        fborn.vmap(lambda v: lax.psum(v, "j"), axis_name="i")(np.ones(2))


def test_grad_through_psum(x64):
    x = np.array([1.0, 2.0, 3.0])
    g = fborn.grad(lambda v: lax.reduce_sum(
        fborn.vmap(lambda a: lax.mul(a, lax.psum(a, "i")), axis_name="i")(v), (0,)))(x)
    np.testing.assert_allclose(g, x.sum() + x.sum())

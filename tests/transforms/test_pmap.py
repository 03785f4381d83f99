"""pmap over 2 and 4 CPU devices: sharded outputs, collectives against numpy, composition with
grad / vmap / jit / scan, a data-parallel training step, and errors.

The device count comes from ``FBORN_NUM_CPU_DEVICES``, read each time fborn lists its devices,
so each test sets it with ``monkeypatch.setenv`` before calling pmap.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn import lax, nn, optim, training
from fborn.core.sharded import ShardedArray
from fborn.primitives import collectives as coll
from fborn.transforms.pmap import Exchange


@pytest.fixture(params=[2, 4])
def n(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("FBORN_NUM_CPU_DEVICES", str(request.param))
    return request.param


@pytest.fixture
def four(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("FBORN_NUM_CPU_DEVICES", "4")
    return 4


def values(count: int, shape: tuple[int, ...] = (3,)) -> st.SearchStrategy[np.ndarray]:
    """float32 arrays (count, *shape) of small integers (exact sums in any order)."""
    size = count * int(np.prod(shape))
    return st.lists(st.integers(-50, 50), min_size=size, max_size=size).map(
        lambda v: np.asarray(v, np.float32).reshape(count, *shape))


def test_outputs_are_sharded_arrays_over_the_devices(n: int):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    out = fborn.pmap(lambda a: a * 2.0 + 1.0)(x)
    assert isinstance(out, ShardedArray) and isinstance(out, fborn.Array)
    assert out.shape == (n, 3) and out.dtype == np.float32
    assert out.devices() == set(fborn.local_devices("cpu"))
    assert [s.device.id for s in out.addressable_shards] == list(range(n))
    np.testing.assert_array_equal(np.asarray(out), x * 2 + 1)
    np.testing.assert_array_equal(np.asarray(out + 1), x * 2 + 2)
    assert float(fnp.sum(out)) == float((x * 2 + 1).sum())


def test_sharded_input_goes_back_without_a_gather(four: int):
    x = np.arange(8, dtype=np.int32).reshape(4, 2)
    y = fborn.pmap(lambda a: a + 1)(x)
    z = fborn.pmap(lambda a: a * 3)(y)
    assert y._host is None  # never gathered
    np.testing.assert_array_equal(np.asarray(z), (x + 1) * 3)
    assert np.asarray(z).dtype == np.int32


@settings(max_examples=10)
@given(data=st.data())
def test_reductions_against_numpy(data: st.DataObject, monkeypatch: pytest.MonkeyPatch):
    count = data.draw(st.sampled_from([2, 4]))
    monkeypatch.setenv("FBORN_NUM_CPU_DEVICES", str(count))
    x = data.draw(values(count))

    def f(a):
        return (lax.psum(a, "i"), lax.pmean(a, "i"), lax.pmax(a, "i"), lax.pmin(a, "i"),
                lax.axis_index("i"))

    s, m, hi, lo, idx = fborn.pmap(f, axis_name="i")(x)
    for got, want in [(s, x.sum(0)), (m, x.mean(0)), (hi, x.max(0)), (lo, x.min(0))]:
        np.testing.assert_allclose(np.asarray(got), np.broadcast_to(want, x.shape), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(idx), np.arange(count, dtype=np.int32))
    assert np.asarray(idx).dtype == np.int32


@settings(max_examples=10)
@given(x=values(4, (4, 2)), tiled=st.booleans(), axis=st.sampled_from([0, 1]))
def test_all_gather_and_psum_scatter_against_numpy(x: np.ndarray, tiled: bool, axis: int,
                                                   monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FBORN_NUM_CPU_DEVICES", "4")
    gathered = fborn.pmap(lambda a: lax.all_gather(a, "i", axis=axis, tiled=tiled),
                          axis_name="i")(x)
    want = np.moveaxis(x, 0, axis)
    if tiled:
        want = np.concatenate(list(x), axis=axis)
    np.testing.assert_array_equal(np.asarray(gathered), np.stack([want] * 4))
    scattered = fborn.pmap(lambda a: lax.psum_scatter(a, "i", tiled=tiled), axis_name="i")(x)
    total = x.sum(0)
    want = total.reshape(4, 1, 2) if tiled else total
    np.testing.assert_array_equal(np.asarray(scattered), want)


def test_ppermute_rotates_and_zero_fills(n: int):
    x = np.arange(1, n * 2 + 1, dtype=np.float32).reshape(n, 2)
    ring = [(i, (i + 1) % n) for i in range(n)]
    out = fborn.pmap(lambda a: lax.ppermute(a, "i", ring), axis_name="i")(x)
    np.testing.assert_array_equal(np.asarray(out), np.roll(x, 1, axis=0))
    out = fborn.pmap(lambda a: lax.ppermute(a, "i", [(0, 1)]), axis_name="i")(x)
    want = np.zeros_like(x)
    want[1] = x[0]
    np.testing.assert_array_equal(np.asarray(out), want)


def test_matches_vmap_with_the_same_axis_name(n: int):
    x = np.linspace(-1, 1, n * 5, dtype=np.float32).reshape(n, 5)

    def f(a):
        centered = a - lax.pmean(a, "i")
        return fnp.tanh(centered) * lax.psum(fnp.sum(a), "i"), lax.all_gather(a, "i")

    got = fborn.pmap(f, axis_name="i")(x)
    want = fborn.vmap(f, axis_name="i")(x)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-6, atol=1e-6)


def test_in_axes_out_axes_static_and_keyword_arguments(four: int):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    w = np.float32(2.0)
    out = fborn.pmap(lambda a, b: a * b, in_axes=(1, None), out_axes=1)(x, w)
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(np.asarray(out), x * 2)
    scaled = fborn.pmap(lambda a, k: a * k, static_broadcasted_argnums=1)
    np.testing.assert_array_equal(np.asarray(scaled(x.T, 3)), x.T * 3)
    np.testing.assert_array_equal(np.asarray(scaled(x.T, 5)), x.T * 5)
    assert scaled.trace_count == 2
    tree = fborn.pmap(lambda d, *, s: {"y": d["a"] + s})({"a": x.T}, s=x.T)
    np.testing.assert_array_equal(np.asarray(tree["y"]), 2 * x.T)
    replicated = fborn.pmap(lambda a: lax.psum(a, "i"), axis_name="i", out_axes=None)(x.T)
    np.testing.assert_array_equal(np.asarray(replicated), x.sum(1))


def test_grad_of_pmap_matches_recorded_jax_values(four: int):
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    g = fborn.grad(lambda a: fnp.sum(fborn.pmap(lambda b: fnp.sin(b) * b)(a)))(x)
    np.testing.assert_allclose(np.asarray(g), np.cos(x) * x + np.sin(x), rtol=1e-5)
    ones = np.ones(4, np.float32)
    # jax.grad of a pmap with a broadcast input: 1.0 with out_axes=None, 4.0 with out_axes=0.
    gw = fborn.grad(lambda w: fnp.sum(fborn.pmap(lambda v, b: v * b, in_axes=(None, 0),
                                                  out_axes=None)(w, ones)))(np.float32(2))
    assert float(gw) == 1.0
    gw = fborn.grad(lambda w: fnp.sum(fborn.pmap(lambda v, b: v * b,
                                                  in_axes=(None, 0))(w, ones)))(np.float32(2))
    assert float(gw) == 4.0


def test_vmap_of_pmap_and_pmap_of_vmap(four: int):
    f = fborn.pmap(lambda a: a - lax.pmean(a, "i"), axis_name="i")
    xs = np.arange(24, dtype=np.float32).reshape(3, 4, 2)
    want = np.stack([np.asarray(f(v)) for v in xs])
    np.testing.assert_allclose(np.asarray(fborn.vmap(f)(xs)), want)
    np.testing.assert_allclose(np.asarray(fborn.vmap(f, in_axes=1, out_axes=1)(
        xs.transpose(1, 0, 2))), want.transpose(1, 0, 2))
    g = fborn.pmap(fborn.vmap(lambda a: lax.psum(a, ("i", "j")), axis_name="j"),
                   axis_name="i")
    out = np.asarray(g(xs.transpose(1, 0, 2)))
    np.testing.assert_array_equal(out, np.broadcast_to(xs.sum((0, 1)), (4, 3, 2)))


def test_jit_of_pmap_and_jit_inside_pmap(four: int):
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    outer = fborn.jit(fborn.pmap(lambda a: lax.psum(a * 2.0, "i") + 1.0, axis_name="i"))
    np.testing.assert_array_equal(np.asarray(outer(x)), np.broadcast_to(x.sum(0) * 2 + 1,
                                                                         (4, 2)))
    inner = fborn.pmap(fborn.jit(lambda a: lax.psum(a, "i") * 2.0), axis_name="i")
    np.testing.assert_array_equal(np.asarray(inner(x)), np.broadcast_to(x.sum(0) * 2, (4, 2)))
    text = str(fborn.make_jaxpr(fborn.pmap(lambda a: lax.psum(a, "i"), axis_name="i"))(x))
    assert "pmap[" in text and "psum[axis_name='i']" in text and "f32[4,2]" in text


def test_collective_inside_scan(n: int):
    def body(c, _):
        return c + lax.psum(c, "i"), None

    out = fborn.pmap(lambda a: lax.scan(body, a, None, length=3)[0], axis_name="i")(
        np.ones(n, np.float32))
    np.testing.assert_array_equal(np.asarray(out), np.full(n, (1 + n) ** 3, np.float32))


def _mlp_setup(n_devices: int):
    key = fborn.random.key(0)
    k1, k2, k3 = fborn.random.split(key, 3)
    params = {"w1": np.asarray(fborn.random.normal(k1, (6, 8))) * 0.5,
              "b1": np.zeros(8, np.float32),
              "w2": np.asarray(fborn.random.normal(k2, (8, 3))) * 0.5}
    x = np.asarray(fborn.random.normal(k3, (4 * n_devices, 6)))
    y = (np.arange(4 * n_devices) % 3).astype(np.int32)

    def loss_fn(p, xb, yb):
        h = nn.relu(xb @ p["w1"] + p["b1"])
        return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(h @ p["w2"], yb))

    return params, x, y, loss_fn


def test_data_parallel_step_equals_single_device_step(n: int):
    params, x, y, loss_fn = _mlp_setup(n)
    optimizer = optim.adam(1e-2)
    state = optimizer.init(params)

    step = training.make_parallel_step(loss_fn, optimizer, in_axes=(None, None, 0, 0))
    p1, s1, loss1 = training.make_step(loss_fn, optimizer)(params, state, x, y)
    pn, sn, lossn = step(params, state, x.reshape(n, 4, 6), y.reshape(n, 4))
    np.testing.assert_allclose(np.asarray(lossn), np.full(n, float(loss1)), rtol=1e-5)
    for k in params:
        for dev in range(n):
            np.testing.assert_allclose(np.asarray(pn[k])[dev], np.asarray(p1[k]),
                                       rtol=1e-5, atol=1e-6)


def test_mapped_size_must_match_the_device_count(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FBORN_NUM_CPU_DEVICES", "2")
    with pytest.raises(ValueError, match=r"requires 3 logical devices, but only 2 devices"):
        fborn.pmap(lambda a: a)(np.ones((3, 2), np.float32))
    devs = fborn.local_devices("cpu")
    with pytest.raises(ValueError, match=r"1 devices of this process, but the mapped axis "
                                         r"has size 2"):
        fborn.pmap(lambda a: a, devices=devs[:1])(np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="inconsistent sizes"):
        fborn.pmap(lambda a, b: a)(np.ones((2, 1)), np.ones((1, 1)))
    with pytest.raises(ValueError, match="at least one non-None"):
        fborn.pmap(lambda a: a, in_axes=None)(np.ones(2))
    with pytest.raises(ValueError, match="out of bounds"):
        fborn.pmap(lambda a: a, in_axes=2)(np.ones((2, 2)))


def test_unknown_axis_names_and_collectives_outside_pmap(four: int):
    x = np.ones((4, 2), np.float32)
    with pytest.raises(NameError, match="unbound axis name: j"):
        fborn.pmap(lambda a: lax.psum(a, "j"), axis_name="i")(x)
    with pytest.raises(NameError, match="unbound axis name: i"):
        fborn.pmap(lambda a: lax.psum(a, "i"))(x)
    with pytest.raises(NameError, match="unbound axis name: i"):
        lax.psum(x, "i")
    with pytest.raises(NameError, match="unbound axis name: i"):
        fborn.jit(lambda a: lax.pmean(a, "i"))(x)


def test_a_failing_device_releases_the_others_waiting_in_a_collective():
    exchange = Exchange(2, "i", 2)
    failing = threading.Thread(target=exchange.abort)  # what a device does when it raises
    failing.start()
    with pytest.raises(threading.BrokenBarrierError):
        exchange.run(0, coll.psum_p, np.ones(2, np.float32), {"axis_name": "i"})
    failing.join()

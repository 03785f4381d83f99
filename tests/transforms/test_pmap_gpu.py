"""pmap on GPU devices (lavapipe in CI: one adapter): GPU shards stay GpuArrays, collectives
staged through the host, devices of both platforms mixed in one pmap, a data-parallel step over
a GPU and a CPU device (and over two GPU devices: the one adapter opened twice) equal to the
single-device step, and the default devices under ``FBORN_PLATFORM=gpu``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn import lax, nn, optim, training
from fborn.core.array import ArrayImpl
from fborn.core.gpu_array import GpuArray
from fborn.core.sharded import ShardedArray
from fborn.lowering.wgsl import device as wgsl_device


@pytest.fixture(scope="module")
def gpu() -> fborn.Device:
    return fborn.devices("gpu")[0]


@pytest.fixture(scope="module")
def mixed(gpu: fborn.Device) -> list[fborn.Device]:
    """A GPU device and a CPU device: two members that meet in the host exchange."""
    return [gpu, fborn.devices("cpu")[0]]


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> list[fborn.Device]:
    """Two GPU devices: the first adapter listed twice (two wgpu devices on one adapter)."""
    first = wgsl_device.adapters()[0]
    again = wgsl_device._import_wgpu().gpu.enumerate_adapters_sync()
    twin = next(a for a in again if a.info["device"] == first.info["device"])
    monkeypatch.setattr(wgsl_device, "_adapters", [first, twin])
    monkeypatch.setattr(wgsl_device, "_gpus", dict(wgsl_device._gpus))  # the twin closes after
    return fborn.devices("gpu")


def small_ints(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """float32 arrays of small integers (exact sums in any order)."""
    size = int(np.prod(shape))
    return st.lists(st.integers(-50, 50), min_size=size, max_size=size).map(
        lambda v: np.asarray(v, np.float32).reshape(shape))


def test_shards_stay_on_the_gpu_and_go_back_without_a_gather(gpu: fborn.Device):
    x = np.arange(6, dtype=np.float32).reshape(1, 6)
    f = fborn.pmap(lambda a: lax.psum(a * 2.0, "i") + 1.0, axis_name="i", devices=[gpu])
    y = f(x)
    assert isinstance(y, ShardedArray) and y.shape == (1, 6) and y.dtype == np.float32
    (shard,) = y.addressable_shards
    assert type(shard.data) is GpuArray and shard.device is gpu and shard.data.device is gpu
    z = f(y)
    assert y._host is None and shard.data._host is None  # fed back without a read
    np.testing.assert_array_equal(np.asarray(z), (x * 2 + 1) * 2 + 1)
    assert z.block_until_ready() is z


def test_collectives_over_one_gpu(gpu: fborn.Device):
    x = np.arange(8, dtype=np.float32).reshape(1, 2, 4)

    def fun(a):
        return (lax.pmax(a, "i"), lax.all_gather(a, "i"), lax.axis_index("i"),
                lax.ppermute(a, "i", [(0, 0)]), lax.pmean(a, "i"))

    mx, gathered, index, permuted, mean = fborn.pmap(fun, axis_name="i", devices=[gpu])(x)
    np.testing.assert_array_equal(np.asarray(mx), x)
    np.testing.assert_array_equal(np.asarray(gathered), x[:, None])
    assert np.asarray(index).tolist() == [0] and index.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(permuted), x)
    np.testing.assert_array_equal(np.asarray(mean), x)
    assert all(type(o.shards[0]) is GpuArray for o in (mx, gathered, index, permuted))


@settings(max_examples=10, deadline=None)
@given(small_ints((2, 4, 2)))
def test_collectives_across_a_gpu_and_a_cpu_device_match_numpy(mixed: list[fborn.Device],
                                                                x: np.ndarray):
    def fun(a):
        return (lax.psum(a, "i"), lax.pmin(a, "i"), lax.all_gather(a, "i", axis=1),
                lax.ppermute(a, "i", [(0, 1), (1, 0)]),
                lax.psum_scatter(a, "i", scatter_dimension=0, tiled=True),
                lax.axis_index("i"))

    s, mn, g, p, sc, idx = fborn.pmap(fun, axis_name="i", devices=mixed)(x)
    np.testing.assert_array_equal(np.asarray(s), np.broadcast_to(x.sum(0), x.shape))
    np.testing.assert_array_equal(np.asarray(mn), np.broadcast_to(x.min(0), x.shape))
    np.testing.assert_array_equal(np.asarray(g), np.stack([np.stack(list(x), 1)] * 2))
    np.testing.assert_array_equal(np.asarray(p), x[::-1])
    np.testing.assert_array_equal(np.asarray(sc), x.sum(0).reshape(2, 2, 2))
    assert np.asarray(idx).tolist() == [0, 1]
    assert [type(sh) for sh in s.shards] == [GpuArray, ArrayImpl]
    assert [sh.device for sh in s.addressable_shards] == mixed


@pytest.mark.parametrize("pair", ["mixed", "two_gpus"])
def test_data_parallel_step_on_two_devices_equals_the_single_device_step(
        pair: str, request: pytest.FixtureRequest):
    devices = request.getfixturevalue(pair)
    rng = np.random.default_rng(0)
    params = {"w1": rng.standard_normal((6, 5)).astype(np.float32) * 0.3,
              "b1": np.zeros(5, np.float32),
              "w2": rng.standard_normal((5, 3)).astype(np.float32) * 0.3}
    x = rng.standard_normal((8, 6)).astype(np.float32)
    y = rng.integers(0, 3, 8).astype(np.int32)
    optimizer = optim.adam(1e-2)
    state = optimizer.init(params)

    def loss_fn(p, xb, yb):
        h = nn.relu(xb @ p["w1"] + p["b1"])
        return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(h @ p["w2"], yb))

    step = training.make_parallel_step(loss_fn, optimizer, devices, in_axes=(None, None, 0, 0))
    p1, _, loss1 = training.make_step(loss_fn, optimizer)(params, state, x, y)
    p2, _, loss2 = step(params, state, x.reshape(2, 4, 6), y.reshape(2, 4))
    assert [s.data.device for s in p2["w1"].addressable_shards] == devices
    assert type(p2["w1"].shards[0]) is GpuArray
    np.testing.assert_allclose(np.asarray(loss2), [float(loss1)] * 2, rtol=1e-5)
    for k in params:
        for dev in range(2):
            np.testing.assert_allclose(np.asarray(p2[k])[dev], np.asarray(p1[k]),
                                       rtol=1e-5, atol=1e-6)


def test_collectives_across_two_gpus_stay_on_the_gpus(two_gpus: list[fborn.Device]):
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    f = fborn.pmap(lambda a: (lax.psum(a, "i"), lax.ppermute(a, "i", [(0, 1), (1, 0)]),
                              lax.all_gather(a, "i"), lax.pmax(a > 4, "i")),
                   axis_name="i", devices=two_gpus)
    s, p, g, m = f(x)
    assert [sh.data.device for sh in s.addressable_shards] == two_gpus
    assert all(type(sh) is GpuArray for o in (s, p, g, m) for sh in o.shards)
    np.testing.assert_array_equal(np.asarray(s), np.broadcast_to(x.sum(0), x.shape))
    np.testing.assert_array_equal(np.asarray(p), x[::-1])
    np.testing.assert_array_equal(np.asarray(g), np.stack([x, x]))
    assert m.dtype == np.bool_ and np.asarray(m).tolist() == [[True] * 5] * 2
    np.testing.assert_array_equal(np.asarray(f(s)[0]), 2 * np.broadcast_to(x.sum(0), x.shape))


def test_gpu_platform_is_the_default(monkeypatch: pytest.MonkeyPatch, gpu: fborn.Device):
    monkeypatch.setenv("FBORN_PLATFORM", "gpu")
    out = fborn.pmap(lambda a: a + 1)(np.ones((1, 3), np.int32))
    assert out.devices() == {gpu} and type(out.shards[0]) is GpuArray
    np.testing.assert_array_equal(np.asarray(out), np.full((1, 3), 2, np.int32))
    count = len(fborn.local_devices("gpu"))
    with pytest.raises(ValueError, match=rf"requires {count + 1} logical devices, but only "
                                         rf"{count} devices.*fewer GPU adapters"):
        fborn.pmap(lambda a: a)(np.ones((count + 1, 2), np.float32))


def test_device_threads_run_with_a_short_switch_interval(mixed, monkeypatch):
    import sys

    from fborn.core.switching import GPU_THREADS_SWITCH_INTERVAL
    from fborn.transforms import pmap as pmap_module

    seen = []
    run_many = pmap_module.Exchange.run_many

    def spy(self, *args, **kwargs):
        seen.append(sys.getswitchinterval())
        return run_many(self, *args, **kwargs)

    monkeypatch.setattr(pmap_module.Exchange, "run_many", spy)
    before = sys.getswitchinterval()
    x = np.ones((2, 3), np.float32)
    out = fborn.pmap(lambda a: lax.psum(a, "i"), axis_name="i", devices=mixed)(x)
    np.testing.assert_array_equal(np.asarray(out), np.full((2, 3), 2, np.float32))
    assert seen and all(s <= GPU_THREADS_SWITCH_INTERVAL for s in seen)
    assert sys.getswitchinterval() == before


def test_two_gpus_run_in_lockstep_from_one_thread(two_gpus, monkeypatch):
    """Only GPU devices: one thread records each segment on every GPU and exchanges the
    collectives' operands itself (no device threads); results as with numpy."""
    import threading

    from fborn.transforms import pmap as pmap_module

    x = np.arange(16, dtype=np.float32).reshape(2, 4, 2)

    def fun(a):
        b = a * 2.0
        return (lax.psum(b, "i") + 1.0, lax.all_gather(a, "i", axis=1),
                lax.ppermute(a, "i", [(0, 1), (1, 0)]),
                lax.psum_scatter(a, "i", scatter_dimension=0, tiled=True),
                lax.axis_index("i"), lax.pmax(a, "i") - lax.pmean(b, "i"))

    mapped = fborn.pmap(fun, axis_name="i", devices=two_gpus)
    mapped(x)  # opens both GPUs (wgpu starts a polling thread per device) and compiles
    lockstep = pmap_module.SplitProgram.lockstep
    calls = []
    monkeypatch.setattr(pmap_module.SplitProgram, "lockstep",
                        lambda self, *a: calls.append(1) or lockstep(self, *a))
    monkeypatch.setattr(threading.Thread, "start",
                        lambda self: pytest.fail(f"a thread started: {self}"))
    s, g, p, sc, idx, d = mapped(x)
    monkeypatch.undo()
    assert calls
    np.testing.assert_array_equal(np.asarray(s), np.broadcast_to(2 * x.sum(0) + 1, x.shape))
    np.testing.assert_array_equal(np.asarray(g), np.stack([np.stack(list(x), 1)] * 2))
    np.testing.assert_array_equal(np.asarray(p), x[::-1])
    np.testing.assert_array_equal(np.asarray(sc), x.sum(0).reshape(2, 2, 2))
    assert np.asarray(idx).tolist() == [0, 1]
    np.testing.assert_allclose(np.asarray(d), np.broadcast_to(x.max(0) - x.sum(0), x.shape))
    assert [sh.device for sh in s.addressable_shards] == two_gpus
    assert all(type(sh) is GpuArray for sh in s.shards)

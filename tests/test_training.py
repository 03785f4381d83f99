"""fborn.training: the jitted step, an epoch over batches, accuracy."""

from __future__ import annotations

import numpy as np
import pytest

import fborn
import fborn.numpy as fnp
from fborn import io, optim, training


def _regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5], np.float32) + 0.25).astype(np.float32)
    return x, y


def _loss(params: dict, x: fborn.Array, y: fborn.Array) -> fborn.Array:
    return fnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def test_make_step_is_one_sgd_update() -> None:
    x, y = _regression()
    params = {"w": np.zeros(3, np.float32), "b": np.float32(0)}
    step = training.make_step(_loss, optim.sgd(0.1))
    new, _, loss = step(params, optim.sgd(0.1).init(params), x, y)
    residual = -y
    np.testing.assert_allclose(float(loss), np.mean(residual ** 2), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(new["w"]), -0.1 * 2 * x.T @ residual / len(x),
                               rtol=1e-5)
    np.testing.assert_allclose(float(new["b"]), -0.1 * 2 * residual.mean(), rtol=1e-5)


def test_epochs_reduce_the_loss_and_report_its_mean() -> None:
    x, y = _regression()
    params = {"w": np.zeros(3, np.float32), "b": np.float32(0)}
    optimizer = optim.adam(0.1)
    state = optimizer.init(params)
    step = training.make_step(_loss, optimizer)
    losses = []
    for epoch in range(20):
        batches = io.batches(fborn.random.key(epoch), (x, y), 32)
        params, state, loss = training.train_epoch(step, params, state, batches,
                                                   progress=False)
        losses.append(loss)
    assert losses[-1] < 0.1 * losses[0]
    assert step.trace_count == 1
    np.testing.assert_allclose(np.asarray(params["w"]), [1.5, -2.0, 0.5], atol=0.1)


def test_accuracy_counts_argmax_hits_in_batches() -> None:
    logits = np.eye(10, dtype=np.float32)[np.arange(25) % 10]
    labels = np.arange(25) % 10
    labels[:5] = (labels[:5] + 1) % 10
    got = training.accuracy(lambda p, x: x * p, 1.0, logits, labels, batch_size=7)
    assert got == pytest.approx(20 / 25)


def test_accuracy_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="3 inputs but 2 labels"):
        training.accuracy(lambda p, x: x, None, np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="no inputs"):
        training.accuracy(lambda p, x: x, None, np.zeros((0, 2)), np.zeros(0))


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> list[fborn.Device]:
    monkeypatch.setenv("FBORN_NUM_CPU_DEVICES", "2")
    return fborn.devices("cpu")


def test_device_put_sharded_stacks_one_pytree_per_device(two_cpus) -> None:
    parts = [{"x": np.full((3, 2), i, np.float32), "n": np.int32(i)} for i in range(2)]
    out = fborn.device_put_sharded(parts, two_cpus)
    assert out["x"].shape == (2, 3, 2) and out["n"].shape == (2,)
    assert [s.device for s in out["x"].addressable_shards] == two_cpus
    np.testing.assert_array_equal(np.asarray(out["x"]), np.stack([p["x"] for p in parts]))
    step = fborn.pmap(lambda t: t["x"].sum() + t["n"], devices=two_cpus)
    np.testing.assert_array_equal(np.asarray(step(out)), [0.0, 7.0])
    with pytest.raises(ValueError, match="one pytree per device"):
        fborn.device_put_sharded(parts[:1], two_cpus)
    with pytest.raises(ValueError, match="shard 1 has structure"):
        fborn.device_put_sharded([parts[0], [parts[1]["x"]]], two_cpus)
    with pytest.raises(ValueError, match="differs in shape"):
        fborn.device_put_sharded([np.ones(2), np.ones(3)], two_cpus)


def test_device_put_sharded_keeps_gpu_shards_on_their_gpus() -> None:
    from fborn.core.gpu_array import GpuArray

    gpu, cpu = fborn.devices("gpu")[0], fborn.devices("cpu")[0]
    out = fborn.device_put_sharded([np.ones(4, np.float32), np.zeros(4, np.float32)], [gpu, cpu])
    assert type(out.shards[0]) is GpuArray and out.shards[0].device is gpu
    np.testing.assert_array_equal(np.asarray(out), [[1] * 4, [0] * 4])


def test_parallel_step_equals_the_single_device_step(two_cpus) -> None:
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((4, 3)).astype(np.float32), "b": np.zeros(3, np.float32)}
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)

    def loss_fn(p, xb, yb):
        return fnp.mean((xb @ p["w"] + p["b"] - yb) ** 2)

    optimizer = optim.adam(1e-2)
    state = optimizer.init(params)
    single = training.make_step(loss_fn, optimizer)(params, state, x, y)
    step = training.make_parallel_step(loss_fn, optimizer, two_cpus)
    stacked = [fborn.tree_util.tree_map(lambda a: np.stack([a, a]), t) for t in (params, state)]
    batch = next(training.prefetch_to_devices([(x.reshape(2, 4, 4), y.reshape(2, 4, 3))],
                                              two_cpus))
    parallel = step(*stacked, *batch)
    np.testing.assert_allclose(np.asarray(parallel[2]), [float(single[2])] * 2, rtol=1e-6)
    for k in params:
        for dev in range(2):
            np.testing.assert_allclose(np.asarray(parallel[0][k])[dev], np.asarray(single[0][k]),
                                       rtol=1e-5, atol=1e-6)


def test_prefetch_yields_every_batch_in_order_and_reraises(two_cpus) -> None:
    import sys

    from fborn.core.switching import GPU_THREADS_SWITCH_INTERVAL

    batches = [(np.full((2, 3), i, np.float32), np.arange(2) + i) for i in range(5)]
    before = sys.getswitchinterval()
    got = []
    for batch in training.prefetch_to_devices(iter(batches), two_cpus, size=2):
        assert sys.getswitchinterval() <= GPU_THREADS_SWITCH_INTERVAL
        got.append(batch)
    assert sys.getswitchinterval() == before
    assert len(got) == 5
    for (x, y), (gx, gy) in zip(batches, got, strict=True):
        assert gx.shape == (2, 3) and [s.device for s in gx.addressable_shards] == two_cpus
        np.testing.assert_array_equal(np.asarray(gx), x)
        np.testing.assert_array_equal(np.asarray(gy), y)

    def failing():
        yield batches[0]
        raise RuntimeError("the data source broke")

    stream = training.prefetch_to_devices(failing(), two_cpus)
    next(stream)
    with pytest.raises(RuntimeError, match="the data source broke"):
        next(stream)
    endless = training.prefetch_to_devices(iter(batches * 1000), two_cpus, size=1)
    next(endless)
    endless.close()  # stops the uploading thread
    with pytest.raises(ValueError, match="at least 1"):
        next(training.prefetch_to_devices(batches, two_cpus, size=0))

"""pmap across GPUs: data-parallel MNIST MLP training throughput on 1 vs all GPUs, and a 100 MB
psum across the GPUs (staged through the host: WebGPU has no peer-to-peer copies).

    python benchmarks/pmap_gpu.py [--batches 4096 16384] [--steps 20]

The MLP is examples/mnist_mlp.py's (784-128-10, Adam), stepped by
training.make_parallel_step on synthetic MNIST-shaped data. First table: the global batch is
split over the devices and uploaded from the host by training.prefetch_to_devices, a batch
ahead of the step, as examples/mnist_data_parallel.py does (this MLP's step is bound by the
host's memory bandwidth for those copies, which the GPUs share). Second table: the training
set stays on the GPUs and each step slices its batch there. The 1-GPU rows are pmap over one
device (its pmean never leaves the GPU); "jit" is the plain single-device step of
training.make_step with each batch uploaded inside the loop, for reference.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import mnist_data_parallel as dp  # noqa: E402
from mnist_mlp import build_model  # noqa: E402

import fborn  # noqa: E402
import fborn.numpy as fnp  # noqa: E402
from fborn import lax, nn, optim, training  # noqa: E402

PSUM_ELEMENTS = int(os.environ.get("PSUM_ELEMENTS", 25_000_000))  # 100 MB f32
RESIDENT_BATCHES = 2  # global batches of the training set that stays on the GPUs


def loss_fn(model: Any, x: Any, y: Any) -> Any:
    return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(model(x), y))


def data(batch: int, steps: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int32)
    return [(x, y)] * steps


def pmap_throughput(devices: list[fborn.Device], batch: int, steps: int,
                    prefetch: bool = True) -> float:
    """Samples per second of the data-parallel step over ``devices``, batches uploaded ahead
    by ``training.prefetch_to_devices`` (or, without ``prefetch``, by the step itself)."""
    count = len(devices)
    optimizer = optim.adam(1e-3)
    model = build_model(fborn.random.key(0))
    step = training.make_parallel_step(loss_fn, optimizer, devices)
    params, state = dp.replicate(model, count), dp.replicate(optimizer.init(model), count)

    def run(batches: list[tuple[np.ndarray, np.ndarray]]) -> Any:
        nonlocal params, state
        loss = None
        shards = (dp.shard(b, count, count) for b in batches)
        for x, y in training.prefetch_to_devices(shards, devices) if prefetch else shards:
            params, state, loss = step(params, state, x, y)
        return float(dp.unreplicate(loss))

    run(data(batch, 3))  # compile and warm the buffer pools
    start = time.perf_counter()
    run(data(batch, steps))
    return steps * batch / (time.perf_counter() - start)


def resident_throughput(devices: list[fborn.Device], batch: int, steps: int) -> float:
    """Samples per second of the data-parallel step when the training set stays on the GPUs:
    each device holds its shard of RESIDENT_BATCHES global batches, uploaded once, and slices
    its batch there (only the batch index crosses to the devices each step)."""
    count = len(devices)
    per_device = batch // count
    optimizer = optim.adam(1e-3)
    model = build_model(fborn.random.key(0))

    def sliced_loss(model: Any, xs: Any, ys: Any, index: Any) -> Any:
        start = index * per_device
        return loss_fn(model, lax.dynamic_slice_in_dim(xs, start, per_device),
                       lax.dynamic_slice_in_dim(ys, start, per_device))

    step = training.make_parallel_step(sliced_loss, optimizer, devices)
    params, state = dp.replicate(model, count), dp.replicate(optimizer.init(model), count)
    x, y = dp.shard(data(batch * RESIDENT_BATCHES, 1)[0], count, count)
    xs, ys = fborn.device_put_sharded([(x[i], y[i]) for i in range(count)], devices)

    def run(steps: int) -> float:
        nonlocal params, state
        loss = None
        for k in range(steps):
            index = np.full(count, k % RESIDENT_BATCHES, np.int32)
            params, state, loss = step(params, state, xs, ys, index)
        return float(dp.unreplicate(loss))

    run(3)  # compile and warm the buffer pools
    start = time.perf_counter()
    run(steps)
    return steps * batch / (time.perf_counter() - start)


def jit_throughput(device: fborn.Device, batch: int, steps: int) -> float:
    """Samples per second of the single-device jitted step on ``device``."""
    optimizer = optim.adam(1e-3)
    model = fborn.device_put(build_model(fborn.random.key(0)), device)
    state = fborn.device_put(optimizer.init(model), device)
    step = training.make_step(loss_fn, optimizer)
    batches = data(batch, steps + 3)
    for x, y in batches[:3]:
        model, state, loss = step(model, state, *fborn.device_put((x, y), device))
    float(loss)
    start = time.perf_counter()
    for x, y in batches[3:]:
        model, state, loss = step(model, state, *fborn.device_put((x, y), device))
    float(loss)
    return steps * batch / (time.perf_counter() - start)


def timed(fn: Any, repeats: int = 5) -> float:
    """The best of ``repeats`` wall times of ``fn()`` in milliseconds (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def psum_times(devices: list[fborn.Device]) -> dict[str, float]:
    """Milliseconds of a psum of PSUM_ELEMENTS float32 across ``devices`` (operands already on
    the GPUs), and of its parts on one GPU: the read-back, the host sum, the upload."""
    from fborn.lowering.wgsl.device import gpu

    count = len(devices)
    host = np.random.default_rng(1).random((count, PSUM_ELEMENTS), dtype=np.float32)
    on_gpus = fborn.pmap(lambda a: a, devices=devices)(host)  # GpuArray shards
    psum = fborn.pmap(lambda a: lax.psum(a, "i"), axis_name="i", devices=devices)
    out = psum(on_gpus).block_until_ready()
    assert np.allclose(np.asarray(out.addressable_shards[-1].data)[:1000],
                       host.sum(0)[:1000], rtol=1e-6)
    first = gpu(devices[0].id)
    buf = on_gpus.addressable_shards[0].data.device_buffer
    dtype = np.dtype(np.float32)
    mb = f"{PSUM_ELEMENTS * 4 / 1e6:.0f} MB"
    return {
        "psum": timed(lambda: psum(on_gpus).block_until_ready()),
        f"read back {mb} (one GPU)": timed(lambda: first.read([buf], [PSUM_ELEMENTS],
                                                                [dtype])),
        "host sum of the members": timed(lambda: np.sum(host, axis=0, dtype=np.float32)),
        f"upload {mb} (one GPU)": timed(lambda: (first.upload(host[0]), first.sync())),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--resident-batches", type=int, nargs="*", default=[65536, 262144])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--inline-uploads", action="store_true",
                        help="each pmap call uploads its batch (no prefetching thread)")
    args = parser.parse_args(argv)
    from fborn.lowering.wgsl.device import adapter_infos

    infos = adapter_infos()
    for info in infos:
        print(f"adapter {info.index}: {info.name} ({info.backend}, {info.adapter_type})")
    real = {i.index for i in infos if i.adapter_type != "CPU"}
    devices = [d for d in fborn.devices("gpu") if d.id in real] or fborn.devices("gpu")
    n = len(devices)
    print(f"\n| global batch | jit 1 GPU (samples/s) | pmap 1 GPU (samples/s) | pmap {n} GPUs "
          f"(samples/s) | speed-up | scaling efficiency |")
    print("| --- | --- | --- | --- | --- | --- |")
    for batch in args.batches:
        single = jit_throughput(devices[0], batch, args.steps)
        prefetch = not args.inline_uploads
        one = pmap_throughput(devices[:1], batch, args.steps, prefetch)
        many = pmap_throughput(devices, batch, args.steps, prefetch)
        print(f"| {batch} | {single:,.0f} | {one:,.0f} | {many:,.0f} | {many / one:.2f}x | "
              f"{many / one / n:.0%} |", flush=True)
    print(f"\nThe training set resident on the GPUs ({RESIDENT_BATCHES} global batches, "
          f"uploaded once; each step slices its batch on the device):")
    print(f"\n| global batch | pmap 1 GPU (samples/s) | pmap {n} GPUs (samples/s) | speed-up | "
          f"scaling efficiency |")
    print("| --- | --- | --- | --- | --- |")
    for batch in args.resident_batches:
        one = resident_throughput(devices[:1], batch, args.steps)
        many = resident_throughput(devices, batch, args.steps)
        print(f"| {batch} | {one:,.0f} | {many:,.0f} | {many / one:.2f}x | {many / one / n:.0%} |",
              flush=True)
    print(f"\npsum of {PSUM_ELEMENTS * 4 / 1e6:.0f} MB float32 across {n} GPUs (best of 5):")
    print("| what | ms | GB/s |")
    print("| --- | --- | --- |")
    for what, ms in psum_times(devices).items():
        print(f"| {what} | {ms:.1f} | {PSUM_ELEMENTS * 4 / ms / 1e6:.1f} |", flush=True)


if __name__ == "__main__":
    main()

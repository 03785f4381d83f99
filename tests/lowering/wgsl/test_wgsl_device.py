"""The wgpu device layer: adapter listing, buffers, uploads and reads, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fborn.core.errors import FbornDtypeError
from fborn.lowering.wgsl import device as dev
from fborn.lowering.wgsl.device import GpuError, gpu, size_class, storage_bytes


def test_adapters_list_each_gpu_once_primary_backend_first():
    infos = dev.adapter_infos()
    assert infos, "no GPU adapter: install a Vulkan driver (mesa-vulkan-drivers)"
    assert infos[0].backend == dev.primary_backend()
    idents = [(i.vendor_id, i.device_id, i.name, i.backend) for i in infos]
    assert len(set(idents)) == len(idents)
    assert [i.index for i in infos] == list(range(len(infos)))


class _FakeAdapter:
    def __init__(self, backend, kind, name):
        self.info = {"backend_type": backend, "adapter_type": kind, "device": name,
                     "vendor_id": 1, "device_id": 2}


def test_order_prefers_primary_backend_and_discrete_and_dedupes():
    primary = dev.primary_backend()
    found = [_FakeAdapter("OpenGL", "DiscreteGPU", "gpu0"),
             _FakeAdapter(primary, "CPU", "cpu"),
             _FakeAdapter(primary, "DiscreteGPU", "gpu0"),
             _FakeAdapter(primary, "DiscreteGPU", "gpu0")]
    ordered = dev._order(found)
    assert [(a.info["backend_type"], a.info["device"]) for a in ordered] == [
        (primary, "gpu0"), (primary, "gpu0"), (primary, "cpu")]


def test_missing_adapter_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(dev, "_adapters", [])
    monkeypatch.setattr(dev, "_gpus", {})
    with pytest.raises(GpuError, match="no GPU adapter 0.*mesa-vulkan-drivers"):
        gpu(0)


def test_size_classes_waste_at_most_a_quarter():
    for n in [1, 255, 256, 257, 1000, 4096, 4097, 10**6, 3 * 2**20 + 1]:
        c = size_class(n)
        assert c >= max(n, 256) and c <= max(256, n * 1.25 + 8)
        assert size_class(c) == c


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint32, np.bool_, np.float16])
def test_upload_read_round_trip(dtype):
    g = gpu()
    rng = np.random.default_rng(0)
    for size in (0, 1, 3, 1001):
        x = (rng.standard_normal(size) * 100).astype(dtype)
        buf = g.upload(x)
        (back,) = g.read([buf], [size], [np.dtype(dtype)])
        assert back.dtype == np.dtype(dtype) and back.shape == (size,)
        np.testing.assert_array_equal(back, x)


@given(st.lists(st.integers(0, 3000), min_size=1, max_size=4))
def test_several_reads_in_one_submit(sizes):
    g = gpu()
    xs = [np.arange(n, dtype=np.int32) * 3 - 7 for n in sizes]
    bufs = [g.upload(x) for x in xs]
    outs = g.read(bufs, sizes, [np.dtype(np.int32)] * len(sizes))
    for x, o in zip(xs, outs, strict=True):
        np.testing.assert_array_equal(o, x)


def test_pool_reuses_released_buffers():
    g = gpu()
    buf = g.empty(1000, np.float32)
    raw = buf.buffer
    del buf
    again = g.empty(990, np.float32)
    assert again.buffer is raw
    g.sync()


def test_buffers_collected_in_a_reference_cycle_return_to_the_pool_intact():
    import gc

    g = gpu()
    nbytes = 3 * 1024 * 1024 + 12  # a size class no other test uses
    for _ in range(3):
        cycle: list[object] = [g.empty(nbytes // 4, np.dtype(np.float32))]
        cycle.append(cycle)  # only the cycle collector frees it
        del cycle
        gc.collect()
    for _ in range(3):  # every pooled buffer still works
        buf = g.upload(np.full(nbytes // 4, 7, np.float32))
        (back,) = g.read([buf], [nbytes // 4], [np.dtype(np.float32)])
        assert (back == 7).all()


def test_a_buffer_released_while_the_pool_is_busy_does_not_deadlock():
    import threading

    g = gpu()
    done = []

    def nested() -> None:
        buf = g.empty(300, np.dtype(np.float32))
        with g.pool._lock:  # as when a collection runs __del__ inside acquire
            del buf
            again = g.empty(300, np.dtype(np.float32))
        done.append(again)

    worker = threading.Thread(target=nested, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert done, "releasing a buffer inside the pool's lock deadlocked"


def test_native_and_checked_readback_agree(monkeypatch):
    g = gpu()
    assert g._map is not None  # the pinned wgpu exposes the C entry points
    values = [np.arange(1001, dtype=np.float32), np.array([True, False, True]),
              np.zeros(0, np.int32), np.array([-3], np.int32)]
    bufs = [g.upload(v) for v in values]
    sizes, kinds = [v.size for v in values], [v.dtype for v in values]
    native = g.read(bufs, sizes, kinds)
    monkeypatch.setattr(g, "_map", None)
    checked = g.read(bufs, sizes, kinds)
    for a, b, v in zip(native, checked, values, strict=True):
        np.testing.assert_array_equal(a, v)
        np.testing.assert_array_equal(b, v)
        assert a.dtype == b.dtype == v.dtype


def test_large_uploads_round_trip_through_a_bounded_set_of_staging_buffers():
    from fborn.lowering.wgsl.uploads import DEPTH, STAGED_MIN_BYTES

    g = gpu()
    assert g._uploads is not None  # the pinned wgpu exposes the C entry points
    n = STAGED_MIN_BYTES // 4 + 5
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(n).astype(np.float32) + i for i in range(2 * DEPTH + 1)]
    bufs = [g.upload(v) for v in values]  # more uploads in flight than staging buffers
    assert g._uploads._count[size_class(n * 4)] <= DEPTH
    for v, back in zip(values, g.read(bufs, [n] * len(bufs), [np.dtype(np.float32)] * len(bufs)),
                       strict=True):
        np.testing.assert_array_equal(back, v)
    odd = (np.arange(STAGED_MIN_BYTES + 1) % 7 == 0)  # bool, stored as uint32
    half = np.arange(STAGED_MIN_BYTES // 2 + 1).astype(np.float16)  # 2 bytes past a word
    for v in (odd, half):
        (back,) = g.read([g.upload(v)], [v.size], [v.dtype])
        np.testing.assert_array_equal(back, v)


def test_large_uploads_from_several_threads_and_the_checked_path_agree(monkeypatch):
    import threading

    from fborn.lowering.wgsl.uploads import STAGED_MIN_BYTES

    g = gpu()
    n = STAGED_MIN_BYTES // 2
    values = [np.full(n, i, np.int32) * 3 - 1 for i in range(12)]
    placed: dict[int, object] = {}

    def upload(i: int) -> None:
        placed[i] = g.upload(values[i])

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(values))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    backs = g.read([placed[i] for i in range(len(values))], [n] * len(values),
                   [np.dtype(np.int32)] * len(values))
    for v, back in zip(values, backs, strict=True):
        np.testing.assert_array_equal(back, v)
    monkeypatch.setattr(g, "_uploads", None)  # queue.write_buffer
    (checked,) = g.read([g.upload(values[5])], [n], [np.dtype(np.int32)])
    np.testing.assert_array_equal(checked, values[5])


def test_uploads_beyond_the_staging_cap_go_through_write_buffer(monkeypatch):
    from fborn.lowering.wgsl.uploads import STAGED_MIN_BYTES

    g = gpu()
    n = STAGED_MIN_BYTES // 4 * 5 + 7  # a size class no other test uses
    monkeypatch.setattr(g._uploads, "cap", 0)  # no room for a new staging buffer
    value = np.arange(n, dtype=np.float32)
    (back,) = g.read([g.upload(value)], [n], [np.dtype(np.float32)])
    np.testing.assert_array_equal(back, value)
    assert g._uploads._count.get(size_class(n * 4), 0) == 0


def test_an_upload_does_not_overtake_work_submitted_before_it():
    import fborn
    from fborn.lowering.wgsl.executable import GpuExecutable
    from fborn.lowering.wgsl.uploads import STAGED_MIN_BYTES

    g = gpu()
    n = STAGED_MIN_BYTES // 4
    first, second = np.full(n, 2.0, np.float32), np.full(n, 5.0, np.float32)
    program = GpuExecutable(fborn.make_jaxpr(lambda v: [v * 3.0])(first), g)
    buf = g.upload(first)
    (out,) = program.run([buf])
    g.write(buf, second)  # overwrites the input the queued program reads
    got, now = g.read([out, buf], [n, n], [np.dtype(np.float32)] * 2)
    assert (got == 6.0).all() and (now == 5.0).all()


def test_64_bit_and_unsupported_dtypes_raise():
    with pytest.raises(FbornDtypeError, match="float64 is not supported on the GPU"):
        gpu().upload(np.ones(3, np.float64))
    with pytest.raises(FbornDtypeError, match="int8"):
        storage_bytes(3, np.int8)


def test_too_large_for_one_binding():
    g = gpu()
    with pytest.raises(GpuError, match="largest storage binding"):
        g.check_size(g.max_binding + 4)

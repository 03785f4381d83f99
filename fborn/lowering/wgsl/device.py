"""GPU devices through wgpu: adapter choice, lazily created devices, pooled buffers, transfers.

``adapters()`` lists each physical GPU once, best first: adapters of the platform's primary
backend (Vulkan on Linux, Metal on macOS, DX12 on Windows) in the order discrete, integrated,
virtual, CPU (lavapipe), then any GPU that only another backend reaches. ``gpu(i)`` opens adapter
``i`` once (requesting its own limits, and ``shader-f16`` where it exists) and returns the
``Gpu`` that owns its queue, a buffer pool and a staging pool. Uploads go through wgpu-native's
C calls, large ones through staging buffers kept mapped (``uploads``); reads copy into pooled
mappable staging buffers (one submit, one map per read; no ``queue.read_buffer``). ``Gpu.sync``
waits for submitted work with a 4-byte read, since wgpu-py 0.32's
``on_submitted_work_done_sync`` is unreliable.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.errors import FbornDtypeError, FbornError
from fborn.lowering.wgsl.native import MapError, native_map
from fborn.lowering.wgsl.uploads import native_uploads

MIN_BUFFER_BYTES = 256
POOL_CAP_BYTES = 1 << 31
_ADAPTER_RANK = {"DiscreteGPU": 0, "IntegratedGPU": 1, "VirtualGPU": 2, "CPU": 3, "Unknown": 4}


class GpuError(FbornError, RuntimeError):
    """No usable GPU adapter, a lost device, or data too large for a GPU buffer."""


def primary_backend() -> str:
    """The wgpu backend tried first on this platform."""
    if sys.platform == "darwin":
        return "Metal"
    if sys.platform.startswith("win"):
        return "D3D12"
    return "Vulkan"


@dataclass(frozen=True)
class AdapterInfo:
    """What fborn reports about an adapter (``fborn.devices()`` entries are built from it)."""

    index: int
    name: str
    backend: str
    adapter_type: str
    vendor_id: int
    device_id: int


def _import_wgpu() -> Any:
    try:
        import wgpu
    except ImportError as e:  # pragma: no cover - wgpu is a dependency
        raise GpuError("the GPU backend needs the 'wgpu' package (pip install wgpu)") from e
    return wgpu


_lock = threading.RLock()
_adapters: list[Any] | None = None
_gpus: dict[int, Gpu] = {}


def _order(found: Sequence[Any]) -> list[Any]:
    """Adapters of the primary backend first (discrete before integrated before CPU), then those
    of other backends whose GPU (vendor, device id, name) the primary backend does not list."""
    primary = primary_backend()

    def key(a: Any) -> tuple[int, int]:
        return (0 if a.info["backend_type"] == primary else 1,
                _ADAPTER_RANK.get(a.info["adapter_type"], 4))

    chosen: list[Any] = []
    seen: set[tuple[Any, ...]] = set()
    for a in sorted(found, key=key):
        ident = (a.info["vendor_id"], a.info["device_id"], a.info["device"])
        if a.info["backend_type"] != primary and ident in seen:
            continue
        seen.add(ident)
        chosen.append(a)
    return chosen


def _select_backends() -> None:
    """Ask wgpu for the backends fborn uses (``$FBORN_WGPU_BACKENDS``, comma-separated, default
    Vulkan, Metal, DX12): probing OpenGL through EGL costs a second and finds nothing new."""
    names = os.environ.get("FBORN_WGPU_BACKENDS", "Vulkan,Metal,DX12").split(",")
    try:
        from wgpu.backends.wgpu_native.extras import set_instance_extras

        set_instance_extras(backends=[n.strip() for n in names if n.strip()])
    except Exception:  # noqa: BLE001 - the instance exists already, or another wgpu backend
        return


def adapters() -> list[Any]:
    """Every usable wgpu adapter, each GPU once, best first (may be empty)."""
    global _adapters
    with _lock:
        if _adapters is None:
            wgpu = _import_wgpu()
            _select_backends()
            # Mesa's window-system code complains on stderr when this is unset (servers, CI).
            os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
            try:
                found = wgpu.gpu.enumerate_adapters_sync()
            except Exception as e:  # noqa: BLE001 - any driver failure means "no adapter"
                raise GpuError(f"enumerating GPU adapters failed: {e}") from e
            _adapters = [a for a in _order(found)
                         if a.info["backend_type"] in ("Vulkan", "Metal", "D3D12")]
        return _adapters


def adapter_infos() -> list[AdapterInfo]:
    """``AdapterInfo`` for each entry of ``adapters()``."""
    return [AdapterInfo(i, a.info["device"], a.info["backend_type"], a.info["adapter_type"],
                        a.info["vendor_id"], a.info["device_id"])
            for i, a in enumerate(adapters())]


def gpu(index: int = 0) -> Gpu:
    """The open GPU ``index`` of ``adapters()`` (opened on first use).

    Raises GpuError naming what was found when there is no such adapter."""
    with _lock:
        hit = _gpus.get(index)
        if hit is not None:
            return hit
        found = adapters()
        if not 0 <= index < len(found):
            have = ", ".join(f"{a.info['device']} ({a.info['backend_type']})" for a in found)
            raise GpuError(
                f"no GPU adapter {index}: wgpu found {len(found)} usable adapter(s)"
                f"{': ' + have if have else ''}. On Linux install a Vulkan driver (for a CPU "
                f"fallback: apt-get install mesa-vulkan-drivers)"
            )
        _gpus[index] = Gpu(found[index], index)
        return _gpus[index]


# --- storage formats ---------------------------------------------------------------------------

def storage_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of ``dtype``'s elements in GPU buffers (bool is stored as uint32)."""
    dtype = np.dtype(dtype)
    if dtype == dtypes.bool_:
        return np.dtype(np.uint32)
    if dtype in (dtypes.float32, dtypes.int32, dtypes.uint32, dtypes.float16):
        return dtype
    if dtype.itemsize == 8:
        raise FbornDtypeError(
            f"{dtype.name} is not supported on the GPU (WGSL has no 64-bit types); use 32-bit "
            f"dtypes (fborn.config.update('enable_x64', False)) or the CPU backend"
        )
    raise FbornDtypeError(f"{dtype.name} arrays are not supported on the GPU yet "
                          f"(supported: float32, int32, uint32, bool, float16)")


def storage_bytes(size: int, dtype: np.dtype) -> int:
    """Bytes of a buffer holding ``size`` elements of ``dtype``, rounded up to 4."""
    return -(-size * storage_dtype(dtype).itemsize // 4) * 4


def size_class(nbytes: int) -> int:
    """The pooled allocation size for ``nbytes``: the least m * 2**k (m in 4..7) >= nbytes,
    at least MIN_BUFFER_BYTES (so at most 25% is wasted)."""
    nbytes = max(int(nbytes), MIN_BUFFER_BYTES)
    shift = max(nbytes.bit_length() - 3, 0)
    return -(-nbytes // (1 << shift)) << shift


class BufferPool:
    """Free wgpu buffers by size class, reused LIFO (so a replayed program gets the same
    buffers back and its cached bind groups stay valid). Holds at most ``cap`` free bytes.
    Thread-safe: buffers are taken and given back from any thread (an input prefetcher, pmap's
    device threads, collection)."""

    def __init__(self, device: Any, usage: int, cap: int = POOL_CAP_BYTES):
        self.device = device
        self.usage = usage
        self.cap = cap
        self.free: dict[int, list[Any]] = {}
        self.free_bytes = 0
        self.allocated = 0
        # Every buffer out on loan, so that none is ever garbage: in a collected reference
        # cycle, wgpu would release a buffer its DeviceBuffer is about to return to the pool.
        self.lent: set[Any] = set()
        # Reentrant: a collection inside acquire can run a DeviceBuffer's release.
        self._lock = threading.RLock()

    def acquire(self, nbytes: int) -> Any:
        cls = size_class(nbytes)
        with self._lock:
            stack = self.free.get(cls)
            buffer = stack.pop() if stack else None
            if buffer is not None:
                self.free_bytes -= cls
                self.lent.add(buffer)
                return buffer
        try:
            buffer = self.device.create_buffer(size=cls, usage=self.usage)
        except Exception as e:  # noqa: BLE001 - wgpu raises its own error types
            raise GpuError(f"allocating a {cls}-byte GPU buffer failed: {e}") from e
        with self._lock:
            self.allocated += 1
            self.lent.add(buffer)
        return buffer

    def lend(self, buffer: Any) -> None:
        """Count ``buffer`` (created elsewhere) as out on loan: ``release`` takes it in."""
        with self._lock:
            self.lent.add(buffer)

    def release(self, buffer: Any) -> None:
        with self._lock:
            self.lent.discard(buffer)
            keep = self.free_bytes + buffer.size <= self.cap
            if keep:
                self.free.setdefault(buffer.size, []).append(buffer)
                self.free_bytes += buffer.size
        if not keep:
            buffer.destroy()

    def clear(self) -> None:
        """Destroy every free buffer."""
        with self._lock:
            stacks, self.free, self.free_bytes = list(self.free.values()), {}, 0
        for stack in stacks:
            for b in stack:
                b.destroy()


class DeviceBuffer:
    """``nbytes`` of a pooled storage buffer on ``gpu``; returned to the pool when collected
    (``__del__`` rather than ``weakref.finalize``: a third of the host time per buffer, which
    counts when every call of a small program allocates its outputs)."""

    __slots__ = ("gpu", "buffer", "nbytes", "owned")

    def __init__(self, gpu: Gpu, nbytes: int, buffer: Any = None):
        self.gpu = gpu
        self.nbytes = max(int(nbytes), 4)
        if buffer is None:
            buffer = gpu.pool.acquire(self.nbytes)
        else:
            gpu.pool.lend(buffer)
        self.buffer = buffer
        self.owned = True

    def __del__(self) -> None:
        if self.owned:
            self.gpu.pool.release(self.buffer)

    @classmethod
    def alias(cls, base: DeviceBuffer, nbytes: int) -> DeviceBuffer:
        """The first ``nbytes`` of ``base``'s buffer, as a buffer of its own that is never
        returned to the pool (whoever holds ``base`` keeps the memory alive)."""
        view = cls.__new__(cls)
        view.gpu, view.nbytes, view.buffer = base.gpu, max(int(nbytes), 4), base.buffer
        view.owned = False
        return view

    def binding(self) -> dict[str, Any]:
        """The bind-group resource for this buffer's bytes (at least 16: a vec4 element)."""
        return {"buffer": self.buffer, "offset": 0, "size": max(self.nbytes, 16)}


class Gpu:
    """One opened adapter: ``device``, ``queue``, pools, limits, and a shader pipeline cache."""

    def __init__(self, adapter: Any, index: int):
        wgpu = _import_wgpu()
        self.wgpu = wgpu
        self.adapter = adapter
        self.index = index
        self.name = adapter.info["device"]
        self.backend = adapter.info["backend_type"]
        features = ["shader-f16"] if "shader-f16" in adapter.features else []
        wanted = ("max-storage-buffer-binding-size", "max-buffer-size",
                  "max-storage-buffers-per-shader-stage", "max-compute-workgroup-storage-size",
                  "max-compute-invocations-per-workgroup", "max-compute-workgroup-size-x",
                  "max-compute-workgroup-size-y", "max-compute-workgroups-per-dimension")
        limits = {k: adapter.limits[k] for k in wanted if k in adapter.limits}
        try:
            self.device = adapter.request_device_sync(required_features=features,
                                                      required_limits=limits)
        except Exception as e:  # noqa: BLE001
            raise GpuError(f"opening GPU device {self.name} failed: {e}") from e
        self.queue = self.device.queue
        self.has_f16 = bool(features)
        self.limits = dict(self.device.limits)
        self.max_binding = int(self.limits["max-storage-buffer-binding-size"])
        self.max_bindings = int(self.limits["max-storage-buffers-per-shader-stage"])
        self.max_groups = int(self.limits["max-compute-workgroups-per-dimension"])
        usage = wgpu.BufferUsage
        self.pool = BufferPool(self.device, usage.STORAGE | usage.COPY_SRC | usage.COPY_DST)
        self.staging = BufferPool(self.device, usage.MAP_READ | usage.COPY_DST, 1 << 28)
        self._pipelines: dict[str, Any] = {}
        self._tiny = DeviceBuffer(self, 4)
        self._map = native_map()
        self._uploads = native_uploads(self.device, self.queue, usage.MAP_WRITE | usage.COPY_SRC)

    def __repr__(self) -> str:
        return f"Gpu({self.index}: {self.name}, {self.backend})"

    # --- buffers -------------------------------------------------------------------------------
    def check_size(self, nbytes: int, what: str = "an array") -> None:
        """Raise GpuError if ``nbytes`` cannot be bound as one storage buffer."""
        if nbytes > self.max_binding:
            raise GpuError(
                f"{what} of {nbytes} bytes exceeds this GPU's largest storage binding "
                f"({self.max_binding} bytes on {self.name}); split it into smaller arrays"
            )

    def empty(self, size: int, dtype: np.dtype) -> DeviceBuffer:
        """An uninitialized buffer for ``size`` elements of ``dtype``."""
        nbytes = storage_bytes(size, dtype)
        self.check_size(nbytes)
        self.check_dtype(dtype)
        return DeviceBuffer(self, nbytes)

    def check_dtype(self, dtype: np.dtype) -> None:
        """Raise FbornDtypeError for dtypes this GPU cannot hold."""
        storage_dtype(dtype)
        if np.dtype(dtype) == dtypes.float16 and not self.has_f16:
            raise FbornDtypeError(f"float16 needs the 'shader-f16' feature, which {self.name} "
                                  f"lacks")

    def upload(self, value: np.ndarray, dtype: np.dtype | None = None) -> DeviceBuffer:
        """A new buffer holding ``value`` (any shape, stored flat in row-major order)."""
        dtype = np.dtype(dtype or value.dtype)
        host = np.ascontiguousarray(value, dtype=dtype).reshape(-1)
        buf = self.empty(host.size, dtype)
        self.write(buf, host)
        return buf

    def write(self, buf: DeviceBuffer, host: np.ndarray) -> None:
        """Copy the flat array ``host`` (of the buffer's element dtype) into ``buf``."""
        data = np.ascontiguousarray(host, dtype=storage_dtype(host.dtype)).reshape(-1)
        if data.nbytes % 4:
            data = np.frombuffer(data.tobytes() + b"\0" * (4 - data.nbytes % 4), np.uint8)
        if not data.nbytes:
            return
        if self._uploads is None:
            self.queue.write_buffer(buf.buffer, 0, data)
            return
        try:
            self._uploads.write(buf.buffer, data, size_class(data.nbytes))
        except MapError as e:
            raise GpuError(f"uploading to {self.name}: {e}") from e

    def read(self, buffers: Sequence[DeviceBuffer], sizes: Sequence[int],
             dtypes_: Sequence[np.dtype]) -> list[np.ndarray]:
        """Flat numpy copies of ``buffers`` (``sizes`` elements of ``dtypes_`` each), with one
        submit; waits for all work submitted before."""
        out: list[np.ndarray] = [np.empty(0, d) for d in dtypes_]

        def copy_out(i: int, raw: np.ndarray) -> None:
            out[i] = _from_storage(raw, sizes[i], dtypes_[i])  # the one copy out of the mapping

        self.read_into(buffers, [storage_bytes(n, d) for n, d in zip(sizes, dtypes_, strict=True)],
                       copy_out)
        return out

    def read_into(self, buffers: Sequence[DeviceBuffer], nbytes: Sequence[int],
                  sink: Callable[[int, np.ndarray], None]) -> None:
        """Copy the first ``nbytes[i]`` of each buffer into pooled staging buffers (one
        submit, after all work submitted before), then call ``sink(i, raw)`` with a uint8
        view of those bytes that is valid only during the call (none for empty buffers)."""
        encoder = self.device.create_command_encoder()
        staged, which = [], []
        for i, (buf, n) in enumerate(zip(buffers, nbytes, strict=True)):
            if n:
                stage = self.staging.acquire(n)
                encoder.copy_buffer_to_buffer(buf.buffer, 0, stage, 0, n)
                staged.append((stage, n))
                which.append(i)
        self.queue.submit([encoder.finish()])
        try:
            if self._map is not None:
                try:
                    self._map.read(self.device, staged, lambda j, raw: sink(which[j], raw))
                except MapError as e:
                    raise GpuError(f"reading back from {self.name}: {e}") from e
            else:
                for (stage, n), i in zip(staged, which, strict=True):
                    stage.map_sync(self.wgpu.MapMode.READ, 0, n)
                    try:
                        sink(i, np.frombuffer(stage.read_mapped(0, n, copy=False), np.uint8))
                    finally:
                        stage.unmap()
        finally:
            for stage, _ in staged:
                self.staging.release(stage)

    def sync(self) -> None:
        """Wait until all submitted work has finished (a 4-byte read)."""
        self.read([self._tiny], [1], [np.dtype(np.uint32)])

    # --- pipelines -----------------------------------------------------------------------------
    def pipeline(self, source: str) -> Any:
        """The compute pipeline (entry point ``main``) of WGSL ``source``, cached by text."""
        hit = self._pipelines.get(source)
        if hit is not None:
            return hit
        try:
            module = self.device.create_shader_module(code=source)
            pipe = self.device.create_compute_pipeline(
                layout="auto", compute={"module": module, "entry_point": "main"})
        except Exception as e:  # noqa: BLE001
            numbered = "\n".join(f"{i + 1:4d} {line}" for i, line in
                                 enumerate(source.splitlines()))
            raise GpuError(f"the GPU driver rejected a generated shader: {e}\n{numbered}") from e
        self._pipelines[source] = pipe
        return pipe


def _from_storage(raw: np.ndarray, size: int, dtype: np.dtype) -> np.ndarray:
    """A new array of ``size`` elements of ``dtype`` from the storage bytes ``raw``."""
    stored = raw[: size * storage_dtype(dtype).itemsize].view(storage_dtype(dtype))
    if np.dtype(dtype) == dtypes.bool_:
        return stored != 0
    return stored.copy()

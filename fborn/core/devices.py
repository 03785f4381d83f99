"""Devices and platforms: ``fborn.devices``, ``fborn.local_devices``, ``fborn.default_backend``,
``fborn.device_put`` and ``fborn.device_put_sharded``.

The platform comes from ``$FBORN_PLATFORM`` (``cpu``, the default, or ``gpu``), read at each
call. CPU devices: ``$FBORN_NUM_CPU_DEVICES`` (default 1) ``Device("cpu", i)`` objects, device 0
being the device of every host array (``CPU_DEVICE``); they share the host's memory and cores
(pmap runs one per thread). GPU devices: one ``Device("gpu", i)`` per wgpu adapter, in the
order ``fborn.lowering.wgsl.device.adapters()`` lists them (wgpu is imported only when GPU
devices are asked for, so ``import fborn`` stays light). Device objects are unique per
(platform, id): compare them with ``==`` or ``is``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.array import CPU_DEVICE, Array, ArrayImpl, Device
from fborn.core.errors import FbornError

PLATFORMS = ("cpu", "gpu")

_lock = threading.Lock()
_cpu: dict[int, Device] = {0: CPU_DEVICE}
_gpu: dict[int, Device] = {}


def default_backend() -> str:
    """The platform computations run on by default: ``$FBORN_PLATFORM`` (``"cpu"`` unless set
    to ``"gpu"``). Raises ValueError for any other value."""
    value = os.environ.get("FBORN_PLATFORM", "cpu").strip().lower() or "cpu"
    if value not in PLATFORMS:
        raise ValueError(f"FBORN_PLATFORM={value!r} is not a platform fborn knows; use one of "
                         f"{', '.join(PLATFORMS)}")
    return value


def _num_cpu_devices() -> int:
    raw = os.environ.get("FBORN_NUM_CPU_DEVICES", "1")
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"FBORN_NUM_CPU_DEVICES={raw!r} must be a positive integer")
    return n


def cpu_device(index: int) -> Device:
    """The unique ``Device("cpu", index)`` object (device 0 is ``CPU_DEVICE``)."""
    with _lock:
        return _cpu.setdefault(index, Device("cpu", index, "cpu"))


def gpu_device(index: int, name: str = "gpu") -> Device:
    """The unique ``Device("gpu", index)`` object (``name``: its ``device_kind``, used when
    the object is first made)."""
    with _lock:
        return _gpu.setdefault(index, Device("gpu", index, name))


def devices(backend: str | None = None) -> list[Device]:
    """The devices of ``backend`` (``"cpu"`` or ``"gpu"``; default ``default_backend()``) in
    every process: after ``fborn.distributed.initialize()`` those of the other MPI processes
    follow in process order (with their ``process_index``).

    Raises ValueError for an unknown backend and ``fborn.errors.GpuError`` (an FbornError)
    when ``"gpu"`` is asked for and wgpu finds no adapter."""
    from fborn.distributed import global_devices

    return global_devices(local_devices(backend))


def local_devices(backend: str | None = None) -> list[Device]:
    """The devices of ``backend`` attached to this process."""
    backend = default_backend() if backend is None else str(backend).lower()
    if backend == "cpu":
        return [cpu_device(i) for i in range(_num_cpu_devices())]
    if backend == "gpu":
        from fborn.lowering.wgsl.device import adapter_infos, gpu

        infos = adapter_infos()
        if not infos:
            gpu(0)  # raises the GpuError that says what to install
        return [gpu_device(i.index, i.name) for i in infos]
    raise ValueError(f"unknown backend {backend!r}; fborn has the backends "
                     f"{', '.join(PLATFORMS)}")


def _put_leaf(x: Any, device: Device) -> Any:
    if device.platform == "gpu":
        from fborn.lowering.wgsl.device import gpu
        from fborn.lowering.wgsl.executable import device_put as gpu_put

        return gpu_put(x, gpu(device.id))
    if type(x) is ArrayImpl and x.device is device:
        return x
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        host = np.asarray(x, dtype=dtypes.python_scalar_dtype(x))
        return ArrayImpl(host, weak_type=host.dtype != dtypes.bool_, device=device)
    weak = bool(getattr(x, "weak_type", False)) if isinstance(x, Array) else False
    host = np.array(x, copy=True)
    if host.dtype not in dtypes.SUPPORTED_SET:
        raise FbornError(f"cannot put data of dtype {host.dtype} on a device")
    host = host.astype(dtypes.canonicalize(host.dtype), copy=False)
    return ArrayImpl(host, weak_type=weak, device=device)


def device_put(x: Any, device: Device | None = None) -> Any:
    """Every array leaf of the pytree ``x`` as an array on ``device`` (default: the first
    device of ``default_backend()``): GPU arrays (``GpuArray``) for a GPU device, host arrays
    for a CPU device (GPU arrays are read back). Leaves already there are returned as they
    are; Python scalars become weakly typed arrays."""
    from fborn.core.tree import tree_map

    target = devices()[0] if device is None else device
    if not isinstance(target, Device):
        raise TypeError(f"device_put expects an fborn Device (from fborn.devices()), got "
                        f"{type(target).__name__}")
    return tree_map(lambda leaf: _put_leaf(leaf, target), x)


def device_put_sharded(shards: Sequence[Any], devices: Sequence[Device]) -> Any:
    """The pytrees ``shards`` (one per device, all of one structure and leaf shapes) as one
    pytree of ``ShardedArray``s stacked along a new leading axis, shard ``i`` on
    ``devices[i]``: what ``pmap`` over those devices takes without copying. The devices' copies
    run in parallel threads (uploads to GPUs overlap). Raises ValueError when the counts or the
    structures differ."""
    from fborn.core.sharded import ShardedArray
    from fborn.core.tree import tree_flatten, tree_unflatten

    if len(shards) != len(devices) or not shards:
        raise ValueError(f"device_put_sharded needs one pytree per device, got {len(shards)} "
                         f"pytrees for {len(devices)} devices")
    flat = [tree_flatten(s) for s in shards]
    treedef = flat[0][1]
    for i, (_, other) in enumerate(flat):
        if other != treedef:
            raise ValueError(f"device_put_sharded: shard {i} has structure {other}, shard 0 "
                             f"has {treedef}")
    placed: list[list[Any]] = [[] for _ in devices]
    errors: list[BaseException] = []

    def put(i: int) -> None:
        try:
            placed[i] = [device_put(leaf, devices[i]) for leaf in flat[i][0]]
        except BaseException as e:  # re-raised in the calling thread
            errors.append(e)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(1, len(devices))]
    for t in threads:
        t.start()
    put(0)
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    leaves = []
    for k in range(len(flat[0][0])):
        per_device = [p[k] for p in placed]
        shapes = {(a.shape, a.dtype) for a in per_device}
        if len(shapes) > 1:
            raise ValueError(f"device_put_sharded: leaf {k} differs in shape or dtype across "
                             f"shards: {sorted(map(str, shapes))}")
        leaves.append(ShardedArray(per_device, 0, list(devices),
                                   weak_type=per_device[0].weak_type))
    return tree_unflatten(treedef, leaves)

"""``ShardedArray``: a concrete array split over devices along one axis (pmap's outputs).

It behaves as an ordinary ``fborn.Array``: its aval is the global one, operators and
``fborn.numpy`` functions take it, and ``np.asarray(x)`` gathers the shards (once; the gathered
copy is kept, since the array never changes). ``pmap`` takes a ShardedArray split along the
axis it maps without gathering it, so a training loop's parameters stay on their devices.
Shards on GPU devices are ``GpuArray``s: they stay in their GPU's memory until gathered.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fborn.core.array import Array, ArrayImpl, ConcreteArray, Device
from fborn.core.aval import ShapedArray
from fborn.core.gpu_array import GpuArray


class Shard:
    """One device's piece of a ShardedArray: ``device``, ``index`` (the global slice it holds)
    and ``data`` (an Array: a GpuArray on a GPU device)."""

    __slots__ = ("device", "index", "data")

    def __init__(self, device: Device, index: tuple[Any, ...], data: Array):
        self.device, self.index, self.data = device, index, data

    def __repr__(self) -> str:
        return f"Shard(device={self.device!r}, index={self.index}, data={self.data!r})"


class ShardedArray(ConcreteArray):
    """An array whose slices along ``axis`` live on ``devices`` (one shard each, the axis
    removed); ``axis=None`` means every device holds the whole (replicated) value. Shards are
    numpy arrays or Arrays (kept as they are, GpuArrays included)."""

    __slots__ = ("aval", "shards", "axis", "_devices", "_host")

    def __init__(self, shards: list[Any], axis: int | None, devices: list[Device],
                 weak_type: bool = False):
        if not shards or len(shards) != len(devices):
            raise ValueError(f"ShardedArray needs one shard per device, got {len(shards)} "
                             f"shards for {len(devices)} devices")
        self.shards: list[Array] = [s if type(s) in (ArrayImpl, GpuArray) else
                                    ArrayImpl(np.asarray(s), weak_type, d)
                                    for s, d in zip(shards, devices, strict=True)]
        self.axis = axis
        self._devices = list(devices)
        first = self.shards[0].aval
        shape = first.shape if axis is None else \
            (*first.shape[:axis], len(shards), *first.shape[axis:])
        self.aval = ShapedArray(shape, first.dtype, weak_type)
        self._host: np.ndarray | None = None

    @property
    def _value(self) -> np.ndarray:
        """The gathered value (computed on first use, read-only)."""
        if self._host is None:
            parts = [s._value for s in self.shards]
            host = parts[0] if self.axis is None else np.stack(parts, axis=self.axis)
            if host.flags.writeable:
                host.flags.writeable = False
            self._host = host
        return self._host

    @property
    def device(self) -> Device:
        if len(self._devices) == 1:
            return self._devices[0]
        raise ValueError(f"the array is sharded over {len(self._devices)} devices; use "
                         f".devices() or .addressable_shards")

    def devices(self) -> set[Device]:
        return set(self._devices)

    @property
    def addressable_shards(self) -> list[Shard]:
        """This process's shards, in device order."""
        out = []
        for i, (d, s) in enumerate(zip(self._devices, self.shards, strict=True)):
            index = (slice(None),) * self.aval.ndim if self.axis is None else \
                (*(slice(None),) * self.axis, slice(i, i + 1))
            out.append(Shard(d, index, s))
        return out

    def block_until_ready(self) -> ShardedArray:
        """Wait for the GPU shards' computations (CPU shards are always ready); returns
        self."""
        for s in self.shards:
            if type(s) is GpuArray:
                s.block_until_ready()
        return self

    def __repr__(self) -> str:
        body = np.array2string(self._value, separator=", ", prefix="Array(")
        return f"Array({body}, dtype={self.aval.dtype.name}, sharded over " \
               f"{len(self._devices)} devices)"

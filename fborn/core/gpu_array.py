"""``GpuArray``: an immutable array whose elements live in a GPU buffer.

The buffer is opaque to the core (no GPU library is imported here): it is a
``fborn.lowering.wgsl.device.DeviceBuffer``, whose ``gpu.read`` copies it back. The host copy is
made on first use (``np.asarray(x)``, printing, ``float(x)``) and kept, since the array never
changes. Eager operations that are not dispatched to the GPU convert it to a host array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fborn.core.array import Array, Device
from fborn.core.aval import ShapedArray


class GpuArray(Array):
    """An array on a GPU: ``device_buffer`` (storage format: bools as uint32) plus its aval."""

    __slots__ = ("aval", "device_buffer", "_device", "_host")

    def __init__(self, device_buffer: Any, aval: ShapedArray, device: Device):
        self.device_buffer = device_buffer
        self.aval = aval
        self._device = device
        self._host: np.ndarray | None = None

    @property
    def device(self) -> Device:
        return self._device

    def devices(self) -> set[Device]:
        return {self._device}

    @property
    def _value(self) -> np.ndarray:
        """The host copy (read once, read-only)."""
        if self._host is None:
            (flat,) = self.device_buffer.gpu.read([self.device_buffer], [self.aval.size],
                                                  [self.aval.dtype])
            host = flat.reshape(self.aval.shape)
            host.flags.writeable = False
            self._host = host
        return self._host

    def block_until_ready(self) -> GpuArray:
        """Wait until every GPU computation submitted so far has finished; returns self."""
        self.device_buffer.gpu.sync()
        return self

    def copy_to_host_async(self) -> None:
        """Copy to the host now (reads are synchronous in this backend)."""
        self._value  # noqa: B018

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        value = self._value
        if dtype is not None and np.dtype(dtype) != value.dtype:
            return value.astype(dtype)
        return value.copy() if copy else value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __int__(self) -> int:
        return int(self._value)

    def __float__(self) -> float:
        return float(self._value)

    def __index__(self) -> int:
        return self._value.__index__()

    def item(self, *args: Any) -> Any:
        """The element as a Python scalar."""
        return self._value.item(*args)

    def tolist(self) -> Any:
        """The array as nested Python lists."""
        return self._value.tolist()

    def __repr__(self) -> str:
        body = np.array2string(self._value, separator=", ", prefix="Array(")
        return f"Array({body}, dtype={self.aval.dtype.name}, device={self._device})"

    def __str__(self) -> str:
        return str(self._value)

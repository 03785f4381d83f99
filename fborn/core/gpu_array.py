"""``GpuArray``: an immutable array whose elements live in a GPU buffer.

The buffer is opaque to the core (no GPU library is imported here): it is a
``fborn.lowering.wgsl.device.DeviceBuffer``, whose ``gpu.read`` copies it back. The host copy is
made on first use (``np.asarray(x)``, printing, ``float(x)``) and kept, since the array never
changes. Eager operations that are not dispatched to the GPU convert it to a host array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fborn.core.array import ConcreteArray, Device
from fborn.core.aval import ShapedArray


class GpuArray(ConcreteArray):
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

    def __repr__(self) -> str:
        body = np.array2string(self._value, separator=", ", prefix="Array(")
        return f"Array({body}, dtype={self.aval.dtype.name}, device={self._device})"

"""``fborn.Array``: the common base of concrete arrays and tracers, and the concrete array type.

``Array`` carries no data itself; ``ArrayImpl`` is an immutable array living on a device, and the
tracers of every transform subclass ``Tracer`` (in ``fborn.core.trace``), which subclasses
``Array`` too, so ``isinstance(x, fborn.Array)`` holds inside any transform. Operators and methods
(``+``, ``@``, ``x.sum()``, ``x.at[...]``...) are attached by ``fborn.numpy``, which is where the
array functions live; the core only defines storage and conversion.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornDtypeError


class Device:
    """A place where arrays live and computations run (``CpuDevice(id=0)``, ``GpuDevice(id=0)``)."""

    __slots__ = ("platform", "id", "device_kind", "process_index")

    def __init__(self, platform: str, id: int, device_kind: str, process_index: int = 0):
        self.platform = platform
        self.id = id
        self.device_kind = device_kind
        self.process_index = process_index

    def __repr__(self) -> str:
        return f"{self.platform.capitalize()}Device(id={self.id})"


CPU_DEVICE = Device("cpu", 0, "cpu")


class Array:
    """An n-dimensional array (abstract base of concrete arrays and tracers).

    ``shape``, ``dtype``, ``ndim``, ``size`` and ``aval`` describe it; arithmetic and jax.Array-like
    methods come from ``fborn.numpy``. Arrays are immutable: use ``x.at[idx].set(v)``.
    """

    __slots__ = ()
    __array_priority__ = 100
    __hash__ = None  # type: ignore[assignment]

    aval: ShapedArray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self.aval.dtype

    @property
    def weak_type(self) -> bool:
        return self.aval.weak_type

    @property
    def ndim(self) -> int:
        return len(self.aval.shape)

    @property
    def size(self) -> int:
        return self.aval.size

    def __len__(self) -> int:
        if not self.aval.shape:
            raise TypeError("len() of unsized object (a 0-d fborn array)")
        return self.aval.shape[0]


class ConcreteArray(Array):
    """An array that holds a value: subclasses provide ``_value``, its read-only host copy (a
    numpy array), and get the conversions to numpy and Python values from it."""

    __slots__ = ()

    _value: np.ndarray

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        value = self._value
        if dtype is not None and np.dtype(dtype) != value.dtype:
            return value.astype(dtype)
        return value.copy() if copy else value

    def __dlpack__(self, *, stream: Any = None, **kwargs: Any) -> Any:
        # numpy refuses to export read-only buffers; the copy keeps our buffer immutable.
        return self._value.copy().__dlpack__(stream=stream, **kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._value.__dlpack_device__()

    def __bool__(self) -> bool:
        return bool(self._value)

    def __int__(self) -> int:
        return int(self._value)

    def __float__(self) -> float:
        return float(self._value)

    def __index__(self) -> int:
        if not dtypes.is_int(self.aval.dtype) and self.aval.dtype != dtypes.bool_:
            raise TypeError(f"only integer arrays can be used as an index, got {self.aval.dtype}")
        return int(self._value)

    def __complex__(self) -> complex:
        return complex(self._value)

    def item(self, *args: Any) -> Any:
        """The element as a Python scalar (as ``numpy.ndarray.item``)."""
        return self._value.item(*args)

    def tolist(self) -> Any:
        """The array as nested Python lists of Python scalars."""
        return self._value.tolist()

    def copy_to_host_async(self) -> None:
        """Copy the value to the host now (a no-op for CPU arrays)."""
        self._value  # noqa: B018

    def __str__(self) -> str:
        return str(self._value)

    def __format__(self, spec: str) -> str:
        if self.aval.shape == ():
            return format(self._value.item(), spec)
        return format(str(self), spec)

    def __reduce__(self) -> Any:
        return (_rebuild_array, (np.array(self._value), self.aval.weak_type))


class ArrayImpl(ConcreteArray):
    """A concrete, immutable array: a read-only buffer on ``device`` plus its abstract value."""

    __slots__ = ("aval", "_value", "_device")

    def __init__(self, value: np.ndarray, weak_type: bool = False, device: Device = CPU_DEVICE):
        if value.flags.writeable:
            value.flags.writeable = False
        self._value = value
        self.aval = ShapedArray(value.shape, value.dtype, weak_type)
        self._device = device

    @property
    def device(self) -> Device:
        return self._device

    def devices(self) -> set[Device]:
        return {self._device}

    def block_until_ready(self) -> ArrayImpl:
        """Wait until the value is computed (CPU arrays are always ready) and return self."""
        return self

    def __repr__(self) -> str:
        body = np.array2string(self._value, separator=", ", prefix="Array(")
        extras = [f"dtype={self.aval.dtype.name}"]
        if self._value.size == 0:
            extras.insert(0, f"shape={self.aval.shape}")
        if self.aval.weak_type:
            extras.append("weak_type=True")
        return f"Array({body}, {', '.join(extras)})"


def _rebuild_array(value: np.ndarray, weak_type: bool) -> ArrayImpl:
    return ArrayImpl(value, weak_type)


def array_from_numpy(value: Any, dtype: Any = None, weak_type: bool = False) -> ArrayImpl:
    """Wrap host data as an ``ArrayImpl`` with a canonical dtype (copies unless already owned)."""
    arr = np.array(value, dtype=None if dtype is None else dtypes.to_dtype(dtype), copy=True)
    if arr.dtype not in dtypes.SUPPORTED_SET:
        raise FbornDtypeError(f"cannot convert data of dtype {arr.dtype} to an fborn array")
    target = dtypes.canonicalize(arr.dtype)
    if target != arr.dtype:
        arr = arr.astype(target)
    return ArrayImpl(arr, weak_type)


def scalar_array(value: bool | int | float, dtype: np.dtype | None = None) -> ArrayImpl:
    """A weakly typed 0-d array for a Python scalar (strong if ``dtype`` is given)."""
    if dtype is None:
        dt = dtypes.python_scalar_dtype(value)
        return ArrayImpl(np.array(value, dtype=dt), weak_type=dt != dtypes.bool_)
    return ArrayImpl(np.array(value, dtype=dtype), weak_type=False)

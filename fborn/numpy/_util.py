"""Shared machinery of ``fborn.numpy``: conversion to arrays, promotion and broadcasting."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl, array_from_numpy
from fborn.core.errors import FbornShapeError
from fborn.primitives import elementwise as _ew
from fborn.primitives import shape as _shape

ArrayLike = Array | np.ndarray | np.generic | bool | int | float


def _contains_array(x: Any) -> bool:
    if isinstance(x, Array):
        return True
    if isinstance(x, (list, tuple)):
        return builtins.any(_contains_array(e) for e in x)
    return False


def typed_of(x: Any) -> tuple[np.dtype, bool]:
    """``(dtype, weak_type)`` of an array-like without converting it."""
    if isinstance(x, Array):
        return x.dtype, x.weak_type
    if isinstance(x, (np.ndarray, np.generic)):
        return dtypes.canonicalize(x.dtype), False
    if isinstance(x, bool):
        return dtypes.bool_, False
    if isinstance(x, (int, float)):
        return dtypes.python_scalar_dtype(x), True
    return asarray(x).dtype, False


def asarray(x: Any, dtype: Any = None) -> Array:
    """Convert ``x`` (Array, numpy array, Python scalar, nested sequences possibly holding
    traced arrays) to an fborn Array, optionally of ``dtype``.

    Python scalars become weakly typed 0-d arrays; lists of Python floats become float32
    (float64 under enable_x64). Raises FbornDtypeError for unsupported data (strings, objects).
    """
    if isinstance(x, Array):
        out = x
    elif isinstance(x, (bool, int, float)):
        dt = dtypes.python_scalar_dtype(x)
        out = ArrayImpl(np.array(x, dtype=dt), weak_type=dt != dtypes.bool_)
    elif isinstance(x, (list, tuple)) and _contains_array(x):
        from fborn.numpy._stack import stack_nested

        out = stack_nested(x)
    else:
        out = array_from_numpy(x)
    if dtype is not None:
        return convert(out, dtypes.canonicalize(dtype), weak=False)
    return out


def convert(x: Array, dtype: np.dtype, weak: bool) -> Array:
    """``x`` as ``dtype`` with weak flag ``weak`` (no-op when both already match)."""
    if x.dtype == dtype and x.weak_type == weak:
        return x
    return _ew.convert_element_type_p.bind(x, new_dtype=dtype, weak_type=weak)


def result_typed(*args: Any) -> tuple[np.dtype, bool]:
    """The promoted ``(dtype, weak_type)`` of array-likes (JAX's lattice, see core.dtypes)."""
    return dtypes.promote_types_weak(*[typed_of(a) for a in args])


def promote_dtypes(*args: Any) -> list[Array]:
    """Convert array-likes to Arrays of their common promoted dtype (shapes unchanged)."""
    dtype, weak = result_typed(*args)
    out = []
    for a in args:
        if isinstance(a, (bool, int, float)):
            out.append(ArrayImpl(np.array(a, dtype=dtype), weak_type=weak))
        else:
            out.append(convert(asarray(a), dtype, weak))
    return out


def inexact_dtype(dtype: np.dtype) -> np.dtype:
    """The float a bool/integer dtype computes in (as jnp): float64 for 64-bit integers,
    float32 otherwise (int32 stays float32 under x64). Floats are kept."""
    if dtypes.is_float(dtype):
        return dtype
    return dtypes.canonicalize(dtypes.float64 if dtype.itemsize == 8 else dtypes.float32)


def promote_dtypes_inexact(*args: Any) -> list[Array]:
    """Arrays of the common dtype made a float by ``inexact_dtype`` (shapes unchanged)."""
    dtype, weak = result_typed(*args)
    dtype = inexact_dtype(dtype)
    return [ArrayImpl(np.array(a, dtype=dtype), weak_type=weak)
            if isinstance(a, (bool, int, float)) else convert(asarray(a), dtype, weak)
            for a in args]


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The numpy broadcast of ``shapes``; raises FbornShapeError naming them if incompatible."""
    ndim = builtins.max((len(s) for s in shapes), default=0)
    result = [1] * ndim
    for shape in shapes:
        for i, d in enumerate(shape, start=ndim - len(shape)):
            if d != 1:
                if result[i] not in (1, d):
                    raise FbornShapeError(
                        "shapes " + ", ".join(str(tuple(s)) for s in shapes)
                        + " cannot be broadcast together"
                    )
                result[i] = d
    return tuple(result)


def broadcast_to(x: Array, shape: Sequence[int]) -> Array:
    """Broadcast ``x`` to ``shape`` with numpy rules (trailing alignment)."""
    shape = tuple(int(d) for d in shape)
    if x.shape == shape:
        return x
    if len(shape) < x.ndim or broadcast_shapes(x.shape, shape) != shape:
        raise FbornShapeError(f"cannot broadcast an array of shape {x.shape} to {shape}")
    lead = len(shape) - x.ndim
    keep = [i for i, d in enumerate(x.shape) if d == shape[lead + i]]
    if len(keep) != x.ndim:  # drop size-1 axes that grow, so broadcast_in_dim maps exactly
        x = _shape.reshape_p.bind(x, new_sizes=tuple(x.shape[i] for i in keep))
    return _shape.broadcast_in_dim_p.bind(
        x, shape=shape, broadcast_dimensions=tuple(lead + i for i in keep)
    )


def promote_args(*args: Any) -> list[Array]:
    """Promote dtypes, then broadcast to the common shape (what every numpy binary op does)."""
    if _all_same_arrays(args):
        return list(args)
    arrays = promote_dtypes(*args)
    shape = broadcast_shapes(*[a.shape for a in arrays])
    return [broadcast_to(a, shape) for a in arrays]


def _all_same_arrays(args: tuple) -> bool:
    """True when every arg is an Array of one aval (the common case: nothing to do)."""
    first = args[0]
    if not isinstance(first, Array):
        return False
    aval = first.aval
    for a in args[1:]:
        if not isinstance(a, Array) or a.aval != aval:
            return False
    return True


def promote_args_inexact(*args: Any) -> list[Array]:
    """``promote_args`` with integer/bool promoted to the default float."""
    if _all_same_arrays(args) and dtypes.is_float(args[0].dtype):
        return list(args)
    arrays = promote_dtypes_inexact(*args)
    shape = broadcast_shapes(*[a.shape for a in arrays])
    return [broadcast_to(a, shape) for a in arrays]


def canonicalize_axis(axis: int, ndim: int) -> int:
    """A non-negative axis; raises FbornShapeError if out of range."""
    axis = int(axis)
    if not -ndim <= axis < builtins.max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise FbornShapeError(f"axis {axis} is out of bounds for an array of rank {ndim}")
    return axis % ndim if ndim else 0


def canonicalize_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """All axes for None, else the normalized axes; duplicates raise FbornShapeError."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = tuple(canonicalize_axis(a, ndim) for a in axes)
    if len(set(out)) != len(out):
        raise FbornShapeError(f"repeated axis in {axis}")
    return out

"""Random-bit primitives: the Threefry-2x32 block cipher (the counter-based hash behind
``fborn.random``, bit-exact with JAX's default PRNG) and ``bitcast_convert_type`` (reinterpret
the bits of an array as another dtype of the same width, e.g. uint32 -> float32).

Both are primitives, not compositions, so that the CPU and WGSL backends can lower them to a
native loop of 32-bit adds, rotations and xors (and a free reinterpretation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornDtypeError, FbornShapeError
from fborn.core.primitive import Primitive
from fborn.core.trace import get_aval
from fborn.primitives import rules
from fborn.primitives import shape as _shape
from fborn.primitives._checks import shapes_str

# Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
# SC 2011): the rotation constants of the two alternating groups of four rounds, and the parity
# constant of the key schedule.
ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
KEY_PARITY = 0x1BD11BDA

threefry2x32_p = Primitive("threefry2x32", multiple_results=True)


@threefry2x32_p.def_abstract_eval
def _threefry2x32_abstract(key0: ShapedArray, key1: ShapedArray, x0: ShapedArray,
                           x1: ShapedArray) -> list[ShapedArray]:
    operands = (key0, key1, x0, x1)
    if any(a.dtype != dtypes.uint32 for a in operands):
        raise FbornDtypeError(f"operands must all be uint32, got {shapes_str(operands)}")
    if x0.shape != x1.shape:
        raise FbornShapeError(f"the counts x0, x1 must have equal shapes, got "
                              f"{shapes_str((x0, x1))}")
    for k in (key0, key1):
        if k.shape not in ((), x0.shape):
            raise FbornShapeError(f"the keys must be scalars or have the counts' shape, got "
                                  f"{shapes_str(operands)}")
    out = ShapedArray(x0.shape, dtypes.uint32)
    return [out, out]


def threefry2x32_numpy(key0: np.ndarray, key1: np.ndarray, x0: np.ndarray, x1: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Threefry-2x32 (20 rounds) of the counter pairs ``(x0, x1)`` under the key
    ``(key0, key1)``, on uint32 numpy arrays with wrap-around arithmetic (in place, so large
    draws allocate little)."""
    k0 = np.asarray(key0, np.uint32)
    k1 = np.asarray(key1, np.uint32)
    schedule = (k0, k1, k0 ^ k1 ^ np.uint32(KEY_PARITY))
    shape = np.broadcast_shapes(np.shape(key0), np.shape(key1), np.shape(x0), np.shape(x1))
    a = np.empty(shape, np.uint32)
    b = np.empty(shape, np.uint32)
    spill = np.empty(shape, np.uint32)
    with np.errstate(over="ignore"):
        np.add(x0, schedule[0], out=a, dtype=np.uint32)
        np.add(x1, schedule[1], out=b, dtype=np.uint32)
        for group in range(5):
            for r in ROTATIONS[group % 2]:
                a += b
                np.left_shift(b, np.uint32(r), out=spill)  # b = rotl(b, r) ^ a
                b >>= np.uint32(32 - r)
                b |= spill
                b ^= a
            a += schedule[(group + 1) % 3]
            b += schedule[(group + 2) % 3]
            b += np.uint32(group + 1)
    return a, b


@threefry2x32_p.def_impl
def _threefry2x32_impl(key0: np.ndarray, key1: np.ndarray, x0: np.ndarray,
                       x1: np.ndarray) -> list[np.ndarray]:
    return list(threefry2x32_numpy(key0, key1, x0, x1))


def _threefry2x32_batch(axis: Any, values: Sequence[Any], dims: Sequence[int | None]
                        ) -> tuple[list[Any], list[int]]:
    """Batch axes to the front; keys that were scalars per example are broadcast over the
    counts' shape (the primitive wants scalar keys or keys shaped like the counts)."""
    values = rules.batch_at_front(values, dims, axis.size)
    shape = max((get_aval(v).shape for v in values), key=len)
    values = [v if get_aval(v).shape == shape else _shape.broadcast_in_dim_p.bind(
        v, shape=shape, broadcast_dimensions=(0,)) for v in values]
    return threefry2x32_p.bind(*values), [0, 0]


rules.zero_jvp(threefry2x32_p)
threefry2x32_p.batch = _threefry2x32_batch

bitcast_convert_type_p = Primitive("bitcast_convert_type")


@bitcast_convert_type_p.def_abstract_eval
def _bitcast_abstract(x: ShapedArray, *, new_dtype: np.dtype) -> ShapedArray:
    if x.dtype == dtypes.bool_ or new_dtype == dtypes.bool_:
        raise FbornDtypeError(f"cannot bitcast {x.str_short()} to {new_dtype}: bool has no "
                              f"defined bit layout")
    if x.dtype.itemsize != new_dtype.itemsize:
        raise FbornDtypeError(f"bitcast needs dtypes of equal width, got {x.str_short()} "
                              f"({8 * x.dtype.itemsize} bits) to {new_dtype} "
                              f"({8 * new_dtype.itemsize} bits)")
    return ShapedArray(x.shape, new_dtype)


bitcast_convert_type_p.def_impl(lambda x, *, new_dtype: x.view(new_dtype))
rules.zero_jvp(bitcast_convert_type_p)
rules.batch_elementwise(bitcast_convert_type_p)

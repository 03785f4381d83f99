"""Dtypes, weak types and JAX-style type promotion.

fborn's dtypes are numpy dtypes (bfloat16 comes from ``ml_dtypes``). Python scalars are *weakly
typed*: they take the dtype of the array they meet instead of widening it, so ``f16_array * 2.0``
stays float16. Promotion follows a lattice (as in JAX); the result of combining two types is
their least upper bound::

    bool -> i* -> u8 -> u16 -> u32 -> u64 -> f*
                  u8 -> i16, u16 -> i32, u32 -> i64
            i* -> i8 -> i16 -> i32 -> i64 -> f*
    f* -> bf16 -> f32 -> f64,  f* -> f16 -> f32

``i*`` and ``f*`` are the weak (Python) int and float. A weak result materializes as the default
int or float (int32/float32, or int64/float64 under ``enable_x64``) and stays weak. Mixing
bfloat16 and float16 gives float32; mixing int64 and uint64 gives the weak float.
Unlike numpy, ``int32 + float16`` is float16 and ``uint8 + int8`` is int16 (numpy agrees on the
latter).
"""

from __future__ import annotations

import functools
from typing import Any

import ml_dtypes
import numpy as np

from fborn.core.config import config
from fborn.core.errors import FbornDtypeError

bool_ = np.dtype(np.bool_)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
uint16 = np.dtype(np.uint16)
uint32 = np.dtype(np.uint32)
uint64 = np.dtype(np.uint64)
float16 = np.dtype(np.float16)
bfloat16 = np.dtype(ml_dtypes.bfloat16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)

SUPPORTED_DTYPES: tuple[np.dtype, ...] = (
    bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
    float16, bfloat16, float32, float64,
)
SUPPORTED_SET = frozenset(SUPPORTED_DTYPES)  # fast membership tests

SHORT_NAMES: dict[np.dtype, str] = {
    bool_: "bool", int8: "i8", int16: "i16", int32: "i32", int64: "i64",
    uint8: "u8", uint16: "u16", uint32: "u32", uint64: "u64",
    float16: "f16", bfloat16: "bf16", float32: "f32", float64: "f64",
}

_TO_32 = {int64: int32, uint64: uint32, float64: float32}


def is_float(dtype: np.dtype) -> bool:
    """True for float16/bfloat16/float32/float64."""
    return dtype.kind == "f" or dtype == bfloat16


def is_int(dtype: np.dtype) -> bool:
    """True for signed and unsigned integers (not bool)."""
    return dtype.kind in "iu"


def is_signed(dtype: np.dtype) -> bool:
    return dtype.kind == "i" or is_float(dtype)


def default_int() -> np.dtype:
    return int64 if config.enable_x64 else int32


def default_float() -> np.dtype:
    return float64 if config.enable_x64 else float32


def canonicalize(dtype: Any) -> np.dtype:
    """The dtype fborn stores for ``dtype``: 64-bit types become 32-bit unless x64 is enabled.

    Raises FbornDtypeError for dtypes fborn does not support (complex, strings, objects...).
    """
    dt = dtype if isinstance(dtype, np.dtype) and dtype in SUPPORTED_SET else to_dtype(dtype)
    if not config.enable_x64:
        return _TO_32.get(dt, dt)
    return dt


@functools.lru_cache(maxsize=256)
def _to_dtype_cached(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in SUPPORTED_SET:
        raise FbornDtypeError(
            f"dtype {dt} is not supported by fborn; supported: "
            + ", ".join(str(d) for d in SUPPORTED_DTYPES)
        )
    return dt


def to_dtype(dtype: Any) -> np.dtype:
    """Turn a dtype-like (np.dtype, type, name, fborn scalar type) into a supported np.dtype."""
    if isinstance(dtype, np.dtype) and dtype in SUPPORTED_SET:
        return dtype
    if dtype is float:
        return default_float()
    if dtype is int:
        return default_int()
    if dtype is bool:
        return bool_
    try:
        return _to_dtype_cached(dtype)
    except TypeError:
        return _to_dtype_cached(np.dtype(dtype))


# --- the promotion lattice ---------------------------------------------------------------------
# Nodes are dtypes or the weak markers "i*" and "f*".
_WEAK_INT = "i*"
_WEAK_FLOAT = "f*"
_EDGES: dict[Any, tuple[Any, ...]] = {
    bool_: (_WEAK_INT,),
    _WEAK_INT: (uint8, int8),
    uint8: (uint16, int16),
    uint16: (uint32, int32),
    uint32: (uint64, int64),
    uint64: (_WEAK_FLOAT,),
    int8: (int16,),
    int16: (int32,),
    int32: (int64,),
    int64: (_WEAK_FLOAT,),
    _WEAK_FLOAT: (bfloat16, float16),
    bfloat16: (float32,),
    float16: (float32,),
    float32: (float64,),
    float64: (),
}


def _upper_bounds() -> dict[Any, frozenset]:
    bounds: dict[Any, frozenset] = {}

    def visit(node: Any) -> frozenset:
        if node not in bounds:
            found = {node}
            for parent in _EDGES[node]:
                found |= visit(parent)
            bounds[node] = frozenset(found)
        return bounds[node]

    for node in _EDGES:
        visit(node)
    return bounds


_UPPER = _upper_bounds()


def _lattice_node(dtype: np.dtype, weak: bool) -> Any:
    if not weak:
        return dtype
    if dtype == bool_:
        return bool_
    return _WEAK_FLOAT if is_float(dtype) else _WEAK_INT


@functools.lru_cache(maxsize=1024)
def _join(a: Any, b: Any) -> Any:
    common = _UPPER[a] & _UPPER[b]
    for node in common:
        if _UPPER[node] == common:
            return node
    raise AssertionError(f"promotion lattice has no least upper bound for {a}, {b}")


def _materialize(node: Any) -> tuple[np.dtype, bool]:
    if node == _WEAK_INT:
        return default_int(), True
    if node == _WEAK_FLOAT:
        return default_float(), True
    return node, False


def promote_types_weak(*typed: tuple[np.dtype, bool]) -> tuple[np.dtype, bool]:
    """Promote ``(dtype, weak_type)`` pairs; returns the result dtype and whether it is weak."""
    return _promote_cached(typed, config.enable_x64)


@functools.lru_cache(maxsize=4096)
def _promote_cached(typed: tuple[tuple[np.dtype, bool], ...], x64: bool
                    ) -> tuple[np.dtype, bool]:
    node = _lattice_node(canonicalize(typed[0][0]), typed[0][1])
    for dtype, weak in typed[1:]:
        node = _join(node, _lattice_node(canonicalize(dtype), weak))
    dtype, weak = _materialize(node)
    return canonicalize(dtype), weak


def promote_types(a: Any, b: Any) -> np.dtype:
    """The dtype that both ``a`` and ``b`` convert to (strong types; as ``jnp.promote_types``)."""
    node = _join(_lattice_node(to_dtype(a), False), _lattice_node(to_dtype(b), False))
    dtype, _ = _materialize(node)
    return dtype


def python_scalar_dtype(value: Any) -> np.dtype:
    """The (weak) dtype of a Python scalar: bool, default int or default float."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return default_int()
    if isinstance(value, float):
        return default_float()
    raise FbornDtypeError(f"{type(value).__name__} is not a Python scalar fborn supports")


class finfo(ml_dtypes.finfo):  # noqa: N801 - numpy name
    """Machine limits of a float dtype (numpy's finfo, bfloat16 included)."""

    def __new__(cls, dtype: Any):
        return ml_dtypes.finfo(to_dtype(dtype))


class iinfo(ml_dtypes.iinfo):  # noqa: N801 - numpy name
    """Machine limits of an integer dtype."""

    def __new__(cls, dtype: Any):
        return ml_dtypes.iinfo(to_dtype(dtype))

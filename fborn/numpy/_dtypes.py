"""Dtype names and dtype utilities of ``fborn.numpy`` (``fnp.float32(3)`` makes an array)."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from fborn.core import dtypes as _dt
from fborn.core.array import Array
from fborn.numpy._util import asarray, typed_of

__all__ = [
    "bfloat16", "bool_", "can_cast", "dtype", "e", "finfo", "float16", "float32", "float64",
    "floating", "generic", "iinfo", "inexact", "inf", "int16", "int32", "int64", "int8",
    "integer", "isdtype", "issubdtype", "nan", "newaxis", "number", "pi", "promote_types",
    "result_type", "signedinteger", "uint16", "uint32", "uint64", "uint8", "unsignedinteger",
    "euler_gamma",
]


class ScalarType:
    """A dtype name usable as a constructor: ``fnp.float32(1.5)`` is a 0-d float32 Array,
    and ``np.dtype(fnp.float32)`` is ``float32``."""

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype
        self.__name__ = dtype.name

    def __call__(self, x: Any) -> Array:
        return asarray(x, dtype=self.dtype)

    def __eq__(self, other: object) -> bool:
        try:
            return self.dtype == np.dtype(other)  # type: ignore[arg-type]
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.dtype)

    def __repr__(self) -> str:
        return f"fborn.numpy.{self.__name__}"


bool_ = ScalarType(_dt.bool_)
int8 = ScalarType(_dt.int8)
int16 = ScalarType(_dt.int16)
int32 = ScalarType(_dt.int32)
int64 = ScalarType(_dt.int64)
uint8 = ScalarType(_dt.uint8)
uint16 = ScalarType(_dt.uint16)
uint32 = ScalarType(_dt.uint32)
uint64 = ScalarType(_dt.uint64)
float16 = ScalarType(_dt.float16)
bfloat16 = ScalarType(_dt.bfloat16)
float32 = ScalarType(_dt.float32)
float64 = ScalarType(_dt.float64)

generic = np.generic
number = np.number
inexact = np.inexact
floating = np.floating
integer = np.integer
signedinteger = np.signedinteger
unsignedinteger = np.unsignedinteger

newaxis = None
pi = np.pi
e = np.e
euler_gamma = np.euler_gamma
inf = np.inf
nan = np.nan


def dtype(x: Any) -> np.dtype:
    """The dtype named by ``x`` (a name, type, ScalarType, Array or np.dtype)."""
    return _dt.to_dtype(x.dtype if isinstance(x, Array) else x)


def result_type(*args: Any) -> np.dtype:
    """The dtype numpy functions return for these operands (JAX's promotion lattice)."""
    typed = [typed_of(a) if isinstance(a, (Array, bool, int, float, np.ndarray, np.generic))
             else (dtype(a), False) for a in args]
    return _dt.promote_types_weak(*typed)[0]


def promote_types(a: Any, b: Any) -> np.dtype:
    """The promoted dtype of two dtypes (strong types)."""
    return _dt.promote_types(dtype(a), dtype(b))


def finfo(x: Any) -> Any:
    """Float limits of a dtype (bfloat16 included)."""
    return ml_dtypes.finfo(dtype(x))


def iinfo(x: Any) -> Any:
    """Integer limits of a dtype."""
    return ml_dtypes.iinfo(dtype(x))


def issubdtype(arg1: Any, arg2: Any) -> bool:
    """numpy's issubdtype, with bfloat16 counted as a floating type."""
    a = dtype(arg1) if not isinstance(arg1, type) or not issubclass(arg1, np.generic) else arg1
    b = arg2.dtype if isinstance(arg2, ScalarType) else arg2
    if isinstance(a, np.dtype) and a == _dt.bfloat16:
        return b in (np.floating, np.inexact, np.number, np.generic) or (
            isinstance(b, np.dtype) and b == _dt.bfloat16)
    return bool(np.issubdtype(a, b))


def isdtype(x: Any, kind: Any) -> bool:
    """Array-API dtype kind test: 'bool', 'signed integer', 'unsigned integer', 'integral',
    'real floating', 'numeric', or a dtype / tuple of them."""
    dt = dtype(x)
    if isinstance(kind, tuple):
        return any(isdtype(dt, k) for k in kind)
    tests = {
        "bool": lambda: dt == _dt.bool_,
        "signed integer": lambda: dt.kind == "i",
        "unsigned integer": lambda: dt.kind == "u",
        "integral": lambda: _dt.is_int(dt),
        "real floating": lambda: _dt.is_float(dt),
        "numeric": lambda: dt != _dt.bool_,
    }
    if isinstance(kind, str):
        if kind not in tests:
            raise ValueError(f"unknown dtype kind {kind!r}")
        return tests[kind]()
    return dt == dtype(kind)


def can_cast(from_: Any, to: Any, casting: str = "safe") -> bool:
    """Whether ``from_`` converts to ``to`` under numpy's casting rule."""
    return bool(np.can_cast(dtype(from_), dtype(to), casting=casting))

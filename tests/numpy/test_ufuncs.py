"""``fborn.numpy`` elementwise functions: values against numpy, result dtypes against tables
recorded from JAX, errors, and tracing with ``make_jaxpr``/``eval_jaxpr``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fborn
import fborn.numpy as fnp
from fborn.core.errors import FbornDtypeError, FbornShapeError

DTYPES = ("bool", "int8", "int32", "uint8", "uint32", "float16", "bfloat16", "float32")
X64_DTYPES = ("bool", "int32", "int64", "uint32", "uint64", "float32", "float64")
SCALARS = (True, 2, 2.5)
CODES = {
    "b": np.bool_, "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
    "u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64, "f16": np.float16,
    "bf16": ml_dtypes.bfloat16, "f32": np.float32, "f64": np.float64,
}
ERRORS = {"T": TypeError, "V": ValueError, "N": NotImplementedError}

# Result dtypes of jax.numpy, recorded with jax 0.10.2 (jax.eval_shape on ShapeDtypeStructs of
# shape (2,)). "f32" is a strong float32, "f32w" a weakly typed one, "!T" a TypeError ("!V"
# ValueError). Unary rows: one entry per DTYPES, then one per Python scalar in SCALARS. Binary
# rows: DTYPES x DTYPES (first operand outer), then DTYPES x SCALARS (scalar second).
UNARY_DTYPES = {
    "abs": "b i8 i32 u8 u32 f16 bf16 f32 b i32w f32w",
    "absolute": "b i8 i32 u8 u32 f16 bf16 f32 b i32w f32w",
    "negative": "!T i8 i32 u8 u32 f16 bf16 f32 !T i32w f32w",
    "positive": "b i8 i32 u8 u32 f16 bf16 f32 b i32w f32w",
    "sign": "!T i8 i32 u8 u32 f16 bf16 f32 !T i32w f32w",
    "sqrt": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "cbrt": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "square": "i32 i8 i32 u8 u32 f16 bf16 f32 i32 i32w f32w",
    "reciprocal": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "exp": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "exp2": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "expm1": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "log": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "log2": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32",
    "log10": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32",
    "log1p": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "sin": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "cos": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "tan": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "arcsin": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "arccos": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "arctan": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "sinh": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "cosh": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "tanh": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "arcsinh": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "arccosh": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "arctanh": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "floor": "b i8 i32 u8 u32 f16 bf16 f32 b i32w f32w",
    "ceil": "b i8 i32 u8 u32 f16 bf16 f32 b i32w f32w",
    "round": "!V i8 i32 u8 u32 f16 bf16 f32 !V i32w f32w",
    "rint": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32w",
    "trunc": "b i8 i32 u8 u32 f16 bf16 f32 b i32w f32w",
    "deg2rad": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "rad2deg": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "sinc": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32w f32w",
    "isnan": "b b b b b b b b b bw bw",
    "isinf": "b b b b b b b b b b b",
    "isfinite": "b b b b b b b b b b bw",
    "isneginf": "b b b b b b b b b b b",
    "isposinf": "b b b b b b b b b b b",
    "nan_to_num": "b i8 i32 u8 u32 f16 bf16 f32 b i32w f32",
    "signbit": "b b b b b b b b b b b",
    "logical_not": "b b b b b b b b b bw bw",
    "bitwise_not": "b i8 i32 u8 u32 !T !T !T b i32w !T",
    "invert": "b i8 i32 u8 u32 !T !T !T b i32w !T",
    "conjugate": "b i8 i32 u8 u32 f16 bf16 f32 b i32w f32w",
    "real": "b i8 i32 u8 u32 f16 bf16 f32 b i32w f32w",
    "imag": "b i8 i32 u8 u32 f16 bf16 f32 b i32w f32w",
}
BINARY_DTYPES = {
    "add": (
        "b i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 i32 f16 "
        "bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 f32 f16 f16 f16 "
        "f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 f32 f32 f32 f32 "
        "f32 b i32w f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w u32 u32 f32w f16 f16 f16 bf16 bf16 "
        "bf16 f32 f32 f32"
    ),
    "subtract": (
        "!T i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 i32 "
        "f16 bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 f32 f16 "
        "f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 f32 "
        "f32 f32 f32 f32 !T i32w f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w u32 u32 f32w f16 "
        "f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "multiply": (
        "b i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 i32 "
        "f16 bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 f32 f16 "
        "f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 f32 "
        "f32 f32 f32 f32 b i32w f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w u32 u32 f32w f16 "
        "f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "divide": (
        "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 "
        "f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 "
        "f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 "
        "f32 f32 f32 f32 f32 f32 f32w f32w f32 f32 f32w f32 f32 f32w f32 f32 f32w f32 f32 "
        "f32w f16 f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "true_divide": (
        "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 "
        "f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 "
        "bf16 f32 f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 "
        "f32 f32 f32 f32 f32 f32 f32 f32 f32 f32w f32w f32 f32 f32w f32 f32 f32w f32 "
        "f32 f32w f32 f32 f32w f16 f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "floor_divide": (
        "i32 i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 "
        "i32 f16 bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 "
        "f32 f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 "
        "f32 f32 f32 f32 f32 f32 f32 i32 i32w f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w "
        "u32 u32 f32w f16 f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "mod": (
        "i32 i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 i32 f16 "
        "bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 f32 f16 f16 f16 "
        "f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 f32 f32 f32 f32 "
        "f32 i32 i32w f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w u32 u32 f32w f16 f16 f16 bf16 "
        "bf16 bf16 f32 f32 f32"
    ),
    "remainder": (
        "i32 i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 "
        "i32 f16 bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 f32 "
        "f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 "
        "f32 f32 f32 f32 f32 f32 i32 i32w f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w u32 u32 "
        "f32w f16 f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "fmod": (
        "i32 i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 i32 f16 "
        "bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 f32 f16 f16 f16 "
        "f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 f32 f32 f32 f32 "
        "f32 i32 i32w f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w u32 u32 f32w f16 f16 f16 bf16 "
        "bf16 bf16 f32 f32 f32"
    ),
    "power": (
        "i32 i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 i32 "
        "f16 bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 f32 f16 f16 "
        "f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 f32 f32 "
        "f32 f32 f32 i32 i32 f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w u32 u32 f32w f16 f16 f16 "
        "bf16 bf16 bf16 f32 f32 f32"
    ),
    "float_power": (
        "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 "
        "f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 "
        "bf16 f32 f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 "
        "f32 f32 f32 f32 f32 f32 f32 f32 f32 f32w f32w f32 f32 f32w f32 f32 f32w f32 "
        "f32 f32w f32 f32 f32w f16 f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "maximum": (
        "b i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 i32 "
        "f16 bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 f32 f16 "
        "f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 f32 "
        "f32 f32 f32 f32 b i32w f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w u32 u32 f32w f16 "
        "f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "minimum": (
        "b i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 i32 "
        "f16 bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 f32 f16 "
        "f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 f32 "
        "f32 f32 f32 f32 b i32w f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w u32 u32 f32w f16 "
        "f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "fmax": (
        "b i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 i32 f16 "
        "bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 f32 f16 f16 f16 "
        "f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 f32 f32 f32 f32 "
        "f32 b i32w f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w u32 u32 f32w f16 f16 f16 bf16 bf16 "
        "bf16 f32 f32 f32"
    ),
    "fmin": (
        "b i8 i32 u8 u32 f16 bf16 f32 i8 i8 i32 i16 i32 f16 bf16 f32 i32 i32 i32 i32 i32 f16 "
        "bf16 f32 u8 i16 i32 u8 u32 f16 bf16 f32 u32 i32 i32 u32 u32 f16 bf16 f32 f16 f16 f16 "
        "f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 f32 f32 f32 f32 "
        "f32 b i32w f32w i8 i8 f32w i32 i32 f32w u8 u8 f32w u32 u32 f32w f16 f16 f16 bf16 bf16 "
        "bf16 f32 f32 f32"
    ),
    "hypot": (
        "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 "
        "f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 "
        "f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 "
        "f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f16 "
        "f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "logaddexp": (
        "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 "
        "f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 "
        "bf16 f32 f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 "
        "f32 f32 f32 f32 f32 f32 f32 f32 f32 f32w f32w f32 f32 f32w f32 f32 f32w f32 f32 "
        "f32w f32 f32 f32w f16 f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "logaddexp2": (
        "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 "
        "f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 "
        "bf16 f32 f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 "
        "f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 "
        "f32 f32 f32 f16 f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "arctan2": (
        "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 "
        "f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 "
        "f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 f32 "
        "f32 f32 f32 f32 f32 f32 f32w f32w f32 f32 f32w f32 f32 f32w f32 f32 f32w f32 f32 "
        "f32w f16 f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "heaviside": (
        "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 "
        "f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 "
        "bf16 f32 f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 "
        "f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 "
        "f32 f32 f32 f16 f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "copysign": (
        "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 "
        "f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 "
        "f32 f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f32 f32 "
        "f32 f32 f32 f32 f32 f32 f32 f32w f32w f32 f32 f32w f32 f32 f32w f32 f32 f32w f32 "
        "f32 f32w f16 f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "nextafter": (
        "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 "
        "f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32 f32 f32 f32 f16 "
        "bf16 f32 f16 f16 f16 f16 f16 f16 f32 f32 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 "
        "f32 f32 f32 f32 f32 f32 f32 f32 f32 f32w f32w f32 f32 f32w f32 f32 f32w f32 f32 "
        "f32w f32 f32 f32w f16 f16 f16 bf16 bf16 bf16 f32 f32 f32"
    ),
    "equal": (
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b b b b b b b b b b b b b b bw bw b b bw b b bw b b bw b b bw b b "
        "b b b b b b b"
    ),
    "not_equal": (
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b b b b b b b b b b b b b b b b bw bw b b bw b b bw b b bw b b "
        "bw b b b b b b b b b"
    ),
    "less": (
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b b b b b b b b b b b b b bw bw b b bw b b bw b b bw b b bw b b b b "
        "b b b b b"
    ),
    "less_equal": (
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b b b b b b b b b b b b b b b b bw bw b b bw b b bw b b bw b "
        "b bw b b b b b b b b b"
    ),
    "greater": (
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b b b b b b b b b b b b b b b bw bw b b bw b b bw b b bw b b bw "
        "b b b b b b b b b"
    ),
    "greater_equal": (
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b bw bw b b bw b b bw b "
        "b bw b b bw b b b b b b b b b"
    ),
    "logical_and": (
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b"
    ),
    "logical_or": (
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b"
    ),
    "logical_xor": (
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b"
    ),
    "bitwise_and": (
        "b i8 i32 u8 u32 !T !T !T i8 i8 i32 i16 i32 !T !T !T i32 i32 i32 i32 i32 !T !T "
        "!T u8 i16 i32 u8 u32 !T !T !T u32 i32 i32 u32 u32 !T !T !T !T !T !T !T !T !T "
        "!T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T b i32w !T i8 i8 !T i32 "
        "i32 !T u8 u8 !T u32 u32 !T !T !T !T !T !T !T !T !T !T"
    ),
    "bitwise_or": (
        "b i8 i32 u8 u32 !T !T !T i8 i8 i32 i16 i32 !T !T !T i32 i32 i32 i32 i32 !T !T "
        "!T u8 i16 i32 u8 u32 !T !T !T u32 i32 i32 u32 u32 !T !T !T !T !T !T !T !T !T !T "
        "!T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T b i32w !T i8 i8 !T i32 i32 "
        "!T u8 u8 !T u32 u32 !T !T !T !T !T !T !T !T !T !T"
    ),
    "bitwise_xor": (
        "b i8 i32 u8 u32 !T !T !T i8 i8 i32 i16 i32 !T !T !T i32 i32 i32 i32 i32 !T !T "
        "!T u8 i16 i32 u8 u32 !T !T !T u32 i32 i32 u32 u32 !T !T !T !T !T !T !T !T !T "
        "!T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T b i32w !T i8 i8 !T i32 "
        "i32 !T u8 u8 !T u32 u32 !T !T !T !T !T !T !T !T !T !T"
    ),
    "left_shift": (
        "i32 i8 i32 u8 u32 !T !T !T i8 i8 i32 i16 i32 !T !T !T i32 i32 i32 i32 i32 !T !T "
        "!T u8 i16 i32 u8 u32 !T !T !T u32 i32 i32 u32 u32 !T !T !T !T !T !T !T !T !T !T "
        "!T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T i32 i32w !T i8 i8 !T i32 i32 "
        "!T u8 u8 !T u32 u32 !T !T !T !T !T !T !T !T !T !T"
    ),
    "right_shift": (
        "i32 i8 i32 u8 u32 !T !T !T i8 i8 i32 i16 i32 !T !T !T i32 i32 i32 i32 i32 !T "
        "!T !T u8 i16 i32 u8 u32 !T !T !T u32 i32 i32 u32 u32 !T !T !T !T !T !T !T !T "
        "!T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T !T i32 i32w !T i8 i8 !T "
        "i32 i32 !T u8 u8 !T u32 u32 !T !T !T !T !T !T !T !T !T !T"
    ),
    "isclose": (
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
        "b b b b b b"
    ),
    "ldexp": (
        "f32 f32 f32 f32 f32 !V !V !V f32 f32 f32 f32 f32 !V !V !V f32 f32 f32 f32 f32 !V !V "
        "!V f32 f32 f32 f32 f32 !V !V !V f32 f32 f32 f32 f32 !V !V !V f16 f16 f16 f16 f16 !V "
        "!V !V bf16 bf16 bf16 bf16 bf16 !V !V !V f32 f32 f32 f32 f32 !V !V !V f32 f32 !V f32 "
        "f32 !V f32 f32 !V f32 f32 !V f32 f32 !V f16 f16 !V bf16 bf16 !V f32 f32 !V"
    ),
}
# The same under enable_x64, over X64_DTYPES, for a subset of the functions.
X64_UNARY_DTYPES = {
    "abs": "b i32 i64 u32 u64 f32 f64 b i64w f64w",
    "square": "i32 i32 i64 u32 u64 f32 f64 i32 i64w f64w",
    "reciprocal": "f32 f32 f64 f32 f64 f32 f64 f32 f64w f64w",
    "sin": "f32 f32 f64 f32 f64 f32 f64 f32 f64w f64w",
    "floor": "b i32 i64 u32 u64 f32 f64 b i64w f64w",
    "round": "!V i32 i64 u32 u64 f32 f64 !V i64w f64w",
    "isnan": "b b b b b b b b bw bw",
}
X64_BINARY_DTYPES = {
    "add": (
        "b i32 i64 u32 u64 f32 f64 i32 i32 i64 i64 f64w f32 f64 i64 i64 i64 i64 f64w f32 f64 "
        "u32 i64 i64 u32 u64 f32 f64 u64 f64w f64w u64 u64 f32 f64 f32 f32 f32 f32 f32 f32 f64 "
        "f64 f64 f64 f64 f64 f64 f64 b i64w f64w i32 i32 f64w i64 i64 f64w u32 u32 f64w u64 u64 "
        "f64w f32 f32 f32 f64 f64 f64"
    ),
    "divide": (
        "f32 f32 f64 f32 f64 f32 f64 f32 f32 f64 f64 f64w f32 f64 f64 f64 f64 f64 f64w f32 "
        "f64 f32 f64 f64 f32 f64 f32 f64 f64 f64w f64w f64 f64 f32 f64 f32 f32 f32 f32 f32 "
        "f32 f64 f64 f64 f64 f64 f64 f64 f64 f32 f64w f64w f32 f32 f64w f64 f64 f64w f32 f32 "
        "f64w f64 f64 f64w f32 f32 f32 f64 f64 f64"
    ),
    "floor_divide": (
        "i32 i32 i64 u32 u64 f32 f64 i32 i32 i64 i64 f64w f32 f64 i64 i64 i64 i64 f64w "
        "f32 f64 u32 i64 i64 u32 u64 f32 f64 u64 f64w f64w u64 u64 f32 f64 f32 f32 f32 "
        "f32 f32 f32 f64 f64 f64 f64 f64 f64 f64 f64 i32 i64w f64w i32 i32 f64w i64 "
        "i64 f64w u32 u32 f64w u64 u64 f64w f32 f32 f32 f64 f64 f64"
    ),
    "power": (
        "i32 i32 i64 u32 u64 f32 f64 i32 i32 i64 i64 f64w f32 f64 i64 i64 i64 i64 f64w f32 "
        "f64 u32 i64 i64 u32 u64 f32 f64 u64 f64w f64w u64 u64 f32 f64 f32 f32 f32 f32 f32 "
        "f32 f64 f64 f64 f64 f64 f64 f64 f64 i32 i32 f64w i32 i32 f64w i64 i64 f64w u32 u32 "
        "f64w u64 u64 f64w f32 f32 f32 f64 f64 f64"
    ),
    "equal": (
        "b b b b b b b b b b b bw b b b b b b bw b b b b b b b b b b bw bw b b b b b b b b b "
        "b b b b b b b b b b bw bw b b bw b b bw b b bw b b bw b b b b b b"
    ),
    "left_shift": (
        "i32 i32 i64 u32 u64 !T !T i32 i32 i64 i64 !T !T !T i64 i64 i64 i64 !T !T !T u32 "
        "i64 i64 u32 u64 !T !T u64 !T !T u64 u64 !T !T !T !T !T !T !T !T !T !T !T !T !T "
        "!T !T !T i32 i64w !T i32 i32 !T i64 i64 !T u32 u32 !T u64 u64 !T !T !T !T !T !T "
        "!T"
    ),
    "ldexp": (
        "f32 f32 f32 f32 f32 !V !V f32 f32 f32 f32 f32 !V !V f64 f64 f64 f64 f64 !V !V f32 "
        "f32 f32 f32 f32 !V !V f64 f64 f64 f64 f64 !V !V f32 f32 f32 f32 f32 !V !V f64 f64 "
        "f64 f64 f64 !V !V f32 f32 !V f32 f32 !V f64 f64 !V f32 f32 !V f64 f64 !V f32 f32 !V "
        "f64 f64 !V"
    ),
}

# Where a Python scalar meets these, JAX's result is sometimes strongly typed where its promotion
# rule says weak (an artifact of how they are written); fborn follows the rule, so their scalar
# columns are checked for dtype only.
WEAK_QUIRKS = {"log2", "log10", "rint", "nan_to_num", "hypot", "logaddexp2", "heaviside"}

SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -0.0)
TOLERANCES = {  # (rtol, atol) by result dtype
    np.dtype(np.float16): (5e-3, 1e-3),
    np.dtype(ml_dtypes.bfloat16): (3e-2, 1e-2),
    np.dtype(np.float32): (1e-5, 1e-6),
    np.dtype(np.float64): (1e-12, 1e-14),
}

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
BROADCAST_PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                    min_side=0, max_side=4)
SEEDS = st.integers(0, 2**32 - 1)
MIXED_PAIRS = st.sampled_from([
    ("int8", "uint8"), ("int32", "float16"), ("bool", "float32"), ("uint32", "int32"),
    ("bfloat16", "float16"), ("uint8", "bfloat16"), ("float32", "int8"), ("bool", "int8"),
])


def decode(code: str) -> tuple[np.dtype, bool] | type[Exception]:
    """A table entry as ``(dtype, weak_type)``, or the exception class it stands for."""
    if code.startswith("!"):
        return ERRORS[code[1]]
    weak = code.endswith("w")
    return np.dtype(CODES[code[:-1] if weak else code]), weak


def values(rng: np.random.Generator, dtype: Any, shape: tuple[int, ...],
           kind: str = "wide") -> np.ndarray:
    """Random test data of ``dtype``.

    kinds: "wide" (floats in [-4, 4], integers over their whole range), "nice" (multiples of
    1/4 in [-8, 8) and small integers, so arithmetic is exact), "exponent" (integers in
    [0, 15], floats in [-3, 3]), "shift" (integers in [0, bits + 2]). Floats include NaN,
    +-inf and +-0 about one time in ten.
    """
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = {"wide": (info.min, info.max), "nice": (-8, 8), "exponent": (0, 15),
                  "shift": (0, 8 * dt.itemsize + 2)}[kind]
        return rng.integers(max(lo, info.min), hi, size=shape, endpoint=True, dtype=dt)
    if kind == "nice":
        data = rng.integers(-32, 32, size=shape) / 4
    else:
        span = 3.0 if kind == "exponent" else 4.0
        data = rng.uniform(-span, span, size=shape)
    special = rng.random(shape) < 0.1
    data = np.where(special, rng.choice(SPECIALS, size=shape), data)
    return np.asarray(data).astype(dt)


def as_input(x: Any) -> Any:
    """``x`` ready for fborn: bfloat16 numpy arrays go through float32, since
    ``array_from_numpy`` refuses numpy's kind-'V' bfloat16 dtype (a core limitation)."""
    if isinstance(x, np.ndarray) and x.dtype == ml_dtypes.bfloat16:
        return fnp.asarray(x.astype(np.float32), dtype=fnp.bfloat16)
    return x


def assert_matches(out: Any, expected: np.ndarray, dtype: np.dtype) -> None:
    """``out`` has ``expected``'s values (rounded to ``dtype``) and shape, exactly for
    integers and bools, within the dtype's tolerance for floats."""
    got = np.asarray(out)
    assert got.dtype == dtype
    want = np.asarray(expected).astype(dtype)
    assert got.shape == want.shape
    if dtype in TOLERANCES:
        rtol, atol = TOLERANCES[dtype]
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                                   atol=atol)
    else:
        np.testing.assert_array_equal(got, want)


def sds(dtype: Any) -> fborn.ShapeDtypeStruct:
    return fborn.ShapeDtypeStruct((2,), dtype)


def check_result_type(fn: Callable[..., Any], args: tuple, code: str,
                      check_weak: bool = True) -> None:
    """Trace ``fn(*args)`` with eval_shape and compare its result type with a table entry."""
    expected = decode(code)
    if isinstance(expected, type):
        with pytest.raises(expected):
            fborn.eval_shape(fn, *args)
        return
    out = fborn.eval_shape(fn, *args)
    out = out[0] if isinstance(out, tuple) else out
    assert out.dtype == expected[0], (args, out.dtype, expected)
    if check_weak and out.dtype != np.bool_:
        assert out.weak_type == expected[1], (args, out.weak_type, expected)


def check_unary_table(table: dict[str, str], dtype_names: tuple[str, ...], name: str) -> None:
    fn = getattr(fnp, name)
    codes = table[name].split()
    assert len(codes) == len(dtype_names) + len(SCALARS)
    for dtype, code in zip(dtype_names, codes, strict=False):
        check_result_type(fn, (sds(dtype),), code)
    for scalar, code in zip(SCALARS, codes[len(dtype_names):], strict=True):
        check_result_type(lambda s=scalar: fn(s), (), code, check_weak=name not in WEAK_QUIRKS)


def check_binary_table(table: dict[str, str], dtype_names: tuple[str, ...], name: str) -> None:
    fn = getattr(fnp, name)
    codes = iter(table[name].split())
    for a in dtype_names:
        for b in dtype_names:
            check_result_type(fn, (sds(a), sds(b)), next(codes))
    for a in dtype_names:
        for scalar in SCALARS:
            check_result_type(lambda x, s=scalar: fn(x, s), (sds(a),), next(codes),
                              check_weak=name not in WEAK_QUIRKS)
    assert next(codes, None) is None


@pytest.mark.parametrize("name", sorted(UNARY_DTYPES))
def test_unary_result_types_match_jax(name: str) -> None:
    check_unary_table(UNARY_DTYPES, DTYPES, name)


@pytest.mark.parametrize("name", sorted(BINARY_DTYPES))
def test_binary_result_types_match_jax(name: str) -> None:
    check_binary_table(BINARY_DTYPES, DTYPES, name)


def test_result_types_match_jax_under_x64() -> None:
    with fborn.config.override(enable_x64=True):
        for name in X64_UNARY_DTYPES:
            check_unary_table(X64_UNARY_DTYPES, X64_DTYPES, name)
        for name in X64_BINARY_DTYPES:
            check_binary_table(X64_BINARY_DTYPES, X64_DTYPES, name)


# --- values against numpy ------------------------------------------------------------------------

def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _nan_to_num(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind != "f" and dtype != ml_dtypes.bfloat16:
        return x
    info = ml_dtypes.finfo(dtype)
    return np.nan_to_num(x.astype(np.float64), posinf=float(info.max), neginf=float(info.min))


# name -> numpy reference (on inputs converted to the result dtype, floats as float64)
UNARY_REFS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs, "negative": np.negative, "positive": _identity,
    "sign": np.sign, "sqrt": np.sqrt, "cbrt": np.cbrt, "square": np.square,
    "reciprocal": np.reciprocal, "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1,
    "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "arcsinh": np.arcsinh,
    "arccosh": np.arccosh, "arctanh": np.arctanh, "floor": np.floor, "ceil": np.ceil,
    "round": np.round, "rint": np.rint, "trunc": np.trunc, "fix": np.trunc,
    "deg2rad": np.deg2rad, "rad2deg": np.rad2deg, "sinc": np.sinc, "conjugate": _identity,
    "real": _identity, "imag": np.zeros_like,
}
# name -> numpy reference on the *input* dtype (bool results)
PREDICATE_REFS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite, "isneginf": np.isneginf,
    "isposinf": np.isposinf, "signbit": np.signbit, "logical_not": np.logical_not,
}


def _ref_input(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``x`` as the computation dtype, held as float64 for floats (exact)."""
    converted = x.astype(dtype)
    return converted.astype(np.float64) if dtype in TOLERANCES else converted


@pytest.mark.parametrize("name", sorted(UNARY_REFS))
@settings(max_examples=4, deadline=None)
@given(shape=SHAPES, seed=SEEDS)
def test_unary_values_match_numpy(name: str, shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    fn = getattr(fnp, name)
    table_name = "trunc" if name == "fix" else name
    for dtype, code in zip(DTYPES, UNARY_DTYPES[table_name].split(), strict=False):
        expected = decode(code)
        if isinstance(expected, type):
            continue
        x = values(rng, dtype, shape)
        with np.errstate(all="ignore"):
            ref = UNARY_REFS[name](_ref_input(x, expected[0]))
        assert_matches(fn(as_input(x)), ref, expected[0])


@pytest.mark.parametrize("name", sorted(PREDICATE_REFS))
@settings(max_examples=4, deadline=None)
@given(shape=SHAPES, seed=SEEDS)
def test_predicates_match_numpy(name: str, shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    for dtype in DTYPES:
        x = values(rng, dtype, shape)
        ref_x = x.astype(np.float64) if np.dtype(dtype) in TOLERANCES else x
        want = PREDICATE_REFS[name](ref_x)
        assert_matches(getattr(fnp, name)(as_input(x)), want, np.dtype(np.bool_))


@settings(max_examples=8, deadline=None)
@given(shape=SHAPES, seed=SEEDS)
def test_integer_only_unary_values_match_numpy(shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    for dtype in DTYPES[:5]:
        x = values(rng, dtype, shape)
        for fn in (fnp.invert, fnp.bitwise_not, fnp.bitwise_invert):
            assert_matches(fn(x), np.invert(x), x.dtype)
    for dtype in DTYPES[5:]:
        x = values(rng, dtype, shape)
        assert_matches(fnp.nan_to_num(as_input(x)), _nan_to_num(x, x.dtype), x.dtype)
        with pytest.raises(FbornDtypeError):
            fnp.invert(as_input(x))


def _nextafter(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.nextafter(x, y)


def _ldexp(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.ldexp(x, np.asarray(y).astype(np.int64))


# name -> (numpy reference, kind of the first operand's data, kind of the second's)
BINARY_REFS: dict[str, tuple[Callable[..., np.ndarray], str, str]] = {
    "add": (np.add, "wide", "wide"), "subtract": (np.subtract, "wide", "wide"),
    "multiply": (np.multiply, "wide", "wide"), "divide": (np.true_divide, "wide", "wide"),
    "floor_divide": (np.floor_divide, "nice", "nice"),
    "mod": (np.remainder, "nice", "nice"),
    "fmod": (np.fmod, "nice", "nice"), "power": (np.power, "nice", "exponent"),
    "float_power": (np.power, "nice", "exponent"),
    "maximum": (np.maximum, "wide", "wide"), "minimum": (np.minimum, "wide", "wide"),
    "fmax": (np.fmax, "wide", "wide"), "fmin": (np.fmin, "wide", "wide"),
    "hypot": (np.hypot, "wide", "wide"), "logaddexp": (np.logaddexp, "wide", "wide"),
    "logaddexp2": (np.logaddexp2, "wide", "wide"), "arctan2": (np.arctan2, "wide", "wide"),
    "heaviside": (np.heaviside, "wide", "wide"), "copysign": (np.copysign, "wide", "wide"),
    "nextafter": (_nextafter, "wide", "wide"), "ldexp": (_ldexp, "wide", "wide"),
    "equal": (np.equal, "nice", "nice"), "not_equal": (np.not_equal, "nice", "nice"),
    "less": (np.less, "nice", "nice"), "less_equal": (np.less_equal, "nice", "nice"),
    "greater": (np.greater, "nice", "nice"),
    "greater_equal": (np.greater_equal, "nice", "nice"),
    "logical_and": (np.logical_and, "nice", "nice"),
    "logical_or": (np.logical_or, "nice", "nice"),
    "logical_xor": (np.logical_xor, "nice", "nice"),
    "bitwise_and": (np.bitwise_and, "wide", "wide"),
    "bitwise_or": (np.bitwise_or, "wide", "wide"),
    "bitwise_xor": (np.bitwise_xor, "wide", "wide"),
    "left_shift": (np.left_shift, "wide", "shift"),
    "right_shift": (np.right_shift, "wide", "shift"),
    "isclose": (np.isclose, "nice", "nice"),
}


def _binary_case(name: str, x: np.ndarray, y: np.ndarray | bool | float, code: str,
                 promoted_code: str) -> None:
    """Check ``fnp.<name>(x, y)`` against numpy; ``code`` is the result's table entry and
    ``promoted_code`` the entry of ``add`` (the operands' promoted dtype)."""
    expected = decode(code)
    if isinstance(expected, type):
        with pytest.raises(expected):
            getattr(fnp, name)(as_input(x), as_input(y))
        return
    out_dtype = expected[0]
    # the dtype the operands meet in: the result's, or (bool results) the promoted one
    meet = out_dtype
    if out_dtype == np.bool_:
        meet = decode(promoted_code)[0]
        if name == "isclose" and meet not in TOLERANCES:
            meet = np.dtype(np.float32)
    ref, _, _ = BINARY_REFS[name]
    xs = _ref_input(x, meet)
    ys = np.asarray(y) if name == "ldexp" else _ref_input(np.asarray(y), meet)
    if name == "nextafter":
        xs, ys = x.astype(meet), np.asarray(y).astype(meet)
    with np.errstate(all="ignore"):
        want = ref(xs, ys)
    assert_matches(getattr(fnp, name)(as_input(x), as_input(y)), want, out_dtype)


@pytest.mark.parametrize("name", sorted(BINARY_REFS))
@settings(max_examples=5, deadline=None)
@given(shapes=BROADCAST_PAIRS, seed=SEEDS, mixed=MIXED_PAIRS, scalar=st.sampled_from(SCALARS))
def test_binary_values_match_numpy(name: str, shapes: Any, seed: int, mixed: tuple[str, str],
                                   scalar: Any) -> None:
    rng = np.random.default_rng(seed)
    codes = BINARY_DTYPES[name].split()
    promoted = BINARY_DTYPES["add"].split()
    _, kind_x, kind_y = BINARY_REFS[name]
    shape_x, shape_y = shapes.input_shapes
    n = len(DTYPES)
    pairs = [(d, d) for d in DTYPES] + [mixed]
    for a, b in pairs:
        x, y = values(rng, a, shape_x, kind_x), values(rng, b, shape_y, kind_y)
        i = DTYPES.index(a) * n + DTYPES.index(b)
        _binary_case(name, x, y, codes[i], promoted[i])
    a = DTYPES[rng.integers(n)]
    i = n * n + DTYPES.index(a) * len(SCALARS) + SCALARS.index(scalar)
    _binary_case(name, values(rng, a, shape_x, kind_x), scalar, codes[i], promoted[i])


def test_values_match_numpy_in_float64() -> None:
    rng = np.random.default_rng(0)
    with fborn.config.override(enable_x64=True):
        x = rng.uniform(-4, 4, size=(3, 5))
        y = rng.uniform(-4, 4, size=(5,))
        for name in ("sin", "exp", "log1p", "arctan", "sinc", "cbrt"):
            assert_matches(getattr(fnp, name)(x), UNARY_REFS[name](x), np.dtype(np.float64))
        for name in ("add", "divide", "floor_divide", "mod", "hypot", "logaddexp", "arctan2"):
            assert_matches(getattr(fnp, name)(x, y), BINARY_REFS[name][0](x, y),
                           np.dtype(np.float64))
        i = rng.integers(-2**40, 2**40, size=(4,))
        assert_matches(fnp.floor_divide(i, 7), np.floor_divide(i, 7), np.dtype(np.int64))
        assert_matches(fnp.power(np.array([3, -2]), np.array([39, 61])),
                       np.power(np.array([3, -2]), np.array([39, 61])), np.dtype(np.int64))
        assert fnp.sin(np.int32(1)).dtype == np.float32


# --- particular behaviours -----------------------------------------------------------------------


def test_aliases_are_the_same_functions() -> None:
    pairs = [(fnp.absolute, fnp.abs), (fnp.true_divide, fnp.divide), (fnp.remainder, fnp.mod),
             (fnp.pow, fnp.power), (fnp.conj, fnp.conjugate), (fnp.degrees, fnp.rad2deg),
             (fnp.radians, fnp.deg2rad), (fnp.around, fnp.round), (fnp.bitwise_not, fnp.invert),
             (fnp.asin, fnp.arcsin), (fnp.atan2, fnp.arctan2), (fnp.acosh, fnp.arccosh)]
    for alias, fn in pairs:
        assert alias is fn


def test_python_int_exponent_lowers_to_integer_pow() -> None:
    jaxpr = fborn.make_jaxpr(lambda x: fnp.power(x, 3))(np.ones(2, np.float32))
    assert [e.primitive.name for e in jaxpr.eqns] == ["integer_pow"]
    assert jaxpr.eqns[0].params == {"y": 3}
    assert fnp.power(np.float32(2), -2) == np.float32(0.25)
    with pytest.raises(TypeError):
        fnp.power(np.array([2, 3]), -1)


def test_integer_power_wraps_like_numpy_and_truncates_negative_exponents() -> None:
    base = np.array([2, 3, -3, 7, 0, 1], np.int32)
    exponent = np.array([31, 21, 33, 40, 0, 1000], np.int32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(fnp.power(base, exponent), np.power(base, exponent))
    out = fnp.power(np.array([2, 1, -1, -1, 0], np.int8), np.array([-1, -5, -3, -2, -1], np.int8))
    np.testing.assert_array_equal(out, np.array([0, 1, -1, 1, 0], np.int8))
    np.testing.assert_array_equal(fnp.power(np.uint8(3), np.uint8(5)), np.uint8(243))


def test_floor_divide_and_mod_follow_python_signs() -> None:
    a = np.array([7, -7, 7, -7, 6, 0, 5], np.int32)
    b = np.array([2, 2, -2, -2, -3, 3, 0], np.int32)
    np.testing.assert_array_equal(fnp.floor_divide(a, b), [3, -4, -4, 3, -2, 0, 0])
    np.testing.assert_array_equal(fnp.mod(a, b), [1, 1, -1, -1, 0, 0, 0])
    q, r = fnp.divmod(a, b)
    np.testing.assert_array_equal(q, fnp.floor_divide(a, b))
    np.testing.assert_array_equal(r, fnp.remainder(a, b))
    f = np.array([7.5, -7.5, 1.0, -1.0, 0.0], np.float32)
    g = np.array([2.0, 2.0, 0.0, 0.0, 0.0], np.float32)
    np.testing.assert_array_equal(fnp.floor_divide(f, g), [3.0, -4.0, np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(fnp.mod(f, g), [1.5, 0.5, np.nan, np.nan, np.nan])
    assert float(fnp.floor_divide(np.float32(1.0), np.float32(0.1))) == 9.0
    np.testing.assert_array_equal(fnp.fmod(np.array([-7, 7]), 3), [-1, 1])


def test_true_divide_of_integers_is_float() -> None:
    out = fnp.true_divide(np.array([1, 3], np.int8), np.array([2, 2], np.int8))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.5, 1.5])


def test_round_halves_to_even_and_scales_by_decimals() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.25, 0.35], np.float32)
    np.testing.assert_array_equal(fnp.round(x), np.round(x))
    np.testing.assert_allclose(fnp.round(x, 1), np.round(x, 1))
    np.testing.assert_array_equal(fnp.around(np.array([25.0, 35.0, -25.0]), -1),
                                  [20.0, 40.0, -20.0])
    h = np.array([2.125, 1234.5], np.float16)
    np.testing.assert_allclose(np.asarray(fnp.round(h, 2), np.float64), [2.12, 1234.0],
                               rtol=1e-3)
    np.testing.assert_array_equal(fnp.round(np.array([3, 4], np.int8), 2), [3, 4])
    with pytest.raises(NotImplementedError):
        fnp.round(np.array([35]), -1)
    with pytest.raises(ValueError, match="bool"):
        fnp.round(np.array([True]))
    with pytest.raises(NotImplementedError, match="out"):
        fnp.round(x, out=x)
    assert fnp.round(2.567, 1).weak_type


def test_clip() -> None:
    x = np.array([-2.0, 0.5, 3.0, np.nan], np.float32)
    np.testing.assert_array_equal(fnp.clip(x, 0.0, 1.0), [0.0, 0.5, 1.0, np.nan])
    np.testing.assert_array_equal(fnp.clip(x, max=1.0), [-2.0, 0.5, 1.0, np.nan])
    np.testing.assert_array_equal(fnp.clip(x, a_min=0.0, a_max=1.0), fnp.clip(x, 0.0, 1.0))
    np.testing.assert_array_equal(fnp.clip(x), x)
    out = fnp.clip(np.array([1, 5], np.int32), 0.5, 2.5)
    assert (out.dtype, out.weak_type) == (np.float32, True)
    np.testing.assert_array_equal(out, [1.0, 2.5])
    low = np.array([[0.0], [1.0]], np.float32)
    assert fnp.clip(x, low).shape == (2, 4)
    with pytest.raises(ValueError, match="a_min"):
        fnp.clip(x, 0.0, a_min=1.0)


def test_where() -> None:
    cond = np.array([[True], [False]])
    out = fnp.where(cond, np.array([1, 2, 3], np.int8), 0.5)
    assert (out.shape, out.dtype) == ((2, 3), np.float32)
    np.testing.assert_array_equal(out, [[1, 2, 3], [0.5, 0.5, 0.5]])
    np.testing.assert_array_equal(fnp.where(np.array([2, 0]), 1, 2), [1, 2])
    weak = fnp.where(True, 1.0, 2)
    assert (weak.dtype, weak.weak_type) == (np.float32, True)
    with pytest.raises(NotImplementedError, match="nonzero"):
        fnp.where(cond)
    with pytest.raises(ValueError, match="both"):
        fnp.where(cond, 1)
    with pytest.raises(ValueError, match="size"):
        fnp.where(cond, 1, 2, size=3)
    with pytest.raises(FbornShapeError):
        fnp.where(np.ones(3, bool), np.ones(2), 0.0)


def test_select_takes_the_first_true_condition() -> None:
    x = np.arange(6)
    out = fnp.select([x < 2, x < 4, x > 100], [x, x * 10, x * 100], default=-1)
    np.testing.assert_array_equal(out, np.select([x < 2, x < 4, x > 100],
                                                 [x, x * 10, x * 100], -1))
    promoted = fnp.select([np.array([True, False])], [np.array([1, 2])], 0.5)
    assert (promoted.dtype, promoted.weak_type) == (np.float32, True)
    np.testing.assert_array_equal(promoted, [1.0, 0.5])
    with pytest.raises(ValueError, match="non-empty"):
        fnp.select([], [])
    with pytest.raises(ValueError, match="entries"):
        fnp.select([x < 1], [])


def test_isclose_allclose_array_equal() -> None:
    a = np.array([1.0, 1.0, np.inf, np.inf, np.nan, 1e10, 0.0], np.float32)
    b = np.array([1.0 + 1e-6, 1.1, np.inf, -np.inf, np.nan, 1.00001e10, 1e-9], np.float32)
    np.testing.assert_array_equal(fnp.isclose(a, b), np.isclose(a, b))
    np.testing.assert_array_equal(fnp.isclose(a, b, equal_nan=True),
                                  np.isclose(a, b, equal_nan=True))
    np.testing.assert_array_equal(fnp.isclose(a, b, rtol=0.2, atol=0.0),
                                  np.isclose(a, b, rtol=0.2, atol=0.0))
    np.testing.assert_array_equal(fnp.isclose(np.array([1, 5]), np.array([2, 5]), atol=5),
                                  [True, True])
    close = fnp.allclose(np.ones(3), np.ones(3) + 1e-7)
    assert isinstance(close, fborn.Array) and close.shape == () and close.dtype == np.bool_
    assert bool(close) and not bool(fnp.allclose(np.ones(3), np.zeros(3)))
    assert bool(fnp.array_equal(np.arange(3), np.arange(3.0)))
    assert not bool(fnp.array_equal(np.arange(3), np.arange(4)))
    assert not bool(fnp.array_equal(np.array([np.nan]), np.array([np.nan])))
    assert bool(fnp.array_equal(np.array([np.nan]), np.array([np.nan]), equal_nan=True))
    assert bool(fnp.array_equiv(np.ones((2, 3)), np.ones(3)))
    assert not bool(fnp.array_equiv(np.ones(2), np.ones(3)))
    assert fnp.array_equal(np.ones(2), np.ones(3)).shape == ()


def test_stable_and_special_values() -> None:
    big = np.array([1000.0, -1000.0, np.inf, -np.inf], np.float32)
    other = np.array([1000.0, -1000.0, -np.inf, -np.inf], np.float32)
    np.testing.assert_allclose(fnp.logaddexp(big, other),
                               [1000.0 + np.log(2), -1000.0 + np.log(2), np.inf, -np.inf])
    np.testing.assert_allclose(fnp.logaddexp2(big, other), [1001.0, -999.0, np.inf, -np.inf])
    np.testing.assert_allclose(fnp.hypot(np.float32(3e30), np.float32(4e30)), 5e30, rtol=1e-6)
    np.testing.assert_array_equal(fnp.hypot(np.array([np.inf, np.nan]), np.array([np.nan, 1.0])),
                                  [np.inf, np.nan])
    np.testing.assert_array_equal(fnp.signbit(np.array([-0.0, 0.0, -1.0, np.inf])),
                                  [True, False, True, False])
    np.testing.assert_array_equal(fnp.copysign(np.float32(2), np.float32(-0.0)), -2.0)
    np.testing.assert_array_equal(fnp.ldexp(np.float32(0.5), 128), np.ldexp(np.float32(0.5), 128))
    np.testing.assert_array_equal(fnp.ldexp(np.float32(3), np.array([-160, 300, -2**31])),
                                  np.ldexp(np.float32(3), np.array([-160, 300, -2**31])))
    with pytest.raises(ValueError, match="integer exponent"):
        fnp.ldexp(np.float32(3), np.float32(2))
    np.testing.assert_array_equal(
        fnp.nan_to_num(np.array([np.nan, np.inf, -np.inf], np.float32), nan=1.0, posinf=2.0,
                       neginf=-2.0), [1.0, 2.0, -2.0])
    np.testing.assert_array_equal(fnp.heaviside(np.array([np.nan, 0.0, -1.0, 2.0]), 0.5),
                                  [np.nan, 0.5, 0.0, 1.0])
    np.testing.assert_array_equal(fnp.abs(np.array([200], np.uint8)), [200])
    np.testing.assert_array_equal(fnp.sign(np.array([0, 7], np.uint32)), [0, 1])


def test_logical_and_bitwise() -> None:
    np.testing.assert_array_equal(fnp.logical_and(np.array([2, 0, 3]), 0.5), [True, False, True])
    np.testing.assert_array_equal(fnp.logical_xor(np.array([1, 0]), 1.0), [False, True])
    np.testing.assert_array_equal(fnp.logical_not(np.array([2.0, 0.0])), [False, True])
    np.testing.assert_array_equal(fnp.right_shift(np.array([-8], np.int8), 1), [-4])
    np.testing.assert_array_equal(fnp.right_shift(np.array([200], np.uint8), 1), [100])
    np.testing.assert_array_equal(fnp.left_shift(np.array([1], np.int8), 9), [0])
    np.testing.assert_array_equal(fnp.bitwise_left_shift(np.array([3], np.uint8), 2), [12])
    np.testing.assert_array_equal(fnp.bitwise_right_shift(np.array([12], np.uint8), 2), [3])
    with pytest.raises(FbornDtypeError):
        fnp.bitwise_and(np.ones(2, np.float32), 1)
    with pytest.raises(FbornDtypeError):
        fnp.left_shift(np.ones(2, np.float32), 1)


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(TypeError, match="list"):
        fnp.sin([1.0, 2.0])
    with pytest.raises(TypeError, match="position 1"):
        fnp.add(np.ones(2), (1, 2))
    with pytest.raises(FbornShapeError, match=r"\(2,\), \(3,\)"):
        fnp.add(np.ones(2), np.ones(3))
    with pytest.raises(FbornDtypeError, match="neg"):
        fnp.negative(np.array([True]))
    with pytest.raises(FbornDtypeError, match="sub"):
        fnp.subtract(np.array([True]), np.array([False]))
    with pytest.raises(FbornDtypeError, match="not supported"):
        fnp.sin(np.array([1 + 2j]))


# --- tracing -------------------------------------------------------------------------------------


def _composite(x: fborn.Array, y: fborn.Array) -> tuple[fborn.Array, ...]:
    return (
        fnp.where(fnp.greater(x, y), fnp.floor_divide(x, y), fnp.power(x, 2)),
        fnp.logaddexp(fnp.sin(x), fnp.hypot(x, y)),
        fnp.isclose(fnp.round(x, 1), y),
        fnp.clip(fnp.mod(x, 3.0), 0.5, None),
        fnp.select([x < 0, y < 0], [fnp.sign(x), fnp.sqrt(fnp.abs(y))], 7.0),
        fnp.allclose(x, x),
        fnp.power(fnp.trunc(x), 2.0),
    )


def test_functions_trace_and_the_jaxpr_evaluates_to_the_eager_result() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, (2, 3)).astype(np.float32)
    y = rng.uniform(-3, 3, (3,)).astype(np.float32)
    closed = fborn.make_jaxpr(_composite)(x, y)
    traced = fborn.eval_jaxpr(closed.jaxpr, closed.consts, x, y)
    eager = _composite(x, y)
    assert len(traced) == len(eager)
    for t, e in zip(traced, eager, strict=True):
        assert (t.shape, t.dtype) == (e.shape, e.dtype)
        np.testing.assert_allclose(np.asarray(t, np.float64), np.asarray(e, np.float64))


def test_integer_functions_trace() -> None:
    def fn(a: fborn.Array, b: fborn.Array) -> tuple[fborn.Array, ...]:
        return (fnp.power(a, b), fnp.divmod(a, b), fnp.right_shift(a, fnp.abs(b)),
                fnp.bitwise_xor(a, b), fnp.ldexp(np.float32(1.5), b))

    a = np.array([3, -7, 5, 0], np.int16)
    b = np.array([2, 3, -2, 4], np.int16)
    closed = fborn.make_jaxpr(fn)(a, b)
    assert all(v.aval.dtype == np.int16 for v in closed.jaxpr.invars)
    traced = fborn.eval_jaxpr(closed.jaxpr, closed.consts, a, b)
    eager = fborn.tree_util.tree_leaves(fn(a, b))
    for t, e in zip(traced, eager, strict=True):
        np.testing.assert_array_equal(np.asarray(t), np.asarray(e))

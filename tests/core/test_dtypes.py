"""fborn's dtypes: JAX's promotion table (weak flags included), x32 canonicalization, dtype
constructors and machine limits."""

from __future__ import annotations

from collections.abc import Iterator

import ml_dtypes
import numpy as np
import pytest

import fborn
import fborn.numpy as fnp
from fborn.core import dtypes
from fborn.errors import FbornDtypeError

# Recorded with jax 0.10.2: row `a`, column `b` holds jax.dtypes.result_type(a, b,
# return_weak_type_flag=True) (cross-checked against jnp.add on 0-d arrays and jnp.promote_types),
# `*` marking a weakly typed result. `i*`/`f*` are Python int/float scalars (weak types).
PROMOTION_X64 = """
        b   u8  u16  u32  u64   i8  i16  i32  i64 bf16  f16  f32  f64   i*   f*
b       b   u8  u16  u32  u64   i8  i16  i32  i64 bf16  f16  f32  f64 i64* f64*
u8     u8   u8  u16  u32  u64  i16  i16  i32  i64 bf16  f16  f32  f64   u8 f64*
u16   u16  u16  u16  u32  u64  i32  i32  i32  i64 bf16  f16  f32  f64  u16 f64*
u32   u32  u32  u32  u32  u64  i64  i64  i64  i64 bf16  f16  f32  f64  u32 f64*
u64   u64  u64  u64  u64  u64 f64* f64* f64* f64* bf16  f16  f32  f64  u64 f64*
i8     i8  i16  i32  i64 f64*   i8  i16  i32  i64 bf16  f16  f32  f64   i8 f64*
i16   i16  i16  i32  i64 f64*  i16  i16  i32  i64 bf16  f16  f32  f64  i16 f64*
i32   i32  i32  i32  i64 f64*  i32  i32  i32  i64 bf16  f16  f32  f64  i32 f64*
i64   i64  i64  i64  i64 f64*  i64  i64  i64  i64 bf16  f16  f32  f64  i64 f64*
bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16  f32  f32  f64 bf16 bf16
f16   f16  f16  f16  f16  f16  f16  f16  f16  f16  f32  f16  f32  f64  f16  f16
f32   f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f64  f32  f32
f64   f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64  f64
i*   i64*   u8  u16  u32  u64   i8  i16  i32  i64 bf16  f16  f32  f64 i64* f64*
f*   f64* f64* f64* f64* f64* f64* f64* f64* f64* bf16  f16  f32  f64 f64* f64*
"""

# The same with jax 0.10.2 in its default (32-bit) mode.
PROMOTION_X32 = """
        b   u8  u16  u32  u64   i8  i16  i32  i64 bf16  f16  f32  f64   i*   f*
b       b   u8  u16  u32  u32   i8  i16  i32  i32 bf16  f16  f32  f32 i32* f32*
u8     u8   u8  u16  u32  u32  i16  i16  i32  i32 bf16  f16  f32  f32   u8 f32*
u16   u16  u16  u16  u32  u32  i32  i32  i32  i32 bf16  f16  f32  f32  u16 f32*
u32   u32  u32  u32  u32  u32  i32  i32  i32  i32 bf16  f16  f32  f32  u32 f32*
u64   u32  u32  u32  u32  u32  i32  i32  i32  i32 bf16  f16  f32  f32  u32 f32*
i8     i8  i16  i32  i32  i32   i8  i16  i32  i32 bf16  f16  f32  f32   i8 f32*
i16   i16  i16  i32  i32  i32  i16  i16  i32  i32 bf16  f16  f32  f32  i16 f32*
i32   i32  i32  i32  i32  i32  i32  i32  i32  i32 bf16  f16  f32  f32  i32 f32*
i64   i32  i32  i32  i32  i32  i32  i32  i32  i32 bf16  f16  f32  f32  i32 f32*
bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16  f32  f32  f32 bf16 bf16
f16   f16  f16  f16  f16  f16  f16  f16  f16  f16  f32  f16  f32  f32  f16  f16
f32   f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32
f64   f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32  f32
i*   i32*   u8  u16  u32  u32   i8  i16  i32  i32 bf16  f16  f32  f32 i32* f32*
f*   f32* f32* f32* f32* f32* f32* f32* f32* f32* bf16  f16  f32  f32 f32* f32*
"""

SHORT = {
    "b": np.dtype(np.bool_), "u8": np.dtype(np.uint8), "u16": np.dtype(np.uint16),
    "u32": np.dtype(np.uint32), "u64": np.dtype(np.uint64), "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16), "i32": np.dtype(np.int32), "i64": np.dtype(np.int64),
    "bf16": np.dtype(ml_dtypes.bfloat16), "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32), "f64": np.dtype(np.float64),
}
WEAK_SCALARS = {"i*": 1, "f*": 1.0}


def parse_table(text: str) -> dict[tuple[str, str], tuple[np.dtype, bool]]:
    """``{(row, col): (dtype, weak)}`` from a recorded table."""
    header, *rows = text.strip().splitlines()
    cols = header.split()
    table = {}
    for row in rows:
        name, *cells = row.split()
        for col, cell in zip(cols, cells, strict=True):
            table[name, col] = (SHORT[cell.rstrip("*")], cell.endswith("*"))
    return table


TABLE_X64 = parse_table(PROMOTION_X64)
TABLE_X32 = parse_table(PROMOTION_X32)
NAMES = list(SHORT) + list(WEAK_SCALARS)
X32_CANONICAL = [n for n in NAMES if n not in ("u64", "i64", "f64")]


@pytest.fixture
def x64() -> Iterator[None]:
    previous = fborn.config.enable_x64
    fborn.config.update("enable_x64", True)
    try:
        yield
    finally:
        fborn.config.update("enable_x64", previous)


@pytest.fixture
def x32() -> Iterator[None]:
    previous = fborn.config.enable_x64
    fborn.config.update("enable_x64", False)
    try:
        yield
    finally:
        fborn.config.update("enable_x64", previous)


def typed(name: str) -> tuple[np.dtype, bool]:
    """The ``(dtype, weak)`` pair fborn uses for a table entry under the current config."""
    if name == "i*":
        return dtypes.default_int(), True
    if name == "f*":
        return dtypes.default_float(), True
    return SHORT[name], False


def operand(name: str) -> object:
    """What ``fnp.result_type`` takes for a table entry: a dtype or a Python scalar."""
    return WEAK_SCALARS.get(name, SHORT.get(name))


def test_tables_cover_every_pair() -> None:
    assert len(TABLE_X64) == len(TABLE_X32) == len(NAMES) ** 2
    assert {a for a, _ in TABLE_X64} == set(NAMES)


@pytest.mark.parametrize("a", NAMES)
def test_promotion_x64_matches_jax(x64: None, a: str) -> None:
    for b in NAMES:
        expected = TABLE_X64[a, b]
        assert dtypes.promote_types_weak(typed(a), typed(b)) == expected, (a, b)
        assert fnp.result_type(operand(a), operand(b)) == expected[0], (a, b)


@pytest.mark.parametrize("a", X32_CANONICAL)
def test_promotion_x32_matches_jax(x32: None, a: str) -> None:
    for b in X32_CANONICAL:
        expected = TABLE_X32[a, b]
        assert dtypes.promote_types_weak(typed(a), typed(b)) == expected, (a, b)
        assert fnp.result_type(operand(a), operand(b)) == expected[0], (a, b)


@pytest.mark.parametrize("a", ["u64", "i64", "f64"])
def test_promotion_x32_of_64bit_dtypes(x32: None, a: str) -> None:
    """64-bit dtypes named without x64 promote as their 32-bit canonical forms."""
    for b in NAMES:
        assert fnp.result_type(operand(a), operand(b)) == TABLE_X32[a, b][0], (a, b)
        assert fnp.result_type(operand(b), operand(a)) == TABLE_X32[b, a][0], (b, a)


def test_promotion_x32_uint64_with_signed(x32: None) -> None:
    for b in ("i8", "i16", "i32", "i64"):
        assert fnp.result_type(operand("u64"), operand(b)) == TABLE_X32["u64", b][0], b


@pytest.mark.parametrize("a", list(SHORT))
def test_promote_types_is_strong_and_symmetric(x64: None, a: str) -> None:
    for b in SHORT:
        expected = TABLE_X64[a, b][0]
        assert fnp.promote_types(SHORT[a], SHORT[b]) == expected
        assert dtypes.promote_types(SHORT[b], SHORT[a]) == expected


def test_weak_scalars_keep_array_dtype() -> None:
    f16 = fnp.asarray(np.ones(3, np.float16))
    assert (f16 * 2.0).dtype == np.float16
    assert (2.0 * f16).dtype == np.float16
    i8 = fnp.asarray(np.ones(3, np.int8))
    assert (i8 + 3).dtype == np.int8
    assert (i8 + 1.5).dtype == np.float32
    i32 = fnp.asarray(np.ones(3, np.int32))
    out = i32 + 1.5  # int32 sits below the weak float in the lattice: the result is weak
    assert (out.dtype, out.weak_type) == (np.float32, True)
    f32 = fnp.asarray(np.ones(3, np.float32)) * 2
    assert (f32.dtype, f32.weak_type) == (np.float32, False)
    both = fnp.asarray(1) + 2.5
    assert (both.dtype, both.weak_type) == (np.float32, True)


def test_x32_canonicalizes_64bit_inputs(x32: None) -> None:
    cases = [(np.float64, np.float32), (np.int64, np.int32), (np.uint64, np.uint32),
             (np.float16, np.float16), (np.int8, np.int8)]
    for src, dst in cases:
        x = fnp.asarray(np.arange(3).astype(src))
        assert x.dtype == np.dtype(dst)
        assert x.weak_type is False
        assert np.asarray(x).dtype == np.dtype(dst)
    assert fnp.asarray(1.5).dtype == np.float32
    assert fnp.asarray(7).dtype == np.int32
    assert fnp.asarray([1.0, 2.0]).dtype == np.float32
    assert fnp.dtype(float) == np.float32
    assert fnp.dtype(int) == np.int32


def test_bfloat16_numpy_data_converts() -> None:
    x = fnp.asarray(np.array([0.5, 1.5], ml_dtypes.bfloat16))
    assert x.dtype == ml_dtypes.bfloat16
    assert np.asarray(x).tolist() == [0.5, 1.5]


def test_x64_keeps_64bit_inputs(x64: None) -> None:
    for dt in (np.float64, np.int64, np.uint64):
        assert fnp.asarray(np.zeros(2, dt)).dtype == np.dtype(dt)
    assert fnp.asarray(1.5).dtype == np.float64
    assert fnp.asarray(1.5).weak_type is True
    assert fnp.asarray(7).dtype == np.int64
    assert fnp.dtype(float) == np.float64


def test_scalar_type_constructors() -> None:
    x = fnp.float32(3)
    assert isinstance(x, fborn.Array)
    assert (x.shape, x.dtype, x.weak_type) == ((), np.float32, False)
    assert float(x) == 3.0
    b = fnp.bfloat16(1.5)
    assert b.dtype == ml_dtypes.bfloat16 and float(b) == 1.5
    i = fnp.int8([1, 2, 300 - 256])
    assert i.dtype == np.int8 and i.tolist() == [1, 2, 44]
    assert np.dtype(fnp.float32) == np.float32
    assert fnp.float32 == np.float32 and fnp.float32 != np.float64
    assert fnp.dtype("bfloat16") == ml_dtypes.bfloat16
    assert fnp.dtype(fnp.uint16) == np.uint16


def test_finfo_iinfo() -> None:
    bf = fnp.finfo(fnp.bfloat16)
    assert bf.bits == 16 and bf.eps == 2.0 ** -7 and float(bf.max) == 3.3895313892515355e38
    assert fnp.finfo("bfloat16").nmant == 7
    f16 = fnp.finfo(np.float16)
    assert f16.eps == np.finfo(np.float16).eps and f16.max == np.float16(65504)
    assert fnp.finfo(fnp.float32).tiny == np.finfo(np.float32).tiny
    assert fnp.finfo(fnp.asarray(np.ones(2, np.float32))).bits == 32
    assert (fnp.iinfo(fnp.int8).min, fnp.iinfo(fnp.int8).max) == (-128, 127)
    assert fnp.iinfo(np.uint16).max == 65535
    assert fnp.iinfo("int32").min == -(2 ** 31)


def test_dtype_predicates() -> None:
    assert fnp.issubdtype(fnp.bfloat16, np.floating)
    assert fnp.issubdtype(np.float16, np.floating)
    assert not fnp.issubdtype(np.int32, np.floating)
    assert fnp.isdtype(fnp.bfloat16, "real floating")
    assert fnp.isdtype(np.uint8, "unsigned integer") and not fnp.isdtype(np.uint8, "signed integer")
    assert fnp.can_cast(np.int8, np.int16) and not fnp.can_cast(np.int16, np.int8)


@pytest.mark.parametrize("bad", [np.complex64, np.complex128, "U5", object, np.float128])
def test_unsupported_dtypes_raise(bad: object) -> None:
    with pytest.raises(FbornDtypeError, match="not supported by fborn"):
        fnp.dtype(bad)


def test_unsupported_data_raises() -> None:
    with pytest.raises(FbornDtypeError, match="complex"):
        fnp.asarray(np.ones(2, np.complex64))
    with pytest.raises(FbornDtypeError):
        fnp.asarray(np.array(["a", "b"]))

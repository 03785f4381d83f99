"""Strict checks shared by the file readers: dtype codes, tensor names, JSON headers, sizes.

Everything here runs before a reader allocates anything sized by the file: a header's numbers
are checked against the file's real size and against fixed limits first. Every failure raises
:class:`fborn.errors.FileFormatError` (a ``ValueError``) naming the file and the byte offset.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, NoReturn

import ml_dtypes
import numpy as np

from fborn.core.errors import FbornDtypeError, FileFormatError

# The dtypes the native checkpoint and safetensors readers accept, under safetensors' names.
DTYPE_BY_CODE: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "I8": np.dtype(np.int8), "I16": np.dtype(np.int16),
    "I32": np.dtype(np.int32), "I64": np.dtype(np.int64),
    "U8": np.dtype(np.uint8), "U16": np.dtype(np.uint16),
    "U32": np.dtype(np.uint32), "U64": np.dtype(np.uint64),
    "F16": np.dtype(np.float16), "BF16": np.dtype(ml_dtypes.bfloat16),
    "F32": np.dtype(np.float32), "F64": np.dtype(np.float64),
}
CODE_BY_DTYPE: dict[np.dtype, str] = {dt: code for code, dt in DTYPE_BY_CODE.items()}

MAX_NDIM = 64
MAX_NAME_BYTES = 1024
DEFAULT_MAX_HEADER_BYTES = 100 * 2**20
DEFAULT_MAX_TENSORS = 1_000_000
# Path separators, control characters (Unicode category Cc) and lone surrogates.
_BAD_CHAR = re.compile(r"[/\\\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def fail(path: str | os.PathLike, offset: int | None, message: str) -> NoReturn:
    """Raise FileFormatError ``"<path>: <message> (byte <offset>)"``."""
    where = "" if offset is None else f" (at byte {offset})"
    raise FileFormatError(f"{os.fspath(path)}: {message}{where}")


def name_problem(name: Any) -> str | None:
    """Why ``name`` cannot name a tensor (empty, too long, path or control characters), or None."""
    if not isinstance(name, str):
        return f"tensor name {name!r} is not a string"
    if not name:
        return "tensor name is empty"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"tensor name {name[:40]!r}... is longer than {MAX_NAME_BYTES} bytes"
    if name in (".", ".."):
        return f"tensor name {name!r} is a path component"
    bad = _BAD_CHAR.search(name)
    if bad is None:
        return None
    what = "path" if bad.group() in "/\\" else "control"
    return f"tensor name {name!r} contains the {what} character {bad.group()!r}"


def dtype_code(dtype: np.dtype) -> str:
    """The file code of a supported dtype (``"F32"``...); FbornDtypeError for others."""
    code = CODE_BY_DTYPE.get(np.dtype(dtype).newbyteorder("="))
    if code is None:
        raise FbornDtypeError(
            f"cannot store dtype {dtype} in a file; supported: {', '.join(DTYPE_BY_CODE)}")
    return code


def parse_json(raw: bytes, path: str | os.PathLike, offset: int) -> Any:
    """Parse a UTF-8 JSON header strictly: no duplicate keys, NaN/Infinity, or invalid text."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys,
                          parse_constant=_no_constant)
    except _DuplicateKey as e:
        fail(path, offset, f"header JSON repeats the key {e.args[0]!r}")
    except (ValueError, RecursionError) as e:
        detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        fail(path, offset, f"header is not valid UTF-8 JSON: {detail}")


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _no_constant(token: str) -> NoReturn:
    raise ValueError(f"the constant {token} is not allowed")


def is_int(x: Any) -> bool:
    """True for a JSON integer (a Python int that is not a bool)."""
    return type(x) is int


def check_keys(path: str | os.PathLike, offset: int, what: str, obj: Any,
               required: frozenset[str], optional: frozenset[str] = frozenset()) -> None:
    """``obj`` must be a dict holding all ``required`` keys and no keys outside ``optional``."""
    if not isinstance(obj, dict):
        fail(path, offset, f"{what} is a {type(obj).__name__}, expected a JSON object")
    missing = required - obj.keys()
    if missing:
        fail(path, offset, f"{what} lacks the key(s) {sorted(missing)}")
    extra = obj.keys() - required - optional
    if extra:
        fail(path, offset, f"{what} has unknown key(s) {sorted(extra)[:5]}")


def check_shape(path: str | os.PathLike, offset: int, name: str, shape: Any) -> tuple[int, ...]:
    """A JSON shape: a list of at most MAX_NDIM non-negative ints."""
    if not isinstance(shape, list) or len(shape) > MAX_NDIM:
        fail(path, offset, f"tensor {name!r}: shape {str(shape)[:80]} is not a list of at most "
                           f"{MAX_NDIM} sizes")
    if not all(is_int(d) and d >= 0 for d in shape):
        fail(path, offset, f"tensor {name!r}: shape {shape} holds a non-integer or negative size")
    return tuple(shape)


def check_dtype(path: str | os.PathLike, offset: int, name: str, code: Any) -> np.dtype:
    """The numpy dtype of a file dtype code from the whitelist."""
    dtype = DTYPE_BY_CODE.get(code) if isinstance(code, str) else None
    if dtype is None:
        fail(path, offset, f"tensor {name!r}: dtype {str(code)[:40]!r} is not one of "
                           f"{', '.join(DTYPE_BY_CODE)}")
    return dtype


def nbytes_of(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Exact byte size of a tensor (Python ints: no overflow for absurd shapes)."""
    return math.prod(shape) * dtype.itemsize


def check_extents(path: str | os.PathLike, offset: int,
                  extents: list[tuple[int, int, str]], data_len: int) -> None:
    """``(start, end, name)`` byte ranges must lie in ``[0, data_len]`` and not overlap."""
    previous_end, previous = 0, ""
    for start, end, name in sorted(extents):
        if start < previous_end:
            fail(path, offset, f"tensors {previous!r} and {name!r} overlap")
        if end > data_len:
            fail(path, offset, f"tensor {name!r} ends at data byte {end}, past the end of the "
                               f"data ({data_len} bytes)")
        if end > start:
            previous_end, previous = end, name

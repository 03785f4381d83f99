"""Read and write safetensors files (https://github.com/huggingface/safetensors), with pytree names.

The format: an 8-byte little-endian length ``N``, ``N`` bytes of UTF-8 JSON mapping each tensor
name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (plus an optional ``"__metadata__"``
object of strings), then the tensors' bytes, C-contiguous and little-endian, packed without gaps;
offsets count from the end of the JSON. This module implements it directly instead of using the
``safetensors`` package: that package's numpy API cannot hold bfloat16 (numpy has no bfloat16;
fborn gets it from ``ml_dtypes``), it is not a dependency of fborn, and reading it ourselves lets
one strict validator (``fborn.io._validate``, shared with the native checkpoint) check every
header field against limits and the file size before allocating.

Pytrees map to names through their key paths (``layers.0.weight``), both ways:
:func:`tree_to_named` and :func:`named_to_tree`. Written files put the data at a 64-byte aligned
offset and order tensors by decreasing item size, so every tensor is aligned to its item size.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from fborn.core.tree import PyTree
from fborn.io import _validate as v
from fborn.io._files import atomic_write, file_size, read_exact, whole_file
from fborn.io._paths import leaf_to_numpy, named_leaves, named_to_tree, rebuild_like, tree_to_named

__all__ = ["load_safetensors", "load_safetensors_metadata", "named_to_tree", "save_safetensors",
           "tree_to_named"]

_LENGTH = struct.Struct("<Q")
_ALIGN = 64
_METADATA = "__metadata__"
_ENTRY_KEYS = frozenset({"dtype", "shape", "data_offsets"})


def save_safetensors(path: str | os.PathLike, tree: PyTree, *,
                     metadata: Mapping[str, str] | None = None) -> None:
    """Save the leaves of ``tree`` (fborn or numpy arrays, Python scalars as 0-d bool/int64/
    float64) under their key path names, with optional string ``metadata``. The write is atomic.

    Raises ValueError for a bare array, clashing or reserved names, TypeError for non-array leaves
    or non-string metadata, FbornDtypeError for unsupported dtypes.
    """
    leaves = [(name, leaf_to_numpy(name, leaf)[0]) for name, _, leaf in named_leaves(tree)]
    if any(name == _METADATA for name, _ in leaves):
        raise ValueError(f"{_METADATA!r} is reserved by the safetensors format")
    leaves.sort(key=lambda item: (-item[1].dtype.itemsize, item[0]))
    header: dict[str, Any] = {}
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(x, str) for k, x in metadata.items()):
            raise TypeError("safetensors metadata must map strings to strings")
        header[_METADATA] = dict(metadata)
    offset = 0
    for name, arr in leaves:
        header[name] = {"dtype": v.dtype_code(arr.dtype), "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("ascii")
    raw += b" " * (-(_LENGTH.size + len(raw)) % _ALIGN)
    with atomic_write(path) as f:
        f.write(_LENGTH.pack(len(raw)))
        f.write(raw)
        for _, arr in leaves:
            f.write(arr.reshape(-1).view(np.uint8))


def load_safetensors(path: str | os.PathLike, like: PyTree = None, *, mmap: bool = True,
                     max_header_bytes: int = v.DEFAULT_MAX_HEADER_BYTES,
                     max_tensors: int = v.DEFAULT_MAX_TENSORS) -> PyTree:
    """Load a safetensors file.

    Without ``like``: a dict ``{name: numpy array}`` in file order. With ``like``: ``like``'s
    structure, each leaf taken from the tensor named by its key path and converted to the leaf's
    type (see :func:`named_to_tree`). Arrays are read-only views of a memory map of the file
    (``mmap=False`` reads it into memory). Raises FileFormatError for a malformed file,
    PyTreeError/FbornShapeError/FbornDtypeError when the file does not match ``like``.
    """
    with open(path, "rb") as f:
        size = file_size(f)
        data_offset, tensors, _ = _read_header(f, path, size, max_header_bytes, max_tensors)
        buffer = whole_file(f, size, mmap)
    if buffer is None:
        v.fail(path, None, "the file changed size while being read")
    named = {name: np.frombuffer(buffer, dtype.newbyteorder("<"), v.nbytes_of(shape, dtype)
                                 // dtype.itemsize, data_offset + begin).reshape(shape)
             for name, (dtype, shape, begin) in tensors.items()}
    return named if like is None else rebuild_like(like, named)


def load_safetensors_metadata(path: str | os.PathLike, *,
                              max_header_bytes: int = v.DEFAULT_MAX_HEADER_BYTES
                              ) -> dict[str, str] | None:
    """The ``__metadata__`` strings of a safetensors file (None when absent); the header is
    fully validated, the data not read."""
    with open(path, "rb") as f:
        return _read_header(f, path, file_size(f), max_header_bytes, v.DEFAULT_MAX_TENSORS)[2]


def _read_header(f: Any, path: str | os.PathLike, size: int, max_header_bytes: int,
                 max_tensors: int
                 ) -> tuple[int, dict[str, tuple[np.dtype, tuple[int, ...], int]], Any]:
    """``(data_offset, {name: (dtype, shape, begin)}, metadata)`` of a validated header."""
    fixed = read_exact(f, 0, _LENGTH.size)
    if fixed is None:
        v.fail(path, 0, f"the file has {size} bytes, fewer than the 8-byte header length")
    (header_len,) = _LENGTH.unpack(fixed)
    if header_len > max_header_bytes:
        v.fail(path, 0, f"the header is {header_len} bytes, over the limit of {max_header_bytes} "
                        "(max_header_bytes)")
    data_offset = _LENGTH.size + header_len
    if data_offset > size:
        v.fail(path, 0, f"the header ({header_len} bytes) runs past the end of the file "
                        f"({size} bytes): the file is truncated")
    raw = read_exact(f, _LENGTH.size, header_len)
    if raw is None:
        v.fail(path, _LENGTH.size, "the file ended inside the header")
    if not raw.startswith(b"{"):
        v.fail(path, _LENGTH.size, "the header does not start with '{'")
    header = v.parse_json(raw, path, _LENGTH.size)
    if not isinstance(header, dict):
        v.fail(path, _LENGTH.size, "the header is not a JSON object")
    metadata = header.pop(_METADATA, None)
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(x, str) for x in metadata.values())):
        v.fail(path, _LENGTH.size, f"{_METADATA} is not an object of strings")
    if len(header) > max_tensors:
        v.fail(path, _LENGTH.size, f"{len(header)} tensors, over the limit of {max_tensors} "
                                   "(max_tensors)")
    tensors = {name: _entry(path, name, entry) for name, entry in header.items()}
    _check_packed(path, tensors, size - data_offset)
    layout = {n: (dt, shape, begin) for n, (dt, shape, begin, _) in tensors.items()}
    return data_offset, layout, metadata


def _entry(path: str | os.PathLike, name: str, entry: Any
           ) -> tuple[np.dtype, tuple[int, ...], int, int]:
    at = _LENGTH.size
    problem = v.name_problem(name)
    if problem is not None:
        v.fail(path, at, problem)
    v.check_keys(path, at, f"tensor {name!r}", entry, _ENTRY_KEYS)
    dtype = v.check_dtype(path, at, name, entry["dtype"])
    shape = v.check_shape(path, at, name, entry["shape"])
    offsets = entry["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(v.is_int, offsets))
            and 0 <= offsets[0] <= offsets[1]):
        v.fail(path, at, f"tensor {name!r}: data_offsets {str(offsets)[:60]} is not "
                         "[begin, end] with 0 <= begin <= end")
    begin, end = offsets
    if end - begin != v.nbytes_of(shape, dtype):
        v.fail(path, at, f"tensor {name!r}: data_offsets span {end - begin} bytes, "
                         f"{dtype}{list(shape)} needs {v.nbytes_of(shape, dtype)}")
    return dtype, shape, begin, end


def _check_packed(path: str | os.PathLike,
                  tensors: dict[str, tuple[np.dtype, tuple[int, ...], int, int]],
                  data_len: int) -> None:
    """Tensors must tile the data exactly, in some order: no gap, no overlap, no trailing byte."""
    v.check_extents(path, _LENGTH.size, [(b, e, n) for n, (_, _, b, e) in tensors.items()],
                    data_len)
    covered = sum(e - b for _, _, b, e in tensors.values())
    if covered != data_len:
        v.fail(path, _LENGTH.size, f"the tensors cover {covered} of the {data_len} data bytes: "
                                   "the file is truncated or has gaps or trailing bytes")

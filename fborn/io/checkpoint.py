"""fborn's native checkpoint format (``.fbc``): any pytree of arrays, saved and memory-mapped back.

Layout (all integers little-endian)::

    offset  size  field
    0       8     magic  b"\\x89FBC\\r\\n\\x1a\\n"
    8       4     format version (1)
    12      4     flags (0; any other value is refused)
    16      8     H: length of the JSON index, padded with spaces so that 64 + H is a multiple of 64
    24      8     D: length of the data section (the file is exactly 64 + H + D bytes)
    32      32    SHA-256 of the bytes [64, 64 + H + D): the JSON index and the data
    64      H     JSON index (UTF-8)
    64 + H  D     tensor data, each tensor C-contiguous, little-endian, at a 64-byte aligned offset

The JSON index is ``{"tensors": [...], "metadata": <user JSON object or null>}``; each tensor is
``{"name", "path", "kind", "dtype", "shape", "offset", "nbytes"}``: ``name`` is the dotted key path
(``"model.layers.0.weight"``), ``path`` the key path as ``[tag, key]`` pairs (tags ``"key"`` for a
dict key (str or int), ``"attr"`` for an attribute, ``"idx"`` for a list/tuple index, ``"flat"``
for a custom node's child index), ``kind`` the saved leaf's type (``"array"`` for an fborn Array,
``"numpy"``, or ``"bool"``/``"int"``/``"float"`` for Python scalars, stored as bool/int64/float64),
``dtype`` a safetensors dtype code (BOOL, I8..I64, U8..U64, F16, BF16, F32, F64) and ``offset``
counts from the start of the data section.

Reading checks every header field against fixed limits and the file's real size (header length,
tensor count, names without path or control characters, dtype whitelist, offsets aligned, in
bounds and not overlapping) before anything is allocated; any violation raises
:class:`fborn.errors.FileFormatError` naming the file and byte offset. Files are parsed as JSON
and raw bytes only: loading a checkpoint cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from fborn.core import dtypes
from fborn.core.tree import (
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    KeyEntry,
    KeyPath,
    PyTree,
    SequenceKey,
)
from fborn.io import _validate as v
from fborn.io._files import atomic_write, file_size, read_exact, whole_file
from fborn.io._paths import KINDS, as_kind, leaf_to_numpy, named_leaves, nest, rebuild_like

__all__ = ["CheckpointHeader", "TensorInfo", "load", "read_header", "save"]

MAGIC = b"\x89FBC\r\n\x1a\n"
VERSION = 1
ALIGN = 64
_FIXED = struct.Struct("<8sIIQQ32s")
_MAX_PATH_DEPTH = 256
_ENTRY_KEYS = frozenset({"name", "path", "kind", "dtype", "shape", "offset", "nbytes"})
_SCALAR_CHECKS = {"bool": lambda dt: dt == np.bool_, "int": dtypes.is_int,
                  "float": dtypes.is_float}


class TensorInfo(NamedTuple):
    """One tensor of a checkpoint's index (``offset`` counts from the data section)."""

    name: str
    path: KeyPath
    kind: str
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int
    nbytes: int


class CheckpointHeader(NamedTuple):
    """A checkpoint's validated header: format version, tensors, user metadata, where the data
    starts, and the stored SHA-256."""

    version: int
    tensors: tuple[TensorInfo, ...]
    metadata: Any
    data_offset: int
    sha256: bytes


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def save(path: str | os.PathLike, tree: PyTree, *, metadata: dict[str, Any] | None = None) -> None:
    """Save a pytree of arrays (fborn Arrays, numpy arrays, Python bool/int/float) to ``path``.

    Save a model, its optimizer state and the step together as one dict, e.g.
    ``save("ckpt.fbc", {"model": model, "opt_state": opt_state, "step": step})``. ``metadata`` is
    any JSON object, returned by ``read_header(path).metadata``. The write is atomic: the file
    appears complete or not at all, and an existing file is replaced only once the new one is
    on disk. Raises ValueError for a bare array (wrap it in a dict), clashing names or invalid
    metadata, TypeError for leaves that are not arrays, FbornDtypeError for unsupported dtypes.
    """
    leaves = named_leaves(tree)
    arrays = [leaf_to_numpy(name, leaf) for name, _, leaf in leaves]
    entries, offset = [], 0
    for (name, key_path, _), (arr, kind) in zip(leaves, arrays, strict=True):
        offset = _align(offset)
        entries.append({"name": name, "path": _encode_path(name, key_path), "kind": kind,
                        "dtype": v.dtype_code(arr.dtype), "shape": list(arr.shape),
                        "offset": offset, "nbytes": arr.nbytes})
        offset += arr.nbytes
    index = _encode_index(entries, metadata)
    with atomic_write(path) as f:
        f.write(_FIXED.pack(MAGIC, VERSION, 0, len(index), offset, bytes(32)))
        digest = hashlib.sha256(index)
        f.write(index)
        written = 0
        for entry, (arr, _) in zip(entries, arrays, strict=True):
            _write(f, digest, bytes(entry["offset"] - written))
            _write(f, digest, arr.reshape(-1).view(np.uint8))
            written = entry["offset"] + arr.nbytes
        f.seek(32)
        f.write(digest.digest())


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _write(f: BinaryIO, digest: Any, data: Any) -> None:
    f.write(data)
    digest.update(data)


def _encode_path(name: str, key_path: KeyPath) -> list[list[Any]]:
    out = []
    for k in key_path:
        if isinstance(k, DictKey) and type(k.key) in (str, int):
            out.append(["key", k.key])
        elif isinstance(k, GetAttrKey):
            out.append(["attr", k.name])
        elif isinstance(k, SequenceKey):
            out.append(["idx", k.idx])
        elif isinstance(k, FlattenedIndexKey):
            out.append(["flat", k.key])
        else:
            raise TypeError(f"leaf {name!r}: cannot save the key path entry {k!r}; dict keys "
                            "must be str or int")
    return out


def _encode_index(entries: list[dict[str, Any]], metadata: Any) -> bytes:
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict (a JSON object), got {type(metadata).__name__}")
    try:
        text = json.dumps({"tensors": entries, "metadata": metadata}, allow_nan=False,
                          separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"metadata cannot be stored as JSON: {e}") from None
    raw = text.encode("ascii")
    if len(raw) > v.DEFAULT_MAX_HEADER_BYTES or len(entries) > v.DEFAULT_MAX_TENSORS:
        raise ValueError(f"the checkpoint index ({len(raw)} bytes, {len(entries)} tensors) "
                         f"exceeds the readers' limits ({v.DEFAULT_MAX_HEADER_BYTES} bytes, "
                         f"{v.DEFAULT_MAX_TENSORS} tensors)")
    return raw + b" " * (_align(_FIXED.size + len(raw)) - _FIXED.size - len(raw))


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def read_header(path: str | os.PathLike, *, max_header_bytes: int = v.DEFAULT_MAX_HEADER_BYTES,
                max_tensors: int = v.DEFAULT_MAX_TENSORS) -> CheckpointHeader:
    """Read and validate a checkpoint's header without touching the tensor data (the SHA-256
    is not checked). Raises FileFormatError for a malformed file."""
    with open(path, "rb") as f:
        return _read_header(f, path, file_size(f), max_header_bytes, max_tensors)


def load(path: str | os.PathLike, like: PyTree = None, *, verify: bool = True, mmap: bool = True,
         max_header_bytes: int = v.DEFAULT_MAX_HEADER_BYTES,
         max_tensors: int = v.DEFAULT_MAX_TENSORS) -> PyTree:
    """Load a checkpoint written by :func:`save`.

    With ``like`` (e.g. a freshly initialized model and optimizer state, or a tree of
    ``ShapeDtypeStruct``), the result has ``like``'s exact structure (modules, namedtuples...)
    and leaf types: each stored tensor must have the shape and dtype of the leaf at its key path,
    and every leaf must be stored, else PyTreeError/FbornShapeError/FbornDtypeError. Without
    ``like``, the structure is rebuilt from the stored key paths as nested dicts (for dict keys
    and attributes) and lists (for sequence indices; an index with nothing stored, such as a
    ``None`` entry, comes back as None), and each leaf has the type it was saved as (fborn Array,
    numpy array, Python scalar).

    Arrays are read-only views of a memory map of the file (``mmap=False`` reads the file into
    memory instead); fborn Arrays wrap them without copying. The SHA-256 over the index and data
    is verified unless ``verify=False``. Raises FileFormatError for a malformed or corrupt file.
    """
    with open(path, "rb") as f:
        size = file_size(f)
        header = _read_header(f, path, size, max_header_bytes, max_tensors)
        buffer = whole_file(f, size, mmap)
    if buffer is None:
        v.fail(path, None, "the file changed size while being read")
    if verify:
        with memoryview(buffer) as view:
            digest = hashlib.sha256(view[_FIXED.size:]).digest()
        if digest != header.sha256:
            v.fail(path, _FIXED.size, "SHA-256 mismatch: the index or tensor data is corrupt")
    values = {t.name: _tensor(buffer, header.data_offset, t) for t in header.tensors}
    if like is not None:
        return rebuild_like(like, values)
    items = [(tuple((_is_sequence(k), _key_value(k)) for k in t.path),
              as_kind(values[t.name], t.kind)) for t in header.tensors]
    return nest(items, lambda message: v.fail(path, _FIXED.size, message))


def _tensor(buffer: Any, data_offset: int, t: TensorInfo) -> np.ndarray:
    count = t.nbytes // t.dtype.itemsize
    dtype = t.dtype.newbyteorder("<")
    return np.frombuffer(buffer, dtype, count, data_offset + t.offset).reshape(t.shape)


def _is_sequence(k: KeyEntry) -> bool:
    return isinstance(k, (SequenceKey, FlattenedIndexKey))


def _key_value(k: KeyEntry) -> Any:
    if isinstance(k, SequenceKey):
        return k.idx
    if isinstance(k, DictKey):
        return k.key
    if isinstance(k, GetAttrKey):
        return k.name
    return k.key


def _read_header(f: BinaryIO, path: str | os.PathLike, size: int, max_header_bytes: int,
                 max_tensors: int) -> CheckpointHeader:
    fixed = read_exact(f, 0, _FIXED.size)
    if fixed is None:
        v.fail(path, 0, f"the file has {size} bytes, fewer than the {_FIXED.size}-byte header")
    magic, version, flags, header_len, data_len, sha256 = _FIXED.unpack(fixed)
    if magic != MAGIC:
        v.fail(path, 0, f"not an fborn checkpoint: the magic is {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        v.fail(path, 8, f"format version {version} is not supported (this fborn reads {VERSION})")
    if flags != 0:
        v.fail(path, 12, f"unknown flags {flags:#x}")
    if header_len > max_header_bytes:
        v.fail(path, 16, f"the index is {header_len} bytes, over the limit of {max_header_bytes} "
                         "(max_header_bytes)")
    data_offset = _FIXED.size + header_len
    if data_offset % ALIGN:
        v.fail(path, 16, f"the index length {header_len} does not align the data to {ALIGN} bytes")
    if data_offset > size:
        v.fail(path, 16, f"the index ({header_len} bytes) runs past the end of the file "
                         f"({size} bytes): the file is truncated")
    if data_len != size - data_offset:
        v.fail(path, 24, f"the header says {data_len} data bytes, the file holds "
                         f"{size - data_offset}: the file is truncated or has trailing bytes")
    raw = read_exact(f, _FIXED.size, header_len)
    if raw is None:
        v.fail(path, _FIXED.size, "the file ended inside the index")
    index = v.parse_json(raw, path, _FIXED.size)
    v.check_keys(path, _FIXED.size, "the index", index, frozenset({"tensors", "metadata"}))
    metadata, tensors = index["metadata"], index["tensors"]
    if metadata is not None and not isinstance(metadata, dict):
        v.fail(path, _FIXED.size, "metadata is not a JSON object or null")
    if not isinstance(tensors, list):
        v.fail(path, _FIXED.size, "'tensors' is not a list")
    if len(tensors) > max_tensors:
        v.fail(path, _FIXED.size, f"{len(tensors)} tensors, over the limit of {max_tensors} "
                                  "(max_tensors)")
    infos = tuple(_tensor_info(path, i, entry) for i, entry in enumerate(tensors))
    names = {t.name for t in infos}
    if len(names) != len(infos):
        v.fail(path, _FIXED.size, "two tensors have the same name")
    v.check_extents(path, _FIXED.size, [(t.offset, t.offset + t.nbytes, t.name) for t in infos],
                    data_len)
    return CheckpointHeader(version, infos, metadata, data_offset, sha256)


def _tensor_info(path: str | os.PathLike, i: int, entry: Any) -> TensorInfo:
    at = _FIXED.size
    v.check_keys(path, at, f"tensor #{i}", entry, _ENTRY_KEYS)
    name = entry["name"]
    problem = v.name_problem(name)
    if problem is not None:
        v.fail(path, at, f"tensor #{i}: {problem}")
    key_path = _decode_path(path, name, entry["path"])
    if ".".join(str(_key_value(k)) for k in key_path) != name:
        v.fail(path, at, f"tensor {name!r}: the name does not match its key path")
    dtype = v.check_dtype(path, at, name, entry["dtype"])
    shape = v.check_shape(path, at, name, entry["shape"])
    kind = entry["kind"]
    if kind not in KINDS:
        v.fail(path, at, f"tensor {name!r}: unknown kind {str(kind)[:40]!r}")
    if kind in _SCALAR_CHECKS and not (shape == () and _SCALAR_CHECKS[kind](dtype)):
        v.fail(path, at, f"tensor {name!r}: a Python {kind} must be a 0-d {kind} tensor")
    offset, nbytes = entry["offset"], entry["nbytes"]
    if not (v.is_int(offset) and offset >= 0 and offset % ALIGN == 0):
        v.fail(path, at, f"tensor {name!r}: offset {str(offset)[:40]} is not a non-negative "
                         f"multiple of {ALIGN}")
    if not v.is_int(nbytes) or nbytes != v.nbytes_of(shape, dtype):
        v.fail(path, at, f"tensor {name!r}: nbytes {str(nbytes)[:40]} does not match "
                         f"{dtype}{list(shape)}")
    return TensorInfo(name, key_path, kind, dtype, shape, offset, nbytes)


def _decode_path(path: str | os.PathLike, name: str, encoded: Any) -> KeyPath:
    if not isinstance(encoded, list) or not 0 < len(encoded) <= _MAX_PATH_DEPTH:
        v.fail(path, _FIXED.size, f"tensor {name!r}: 'path' is not a list of 1 to "
                                  f"{_MAX_PATH_DEPTH} entries")
    return tuple(_decode_entry(path, name, e) for e in encoded)


def _decode_entry(path: str | os.PathLike, name: str, entry: Any) -> KeyEntry:
    if isinstance(entry, list) and len(entry) == 2:
        tag, key = entry
        if tag == "key" and (isinstance(key, str) or v.is_int(key)):
            return DictKey(key)
        if tag == "attr" and isinstance(key, str):
            return GetAttrKey(key)
        if tag in ("idx", "flat") and v.is_int(key) and key >= 0:
            return SequenceKey(key) if tag == "idx" else FlattenedIndexKey(key)
    v.fail(path, _FIXED.size, f"tensor {name!r}: bad key path entry {str(entry)[:60]}")

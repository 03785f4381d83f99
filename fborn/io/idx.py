"""The IDX file format (MNIST, Fashion-MNIST), plain or gzipped, and an MNIST loader.

An IDX file is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64), the number of dimensions, each dimension as a big-endian uint32,
then the data in C order, big-endian. Readers check every field against the file size (for gzip:
against the most that deflate can expand the compressed bytes to) before allocating.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from fborn.io._validate import fail

__all__ = ["MNIST_10K", "load_mnist", "read_idx"]

MNIST_10K = Path(__file__).parent / "mnist-10k"

_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
           0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate expands at most ~1032x; a header claiming more than this cannot be honest.
_MAX_DEFLATE_RATIO = 1100
_CHUNK = 1 << 20

_MNIST_FILES = {"train_images": "train-images", "train_labels": "train-labels",
                "test_images": "t10k-images", "test_labels": "t10k-labels"}
_MNIST_SUFFIX = {"images": "idx3-ubyte", "labels": "idx1-ubyte"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not, detected from its first bytes) as a writable
    numpy array in native byte order. Raises FileFormatError (naming the file and byte offset)
    for a bad magic, unknown type code, a size that does not match the dimensions, or a
    corrupt gzip stream."""
    with open(path, "rb") as f:
        compressed = f.read(2) == _GZIP_MAGIC
        size = os.fstat(f.fileno()).st_size
        f.seek(0)
        if not compressed:
            return _read(f, path, size, size)
        with gzip.GzipFile(fileobj=f, mode="rb") as g:
            try:
                return _read(g, path, None, size * _MAX_DEFLATE_RATIO)
            except (gzip.BadGzipFile, EOFError, zlib.error) as e:
                fail(path, None, f"corrupt gzip stream: {e}")


def _read(f: BinaryIO, path: str | os.PathLike, size: int | None, max_size: int) -> np.ndarray:
    """Parse an IDX stream; ``size`` is its exact length when known (plain files), ``max_size``
    a bound on it (gzip)."""
    magic = _read_upto(f, 4)
    if len(magic) < 4:
        fail(path, 0, f"the file ends after {len(magic)} bytes, inside the 4-byte magic")
    if magic[:2] != b"\0\0":
        fail(path, 0, f"not an IDX file: the magic {magic.hex()} does not start with 0000")
    dtype = _DTYPES.get(magic[2])
    if dtype is None:
        fail(path, 2, f"unknown IDX type code {magic[2]:#04x} (known: "
                      f"{', '.join(f'{c:#04x}' for c in _DTYPES)})")
    ndim = magic[3]
    if ndim == 0:
        fail(path, 3, "an IDX file needs at least one dimension")
    raw_dims = _read_upto(f, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        fail(path, 4, f"the file ends inside the {ndim} dimension sizes")
    shape = tuple(int(d) for d in np.frombuffer(raw_dims, ">u4"))
    data_offset = 4 + 4 * ndim
    nbytes = math.prod(shape) * dtype.itemsize
    described = f"{ndim} dimensions {shape} of {dtype.newbyteorder('=')}"
    if size is not None and size != data_offset + nbytes:
        fail(path, data_offset, f"{described} need {nbytes} data bytes, the file holds "
                                f"{size - data_offset}")
    if data_offset + nbytes > max_size:
        fail(path, data_offset, f"{described} need {nbytes} data bytes, more than the "
                                f"compressed file can hold")
    data = np.empty(nbytes, np.uint8)
    got = _read_into(f, memoryview(data))
    if got < nbytes:
        fail(path, data_offset + got, f"{described} need {nbytes} data bytes, the file "
                                      f"ends after {got}")
    if f.read(1):
        fail(path, data_offset + nbytes, f"trailing bytes after the {nbytes} data bytes of "
                                         f"{described}")
    return data.view(dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def _read_upto(f: BinaryIO, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = f.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def _read_into(f: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``f`` in chunks; the number of bytes read (less at end of file)."""
    got = 0
    while got < len(view):
        n = f.readinto(view[got:got + _CHUNK])
        if not n:
            break
        got += n
    return got


def load_mnist(directory: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Load an MNIST-format dataset from ``directory`` (default: the bundled 10k subset of
    MNIST, 8,000 train and 2,000 test images).

    The directory holds the four standard files ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each
    optionally ``.gz``; ``.idx3-ubyte`` spellings with a dot work too), as MNIST and
    Fashion-MNIST ship them. Returns ``{"train_images": uint8 (N, H, W), "train_labels": uint8
    (N,), "test_images", "test_labels"}``. Raises FileNotFoundError for a missing file and
    FileFormatError for files of the wrong type or shape.
    """
    root = Path(MNIST_10K if directory is None else directory)
    out = {key: read_idx(_find(root, key)) for key in _MNIST_FILES}
    for split in ("train", "test"):
        _check_pair(root, split, out[f"{split}_images"], out[f"{split}_labels"])
    return out


def _find(root: Path, key: str) -> Path:
    stem, kind = _MNIST_FILES[key], key.split("_")[1]
    candidates = [root / f"{stem}{sep}{_MNIST_SUFFIX[kind]}{gz}"
                  for sep in ("-", ".") for gz in ("", ".gz")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {key.replace('_', ' ')} file in {root}: looked for "
                            f"{', '.join(c.name for c in candidates)}")


def _check_pair(root: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 3:
        fail(root, None, f"{split} images are {images.dtype}{list(images.shape)}, expected "
                         "uint8 (N, H, W)")
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
        fail(root, None, f"{split} labels are {labels.dtype}{list(labels.shape)}, expected "
                         f"uint8 ({images.shape[0]},) to match the images")

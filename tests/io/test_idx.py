"""IDX reader and MNIST loader: every type code, plain and gzip, the bundled data, errors."""

from __future__ import annotations

import gzip
import shutil
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fborn.errors import FileFormatError
from fborn.io.idx import MNIST_10K, load_mnist, read_idx

CODES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32, 0x0D: np.float32,
         0x0E: np.float64}


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    """An IDX file written from the format's description (big-endian data and sizes)."""
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(np.dtype(CODES[code]).newbyteorder(">")).tobytes()


@given(st.sampled_from(sorted(CODES)), st.lists(st.integers(0, 5), min_size=1, max_size=4),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_round_trip_every_type_code(tmp_path, code, shape, compress, seed):
    dt = np.dtype(CODES[code])
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, int(np.prod(shape)) * dt.itemsize, dtype=np.uint8)
    arr = raw.view(dt).reshape(shape)
    data = idx_bytes(arr, code)
    path = tmp_path / ("x.idx.gz" if compress else "x.idx")
    path.write_bytes(gzip.compress(data) if compress else data)
    out = read_idx(path)
    assert out.dtype == dt and out.dtype.isnative and out.shape == tuple(shape)
    assert out.tobytes() == arr.tobytes() and out.flags.writeable


def test_bundled_mnist_subset():
    data = load_mnist()
    assert {k: (v.shape, v.dtype) for k, v in data.items()} == {
        "train_images": ((8000, 28, 28), np.uint8), "train_labels": ((8000,), np.uint8),
        "test_images": ((2000, 28, 28), np.uint8), "test_labels": ((2000,), np.uint8)}
    assert data["train_labels"][:10].tolist() == [3, 8, 1, 0, 4, 0, 9, 3, 4, 9]
    assert np.bincount(data["test_labels"]).tolist() == [217, 245, 186, 204, 191, 184, 203, 188,
                                                         189, 193]
    assert data["train_images"].max() == 255 and data["train_images"].min() == 0


def test_directory_with_plain_and_dot_spelled_files(tmp_path):
    for src in MNIST_10K.iterdir():
        name = src.name.removesuffix(".gz")
        if name.startswith("t10k"):
            name = name.replace("-idx", ".idx")
        with gzip.open(src) as f, open(tmp_path / name, "wb") as out:
            shutil.copyfileobj(f, out)
    ours, bundled = load_mnist(tmp_path), load_mnist()
    for key, value in bundled.items():
        np.testing.assert_array_equal(ours[key], value)


def test_missing_and_mismatched_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train images file.*train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    for src in MNIST_10K.iterdir():
        shutil.copy(src, tmp_path / src.name)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(5, np.uint8), 0x08)))
    with pytest.raises(FileFormatError, match=r"test labels are uint8\[5\], expected uint8 "
                                              r"\(2000,\)"):
        load_mnist(tmp_path)


@pytest.mark.parametrize(("raw", "pattern"), [
    (b"\0\0", "inside the 4-byte magic.*at byte 0"),
    (b"\1\0\x08\1", "not an IDX file.*at byte 0"),
    (b"\0\0\x0a\1", "unknown IDX type code 0x0a.*at byte 2"),
    (b"\0\0\x08\0", "at least one dimension.*at byte 3"),
    (b"\0\0\x08\3\0\0\0\1", "ends inside the 3 dimension sizes.*at byte 4"),
    (b"\0\0\x08\1\0\0\0\3ab", r"need 3 data bytes, the file holds 2 \(at byte 8\)"),
    (b"\0\0\x08\1\0\0\0\3abcd", "need 3 data bytes, the file holds 4"),
    (b"\0\0\x0e\2\xff\xff\xff\xff\xff\xff\xff\xff", f"need {(2**32 - 1) ** 2 * 8} data bytes"),
])
def test_malformed_files(tmp_path, raw, pattern):
    for name, data in (("x.idx", raw), ("x.idx.gz", gzip.compress(raw))):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(FileFormatError, match=str(path) + ": "):
            read_idx(path)
    with pytest.raises(FileFormatError, match=pattern):
        read_idx(tmp_path / "x.idx")


def test_gzip_specific_errors(tmp_path):
    good = gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8), 0x08))
    path = tmp_path / "x.gz"
    cases = ((good[:-9], "corrupt gzip stream"), (good[:-8] + b"\0" * 8, "corrupt gzip stream"),
             (good + b"junk", "corrupt gzip stream"),
             (gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8), 0x08) + b"x"),
              "trailing bytes after the 100 data bytes"),
             (gzip.compress(b"\0\0\x08\1" + struct.pack(">I", 10**6) + b"x"),
              "more than the compressed file can hold"))
    for raw, pattern in cases:
        path.write_bytes(raw)
        with pytest.raises(FileFormatError, match=pattern):
            read_idx(path)

"""Fuzzing the file readers: every damaged file either loads or raises FileFormatError, and no
reader allocates much more than the file it reads (checked with tracemalloc, which sees numpy's
allocations)."""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import tracemalloc
from collections.abc import Callable

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn.numpy as fnp
from fborn.errors import FileFormatError
from fborn.io import checkpoint
from fborn.io.idx import read_idx
from fborn.io.safetensors import load_safetensors, save_safetensors

HEADER_LIMIT = 4096
PEAK_LIMIT = 2 * 2**20
TREE = {"model": {"w": np.arange(12, dtype=np.float32).reshape(3, 4),
                  "b": np.ones(3, ml_dtypes.bfloat16)},
        "opt": (None, [fnp.zeros((2,), fnp.float16)]), "step": 7, "flag": True}


def build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One valid file of each format."""
    d = tmp_path_factory.mktemp("valid")
    checkpoint.save(d / "a.fbc", TREE, metadata={"epoch": 1})
    save_safetensors(d / "a.safetensors", TREE, metadata={"k": "v"})
    labels = np.arange(50, dtype=np.uint8) % 10
    idx = b"\0\0\x08\1" + struct.pack(">I", 50) + labels.tobytes()
    images = b"\0\0\x0d\3" + struct.pack(">3I", 2, 3, 4) + np.arange(24, dtype=">f4").tobytes()
    return {"fbc": (d / "a.fbc").read_bytes(), "safetensors": (d / "a.safetensors").read_bytes(),
            "idx": idx, "idx_f32": images, "idx_gz": gzip.compress(idx)}


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return build(tmp_path_factory)


READERS: dict[str, list[Callable]] = {
    "fbc": [lambda p: checkpoint.load(p, max_header_bytes=HEADER_LIMIT),
            lambda p: checkpoint.load(p, verify=False, mmap=False, max_header_bytes=HEADER_LIMIT,
                                      max_tensors=20),
            lambda p: checkpoint.load(p, like=TREE, verify=False, max_header_bytes=HEADER_LIMIT)],
    "safetensors": [lambda p: load_safetensors(p, max_header_bytes=HEADER_LIMIT),
                    lambda p: load_safetensors(p, like=TREE, max_header_bytes=HEADER_LIMIT)],
    "idx": [read_idx], "idx_f32": [read_idx], "idx_gz": [read_idx],
}


def check_readers(path, fmt: str, raw: bytes) -> None:
    """Each reader of ``fmt`` loads ``raw`` or raises FileFormatError, with a small peak."""
    path.write_bytes(raw)
    for reader in READERS[fmt]:
        tracemalloc.start()
        try:
            reader(path)
        except FileFormatError as e:
            assert str(path) in str(e)
        except (TypeError, ValueError) as e:
            # Only a `like` mismatch may raise something else, and only on a file that parsed.
            assert "like" in str(e) or "`like`" in str(e), repr(e)
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < PEAK_LIMIT, f"{fmt}: peak {peak} bytes for a {len(raw)}-byte file"


def mutations(raw: bytes) -> st.SearchStrategy[bytes]:
    n = len(raw)
    truncate = st.integers(0, n - 1).map(lambda k: raw[:k])
    flips = st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 7)), min_size=1,
                     max_size=8).map(lambda fl: _flip(raw, fl))
    overwrite = st.tuples(st.integers(0, n - 1), st.binary(min_size=1, max_size=16)).map(
        lambda pb: raw[:pb[0]] + pb[1] + raw[pb[0] + len(pb[1]):])
    sizes = st.tuples(st.sampled_from([0, 4, 8, 16, 24]),
                      st.sampled_from([0, 1, 63, 64, 2**31, 2**32 - 1, 2**63, 2**64 - 1])).map(
        lambda ov: raw[:ov[0]] + struct.pack("<Q", ov[1]) + raw[ov[0] + 8:])
    append = st.binary(min_size=1, max_size=64).map(lambda b: raw + b)
    prefixed = st.binary(max_size=512).map(lambda b: raw[:8] + b)
    return st.one_of(truncate, flips, overwrite, sizes, append, prefixed, st.binary(max_size=1024))


def _flip(raw: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(raw)
    for pos, bit in flips:
        out[pos] ^= 1 << bit
    return bytes(out)


@pytest.mark.parametrize("fmt", sorted(READERS))
@given(data=st.data())
def test_damaged_files_raise_file_format_errors(tmp_path, valid, fmt, data):
    check_readers(tmp_path / "f", fmt, data.draw(mutations(valid[fmt])))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


def _with_index(raw: bytes, index: object) -> bytes:
    """The checkpoint ``raw`` with a new JSON index and a correct SHA-256."""
    header_len = struct.unpack("<Q", raw[16:24])[0]
    text = json.dumps(index).encode()
    text += b" " * (-(64 + len(text)) % 64)
    body = text + raw[64 + header_len:]
    return struct.pack("<8sIIQQ32s", raw[:8], 1, 0, len(text), len(raw) - 64 - header_len,
                       hashlib.sha256(body).digest()) + body


@given(data=st.data())
def test_checkpoint_index_fields_with_any_json(tmp_path, valid, data):
    raw = valid["fbc"]
    header_len = struct.unpack("<Q", raw[16:24])[0]
    index = json.loads(raw[64:64 + header_len])
    entry = data.draw(st.sampled_from(index["tensors"]))
    field = data.draw(st.sampled_from(sorted(entry) + ["new"]))
    entry[field] = data.draw(JSON)
    check_readers(tmp_path / "f", "fbc", _with_index(raw, index))


@given(data=st.data())
def test_safetensors_header_fields_with_any_json(tmp_path, valid, data):
    raw = valid["safetensors"]
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    name = data.draw(st.sampled_from(sorted(header)))
    if isinstance(header[name], dict) and data.draw(st.booleans()):
        header[name][data.draw(st.sampled_from(sorted(header[name])))] = data.draw(JSON)
    else:
        header[name] = data.draw(JSON)
    text = json.dumps(header).encode()
    check_readers(tmp_path / "f", "safetensors", struct.pack("<Q", len(text)) + text + raw[8 + n:])


def test_deeply_nested_json_and_huge_numbers(tmp_path, valid):
    raw = valid["fbc"]
    for text in (b"[" * 3000 + b"]" * 3000, b'{"tensors": [], "metadata": ' + b"9" * 5000 + b"}"):
        text += b" " * (-(64 + len(text)) % 64)
        fixed = struct.pack("<8sIIQQ32s", raw[:8], 1, 0, len(text), 0,
                            hashlib.sha256(text).digest())
        (tmp_path / "f").write_bytes(fixed + text)
        with pytest.raises(FileFormatError, match="not valid UTF-8 JSON"):
            checkpoint.load(tmp_path / "f")


def test_empty_files(tmp_path):
    (tmp_path / "f").write_bytes(b"")
    for readers in READERS.values():
        for reader in readers:
            with pytest.raises(FileFormatError, match="at byte 0"):
                reader(tmp_path / "f")

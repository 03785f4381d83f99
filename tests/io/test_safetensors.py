"""safetensors: the byte layout of the spec, round trips, pytree names both ways, validation."""

from __future__ import annotations

import dataclasses
import json
import struct

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn.errors import FbornShapeError, FileFormatError, PyTreeError
from fborn.io.safetensors import (
    load_safetensors,
    load_safetensors_metadata,
    named_to_tree,
    save_safetensors,
    tree_to_named,
)

DTYPES = {"BOOL": np.bool_, "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64,
          "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64,
          "F16": np.float16, "BF16": ml_dtypes.bfloat16, "F32": np.float32, "F64": np.float64}


@fborn.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Layer:
    weight: object
    bias: object


def spec_file(tensors: dict[str, np.ndarray], metadata: dict | None = None) -> bytes:
    """A safetensors file built straight from the spec (tensors packed in dict order)."""
    header, offset, data = {}, 0, b""
    for name, arr in tensors.items():
        code = next(k for k, dt in DTYPES.items() if np.dtype(dt) == arr.dtype)
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        data += arr.tobytes()
    if metadata is not None:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def parse_spec_file(raw: bytes) -> tuple[dict[str, np.ndarray], dict | None]:
    """Read a safetensors file straight from the spec."""
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", None)
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], DTYPES[info["dtype"]]).reshape(info["shape"])
    return out, metadata


@given(st.dictionaries(st.from_regex(r"[a-z]{1,3}(\.[0-9a-z]{1,2}){0,2}", fullmatch=True),
                       st.tuples(st.sampled_from(list(DTYPES)),
                                 st.lists(st.integers(0, 4), max_size=3)), min_size=1,
                       max_size=5),
       st.integers(0, 2**32 - 1))
def test_spec_files_round_trip_bit_exactly(tmp_path, specs, seed):
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, (code, shape) in specs.items():
        dt = np.dtype(DTYPES[code])
        raw = rng.integers(0, 256, int(np.prod(shape)) * dt.itemsize, dtype=np.uint8)
        tensors[name] = (raw & 1 if code == "BOOL" else raw).view(dt).reshape(shape)
    (tmp_path / "a.safetensors").write_bytes(spec_file(tensors, {"format": "np"}))
    out = load_safetensors(tmp_path / "a.safetensors")
    assert list(out) == list(tensors)
    for name, arr in tensors.items():
        assert out[name].dtype == arr.dtype and out[name].tobytes() == arr.tobytes()
        assert not out[name].flags.writeable
    assert load_safetensors_metadata(tmp_path / "a.safetensors") == {"format": "np"}
    flat = {k: v for k, v in tensors.items() if not any(o.startswith(k + ".") for o in tensors)}
    save_safetensors(tmp_path / "b.safetensors", flat, metadata={"a": "b"})
    again, metadata = parse_spec_file((tmp_path / "b.safetensors").read_bytes())
    assert metadata == {"a": "b"} and again.keys() == flat.keys()
    for name, arr in flat.items():
        assert again[name].dtype == arr.dtype and again[name].tobytes() == arr.tobytes()


def test_written_layout_is_aligned_and_sorted_by_item_size(tmp_path):
    tree = {"a": np.arange(3, dtype=np.int8), "b": np.ones(2, np.float64),
            "c": np.ones(3, ml_dtypes.bfloat16)}
    save_safetensors(tmp_path / "m.safetensors", tree)
    raw = (tmp_path / "m.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 64 == 0 and raw[8 + n - 1:8 + n] in (b" ", b"}")
    header = json.loads(raw[8:8 + n])
    assert header == {"b": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]},
                      "c": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]},
                      "a": {"dtype": "I8", "shape": [3], "data_offsets": [22, 25]}}
    assert len(raw) == 8 + n + 25


def test_pytree_names_both_ways(tmp_path):
    layers = [Layer(fnp.ones((2, 3)), fnp.zeros(3)), Layer(fnp.ones((3, 1)), fnp.zeros(1))]
    tree = {"layers": layers, "norm": {"scale": fnp.ones(3, fnp.bfloat16)}}
    named = tree_to_named(tree)
    assert sorted(named) == ["layers.0.bias", "layers.0.weight", "layers.1.bias",
                             "layers.1.weight", "norm.scale"]
    assert named["layers.1.weight"] is layers[1].weight
    nested = named_to_tree(named)
    assert sorted(nested) == ["layers", "norm"] and isinstance(nested["layers"], list)
    assert nested["layers"][1]["weight"] is layers[1].weight
    save_safetensors(tmp_path / "m.safetensors", tree)
    out = load_safetensors(tmp_path / "m.safetensors", like=tree)
    assert isinstance(out["layers"][0], Layer) and isinstance(out["layers"][0].bias, fborn.Array)
    for a, b in zip(fborn.tree_util.tree_leaves(out), fborn.tree_util.tree_leaves(tree),
                    strict=True):
        assert a.dtype == b.dtype and np.asarray(a).tobytes() == np.asarray(b).tobytes()
    assert named_to_tree({"0": 1, "2": 2}) == {"0": 1, "2": 2}
    with pytest.raises(ValueError, match="both a leaf and a container"):
        named_to_tree({"a": 1, "a.b": 2})


def test_like_errors(tmp_path):
    save_safetensors(tmp_path / "m.safetensors", {"w": np.zeros((2, 2), np.float32)})
    with pytest.raises(FbornShapeError, match="'w' has shape"):
        load_safetensors(tmp_path / "m.safetensors", like={"w": np.zeros(4, np.float32)})
    with pytest.raises(PyTreeError, match="missing 'v', unexpected 'w'"):
        load_safetensors(tmp_path / "m.safetensors", like={"v": np.zeros((2, 2), np.float32)})


def test_save_errors(tmp_path):
    p = tmp_path / "x.safetensors"
    with pytest.raises(ValueError, match="reserved"):
        save_safetensors(p, {"__metadata__": np.zeros(1)})
    with pytest.raises(TypeError, match="strings to strings"):
        save_safetensors(p, {"a": np.zeros(1)}, metadata={"a": 1})
    with pytest.raises(ValueError, match="path character"):
        save_safetensors(p, {"a\\b": np.zeros(1)})
    assert not p.exists()


@pytest.mark.parametrize(("mutate", "pattern"), [
    (lambda raw: raw[:5], "fewer than the 8-byte header length.*at byte 0"),
    (lambda raw: struct.pack("<Q", 2**63) + raw[8:], "over the limit"),
    (lambda raw: struct.pack("<Q", len(raw)) + raw[8:], "runs past the end"),
    (lambda raw: raw + b"\0", "trailing bytes"),
    (lambda raw: raw[:-1], "past the end of the data|truncated"),
    (lambda raw: raw.replace(b'"F32"', b'"F8 "'), "dtype 'F8 ' is not one of"),
    (lambda raw: raw.replace(b"[2,2]", b"[2,3]"), "span 16 bytes.*needs 24"),
    (lambda raw: raw.replace(b"[0,16]", b"[1,17]"), "past the end|gaps"),
    (lambda raw: raw.replace(b'{"w"', b'["w"'), r"does not start with '\{'"),
    (lambda raw: raw.replace(b'"w"', b'"/"'), "path character"),
    (lambda raw: raw.replace(b'"shape"', b'"shapes"'), "lacks the key"),
])
def test_validation(tmp_path, mutate, pattern):
    p = tmp_path / "m.safetensors"
    save_safetensors(p, {"w": np.zeros((2, 2), np.float32)})
    p.write_bytes(mutate(p.read_bytes()))
    with pytest.raises(FileFormatError, match=pattern):
        load_safetensors(p)


def test_overlap_and_metadata_type(tmp_path):
    a = np.zeros(2, np.float32)
    raw = spec_file({"a": a, "b": a})
    p = tmp_path / "m.safetensors"
    p.write_bytes(raw.replace(b"[8, 16]", b"[4, 12]"))
    with pytest.raises(FileFormatError, match="overlap"):
        load_safetensors(p)
    p.write_bytes(spec_file({"a": a}, metadata={"n": 1}))
    with pytest.raises(FileFormatError, match="not an object of strings"):
        load_safetensors(p)
    p.write_bytes(spec_file({"a": a}))
    with pytest.raises(FileFormatError, match="over the limit of 10"):
        load_safetensors(p, max_header_bytes=10)
